/*
 * rules.h - the Linux address-reuse rules as a pure function.
 *
 * Given the sockets that already hold an overlapping local address on a
 * port (their state, flags and owner uid), would a new socket with a given
 * SO_REUSEADDR/SO_REUSEPORT and uid bind (TCP: and listen) now, and what
 * would it get? The rules are those libreuse(7) states ("Explained
 * EADDRINUSE"), as the kernel applies them (inet_bind_conflict,
 * udp_lib_lport_inuse). Used by
 * the log's explanations, `reuse who` and `reuse audit`; no syscalls.
 */
#ifndef REUSE_RULES_H
#define REUSE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rules_state {
	RULES_BOUND = 0,             /* UDP bound, TCP bound/connected/closing */
	RULES_LISTEN,                /* TCP listening */
	RULES_TIMEWAIT,              /* TCP TIME_WAIT (flags of its old listener) */
};

/* A socket already on the port, on an overlapping local address. */
struct rules_holder {
	uint8_t state;               /* enum rules_state */
	int8_t ra, rp;               /* 1 on, 0 off, -1 unknown */
	uint32_t uid;                /* owner (fixed at socket()) */
};

/* The socket that wants the address. */
struct rules_cand {
	bool tcp;
	bool ra, rp;
	uint32_t uid;
	bool low_port_denied;        /* port < ip_unprivileged_port_start, no
	                                CAP_NET_BIND_SERVICE: EACCES first */
};

enum rules_verdict {
	RULES_OK = 0,                /* binds; nothing else on the port */
	RULES_SHARE,                 /* binds and joins a SO_REUSEPORT group */
	RULES_TAKE,                  /* binds; UDP: receives what the holder got */
	RULES_BESIDE,                /* binds beside non-listening holders / TIME_WAIT */
	RULES_INUSE,                 /* EADDRINUSE */
	RULES_MAYBE,                 /* depends on a holder flag we could not read */
	RULES_ACCES,                 /* EACCES: privileged port */
};

struct rules_result {
	uint8_t verdict;             /* enum rules_verdict */
	size_t blocker;              /* index of the first holder that refuses
	                                (INUSE) or is unknown (MAYBE) */
};

/* One holder against the candidate: 1 conflict, 0 none, -1 unknown. */
int rules_conflict(const struct rules_holder *h, const struct rules_cand *c);
/* The candidate against every holder. */
void rules_bind(const struct rules_holder *h, size_t n,
		const struct rules_cand *c, struct rules_result *out);
/* "ok", "shares", "takes traffic", "beside", "EADDRINUSE", "unknown", "EACCES" */
const char *rules_verdict_name(unsigned v);

/*
 * Could a process of another uid (or, with same_uid, another process of the
 * holder's own uid) bind an overlapping address beside this one live socket
 * and receive some of its traffic? The answer for the best of its four
 * option choices; -1 if a flag is unknown.
 */
int rules_hijackable(const struct rules_holder *h, bool tcp, bool same_uid);

#endif
