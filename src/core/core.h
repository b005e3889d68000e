/*
 * core.h - interfaces between the rooms of the library.
 *
 *   shim/      thin wrappers: hand off to core, never decide
 *   sockets.c  fd-indexed per-socket records (lock-free)
 *   decide.c   pure decisions (include/libreuse.h)
 *   apply.c    the only code that changes a socket's kernel state
 *   explain.c  sock_diag: who holds a port, TIME_WAIT clearing
 *   log.c      one line, one write(2)
 *   config.c   configuration, read once
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

#include <netinet/in.h>
#include <string.h>

#include "libreuse.h"

#define HIDDEN __attribute__((visibility("hidden")))

/* ---- init.c: configuration, read once, immutable afterwards ---------- */
struct reuse_config {
	struct reuse_policy policy;
	bool policy_broken;          /* parse failed: fallback in force */
	bool fail_closed;            /* broken + `on-error closed`: refuse binds */
	uint8_t level;               /* REUSE_LOG_LEVEL: for unmatched sockets */
	bool secure;                 /* AT_SECURE: environment ignored */
	bool dry_run;                /* REUSE_DRY_RUN=1: decide and log, change nothing */
	bool match_names;            /* some rule says program=: decisions need names */
	bool match_uids;             /* some rule says uid= */
	bool rule_logs_all;          /* some rule says log=all */
	unsigned policy_gen;         /* counts loads: a decision kept names its load */
	char prog[64];               /* basename of argv[0] */
	char exe[64];                /* basename of /proc/self/exe */
};
extern struct reuse_config reuse_cfg HIDDEN;

/* True once the policy and log are ready; before that wrappers pass through.
 * Safe from any thread and from re-entry during init. Inline: after start-up
 * it is one load and a compare (reuse_ready_slow does the rest). */
extern int reuse_init_state HIDDEN;
bool reuse_ready_slow(void) HIDDEN;
static inline bool reuse_ready(void)
{
	if (__builtin_expect(__atomic_load_n(&reuse_init_state, __ATOMIC_ACQUIRE) == 2, 1))
		return true;
	return reuse_ready_slow();
}

/* ---- sockets.c: per-fd records -------------------------------------- */
enum { SOCK_UNMATCHED = -1, SOCK_UNDECIDED = -2 };

struct reuse_sock {
	/* identity: sockfs inode, 0 = free slot. First: sock_dup copies every
	 * field after it in one piece. Atomic: a slot passes from
	 * thread to thread when the kernel reuses an fd number; storing 0
	 * (release) and reading it (acquire) orders the old owner's accesses
	 * before the new one's (sockets.c). */
	_Atomic uint64_t ino;
	uint32_t dev;
	uint8_t family;              /* AF_INET / AF_INET6 */
	uint8_t proto;               /* REUSE_P_TCP / REUSE_P_UDP */
	uint8_t asked_ra, asked_rp;  /* what the program asked for */
	uint8_t bound, listening;    /* bound: 1, or SOCK_BOUND_LATE */
	uint8_t log;                 /* level for this socket */
	uint8_t exclusive;           /* bound under an exclusive rule */
	uint8_t keyed;               /* given REUSE_KEY_UID */
	uint8_t tw_pass;             /* bound past TIME_WAIT with SO_REUSEADDR lent */
	uint8_t plan;                /* the bind()'s plan, for listen(): see plan_keep */
	uint8_t mptcp : 1;           /* IPPROTO_MPTCP: TCP's port space and rules */
	uint8_t held : 1;            /* asked_ra/rp not in the kernel yet: see
				      * engine.c, eng_hold (supervisor only) */
	/* asked_ra/asked_rp are what the kernel holds: the library made the
	 * socket and saw every setsockopt() of it before its rule was chosen
	 * (no dup, no fork since: sock_dup, sock_shared_all). 0: bind() reads
	 * the kernel. Never set by the supervisor, which reads it always. */
	uint8_t known;
	uint32_t owner;              /* owner uid before keying */
	int32_t rule;                /* rule index, SOCK_UNMATCHED or SOCK_UNDECIDED */
};

/*
 * The watch map: one byte per fd below SOCK_WATCH_MAX, nonzero when close()
 * of that fd has work beyond the real call (the fd is tracked: WATCH_SOCK,
 * or is one of the shim's own: WATCH_OURS). A bit may stay set after the
 * reason is gone (then close() merely looks closer); a clear byte is a
 * promise. 64 KiB of zero pages, touched only where fds are watched.
 */
