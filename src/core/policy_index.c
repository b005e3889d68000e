/*
 * policy_index.c - the first rule in file order that matches a socket,
 * without a scan of every rule.
 *
 * Per socket protocol (tcp, udp) the rules are grouped by HOST: a group
 * holds the rules whose HOST is the same network (family, prefix length
 * and network bits), in file order; the `*` rules form one more group.
 * An address falls in at most one group per prefix length the policy
 * uses, found with one hash lookup per length. With more than a few IPv4
 * lengths, a table per /16 says which lengths can hold an address of that
 * /16, so a socket looks up only those. Each group answers its first rule
 * that also matches the port (and program and uid), and the lowest of
 * those answers is the policy's first match: the groups split the rules,
 * and a rule can match only if its group's network holds the address.
 * A group of more than GROUP_SCAN rules indexes its ports (policy_ports.c).
 *
 * Identities. A process's names (argv[0], exe) do not change and its uid
 * rarely does, so when some rule has program= or uid=, the first socket
 * of an identity (prog, exe, uid) gets an index of its own, built over
 * only the rules that identity can match: program= and uid= are then
 * settled once, and a rule another program or uid would match is never
 * looked at again. Such an index, like a policy without program= or uid=,
 * is in first-rule mode: a big group answers a port with one lookup.
 * Up to IDENT_MAX identities get one (the seccomp supervisor decides for
 * many processes); the others use the shared index, in list mode, which
 * checks program= and uid= rule by rule. An identity's index is published
 * with one atomic store and lives as long as the policy.
 *
 * Memory: first-rule mode keeps 6 bytes a segment (2 for its start, 4 for
 * its rule); list mode 4 more per rule per segment it covers, capped (see
 * policy_ports.c). Hash tables take 4 bytes a slot, at most 2 slots per
 * rule; a group 40 bytes; the /16 table 256 KiB, touched only where some
 * network lies.
 */
#include <fnmatch.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "policy_int.h"
#include "policy_ix.h"

#define BY16_LENS 4                  /* more IPv4 lengths than this: by16 table */

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

/*
 * build_by16 - with many lengths in a family, which lengths each /16 (the
 * address's first 16 bits) needs: a network of length l <= 16 marks the
 * 2^(16-l) /16s it holds, a longer one the /16 it lies in. IPv4 marks bit
 * l-1; IPv6 bit (l-1)/4, and lenset says which lengths of those four are
 * in use. The whole space (/0) is looked up always: has0.
 */
static bool build_by16(struct host_index *x, unsigned fam)
{
	struct family_index *f = &x->fam[fam];
	if (f->nlens <= BY16_LENS)
		return true;
	f->by16 = calloc(65536, sizeof *f->by16);
	if (!f->by16)
		return false;
	for (uint32_t i = 0; i <= f->mask; i++) {
		if (!f->slot[i])
			continue;
		const struct group *gr = &x->groups[f->slot[i] - 1];
		uint32_t top = (uint32_t)(fam ? gr->hi >> 48 : gr->hi >> 16);
		if (gr->len == 0) {
			f->has0 = true;
			continue;
		}
		unsigned l1 = gr->len - 1u;
		uint32_t bit = 1u << (fam ? l1 / 4 : l1);
		f->lenset[gr->len / 64] |= 1ULL << (gr->len % 64);
		if (gr->len <= 16)
			for (uint32_t b = 0; b < (1u << (16 - gr->len)); b++)
				f->by16[top + b] |= bit;
		else
			f->by16[top] |= bit;
	}
	return true;
}

void host_index_free(struct host_index *x)
{
	for (size_t i = 0; x->groups && i < x->ngroups; i++)
		port_index_free(x->groups[i].px);
	free(x->groups);
	free(x->ids);
	free(x->fam[0].slot);
	free(x->fam[0].by16);
	free(x->fam[1].slot);
	free(x->fam[1].by16);
}

/*
 * host_index_build - one protocol's groups, their hash tables and their
 * port indices, over the rules keep[] marks (NULL: all); false on OOM
 * (the caller frees).
 */
