/*
 * policy_index.c - the first rule in file order that matches a socket,
 * without a scan of every rule.
 */
#include "policy_int.h"

/* ====================================================================
 * The index
 *
 * Per socket protocol (tcp, udp) the rules are grouped by HOST: a group
 * holds the rules whose HOST is the same network (family, prefix length
 * and network bits), in file order; the `*` rules form one more group.
 * An address falls in at most one group per prefix length the policy
 * uses, found with one hash lookup per length (at most 33 for IPv4, 129
 * for IPv6; a real policy uses a handful). Each group answers its first
 * rule that also matches the port, program and uid, and the lowest of
 * those answers is the policy's first match: the groups split the rules,
 * and a rule can match only if its group's network holds the address. So
 * a rule whose host does not match the socket is never looked at.
 *
 * A group of more than GROUP_SCAN rules indexes its ports: the port space
 * 0..65535 is cut into segments at every rule's range ends (lo and hi+1);
 * every port of a segment is covered by exactly the same rules. A segment
 * keeps the ascending indices of the rules with explicit ports covering
 * it; rules with `*` ports go in a separate ascending "loose" list. The
 * group's match is a binary search for the segment (or one load from a
 * port -> segment table in big groups), then a merge of the two ascending
 * lists that stops at the first rule whose program and uid also match.
 *
 * Memory: a rule is listed once per segment it covers. 10,000 rules with
 * distinct single ports give <= 20,001 segments and 10,000 entries, about
 * 160 KB (2 + 4 bytes per segment, 4 per entry). Wide ranges (1-65535)
 * are repeated in every segment; to keep nested wide ranges from growing
 * as segments x rules, a group's entries are capped at 4 per rule plus a
 * share of ENTRY_BASE (one pool per protocol), and the widest rules over
 * that cap move to the loose list (checked with their ports there),
 * trading a little match time for bounded memory. Hash tables take 4
 * bytes a slot, at most 2 slots per rule; a group 40 bytes.
 *
 * Known limit: rules of one host that differ only by program= or uid=
 * are walked one by one.
 * ==================================================================== */

#define ENTRY_BASE ((size_t)1 << 20)
#define SEG_TABLE_MIN 64             /* more segments than this: seg_at table, */
#define SEG_TABLE_RULES 1024         /* in a group of at least this many rules */
#define GROUP_SCAN 8                 /* groups up to this size are walked */

struct port_index {
	uint16_t *start;             /* segment i: start[i] .. start[i+1]-1 (last: 65535) */
	uint16_t *seg_at;            /* big indices: the segment of every port, else NULL */
	uint32_t *off;               /* nseg + 1: segment i holds ids[off[i] .. off[i+1]) */
	uint32_t *ids;               /* rule indices, ascending within a segment */
	uint32_t *loose;             /* ascending: `*` ports, and demoted wide rules */
	size_t nseg, nloose;
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
};

struct host_index {               /* one protocol */
	struct group *groups;
	size_t ngroups;
	uint32_t *ids;               /* rule indices, by group, ascending in each */
	long star;                   /* group of the `*` rules, -1: none */
	struct family_index fam[2];  /* [0] IPv4, [1] IPv6 */
};