#ifndef REUSE_WATCH_FDS
#define REUSE_WATCH_FDS 65536u     /* smaller in `make smallfd` */
#endif
#define SOCK_WATCH_MAX REUSE_WATCH_FDS
enum { WATCH_SOCK = 1, WATCH_OURS = 2, WATCH_UNBOUND = 4, WATCH_RA_BACK = 8 };
/* WATCH_RA_BACK: a connection of a closed exclusive listener whose
 * SO_REUSEADDR was taken; its close() gives it back (shim/drain.c). */
/* WATCH_UNBOUND: a UDP socket not known to be bound; its first send binds
 * it implicitly, which the engine decides (shim/send.c). A hint: a send
 * that finds it stale clears it. */
extern uint8_t reuse_watch[SOCK_WATCH_MAX] HIDDEN;

/* sock_watched - does close(fd) need more than the real call? One compare,
 * one load: the close() fast path. Fds past the map always say yes. */
static inline bool sock_watched(int fd)
{
	return (unsigned)fd >= SOCK_WATCH_MAX ||
	       __atomic_load_n(&reuse_watch[(unsigned)fd], __ATOMIC_RELAXED);
}

static inline void sock_watch_set(int fd, uint8_t bit)
{
	if ((unsigned)fd < SOCK_WATCH_MAX)
		__atomic_fetch_or(&reuse_watch[(unsigned)fd], bit, __ATOMIC_SEQ_CST);
}

static inline void sock_watch_clear(int fd, uint8_t bit)
{
	if ((unsigned)fd < SOCK_WATCH_MAX)
		__atomic_fetch_and(&reuse_watch[(unsigned)fd], (uint8_t)~bit,
				   __ATOMIC_SEQ_CST);
}

/* sockinfo.c: REUSE_P_TCP/UDP of an INET/INET6 socket of this family, type
 * and protocol (0 means the type's default), else 0; the kernel's family,
 * type and protocol of fd; both at once (0 for other sockets); fd's local
 * address, false unless INET/INET6 (ss zeroed first); its port, host order. */
unsigned sock_proto(int family, int type, int protocol) HIDDEN;
bool sock_kind(int fd, int *family, int *type, int *protocol) HIDDEN;
unsigned sock_proto_of_fd(int fd, int *family) HIDDEN;
bool sock_local_addr(int fd, struct sockaddr_storage *ss) HIDDEN;
uint16_t sock_port(const struct sockaddr_storage *ss) HIDDEN;

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
/* The same, given fd's record from sock_peek_mut. */
void sock_forget_rec(int fd, struct reuse_sock *k) HIDDEN;
/* k->known, read as fork()'s handlers write it from another thread
 * (sock_shared_all): relaxed, a byte. */
static inline bool sock_known(const struct reuse_sock *k)
{
	return __atomic_load_n(&k->known, __ATOMIC_RELAXED) != 0;
}
/* newfd now refers to oldfd's socket (dup family). */
void sock_dup(int oldfd, int newfd) HIDDEN;
/* fork(): every socket is now shared with another process, which may set
 * its options: no record knows them any more (the `known` byte). */
void sock_shared_all(void) HIDDEN;
/*
 * The record table (sockets.c): fds below 2^(CHUNK+DIR bits) index
 * reuse_fd_table, chunks of 2^CHUNK_BITS records made on first use.
 * `make smallfd` shrinks the levels (and the watch map below) so the
 * test suite reaches the deeper level with the fds a container allows.
 */
#ifndef REUSE_FD_CHUNK_BITS
#define REUSE_FD_CHUNK_BITS 10
#endif
#ifndef REUSE_FD_DIR_BITS
#define REUSE_FD_DIR_BITS 10
#endif
extern struct reuse_sock *_Atomic reuse_fd_table[1u << REUSE_FD_DIR_BITS] HIDDEN;
struct reuse_sock *sock_peek_far(int fd) HIDDEN;

/* sock_peek_mut - the slot's record, unchecked (NULL when free): for a
 * call that only passes to the kernel until a rule is chosen (the shim's
 * fast paths). Inline: a load or two, no call. */
