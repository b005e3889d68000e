/*
 * libreuse.h - types shared by the preload library and the `reuse` CLI.
 *
 * The policy (what operators write, see reuse.policy(5)) and the decision
 * engine are pure data and pure functions: nothing here touches a socket,
 * so both can be unit-tested with plain structs.
 */
#ifndef LIBREUSE_H
#define LIBREUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LIBREUSE_VERSION "0.1.0"

/* The system-wide policy, read when REUSE_POLICY is not set. */
#define REUSE_SYSTEM_POLICY "/etc/libreuse/policy"

/* PROTO of a rule, as a mask; a socket's own protocol is one bit. */
enum reuse_proto {
	REUSE_P_TCP = 1,
	REUSE_P_UDP = 2,
	REUSE_P_ANY = 3,
};

/* reuseaddr= / reuseport= values. */
enum reuse_act {
	REUSE_KEEP = 0,
	REUSE_FORCE,
	REUSE_STRIP,
	REUSE_REFUSE,
};

/* log= values; also the process-wide level for unmatched sockets. */
enum reuse_level {
	REUSE_LOG_OFF = 0,
	REUSE_LOG_DECISIONS,
	REUSE_LOG_ALL,
};

/* HOST of a rule. family 0 is `*`: every address of both families. */
struct reuse_host {
	int family;          /* 0, AF_INET or AF_INET6 */
	uint8_t addr[16];    /* network order; IPv4 uses the first 4 bytes */
	uint8_t prefix;      /* bits that must match: 32/128 for one address */
};

struct reuse_ports {
	uint16_t lo, hi;     /* inclusive */
};

struct reuse_rule {
	unsigned line;               /* line in the policy source */
	unsigned proto;              /* enum reuse_proto mask */
	struct reuse_host host;
	struct reuse_ports *ports;   /* sorted, merged; nports == 0 means `*` */
	size_t nports;
	char *program;               /* program=GLOB, or NULL */
	long uid;                    /* uid=N, or -1 */
	uint8_t reuseaddr;           /* enum reuse_act */
	uint8_t reuseport;           /* enum reuse_act */
	uint8_t log;                 /* enum reuse_level */
	bool exclusive;
	bool handoff;
	bool deny;
	bool dry_run;                /* decide and log, change nothing */
	bool reserve;                /* the address is the matched processes' alone;
					enforced only by `reuse guard` (design-guard.md) */
};

struct reuse_index;                  /* host and port index, policy_index.c */
struct reuse_ident;                  /* one identity's index, policy_index.c */

struct reuse_policy {
	char *source;                /* path, or "default" for the embedded one */
	struct reuse_rule *rules;    /* in file order: the first match wins */
	size_t nrules;
	bool on_error_closed;        /* first rule line was `on-error closed` */
	struct reuse_index *index;
	void *image;                 /* a mapped image (policy_cache.c), or NULL */
	size_t image_len;
};

/* Growing text buffer for diagnostics ("FILE:LINE:COL: error: ...\n"). */
struct reuse_diag {
	char *text;
	size_t len, cap;
	unsigned errors;
};

/* The socket a decision is about. */
struct reuse_subject {
	unsigned proto;              /* REUSE_P_TCP or REUSE_P_UDP */
	int family;                  /* AF_INET or AF_INET6 (v4-mapped is AF_INET) */
	uint8_t addr[16];
	uint16_t port;               /* host order */
	const char *prog;            /* basename of argv[0], may be NULL */
	const char *exe;             /* basename of /proc/self/exe, may be NULL */
	long uid;                    /* effective uid at decision time */
	/* optional: reuse_policy_ident(policy, this subject), kept by a caller
	 * that decides for one process (same prog and exe); NULL: the
	 * policy looks the identity up by its names. A handle of another
	 * policy, or of another uid, is ignored. */
	const struct reuse_ident *ident;
};

/*
 * The uid a socket is given (fchown) to key its SO_REUSEPORT group: the
 * kernel lets a socket join a group only if its owner uid matches, so a
 * group keyed to a uid no account has admits only sockets libreuse keyed.
 */