struct reuse_index {
	struct host_index by_proto[2];   /* [0] tcp, [1] udp */
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

/* ---- one group's port index ---------------------------------------- */

/*
 * seg_of - the segment holding port: the last start <= port. A binary
 * search, or one load from seg_at when the index is big enough for the
 * search to cost more than the rest of a match.
 */
static size_t seg_of(const struct port_index *x, unsigned port)
{
	if (x->seg_at)
		return x->seg_at[port];
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

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Scratch for building one group's port index. */
struct build {
	const struct reuse_policy *p;
	const uint32_t *ids;         /* the group's rules, ascending */
	size_t nids;
	size_t *pool;                /* what is left of ENTRY_BASE */
	uint32_t *ex;                /* its rules with explicit ports, ascending */
	size_t nex;
	size_t *cover;               /* per ex[]: segments covered */
	uint8_t *demoted;            /* per ex[] */
};

/*
 * build_seg_table - port -> segment for every port (128 KiB). Segments
 * start at distinct ports, so there are at most 65536 and an index fits
 * 16 bits.
 */
static bool build_seg_table(struct port_index *x)
{
	x->seg_at = malloc(65536 * sizeof *x->seg_at);
	if (!x->seg_at)
		return false;
	for (size_t s = 0; s < x->nseg; s++) {
		unsigned end = s + 1 < x->nseg ? x->start[s + 1] : 65536;
		for (unsigned port = x->start[s]; port < end; port++)
			x->seg_at[port] = (uint16_t)s;
	}
	return true;
}

/* build_segments - the sorted distinct range ends of the explicit rules. */
static bool build_segments(struct build *b, struct port_index *x)
{
	size_t nb = 1;
	for (size_t i = 0; i < b->nex; i++)
		nb += 2 * b->p->rules[b->ex[i]].nports;
	uint32_t *bd = malloc(nb * sizeof *bd);
	if (!bd)
		return false;
	size_t k = 0;
	bd[k++] = 0;
	for (size_t i = 0; i < b->nex; i++) {
		const struct reuse_rule *r = &b->p->rules[b->ex[i]];
		for (size_t j = 0; j < r->nports; j++) {
			bd[k++] = r->ports[j].lo;
			if (r->ports[j].hi < 65535)
				bd[k++] = (uint32_t)r->ports[j].hi + 1;
		}
	}
	qsort(bd, k, sizeof *bd, cmp_u32);
	x->start = malloc(k * sizeof *x->start);
	if (!x->start) {
		free(bd);
		return false;
	}
	for (size_t i = 0; i < k; i++)
		if (i == 0 || bd[i] != bd[i - 1])
			x->start[x->nseg++] = (uint16_t)bd[i];
	free(bd);
	return x->nseg <= SEG_TABLE_MIN || b->nids < SEG_TABLE_RULES ||
	       build_seg_table(x);
}

/* cover_of - how many segments the rule's ranges span. */
static size_t cover_of(const struct port_index *x, const struct reuse_rule *r)
{
	size_t c = 0;
	for (size_t j = 0; j < r->nports; j++)
		c += seg_of(x, r->ports[j].hi) - seg_of(x, r->ports[j].lo) + 1;
	return c;
}

/* qsort_r order of ex[] positions: widest cover first. */
static int cmp_cover_desc(const void *a, const void *b, void *cover)
{
	const size_t *c = cover;
	size_t x = c[*(const uint32_t *)a], y = c[*(const uint32_t *)b];
	return (x < y) - (x > y);
}

/*
 * demote_widest - move the widest rules out of the segments until the
 * entries fit the group's budget: 4 per rule, plus what it takes from the
 * protocol's pool. Returns the entry count left, SIZE_MAX on OOM.
 */
static size_t demote_widest(struct build *b, size_t total)
{
	size_t own = 4 * b->nex, budget = own + *b->pool;
	if (budget > UINT32_MAX / 2)
		budget = UINT32_MAX / 2;
	if (total > budget) {
		uint32_t *order = malloc(b->nex * sizeof *order);
		if (!order)
			return SIZE_MAX;
		for (size_t i = 0; i < b->nex; i++)
			order[i] = (uint32_t)i;
		qsort_r(order, b->nex, sizeof *order, cmp_cover_desc, b->cover);
		for (size_t i = 0; i < b->nex && total > budget; i++) {
			b->demoted[order[i]] = 1;
			total -= b->cover[order[i]];
		}
		free(order);
	}
	if (total > own)
		*b->pool -= total - own < *b->pool ? total - own : *b->pool;
	return total;
}

/*
 * count_segments - off[s + 1] = number of kept rules covering segment s,
 * from a difference array (+1 where a range starts, -1 after it ends;
 * unsigned wrap-around cancels out), then prefix sums turn counts into
 * offsets.
 */
static void count_segments(const struct build *b, struct port_index *x)
{
	uint32_t *d = x->off + 1;
	for (size_t i = 0; i < b->nex; i++) {
		const struct reuse_rule *r = &b->p->rules[b->ex[i]];
		for (size_t j = 0; !b->demoted[i] && j < r->nports; j++) {
			size_t last = seg_of(x, r->ports[j].hi);
			d[seg_of(x, r->ports[j].lo)]++;
			if (last + 1 < x->nseg)
				d[last + 1]--;
		}
	}
	uint32_t run = 0;
	for (size_t s = 0; s < x->nseg; s++) {
		run += d[s];
		d[s] = run;
	}
	for (size_t s = 0; s < x->nseg; s++)
		x->off[s + 1] += x->off[s];
}

/* fill_segments - every segment's ascending list of covering rules. */
static bool fill_segments(const struct build *b, struct port_index *x,
			  size_t total)
{
	x->off = calloc(x->nseg + 1, sizeof *x->off);
	x->ids = malloc((total ? total : 1) * sizeof *x->ids);
	uint32_t *pos = malloc(x->nseg * sizeof *pos);
	if (!x->off || !x->ids || !pos) {
		free(pos);
		return false;
	}
	count_segments(b, x);
	memcpy(pos, x->off, x->nseg * sizeof *pos);
	for (size_t i = 0; i < b->nex; i++) {
		const struct reuse_rule *r = &b->p->rules[b->ex[i]];
		for (size_t j = 0; !b->demoted[i] && j < r->nports; j++) {
			size_t last = seg_of(x, r->ports[j].hi);
			for (size_t s = seg_of(x, r->ports[j].lo); s <= last; s++)
				x->ids[pos[s]++] = b->ex[i];
		}
	}
	free(pos);
	return true;
}

/* fill_loose - `*`-port rules and demoted ones, in file order. */
static bool fill_loose(const struct build *b, struct port_index *x)
{
	size_t e = 0;
	x->loose = malloc(b->nids * sizeof *x->loose);
	if (!x->loose)
		return false;
	for (size_t i = 0; i < b->nids; i++) {
		const struct reuse_rule *r = &b->p->rules[b->ids[i]];
		if (!r->nports || b->demoted[e++])
			x->loose[x->nloose++] = b->ids[i];
	}
	return true;
}

static void port_index_free(struct port_index *x)
{
	if (!x)
		return;
	free(x->start);
	free(x->seg_at);
	free(x->off);
	free(x->ids);
	free(x->loose);
	free(x);
}

/* port_index_build - the port index of a group's n rules (ids ascending),
 * or NULL on OOM. */
static struct port_index *port_index_build(const struct reuse_policy *p,
					   const uint32_t *ids, size_t n,
					   size_t *pool)
{
	struct build b = { .p = p, .ids = ids, .nids = n, .pool = pool };
	struct port_index *x = calloc(1, sizeof *x);
	bool ok = false;
	size_t total = 0;

	b.ex = malloc(n * sizeof *b.ex);
	if (!x || !b.ex)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (p->rules[ids[i]].nports)
			b.ex[b.nex++] = ids[i];
	b.cover = malloc((b.nex ? b.nex : 1) * sizeof *b.cover);
	b.demoted = calloc(b.nex ? b.nex : 1, 1);
	if (!b.cover || !b.demoted || !build_segments(&b, x))
		goto out;
	for (size_t i = 0; i < b.nex; i++)
		total += b.cover[i] = cover_of(x, &p->rules[b.ex[i]]);
	total = demote_widest(&b, total);
	ok = total != SIZE_MAX && fill_segments(&b, x, total) && fill_loose(&b, x);
out:
	free(b.ex);
	free(b.cover);
	free(b.demoted);
	if (!ok) {
		port_index_free(x);
		x = NULL;
	}
	return x;
}

/* ---- one protocol's host index ------------------------------------- */

/* rule_net - a rule's network: family slot (0 IPv4, 1 IPv6), bits, length. */
static void rule_net(const struct reuse_rule *r, unsigned *fam, uint64_t *hi,
		     uint64_t *lo, unsigned *len)
{
	unsigned width = r->host.family == AF_INET ? 32 : 128;
	*fam = r->host.family == AF_INET6;
	*len = r->host.prefix < width ? r->host.prefix : width;
	addr_words(r->host.family, r->host.addr, hi, lo);
	mask_words(width, *len, hi, lo);
}

/* group_of - rule r's group, created (and hashed) on first sight. */
static uint32_t group_of(struct host_index *x, const struct reuse_rule *r,
			 bool *seen_len)
{
	struct group *g;
	uint64_t hi, lo;
	unsigned fam, len;

	if (!r->host.family) {
		if (x->star < 0) {
			x->star = (long)x->ngroups;
			memset(&x->groups[x->ngroups++], 0, sizeof *g);
		}
		return (uint32_t)x->star;
	}
	rule_net(r, &fam, &hi, &lo, &len);
	struct family_index *f = &x->fam[fam];
	const struct group *found = net_find(x, fam, hi, lo, len);
	if (found)
		return (uint32_t)(found - x->groups);
	uint32_t i = net_hash(fam, hi, lo, len) & f->mask;
	while (f->slot[i])
		i = (i + 1) & f->mask;
	g = &x->groups[x->ngroups];
	memset(g, 0, sizeof *g);
	g->hi = hi;
	g->lo = lo;
	g->len = (uint8_t)len;
	f->slot[i] = (uint32_t)++x->ngroups;
	if (!seen_len[fam * 129 + len]) {
		seen_len[fam * 129 + len] = true;
		if (!fam)
			f->mask4[f->nlens] = (uint32_t)(~0ULL << (32 - len));
		f->lens[f->nlens++] = (uint8_t)len;
	}
	return (uint32_t)(x->ngroups - 1);
}

/* A hash table of at least twice n slots (so lookups stay short). */
static bool family_alloc(struct family_index *f, size_t n)
{
	size_t slots = 8;
	while (slots < 2 * n)
		slots *= 2;
	if (slots > UINT32_MAX)
		return false;
	f->slot = calloc(slots, sizeof *f->slot);
	f->mask = (uint32_t)(slots - 1);
	return f->slot != NULL;
}

static void host_index_free(struct host_index *x)
{
	for (size_t i = 0; x->groups && i < x->ngroups; i++)
		port_index_free(x->groups[i].px);
	free(x->groups);
	free(x->ids);
	free(x->fam[0].slot);
	free(x->fam[1].slot);
}

/*
 * host_index_build - one protocol's groups, their hash tables and their
 * port indices; false on OOM (the caller frees).
 */
static bool host_index_build(const struct reuse_policy *p, unsigned bit,
			     struct host_index *x)
{
	size_t n = 0, per[2] = { 0, 0 }, k = 0, pool = ENTRY_BASE;
	bool ok = false, *seen = calloc(2 * 129, sizeof *seen);
	uint32_t *gid = NULL;

	x->star = -1;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct reuse_rule *r = &p->rules[i];
		if (r->proto & bit) {
			n++;
			if (r->host.family)
				per[r->host.family == AF_INET6]++;
		}
	}
	x->groups = malloc((n ? n : 1) * sizeof *x->groups);
	x->ids = malloc((n ? n : 1) * sizeof *x->ids);
	gid = malloc((n ? n : 1) * sizeof *gid);
	if (!seen || !x->groups || !x->ids || !gid ||
	    !family_alloc(&x->fam[0], per[0]) || !family_alloc(&x->fam[1], per[1]))
		goto out;
	/* each rule's group, counted; then offsets; then the rules in order */
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].proto & bit)
			x->groups[gid[k++] = group_of(x, &p->rules[i], seen)].n++;
	for (size_t g = 0, off = 0; g < x->ngroups; g++) {
		x->groups[g].off = (uint32_t)off;
		off += x->groups[g].n;
		x->groups[g].n = 0;
	}
	k = 0;
	for (size_t i = 0; i < p->nrules; i++) {
		if (p->rules[i].proto & bit) {
			struct group *g = &x->groups[gid[k++]];
			x->ids[g->off + g->n++] = (uint32_t)i;
		}
	}
	for (size_t g = 0; g < x->ngroups; g++) {
		struct group *gr = &x->groups[g];
		if (gr->n > GROUP_SCAN &&
		    !(gr->px = port_index_build(p, x->ids + gr->off, gr->n, &pool)))
			goto out;
	}
	ok = true;