static inline struct reuse_sock *sock_peek_mut(int fd)
{
	struct reuse_sock *c, *s;

	if (__builtin_expect((unsigned)fd >= 1u << (REUSE_FD_CHUNK_BITS + REUSE_FD_DIR_BITS), 0))
		return sock_peek_far(fd);
	c = __atomic_load_n(&reuse_fd_table[(unsigned)fd >> REUSE_FD_CHUNK_BITS],
			    __ATOMIC_ACQUIRE);
	if (!c)
		return NULL;
	s = &c[fd & ((1u << REUSE_FD_CHUNK_BITS) - 1)];
	return __atomic_load_n(&s->ino, __ATOMIC_ACQUIRE) ? s : NULL;
}

/* fd's record as the table holds it, without checking the fd is still
 * that socket (NULL when the slot is free): a hint for close(). */
static inline const struct reuse_sock *sock_peek(int fd)
{
	return sock_peek_mut(fd);
}
/* Forget every fd in [lo, hi]. */
void sock_forget_range(unsigned lo, unsigned hi) HIDDEN;
/* bound by the program's connect() in the library, not matched yet:
 * the next call that looks the record up with its identity matches it
 * (shim/host.h), as engine_connected would have at once. */
#define SOCK_BOUND_LATE 2
/* The rule a record points at, or NULL (undecided or no rule matched). */
static inline const struct reuse_rule *sock_rule(const struct reuse_sock *s)
{
	if (!s || s->rule < 0 || (size_t)s->rule >= reuse_cfg.policy.nrules)
		return NULL;
	return &reuse_cfg.policy.rules[s->rule];
}
/* The record of a decided TCP listener of this process on port, or NULL. */
const struct reuse_sock *sock_listener(uint16_t port) HIDDEN;
/* The socket's other fds take k's record of what the program asked. */
void sock_sync(const struct reuse_sock *k) HIDDEN;
/* Up to max fds of live exclusive sockets of proto on port, other than
 * self's socket, one fd per socket: a walk of the table (no list to keep,
 * no lock, no allocation: safe in a signal handler). */
int sock_excl_list(unsigned proto, uint16_t port, int self, int *out, int max) HIDDEN;

/* ---- ownfd.c: the shim's own fds (log), protected from the program ---- */
/* Register the variable that holds one of our fds; its value may change,
 * and each new value is announced with fd_note_ours() before it is stored. */
void fd_mark_ours(_Atomic int *slot) HIDDEN;
void fd_note_ours(int fd) HIDDEN;
bool fd_is_ours(int fd) HIDDEN;
int fd_ours_in(unsigned lo, unsigned hi, int *out, int max) HIDDEN;
/* The program wants fd's number (dup2 onto it): move ours elsewhere. */
void fd_evacuate(int fd) HIDDEN;
/* A close-on-exec duplicate of fd, high when the fd limit allows. */
int fd_dup_high(int fd) HIDDEN;
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
	long pid;                    /* 0: this process; else the pid the line is about */
	const char *prog;            /* NULL: this process's name */
	const char *result_text;     /* overrides result (e.g. "continued") */
};
void log_init(void) HIDDEN;
void log_event(const struct reuse_event *ev) HIDDEN;     /* keeps errno */
void log_diag(const struct reuse_diag *d) HIDDEN;       /* one line each */
void log_text(const char *fmt, ...) HIDDEN               /* keeps errno */
	__attribute__((format(printf, 1, 2)));
/* The policy source a rule came from, for FILE:LINE. */
const char *log_rule_source(void) HIDDEN;
/* Name the backend in every line (`backend=guard`); init only. */
void log_set_backend(const char *name) HIDDEN;
/* The policy is loaded: build what every line repeats (init only). */
void log_policy_ready(void) HIDDEN;
/* fork(): the child's lines name its own pid (log.c). */
void log_fork_child(void) HIDDEN;

/* ---- fdpass.c: a message and an fd over a Unix socket ---------------- */
int fd_send(int sock, const void *data, size_t len, int fd) HIDDEN;
ssize_t fd_recv(int sock, void *data, size_t len, int *fd, int flags) HIDDEN;

/* ---- config.c: the core's configuration ------------------------------- */
/* REUSE_* from the environment; NULL when unset or not to be trusted. */
const char *config_env(const char *name) HIDDEN;
/* The policy file in force: REUSE_POLICY, the system file, or NULL for
 * the embedded default. */
