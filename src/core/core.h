/*
 * core.h - interfaces between the rooms of the library.
 *
 *   shim/      thin wrappers: hand off to core, never decide
 *   sockets.c  fd-indexed per-socket records (lock-free)
 *   decide.c   pure decisions (include/libreuse.h)
 *   apply.c    the only code that changes a socket's kernel state
 *   explain.c  sock_diag: who holds a port, TIME_WAIT clearing
 *   log.c      one line, one write(2)
 *   init.c     configuration, read once
 *
 * The core never calls an interposed function by name (that would re-enter
 * the shim): its own kernel work goes through the sys_* helpers in sys.h.
 */
#ifndef REUSE_CORE_H
#define REUSE_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "libreuse.h"

#define HIDDEN __attribute__((visibility("hidden")))

/* ---- init.c: configuration, read once, immutable afterwards ---------- */
struct reuse_config {
	struct reuse_policy policy;
	bool policy_broken;          /* parse failed: fallback in force */
	bool fail_closed;            /* broken + `on-error closed`: refuse binds */
	uint8_t level;               /* REUSE_LOG_LEVEL: for unmatched sockets */
	bool secure;                 /* AT_SECURE: environment ignored */
	char prog[64];               /* basename of argv[0] */
	char exe[64];                /* basename of /proc/self/exe */
};
extern struct reuse_config reuse_cfg HIDDEN;

/* True once the policy and log are ready; before that wrappers pass through.
 * Safe from any thread and from re-entry during init. */
bool reuse_ready(void) HIDDEN;

/* ---- sockets.c: per-fd records -------------------------------------- */
enum { SOCK_UNMATCHED = -1, SOCK_UNDECIDED = -2 };

struct reuse_sock {
	/* identity: sockfs inode, 0 = free slot. Atomic: a slot passes from
	 * thread to thread when the kernel reuses an fd number; storing 0
	 * (release) and reading it (acquire) orders the old owner's accesses
	 * before the new one's (sockets.c). */
	_Atomic uint64_t ino;
	uint32_t dev;
	uint8_t family;              /* AF_INET / AF_INET6 */
	uint8_t proto;               /* REUSE_P_TCP / REUSE_P_UDP */
	uint8_t asked_ra, asked_rp;  /* what the program asked for */
	uint8_t bound, listening;
	uint8_t log;                 /* level for this socket */
	int32_t rule;                /* rule index, SOCK_UNMATCHED or SOCK_UNDECIDED */
};

/* Record for fd if tracked and still the same socket; NULL otherwise
 * (a stale record is dropped). Costs one fstat. */
struct reuse_sock *sock_get(int fd) HIDDEN;
/* Record for fd, created from the kernel's state if missing or stale;
 * NULL when fd is not an INET TCP/UDP socket (or beyond the table). */
struct reuse_sock *sock_get_or_add(int fd) HIDDEN;
/* Record a socket the program just created (family/type already known). */
void sock_created(int fd, int family, int type, int protocol) HIDDEN;
/* fd is going away: forget it. Lock-free; a few instructions if untracked. */
void sock_forget(int fd) HIDDEN;
/* newfd now refers to oldfd's socket (dup family). */
void sock_dup(int oldfd, int newfd) HIDDEN;
/* Forget every fd in [lo, hi]. */
void sock_forget_range(unsigned lo, unsigned hi) HIDDEN;
const struct reuse_rule *sock_rule(const struct reuse_sock *s) HIDDEN;

/* ---- ownfd.c: the shim's own fds (log), protected from the program ---- */
/* Register the variable that holds one of our fds; its value may change. */
void fd_mark_ours(_Atomic int *slot) HIDDEN;
bool fd_is_ours(int fd) HIDDEN;
int fd_ours_in(unsigned lo, unsigned hi, int *out, int max) HIDDEN;
/* The program wants fd's number (dup2 onto it): move ours elsewhere. */
void fd_evacuate(int fd) HIDDEN;
/* Move fd to a high, close-on-exec number; returns the new fd (or fd). */
int fd_move_high(int fd) HIDDEN;

/* ---- log.c ------------------------------------------------------------ */
struct reuse_event {
	const char *call;            /* bind, listen, connect, setsockopt, ... */
	int fd;
	const struct reuse_sock *sock;   /* may be NULL */
	const struct sockaddr *addr; /* local address decided on, may be NULL */
	const struct reuse_rule *rule;   /* NULL: none */
	const char *rule_text;       /* overrides rule when set */
	const char *option;          /* "SO_REUSEADDR", "SO_REUSEADDR,SO_REUSEPORT", "-" */
	const char *asked;           /* "on", "off", "on,off", "-" */
	const char *action;          /* "force", "strip,keep", "deny", "none", ... */
	int result;                  /* 0 ok, else errno the call returned */
	int ra_now, rp_now;          /* kernel's SO_REUSEADDR/PORT after, -1 unknown */
	const char *msg;             /* extra explanation, may be NULL */
};
void log_init(void) HIDDEN;
void log_event(const struct reuse_event *ev) HIDDEN;     /* keeps errno */
void log_text(const char *fmt, ...) HIDDEN               /* keeps errno */
	__attribute__((format(printf, 1, 2)));
/* The policy source a rule came from, for FILE:LINE. */
const char *log_rule_source(void) HIDDEN;

/* ---- apply.c: wrappers hand whole calls over ------------------------- */
int apply_bind(int fd, const struct sockaddr *addr, socklen_t len) HIDDEN;
int apply_listen(int fd, int backlog) HIDDEN;
int apply_connect(int fd, const struct sockaddr *addr, socklen_t len) HIDDEN;
int apply_setsockopt(int fd, int level, int name, const void *val,
		     socklen_t len) HIDDEN;
int apply_getsockopt(int fd, int level, int name, void *val,
		     socklen_t *len) HIDDEN;

/* ---- explain.c: sock_diag ------------------------------------------- */
struct reuse_holders {
	unsigned live;               /* non-TIME_WAIT sockets overlapping the address */
	unsigned listen;             /* of which listening (TCP) */
	unsigned timewait;           /* TIME_WAIT entries on an overlapping address */
	unsigned destroyed;          /* TIME_WAIT entries cleared */
	uint32_t live_uid;           /* owner uid of one live holder */
	int diag_errno;              /* 0, or why sock_diag could not answer */
};
/* Count the sockets whose local address overlaps family/addr/port for proto.
 * v6only: an AF_INET6 wildcard that does not overlap IPv4. */
void explain_holders(unsigned proto, int family, const uint8_t addr[16],
		     uint16_t port, bool v6only, struct reuse_holders *out) HIDDEN;
/* Destroy exactly the TCP TIME_WAIT entries overlapping the address
 * (SOCK_DESTROY; needs CAP_NET_ADMIN). Returns how many were destroyed,
 * -errno on failure. */
int explain_clear_timewait(int family, const uint8_t addr[16], uint16_t port,
			   bool v6only) HIDDEN;
bool explain_have_net_admin(void) HIDDEN;

#endif