out:
	free(seen);
	free(gid);
	return ok;
}

void index_free(struct reuse_index *ix)
{
	if (!ix)
		return;
	host_index_free(&ix->by_proto[0]);
	host_index_free(&ix->by_proto[1]);
	free(ix);
}

/* index_build - both protocols' indices, or NULL (matching then scans). */
struct reuse_index *index_build(const struct reuse_policy *p)
{
	if (p->nrules >= UINT32_MAX)
		return NULL;
	struct reuse_index *ix = calloc(1, sizeof *ix);
	if (!ix)
		return NULL;
	if (!host_index_build(p, REUSE_P_TCP, &ix->by_proto[0]) ||
	    !host_index_build(p, REUSE_P_UDP, &ix->by_proto[1])) {
		index_free(ix);
		return NULL;
	}
	return ix;
}

/* ====================================================================
 * Matching
 * ==================================================================== */

/*
 * reuse_host_match - does addr (of family) fall under the rule's HOST?
 * family 0 in the rule is `*`; otherwise the first prefix bits must agree.
 */
static inline __attribute__((always_inline)) bool
host_match(const struct reuse_host *h, int family, const uint8_t addr[16])
{
	uint64_t ah, al, hh, hl;

	if (!h->family)
		return true;
	if (h->family != family || !addr)
		return false;
	if (family == AF_INET) {                 /* the common case, in one word */
		uint32_t a, b;
		memcpy(&a, addr, 4);
		memcpy(&b, h->addr, 4);
		return (ntohl(a ^ b) & (uint32_t)(~0ULL << (32 - (h->prefix < 32 ? h->prefix : 32)))) == 0;
	}
	unsigned width = 128;
	addr_words(family, addr, &ah, &al);
	addr_words(family, h->addr, &hh, &hl);
	ah ^= hh;
	al ^= hl;
	mask_words(width, h->prefix < width ? h->prefix : width, &ah, &al);
	return (ah | al) == 0;
}