const char *config_policy_path(void) HIDDEN;
/* Relative REUSE_POLICY, REUSE_LOG, LD_PRELOAD paths made absolute in the
 * environment, so a re-exec after chdir() finds them (envpath.c). */
void config_absolutize_env(void) HIDDEN;
/* secure, the log and its level, dry runs (reuse_cfg.prog/exe first). */
void config_init(void) HIDDEN;
/* path's policy (NULL or "": the embedded default) into reuse_cfg; one
 * that does not parse is logged once and falls back as documented. */
void config_load_policy(const char *path) HIDDEN;

/* ---- subject.c: pure helpers shared by apply.c and the supervisor ---- */
struct reuse_words {
	const char *option, *asked, *action;   /* constant strings */
};
/*
 * subject_from_addr - the address part of a subject from an INET/INET6
 * address; an IPv4-mapped IPv6 address becomes the IPv4 one (the policy
 * matches it as IPv4). The caller fills prog, exe and uid.
 */
static inline void subject_from_addr(const struct sockaddr_storage *ss, unsigned proto,
		       struct reuse_subject *s)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(s, 0, sizeof *s);
	s->proto = proto;
	s->uid = -1;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		s->family = AF_INET;
		memcpy(s->addr, &in->sin_addr, 4);
		s->port = ntohs(in->sin_port);
	} else {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		s->port = ntohs(in6->sin6_port);
		if (memcmp(in6->sin6_addr.s6_addr, mapped, 12) == 0) {
			s->family = AF_INET;
			memcpy(s->addr, in6->sin6_addr.s6_addr + 12, 4);
		} else {
			s->family = AF_INET6;
			memcpy(s->addr, in6->sin6_addr.s6_addr, 16);
		}
	}
}

/* The option/asked/action words of a log line for a socket's rule. */
void describe_rule(const struct reuse_rule *r, bool asked_ra, bool asked_rp,
		   bool fail_closed, struct reuse_words *w) HIDDEN;

/* ---- engine*.c: one call, decided and applied for any host (host.h) ----
 * Each returns the call's result (0, or -1 and errno exactly as the
 * program should see it), or REUSE_PASS: the host makes the program's own
 * call untouched. */
struct reuse_call;
int engine_bind(struct reuse_call *c, uint64_t addr, socklen_t len) HIDDEN;
int engine_listen(struct reuse_call *c, int backlog) HIDDEN;
/*
 * engine_listen_plain - the common case, a socket decided at bind() whose
 * options still hold (its plan was kept for what the program asks now:
 * engine.c eng_plan_keep), under a rule that neither keeps exclusive
 * state nor shares the port, with nothing to log for a success: listen()
 * is the program's own call and nothing more (on success the record says
 * listening; a failure goes to engine_listen_failed). A socket listening
 * already, or not TCP, is the kernel's to answer too. Reads only the
 * record: the library asks it before checking the fd is still that
 * socket, which only a call that acts on the socket needs. Inline: the
 * library's listen() pays no call for it. The kernel's options are not
 * read again: a setsockopt() through any of the socket's fds in this
 * process changes what was asked (and the plan is then made afresh, the
 * kernel read, in listen_slow); one made by a raw system call or by
 * another process sharing the socket is theirs, as without libreuse.
 */
static inline bool engine_listen_plain(const struct reuse_sock *k)
{
	const struct reuse_rule *r;

	if (k->rule == SOCK_UNDECIDED)
		return false;
	if (k->listening || k->proto != REUSE_P_TCP)
		return true;
	if (k->exclusive || (reuse_cfg.level != REUSE_LOG_OFF && k->log >= REUSE_LOG_ALL))
		return false;
	r = sock_rule(k);
	return !r || (r->reuseport != REUSE_FORCE &&
		      (reuse_cfg.dry_run || r->dry_run ||
		       k->plan >> 4 == (4 | k->asked_ra | k->asked_rp << 1)));
}
int engine_listen_failed(struct reuse_call *c, int ret, int err) HIDDEN;
int engine_setsockopt(struct reuse_call *c, int level, int name, uint64_t val,
		      socklen_t len) HIDDEN;
int engine_getsockopt(struct reuse_call *c, int level, int name, uint64_t val,
		      uint64_t lenp) HIDDEN;
