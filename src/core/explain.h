/*
 * explain.h - the explanation of an EADDRINUSE in two steps: the facts
 * (facts.c: sock_diag, /proc, the failing socket's own options) and the
 * text (explain.c: pure, no syscalls, unit-tested with canned holders).
 * The rest of the explanation's interface is in core.h (explain_*).
 */
#ifndef REUSE_EXPLAIN_H
#define REUSE_EXPLAIN_H

#include "core/core.h"

/* What explaining a failed bind()/listen() of one socket needs. */
struct explain_facts {
	struct reuse_holder_list l;  /* the other sockets on an overlapping
	                                address, owners and flags filled */
	int8_t own_ra, own_rp;       /* the failing socket's options: 1, 0, -1 unreadable */
	uint32_t uid;                /* its owner (a keyed socket: the uid it stands for) */
	uint32_t rp_uid;             /* the owner the kernel would compare with
	                                SO_REUSEPORT on under a reuseport=force
	                                rule: its key when the process may key
	                                (CAP_CHOWN, engine.c), else uid */
};

/* Gather the facts about fd, bound (or binding) to s. Costs a sock_diag
 * dump (none when seen holds a valid one) and a /proc scan; errno kept.
 * The socket itself is not a holder. */
void explain_facts(int fd, const struct reuse_subject *s,
		   const struct explain_seen *seen, struct explain_facts *f) HIDDEN;

/* Append to msg who holds the address, what each option choice would do
 * for this socket's owner, and a fix only when the rules say it binds
 * (else why none is known). Pure text. */
void explain_detail_text(const struct explain_facts *f, const struct reuse_subject *s,
			 char *msg, size_t mlen) HIDDEN;

/* explain_in_use_text with whether a rule acts on the socket (libreuse
 * then clears TIME_WAIT entries when it has CAP_NET_ADMIN). Pure text. */
void explain_in_use_text_acts(const struct reuse_holders *h, const struct reuse_subject *s,
			      int ra, bool excl, bool acts, enum reuse_remedy done, int n,
			      int err, char *msg, size_t mlen) HIDDEN;

/* How long TIME_WAIT entries may last: 60 s (the kernel's TCP_TIMEWAIT_LEN)
 * and the timer wheel's slack for a timer that far out, one granule of its
 * level: 512 jiffies at HZ 100 (5.1 s), 4096 at HZ 1000 (4.1 s). "60 s"
 * was advice that failed: entries measured still there 60-61 s on. */
#define EXPLAIN_TW_WAIT "66 s"

/* The command that clears the TIME_WAIT entries on port, as root. */
#define EXPLAIN_SS_KILL "ss -K state time-wait sport = :%u"

#endif