bool reuse_host_match(const struct reuse_host *h, int family,
		      const uint8_t addr[16])
{
	return host_match(h, family, addr);
}

/* port_match - is port in one of the rule's ranges (`*`: always)? */
static bool port_match(const struct reuse_rule *r, unsigned port)
{
	size_t lo = 0, hi = r->nports;
	if (!r->nports)
		return true;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->ports[mid].lo <= port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && port <= r->ports[lo - 1].hi;
}

/* program_match - program=GLOB against argv[0]'s or the exe's basename. */
static bool program_match(const char *glob, const struct reuse_subject *s)
{
	return (s->prog && fnmatch(glob, s->prog, 0) == 0) ||
	       (s->exe && fnmatch(glob, s->exe, 0) == 0);
}

/* rest_match - uid= and program= (the caller has the host and port). */
static inline bool rest_match(const struct reuse_rule *r,
			      const struct reuse_subject *s)
{
	return (r->uid == -1 || r->uid == s->uid) &&
	       (!r->program || program_match(r->program, s));
}

static bool rule_match(const struct reuse_rule *r, const struct reuse_subject *s)
{
	return (r->proto & s->proto) && port_match(r, s->port) &&
	       host_match(&r->host, s->family, s->addr) && rest_match(r, s);
}

/*
 * px_first - group_first for a group with a port index: merge the port's
 * segment with the loose list, both ascending.
 */