/* After a successful shutdown() that may have stopped a listener. */
void engine_shutdown(struct reuse_call *c) HIDDEN;
/* Before the first send on an unbound UDP socket: bind and decide it. */
void engine_autobind(struct reuse_call *c) HIDDEN;
/* After the host made the program's connect() (ret, and err if it failed). */
void engine_connected(struct reuse_call *c, int ret, int err) HIDDEN;
/* engine_drain.c: an exclusive listener's connections when it closes. */
bool engine_drains(const struct reuse_sock *k) HIDDEN;
bool engine_drain_take(int fd, uint16_t port) HIDDEN;
void engine_drain_back(int fd) HIDDEN;
uint16_t eng_local_port(int fd) HIDDEN;

/* ---- handoff.c: sharing, handoff between instances, socket activation -- */
void handoff_init(void) HIDDEN;
/* After a bind() (or take-over) under a handoff rule: serve fd's socket to
 * the next instance of this uid (starts the helper thread once). */
void handoff_serve(struct reuse_call *c) HIDDEN;
/* bind() of fd to ss failed EADDRINUSE under a handoff rule: take the
 * running instance's socket; its new record, or NULL and msg says why. */
struct reuse_sock *handoff_take(struct reuse_call *c, const struct sockaddr_storage *ss,
				char *msg, size_t mlen) HIDDEN;
/* Sockets passed by socket activation not yet adopted (a hint, read
 * without the lock: bind() skips handoff_adopt when it is 0). */
extern int handoff_nact HIDDEN;
/* Before bind(): a LISTEN_FDS socket holding ss is installed at fd. */
struct reuse_sock *handoff_adopt(struct reuse_call *c, const struct sockaddr_storage *ss,
				 char *msg, size_t mlen) HIDDEN;
/* listen() of a SO_REUSEPORT-shared TCP socket: the tcp_migrate_req
 * warning, or NULL. */
const char *handoff_migrate_note(void) HIDDEN;
/* uid's private directory (0700, owned by uid), created if missing: the
 * handoff sockets' home, and `reuse run`'s copies of piped policies.
 * 0, or an errno; out names the path. */
int reuse_user_dir(uint32_t uid, char *out, size_t len) HIDDEN;

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
/* A TCP listener takes connections to family/addr:port: 1, 0, or -errno
 * (one exact sock_diag lookup, no walk of the host's sockets). */
int explain_listener_at(int family, const uint8_t addr[16], uint16_t port) HIDDEN;
/* fork(): the child lets the parent's lookup socket go (diag.c). */
void explain_fork_child(void) HIDDEN;
bool explain_overlap(int fa, const uint8_t a[16], bool v6only_a,
		     int fb, const uint8_t b[16], bool v6only_b) HIDDEN;
/* The log note of a bind made with options lent to the program's own
 * overlapping exclusive sockets (the library's and the supervisor's). */
void explain_lent(char *msg, size_t mlen, int own, bool self, bool ra, bool rp,
		  long us) HIDDEN;
/* At most this many of the program's own sockets are lent an option. */
#define LEND_MAX 16

/* One socket on a port, as sock_diag and /proc tell it (explain.c). */
struct reuse_holder {
	uint8_t proto;               /* IPPROTO_TCP / IPPROTO_UDP */
	uint8_t state;               /* kernel TCP_* state (UDP: CLOSE/ESTABLISHED) */
	uint8_t family;              /* AF_INET / AF_INET6 (as the kernel lists it) */
	bool v6only;
	bool timewait;               /* a timewait mini-socket (no inode, no owner) */
	uint8_t addr[16];            /* local address, network order */
	uint16_t port;               /* local port, host order */
	uint32_t uid;                /* owner uid */
	uint64_t ino;                /* socket inode, 0 for TIME_WAIT */
	int32_t pid, fd;             /* a process holding it and its fd; -1 unknown */
	int32_t nprocs;              /* how many processes hold it (0 unknown) */
	int8_t ra, rp;               /* SO_REUSEADDR/PORT: 1, 0, -1 unreadable */
	char comm[16];               /* that process's name, "" unknown */
};

#define REUSE_HOLDERS_MAX 24
/* The sockets overlapping one address on one port. */
struct reuse_holder_list {
	struct reuse_holder h[REUSE_HOLDERS_MAX];   /* live sockets */
	unsigned n;                  /* listed in h */
	unsigned more;               /* live sockets that did not fit */
	unsigned timewait;           /* TIME_WAIT entries */
	bool tw_have;                /* tw: one of them, for its address */
	struct reuse_holder tw;
	int diag_errno;              /* 0, or why sock_diag could not answer */
};

