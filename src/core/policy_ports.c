/*
 * policy_ports.c - one group's port index (see policy_index.c): the port
 * space 0..65535 cut into segments at every rule's range ends (lo and
 * hi+1), so that every port of a segment is covered by the same rules.
 *
 * First-rule mode, when no rule of the index needs program= or uid=: a
 * segment keeps only the first rule (file order) covering it, `*`-port
 * rules folded in; a match is one segment lookup. Rules are painted in
 * ascending order over the segments not yet painted, skipping painted
 * runs with a union-find "next unpainted" array, so nested wide ranges
 * cost O(segments + ranges) to build and 4 bytes a segment to keep.
 *
 * List mode (the shared index of a policy with program= or uid= rules,
 * used when an identity has no index of its own): a segment keeps the
 * ascending indices of the rules with explicit ports covering it; rules
 * with `*` ports go in a separate ascending "loose" list. The match then
 * merges the two lists up to the first rule whose program and uid match.
 * Wide ranges (1-65535) are repeated in every segment; to keep nested
 * wide ranges from growing as segments x rules, a group's entries are
 * capped at 4 per rule plus a share of ENTRY_BASE (one pool per
 * protocol), and the widest rules over that cap move to the loose list.
 */
#include <stdlib.h>

#include "policy_ix.h"


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
 * build_blocks - seg_of's tables: a block of 256 ports inside one segment
 * is that segment; a block cut by segment starts gets a row of fine[]
 * (512 bytes). Segments start at distinct ports, so there are at most
 * 65536 and an index fits 16 bits. At most 128 KiB, for ports spread
 * over every block; a few hundred bytes for most policies.
 */
static bool build_blocks(struct port_index *x)
{
	uint32_t rows = 0;

	for (unsigned b = 0; b < 256; b++)
		rows += seg_search(x, b << 8) != seg_search(x, b << 8 | 255);
	x->fine = malloc((rows ? rows : 1) * 256 * sizeof *x->fine);
	if (!x->fine)
		return false;
	rows = 0;
	for (unsigned b = 0; b < 256; b++) {
		size_t s = seg_search(x, b << 8);
		if (s == seg_search(x, b << 8 | 255)) {
			x->blk[b] = BLK_ONE | (uint32_t)s;
			continue;
		}
		x->blk[b] = rows;
		for (unsigned port = b << 8; port <= (b << 8 | 255); port++) {
			while (s + 1 < x->nseg && x->start[s + 1] <= port)
				s++;
			x->fine[rows << 8 | (port & 255)] = (uint16_t)s;
		}
		rows++;
	}
	x->nrows = rows;
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
	return build_blocks(x);
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

void port_index_free(struct port_index *x)
{
	if (!x)
		return;
	free(x->start);
	free(x->fine);
	free(x->off);
	free(x->ids);
	free(x->loose);
	free(x->first);
	free(x);
}

/* paint_next - the first unpainted segment at or after s (path halving). */
static uint32_t paint_next(uint32_t *next, uint32_t s)
{
	while (next[s] != s) {
		next[s] = next[next[s]];
		s = next[s];
	}
	return s;
}

/*
 * fill_first - first-rule mode: each segment's first covering rule, the
 * group's first `*`-port rule folded in. ex[] is ascending, so a segment
 * painted once keeps its first rule; next[] (nseg + 1 entries, the last
 * a sentinel) skips what is painted.
 */
static bool fill_first(const struct build *b, struct port_index *x)
{
	uint32_t star = UINT32_MAX, *next = malloc((x->nseg + 1) * sizeof *next);
	x->first = malloc(x->nseg * sizeof *x->first);
	if (!next || !x->first) {
		free(next);
		return false;
	}
	for (size_t i = 0; i < b->nids && star == UINT32_MAX; i++)
		if (!b->p->rules[b->ids[i]].nports)
			star = b->ids[i];
	for (size_t s = 0; s <= x->nseg; s++)
		next[s] = (uint32_t)s;
	for (size_t s = 0; s < x->nseg; s++)
		x->first[s] = star;
	for (size_t i = 0; i < b->nex && b->ex[i] < star; i++) {
		const struct reuse_rule *r = &b->p->rules[b->ex[i]];
		for (size_t j = 0; j < r->nports; j++) {
			uint32_t last = (uint32_t)seg_of(x, r->ports[j].hi);
			for (uint32_t s = paint_next(next, (uint32_t)seg_of(x, r->ports[j].lo));
			     s <= last; s = paint_next(next, s + 1)) {
				x->first[s] = b->ex[i];
				next[s] = s + 1;
			}
		}
	}
	free(next);
	return true;
}

/* port_index_build - the port index of a group's n rules (ids ascending),
 * or NULL on OOM. */
struct port_index *port_index_build(const struct reuse_policy *p,
				    const uint32_t *ids, size_t n, size_t *pool,
				    bool first_mode)
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
	if (first_mode) {
		ok = fill_first(&b, x);
		goto out;
	}
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