static inline __attribute__((always_inline)) uint32_t
px_first(const struct reuse_policy *p, const struct port_index *px,
	 const struct reuse_subject *s, uint32_t best)
{
	size_t seg = seg_of(px, s->port);
	const uint32_t *a = px->ids + px->off[seg], *ae = px->ids + px->off[seg + 1];
	const uint32_t *b = px->loose, *be = b + px->nloose;

	for (;;) {
		uint32_t i;
		if (a < ae && (b == be || *a < *b)) {
			if ((i = *a++) >= best)
				return best;
			if (rest_match(&p->rules[i], s))
				return i;
		} else if (b < be) {
			if ((i = *b++) >= best)
				return best;
			const struct reuse_rule *r = &p->rules[i];
			if ((!r->nports || port_match(r, s->port)) && rest_match(r, s))
				return i;
		} else {
			return best;
		}
	}
}

/*
 * group_first - the index of the group's first rule that matches the
 * socket's port, program and uid, if it comes before best; else best.
 * Small groups are walked here, inline: the common case is one rule.
 */
static inline __attribute__((always_inline)) uint32_t
group_first(const struct reuse_policy *p, const struct host_index *x,
	    const struct group *g, const struct reuse_subject *s, uint32_t best)
{
	if (g->px)
		return px_first(p, g->px, s, best);
	for (const uint32_t *a = x->ids + g->off, *ae = a + g->n; a < ae && *a < best; a++) {
		const struct reuse_rule *r = &p->rules[*a];
		if ((!r->nports || port_match(r, s->port)) && rest_match(r, s))
			return *a;
	}
	return best;
}

