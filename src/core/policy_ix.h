/*
 * policy_ix.h - the index's structures, shared by its builder
 * (policy_index.c, policy_ports.c) and the matcher (policy_match.c).
 * The design is described at the top of policy_index.c.
 */
#ifndef REUSE_POLICY_IX_H
#define REUSE_POLICY_IX_H

#include <arpa/inet.h>
#include <endian.h>
#include <string.h>
#include <sys/socket.h>

#include "libreuse.h"

#define GROUP_SCAN 8                 /* groups up to this size are walked */
#define LINEAR_MAX 4                 /* policies up to this size: no index */
#define IDENT_MAX 16                 /* identities with their own index */
#define ENTRY_BASE ((size_t)1 << 20)   /* list mode: entries shared by big groups */

struct port_index {
	uint16_t *start;             /* segment i: start[i] .. start[i+1]-1 (last: 65535) */
	size_t nseg;
	/* port -> segment in two loads: per block of 256 ports, its one
	 * segment (BLK_ONE set) or the row of fine[] that has each port's */
	uint32_t blk[256];
	uint16_t *fine;              /* nrows rows of 256 */
	uint32_t nrows;
	/* first-rule mode (no rule of the index needs program= or uid=) */
	uint32_t *first;             /* per segment: the first rule covering it, or UINT32_MAX */
	/* list mode */
	uint32_t *off;               /* nseg + 1: segment i holds ids[off[i] .. off[i+1]) */
	uint32_t *ids;               /* rule indices, ascending within a segment */
	uint32_t *loose;             /* ascending: `*` ports, and demoted wide rules */
	size_t nloose;
};

/* The rules of one HOST network. */
struct group {
	uint64_t hi, lo;             /* network bits, see addr_words */
	uint8_t len;                 /* prefix length; 0 also for `*` */
	uint32_t off, n;             /* its rules: host_index.ids[off .. off + n) */
	struct port_index *px;       /* n > GROUP_SCAN, else NULL */
};

/* The networks of one family: the prefix lengths in use, and an open-
 * addressing hash of (length, network bits) -> group. */
struct family_index {
	uint8_t lens[129];
	unsigned nlens;
	uint32_t mask4[33];          /* IPv4: the mask of lens[i] */
	uint32_t *slot;              /* group + 1; 0 = empty */
	uint32_t mask;               /* slots - 1 (a power of two minus one) */
	/* many lengths: per /16, the lengths whose networks may hold an
	 * address of that /16: IPv4 bit l-1 for length l (1..32), IPv6 bit
	 * (l-1)/4, the lengths in use among those four in lenset */
	uint32_t *by16;
	uint64_t lenset[3];          /* bit l: length l in use (IPv6 by16) */
	bool has0;                   /* a /0 network */
};

struct host_index {               /* one protocol */
	struct group *groups;
	size_t ngroups;
	uint32_t *ids;               /* rule indices, by group, ascending in each */
	long star;                   /* group of the `*` rules, -1: none */
	bool first_mode;             /* no rule here needs program= or uid= */
	struct family_index fam[2];  /* [0] IPv4, [1] IPv6 */
};

/* The index of the rules one identity (names, uid) can match. */
struct reuse_ident {
	const struct reuse_index *ix;   /* whose */
	char *prog, *exe;            /* NULL as in the subject */
	long uid;
	struct host_index by_proto[2];
};

struct reuse_index {
	struct host_index by_proto[2];   /* [0] tcp, [1] udp */
	bool by_identity;                /* some rule has program= or uid= */
	struct reuse_ident *ident[IDENT_MAX];   /* published once, atomically */
};

/* ---- networks as numbers ------------------------------------------- */

/*
 * addr_words - an address as two host-order words, so that a prefix test
 * is a mask and a compare: IPv4 in hi (lo 0), IPv6 as hi:lo.
 */
static inline void addr_words(int family, const uint8_t a[16], uint64_t *hi,
			      uint64_t *lo)
{
	if (family == AF_INET) {
		uint32_t v;
		memcpy(&v, a, 4);
		*hi = ntohl(v);
		*lo = 0;
	} else {
		uint64_t h, l;
		memcpy(&h, a, 8);
		memcpy(&l, a + 8, 8);
		*hi = be64toh(h);
		*lo = be64toh(l);
	}
}

/* mask_words - keep the first len bits of an address of width 32 or 128. */
static inline void mask_words(unsigned width, unsigned len, uint64_t *hi,
			      uint64_t *lo)
{
	if (width == 32) {
		*hi &= (uint32_t)(~0ULL << (32 - len));    /* len 0: shifted out */
	} else if (len <= 64) {
		*hi &= len ? ~0ULL << (64 - len) : 0;
		*lo = 0;
	} else {
		*lo &= ~0ULL << (128 - len);
	}
}

/* net_hash - of a network; an IPv4 one and its length fit 40 bits: one
 * multiply spreads them. */
static inline uint32_t net_hash(bool v6, uint64_t hi, uint64_t lo, unsigned len)
{
	if (!v6)
		return (uint32_t)(((hi << 8 | len) * 0x9e3779b97f4a7c15ULL) >> 32);
	uint64_t h = (hi ^ (uint64_t)len << 56) * 0x9e3779b97f4a7c15ULL;
	h = (h ^ (h >> 29) ^ lo) * 0xbf58476d1ce4e5b9ULL;
	return (uint32_t)(h >> 32);
}

/* net_find - the group of network (hi, lo)/len, or NULL. */
static inline const struct group *net_find(const struct host_index *x, bool v6,
					   uint64_t hi, uint64_t lo, unsigned len)
{
	const struct family_index *f = &x->fam[v6];
	uint32_t i = net_hash(v6, hi, lo, len) & f->mask, g;

	for (; (g = f->slot[i]) != 0; i = (i + 1) & f->mask) {
		const struct group *gr = &x->groups[g - 1];
		if (gr->hi == hi && (!v6 || gr->lo == lo) && gr->len == len)
			return gr;
	}
	return NULL;
}

#define BLK_ONE 0x80000000u

/* seg_of - the segment holding port (see port_index.blk). */
static inline size_t seg_of(const struct port_index *x, unsigned port)
{
	uint32_t e = x->blk[port >> 8];
	return e & BLK_ONE ? e & 0xffff : x->fine[e << 8 | (port & 255)];
}

/* seg_search - the segment holding port: the last start <= port (what
 * seg_of's tables are built from). */
static inline size_t seg_search(const struct port_index *x, unsigned port)
{
	size_t lo = 0, hi = x->nseg;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->start[mid] <= port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;                 /* start[0] == 0 */
}

/* policy_ports.c */
struct port_index *port_index_build(const struct reuse_policy *p,
				    const uint32_t *ids, size_t n, size_t *pool,
				    bool first_mode);
void port_index_free(struct port_index *x);

/* policy_index.c */
bool host_index_build(const struct reuse_policy *p, unsigned bit,
		      const uint8_t *keep, bool first_mode, struct host_index *x);
void host_index_free(struct host_index *x);
const struct reuse_ident *ident_index_get(const struct reuse_policy *p,
					  const struct reuse_subject *s);

#endif
