/*
 * guard_abi.h - what the BPF programs (guard.bpf.c) and `reuse guard`
 * (compile.c fills the maps, stream.c reads the events) share: the
 * compiled rules, the configuration and the event record. Plain
 * fixed-size types only: the same bytes on both sides.
 */
#ifndef REUSE_GUARD_ABI_H
#define REUSE_GUARD_ABI_H

#include <linux/types.h>

/* Entries of the rule array: one per (rule, port range), in file order. */
#define GUARD_MAX_RULES 256
/* Glob positions a program= pattern compiles to (after "**" -> "*"). */
#define GUARD_GLOB_MAX 31
#define GUARD_COMM_LEN 16
/* Bound sockets whose options a rule holds, remembered at once (LRU). */
#define GUARD_HELD 65536

/* guard_rule.flags */
#define GR_DENY      0x01
#define GR_RESERVE   0x02
#define GR_EXCLUSIVE 0x04
#define GR_DRY       0x08
#define GR_UID       0x10        /* uid= given */
#define GR_PROGRAM   0x20        /* program= given: the glob of this entry */

/* guard_rule.ra / .rp: enum reuse_act (keep 0, force 1, strip 2, refuse 3) */

struct guard_rule {
	__u32 net[4];            /* HOST & mask, network order (IPv4: net[0]) */
	__u32 mask[4];
	__u32 uid;
	__u32 index;             /* the rule's index in the policy */
	__u16 port_lo, port_hi;  /* host order, inclusive */
	__u8 proto;              /* enum reuse_proto mask */
	__u8 family;             /* 0 any, 4, 6 */
	__u8 flags;
	__u8 ra, rp;
	__u8 log;                /* enum reuse_level */
	__u8 glob_n;             /* positions of the glob; accept bit = 1 << glob_n */
	__u8 pad;
	__u32 star;              /* positions holding '*' */
};

/* program=: per entry, for each byte, the positions it may fill (a
 * shift-and automaton over the task's 15-byte name). */
struct guard_glob {
	__u32 m[256];
};

struct guard_config {
	__u32 nrules;            /* entries in use */
	__u32 events;            /* 0: decide only (a pinned guard nobody reads) */
	__u32 exclusive;         /* some entry is exclusive: binds look up owners */
	__u32 pad;
};

/* guard_event.call */
enum { GE_BIND = 0, GE_SETSOCKOPT, GE_GETSOCKOPT };

/* guard_event.action: what decided */
enum {
	GA_RULE = 0,             /* the first matching rule (its directives) */
	GA_RESERVED,             /* another rule's reservation refused the bind */
	GA_EXCLUSIVE,            /* another process's exclusive socket refused it
				    (guard_event.value: that process's pid) */
};

/* Exclusive sockets bound on one port (post_bind), per protocol. */
#define GUARD_OWNER_SLOTS 4

struct guard_event {
	__u32 pid;
	__u32 uid;
	char comm[GUARD_COMM_LEN];
	__u32 addr[4];           /* as the program gave it (bind4: addr[0]) */
	__u32 entry;             /* the deciding rule entry */
	__u32 value;             /* setsockopt: the value asked */
	__s32 result;            /* 0 or the errno the program gets */
	__u16 port;              /* host order */
	__u8 call;
	__u8 family;             /* 4 or 6: the socket's */
	__u8 proto;              /* REUSE_P_TCP / REUSE_P_UDP */
	__u8 action;
	__s8 asked_ra, asked_rp; /* what the program had set; -1 unknown */
	__s8 now_ra, now_rp;     /* what the kernel holds after the guard */
	__u8 optname_rp;         /* setsockopt/getsockopt: SO_REUSEPORT */
	__u8 pad[3];
};

/*
 * program=: does the task's name (comm, NUL-ended, at most 15 bytes) match
 * the shift-and automaton compile.c built (m[byte]: the positions the byte
 * may fill; star: the positions that repeat; accepted at glob_n)? A name of
 * 15 bytes may be a longer one the kernel cut: it matches when a name
 * starting with it could. The programs and the unit tests run this same
 * code (tests/unit/test_guard.c holds it against fnmatch(3)).
 */
#if defined(__bpf__)
#define GUARD_UNROLL _Pragma("unroll")
#else
#define GUARD_UNROLL
#endif
static inline __attribute__((always_inline)) int
guard_glob_match(const __u32 *m, __u32 star, __u32 glob_n, const char *comm)
{
	__u32 s = 1, acc = 1u << (glob_n & 31);

	s |= (s & star) << 1;
	GUARD_UNROLL
	for (int k = 0; k < GUARD_COMM_LEN - 1; k++) {
		unsigned char c = (unsigned char)comm[k];
		if (!c)
			return (s & acc) != 0;
		s = ((s & m[c]) << 1) | (s & star);
		s |= (s & star) << 1;
		if (!s)
			return 0;
	}
	return 1;
}

#endif