bool host_index_build(const struct reuse_policy *p, unsigned bit,
		      const uint8_t *keep, bool first_mode, struct host_index *x)
{
	size_t n = 0, per[2] = { 0, 0 }, k = 0, pool = ENTRY_BASE;
	bool ok = false, *seen = calloc(2 * 129, sizeof *seen);
	uint32_t *gid = NULL;

	x->star = -1;
	x->first_mode = first_mode;
#define KEPT(i) ((p->rules[i].proto & bit) && (!keep || keep[i]))
	for (size_t i = 0; i < p->nrules; i++) {
		if (KEPT(i)) {
			n++;
			if (p->rules[i].host.family)
				per[p->rules[i].host.family == AF_INET6]++;
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
		if (KEPT(i))
			x->groups[gid[k++] = group_of(x, &p->rules[i], seen)].n++;
	for (size_t g = 0, off = 0; g < x->ngroups; g++) {
		x->groups[g].off = (uint32_t)off;
		off += x->groups[g].n;
		x->groups[g].n = 0;
	}
	k = 0;
	for (size_t i = 0; i < p->nrules; i++) {
		if (KEPT(i)) {
			struct group *g = &x->groups[gid[k++]];
			x->ids[g->off + g->n++] = (uint32_t)i;
		}
	}
#undef KEPT
	for (size_t g = 0; g < x->ngroups; g++) {
		struct group *gr = &x->groups[g];
		if (gr->n > GROUP_SCAN &&
		    !(gr->px = port_index_build(p, x->ids + gr->off, gr->n, &pool,
						first_mode)))
			goto out;
	}
	ok = build_by16(x, 0) && build_by16(x, 1);
out:
	free(seen);
	free(gid);
	return ok;
}

/* ---- identities ---------------------------------------------------- */

static bool same_name(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_ident(const struct reuse_ident *e, const struct reuse_subject *s)
{
	return e->uid == s->uid && same_name(e->prog, s->prog) &&
	       same_name(e->exe, s->exe);
}

static bool program_match(const char *glob, const char *prog, const char *exe)
{
	return (prog && fnmatch(glob, prog, 0) == 0) ||
	       (exe && fnmatch(glob, exe, 0) == 0);
}

static void ident_free(struct reuse_ident *e)
{
	if (!e)
		return;
	host_index_free(&e->by_proto[0]);
	host_index_free(&e->by_proto[1]);
	free(e->prog);
	free(e->exe);
	free(e);
}

/* ident_build - the index of the rules this identity's program= and uid=
 * let through, or NULL. */
static struct reuse_ident *ident_build(const struct reuse_policy *p,
				       const struct reuse_subject *s)
{
	struct reuse_ident *e = calloc(1, sizeof *e);
	uint8_t *keep = malloc(p->nrules);
	bool ok = e && keep;

	if (ok) {
		e->ix = p->index;
		e->uid = s->uid;
		e->prog = s->prog ? strdup(s->prog) : NULL;
		e->exe = s->exe ? strdup(s->exe) : NULL;
		ok = (!s->prog || e->prog) && (!s->exe || e->exe);
	}
	for (size_t i = 0; ok && i < p->nrules; i++) {
		const struct reuse_rule *r = &p->rules[i];
		keep[i] = (r->uid == -1 || r->uid == s->uid) &&
			  (!r->program || program_match(r->program, s->prog, s->exe));
	}
	ok = ok && host_index_build(p, REUSE_P_TCP, keep, true, &e->by_proto[0]) &&
	     host_index_build(p, REUSE_P_UDP, keep, true, &e->by_proto[1]);
	free(keep);
	if (!ok) {
		ident_free(e);
		e = NULL;
	}
	return e;
}

/*
 * ident_add - build this identity's index and publish it in the first
 * free slot from i, or take the one another thread published first for
 * the same identity; NULL when no slot is left (or out of memory).
 * Threads that race build twice; the loser frees its copy.
 */
__attribute__((noinline, cold))
static const struct reuse_ident *ident_add(const struct reuse_policy *p,
					   const struct reuse_subject *s, unsigned i)
{
	struct reuse_ident *mine = ident_build(p, s);

	for (; mine && i < IDENT_MAX; i++) {
		struct reuse_ident *e = NULL;
		if (atomic_compare_exchange_strong_explicit(
			    (_Atomic(struct reuse_ident *) *)&p->index->ident[i], &e, mine,
			    memory_order_acq_rel, memory_order_acquire))
			return mine;
		if (same_ident(e, s)) {
			ident_free(mine);
			return e;
		}
	}
	ident_free(mine);
	return NULL;
}

/*
 * ident_index_get - the subject's identity's own index: found, or built
 * and published in a free slot; NULL when the slots are taken: the caller
 * then uses the shared index.
 */
const struct reuse_ident *ident_index_get(const struct reuse_policy *p,
					  const struct reuse_subject *s)
{
	for (unsigned i = 0; i < IDENT_MAX; i++) {
		const struct reuse_ident *e = atomic_load_explicit(
			(_Atomic(struct reuse_ident *) *)&p->index->ident[i],
			memory_order_acquire);
		if (!e)
			return ident_add(p, s, i);
		if (same_ident(e, s))
			return e;
	}
	return NULL;
}

/* ---- the whole index ----------------------------------------------- */

void index_free(struct reuse_index *ix)
{
	if (!ix)
		return;
	host_index_free(&ix->by_proto[0]);
	host_index_free(&ix->by_proto[1]);
	for (unsigned i = 0; i < IDENT_MAX; i++)
		ident_free(ix->ident[i]);
	free(ix);
}

/* index_free_shell - a mapped index's writable copy (policy_cache.c):
 * the identities' indices, not what the image holds. */
void index_free_shell(struct reuse_index *ix)
{
	for (unsigned i = 0; i < IDENT_MAX; i++)
		ident_free(ix->ident[i]);
	free(ix);
}

/* index_build - both protocols' indices, or NULL (matching then scans):
 * a handful of rules is walked faster than the index is built or used. */
struct reuse_index *index_build(const struct reuse_policy *p)
{
	if (p->nrules <= LINEAR_MAX || p->nrules >= UINT32_MAX)
		return NULL;
	struct reuse_index *ix = calloc(1, sizeof *ix);
	if (!ix)
		return NULL;
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].program || p->rules[i].uid != -1)
			ix->by_identity = true;
	if (!host_index_build(p, REUSE_P_TCP, NULL, !ix->by_identity, &ix->by_proto[0]) ||
	    !host_index_build(p, REUSE_P_UDP, NULL, !ix->by_identity, &ix->by_proto[1])) {
		index_free(ix);
		return NULL;
	}
	return ix;
}