/* index_match - the `*` group and the socket's network at every length. */
static const struct reuse_rule *index_match(const struct reuse_policy *p,
					    const struct host_index *x,
					    const struct reuse_subject *s)
{
	uint32_t best = UINT32_MAX;
	uint64_t hi, lo;

	if (x->star >= 0)
		best = group_first(p, x, &x->groups[x->star], s, best);
	if (s->family == AF_INET) {
		const struct family_index *f = &x->fam[0];
		addr_words(AF_INET, s->addr, &hi, &lo);
		for (unsigned i = 0; i < f->nlens; i++) {
			const struct group *g = net_find(x, false, hi & f->mask4[i], 0,
							 f->lens[i]);
			if (g)
				best = group_first(p, x, g, s, best);
		}
	} else if (s->family == AF_INET6) {
		const struct family_index *f = &x->fam[1];
		addr_words(AF_INET6, s->addr, &hi, &lo);
		for (unsigned i = 0; i < f->nlens; i++) {
			uint64_t h = hi, l = lo;
			mask_words(128, f->lens[i], &h, &l);
			const struct group *g = net_find(x, true, h, l, f->lens[i]);
			if (g)
				best = group_first(p, x, g, s, best);
		}
	}
	return best == UINT32_MAX ? NULL : &p->rules[best];
}

#define LINEAR_MAX 4

/*
 * reuse_policy_match - the rule that decides for this socket: the first in
 * file order that matches, or NULL. A broken policy has no rules.
 */
const struct reuse_rule *reuse_policy_match(const struct reuse_policy *p,
					    const struct reuse_subject *s)
{
	if (!p || !p->rules || !s)
		return NULL;
	/* a handful of rules: walking them is cheaper than the index */
	if (p->index && p->nrules > LINEAR_MAX &&
	    (s->proto == REUSE_P_TCP || s->proto == REUSE_P_UDP))
		return index_match(p, &p->index->by_proto[s->proto - 1], s);
	for (size_t i = 0; i < p->nrules; i++)
		if (rule_match(&p->rules[i], s))
			return &p->rules[i];
	return NULL;
}

