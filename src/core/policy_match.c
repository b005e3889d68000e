/*
 * policy_match.c - the rule that decides for a socket: the first in file
 * order that matches it, found through the index (policy_index.c).
 */
#include <fnmatch.h>

#include "policy_ix.h"

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
	if (px->first)
		return px->first[seg] < best ? px->first[seg] : best;
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
		if ((!r->nports || port_match(r, s->port)) &&
		    (x->first_mode || rest_match(r, s)))
			return *a;
	}
	return best;
}

/* index_match - the `*` group and the socket's network at every length. */
static const struct reuse_rule *index_match(const struct reuse_policy *p,
					    const struct host_index *x,
					    const struct reuse_subject *s)
{
	const struct group *g;
	uint32_t best = UINT32_MAX;
	uint64_t hi, lo;

	if (x->star >= 0)
		best = group_first(p, x, &x->groups[x->star], s, best);
	if (s->family == AF_INET && x->fam[0].by16) {
		const struct family_index *f = &x->fam[0];
		addr_words(AF_INET, s->addr, &hi, &lo);
		if (f->has0 && (g = net_find(x, false, 0, 0, 0)))
			best = group_first(p, x, g, s, best);
		for (uint32_t m = f->by16[hi >> 16]; m; m &= m - 1) {
			unsigned len = (unsigned)__builtin_ctz(m) + 1;
			g = net_find(x, false, hi & (uint32_t)(~0ULL << (32 - len)), 0, len);
			if (g)
				best = group_first(p, x, g, s, best);
		}
	} else if (s->family == AF_INET) {
		const struct family_index *f = &x->fam[0];
		addr_words(AF_INET, s->addr, &hi, &lo);
		for (unsigned i = 0; i < f->nlens; i++) {
			g = net_find(x, false, hi & f->mask4[i], 0, f->lens[i]);
			if (g)
				best = group_first(p, x, g, s, best);
		}
	} else if (s->family == AF_INET6 && x->fam[1].by16) {
		const struct family_index *f = &x->fam[1];
		addr_words(AF_INET6, s->addr, &hi, &lo);
		if (f->has0 && (g = net_find(x, true, 0, 0, 0)))
			best = group_first(p, x, g, s, best);
		for (uint32_t m = f->by16[hi >> 48]; m; m &= m - 1) {
			unsigned first = (unsigned)__builtin_ctz(m) * 4 + 1;
			for (unsigned len = first; len < first + 4; len++) {
				if (!(f->lenset[len / 64] >> (len % 64) & 1))
					continue;
				uint64_t h = hi, l = lo;
				mask_words(128, len, &h, &l);
				if ((g = net_find(x, true, h, l, len)))
					best = group_first(p, x, g, s, best);
			}
		}
	} else if (s->family == AF_INET6) {
		const struct family_index *f = &x->fam[1];
		addr_words(AF_INET6, s->addr, &hi, &lo);
		for (unsigned i = 0; i < f->nlens; i++) {
			uint64_t h = hi, l = lo;
			mask_words(128, f->lens[i], &h, &l);
			g = net_find(x, true, h, l, f->lens[i]);
			if (g)
				best = group_first(p, x, g, s, best);
		}
	}
	return best == UINT32_MAX ? NULL : &p->rules[best];
}


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
	    (s->proto == REUSE_P_TCP || s->proto == REUSE_P_UDP)) {
		const struct reuse_ident *e = NULL;
		if (p->index->by_identity) {
			e = s->ident;
			if (!e || e->ix != p->index || e->uid != s->uid)
				e = ident_index_get(p, s);
		}
		return index_match(p, e ? &e->by_proto[s->proto - 1]
					: &p->index->by_proto[s->proto - 1], s);
	}
	for (size_t i = 0; i < p->nrules; i++)
		if (rule_match(&p->rules[i], s))
			return &p->rules[i];
	return NULL;
}

/*
 * reuse_policy_ident - the handle of the subject's identity (prog, exe,
 * uid) in this policy, for reuse_subject.ident: a caller that decides
 * many sockets for one process skips the look-up by names. NULL when the
 * policy needs none (no program= or uid=, or a handful of rules) or has
 * no room for one more identity.
 */
const struct reuse_ident *reuse_policy_ident(const struct reuse_policy *p,
					     const struct reuse_subject *s)
{
	if (!p || !p->index || !p->index->by_identity || p->nrules <= LINEAR_MAX || !s)
		return NULL;
	return ident_index_get(p, s);
}