#define REUSE_KEY_UID 2147483646u
/* One key per owner, so that a keyed group never spans two uids: root's
 * sockets get REUSE_KEY_UID, uid N's REUSE_KEY_UID - N. Owners from
 * REUSE_KEY_SPAN up are not keyed (their key would meet the owners). */
#define REUSE_KEY_SPAN 1073741824u
static inline uint32_t reuse_key_of(uint32_t owner)
{
	return owner < REUSE_KEY_SPAN ? REUSE_KEY_UID - owner : 0;
}
/* The owner a keyed socket's uid stands for; false when it is no key. */
static inline bool reuse_key_owner(uint32_t key, uint32_t *owner)
{
	if (key > REUSE_KEY_UID || key <= REUSE_KEY_UID - REUSE_KEY_SPAN)
		return false;
	*owner = REUSE_KEY_UID - key;
	return true;
}

/* What the program asked of a socket, and what the process may do. */
struct reuse_ask {
	bool ra, rp;                 /* SO_REUSEADDR / SO_REUSEPORT the program set */
	unsigned proto;              /* REUSE_P_TCP or REUSE_P_UDP */
	bool can_key;                /* CAP_CHOWN: a socket can be given REUSE_KEY_UID */
};

/* What the shim must do around the real call. */
struct reuse_plan {
	const struct reuse_rule *rule;  /* NULL: no rule, socket untouched */
	int8_t ra, rp;               /* kernel value before the call: -1 leave, 0 off, 1 on */
	int err;                     /* fail with this errno without calling the kernel */
	uint8_t log;                 /* enum reuse_level for this socket */
	bool key;                    /* give the socket REUSE_KEY_UID before bind() */
	bool joinable;               /* SO_REUSEPORT stays on unkeyed: same-uid can join */
	bool exclusive;              /* the program's own overlapping binds borrow the
					options; TCP: SO_REUSEADDR on after listen() */
};

/* policy_parse.c, policy_file.c, policy_index.c, policy_diag.c */
int reuse_policy_parse(const char *name, const char *text, size_t len,
		       struct reuse_policy *out, struct reuse_diag *diag);
int reuse_policy_load(const char *path, struct reuse_policy *out,
		      struct reuse_diag *diag);
/* reuse_policy_load, compiled once: the parsed policy and its index are
 * kept as an image in dir (a private directory of this uid, e.g.
 * reuse_user_dir's) and mapped by later loads of the same file. */
int reuse_policy_load_cached(const char *path, struct reuse_policy *out,
			     struct reuse_diag *diag, const char *dir);
/* The text of a policy file, as reuse_policy_load reads it (limits, the
 * wait for a pipe, root's checks): 0 and a malloc'd *text, or 1 with one
 * error in diag. */
int reuse_policy_read(const char *path, char **text, size_t *len,
		      struct reuse_diag *diag);
void reuse_policy_free(struct reuse_policy *p);
const struct reuse_rule *reuse_policy_match(const struct reuse_policy *p,
					    const struct reuse_subject *s);
const struct reuse_ident *reuse_policy_ident(const struct reuse_policy *p,
					     const struct reuse_subject *s);
bool reuse_host_match(const struct reuse_host *h, int family,
		      const uint8_t addr[16]);
void reuse_diag_add(struct reuse_diag *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void reuse_diag_free(struct reuse_diag *d);
extern const char reuse_default_policy[];   /* policy/default.policy, embedded */

/* decide.c: pure functions, no syscalls. */
void reuse_decide_bind(const struct reuse_rule *r, const struct reuse_ask *ask,
		       struct reuse_plan *out);
bool reuse_may_key(const struct reuse_rule *r, bool asked_rp);
int reuse_decide_setopt(const struct reuse_rule *r, bool is_rp, bool value,
			bool *to_kernel);
const char *reuse_act_name(unsigned act);
const char *reuse_level_name(unsigned level);

#endif