/* Every socket whose local address overlaps family/addr/port for proto
 * (IPPROTO_* or REUSE_P_*); owners and flags not yet filled (pid -1). */
void explain_list(unsigned proto, int family, const uint8_t addr[16],
		  uint16_t port, bool v6only, struct reuse_holder_list *out) HIDDEN;
/* explain_holders and explain_list from one dump (either may be NULL). */
void explain_gather(unsigned proto, int family, const uint8_t addr[16],
		    uint16_t port, bool v6only, struct reuse_holders *h,
		    struct reuse_holder_list *l) HIDDEN;
/* Every proto socket with a local port in [lo, hi], one call each; fn's
 * negative return stops the walk. 0 or -errno. */
int explain_walk(unsigned proto, uint16_t lo, uint16_t hi,
		 int (*fn)(const struct reuse_holder *h, void *ctx), void *ctx) HIDDEN;
/* Which process holds each inode: one pass over /proc/<pid>/fd, calling
 * found(index, pid, fd) for every holder fd. Sockets of other users need
 * privilege to be seen. */
void explain_find_owners(const uint64_t *ino, size_t n,
			 void (*found)(size_t i, int pid, int fd, void *ctx),
			 void *ctx) HIDDEN;
/* Owners and flags of every live holder in the list (best effort: pidfd_getfd
 * needs ptrace rights over the owner). */
void explain_fill_owners(struct reuse_holder_list *l) HIDDEN;
/* The same for the log line: one process per holder, found cheaply (the
 * caller, then the holders' uids' processes, smallest first, then the rest);
 * nprocs not counted. */
void explain_first_owners(struct reuse_holder_list *l) HIDDEN;
/* SO_REUSEADDR/PORT of pid's fd, read through a pidfd_getfd copy; false if
 * not permitted. */
bool explain_peer_flags(int pid, int fd, uint64_t ino, int8_t *ra,
			int8_t *rp) HIDDEN;
/* The holders as rules.c sees them; TIME_WAIT entries become one holder
 * with flags tw_ra/tw_rp (-1 unknown). Returns how many were filled. */
struct rules_holder;
size_t explain_rules_holders(const struct reuse_holder_list *l, int8_t tw_ra,
			     int8_t tw_rp, struct rules_holder *out) HIDDEN;
/* Why a candidate of uid cannot bind: one clause about holder i of the
 * rules_holders array (the TIME_WAIT pseudo-holder is the last). */
void explain_why(const struct reuse_holder_list *l, size_t i, uint32_t uid,
		 bool tcp, char *out, size_t len) HIDDEN;
/* "LISTEN", "TIME_WAIT", "UNCONN", ... (ss's words). */
const char *explain_state_name(const struct reuse_holder *h) HIDDEN;
/* "127.0.0.1:53" / "[::]:53" into out. */
void explain_addr_text(int family, const uint8_t addr[16], uint16_t port,
		       char *out, size_t len) HIDDEN;
/* The holders eng_in_use listed, for explain_detail to use instead of
 * asking the kernel again: valid while nothing changed them (no remedy
 * tried, no bind retried) and for the v6only they were asked with. */
struct explain_seen {
	struct reuse_holder_list l;
	bool v6only;
	bool valid;
};
/* After a bind()/listen() of fd on s failed with EADDRINUSE: append to msg
 * who holds the address (state, address, uid, pid, program, flags), the
 * TIME_WAIT entries and who left them, and which options would bind now
 * (or why none can). Costs a sock_diag dump and a /proc scan; errno kept. */
void explain_detail(int fd, const struct reuse_subject *s,
		    const struct explain_seen *seen, char *msg, size_t mlen) HIDDEN;
/* What the engine did about TIME_WAIT entries holding an address. */
enum reuse_remedy { REMEDY_NONE, REMEDY_PASSED, REMEDY_CLEARED, REMEDY_CLEAR_FAILED };
/* Why bind()/listen() said EADDRINUSE, as one sentence in msg, from the
 * holders and the remedy tried (pure text). */
void explain_in_use_text(const struct reuse_holders *h, const struct reuse_subject *s,
			 int ra, bool excl, enum reuse_remedy done, int n, int err,
			 char *msg, size_t mlen) HIDDEN;

#endif
