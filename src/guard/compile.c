/*
 * compile.c - the policy, as parsed by src/core (policy_*.c), turned into
 * the entries guard.bpf.c scans: one per (rule, port range), in file
 * order, so the first entry that matches belongs to the first rule that
 * matches. Also what the kernel cannot honour, said per rule as
 * "FILE:LINE:COL: warning: ..." (`reuse check --guard`, and the guard's
 * refusal to start without --force).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "guard/guard.h"

/*
 * token_col - the 1-based column of the first token of the line whose
 * key (the part before '=') is key, or 1: a warning points at the
 * directive it is about. The parser keeps no columns, so the line is
 * looked at again.
 */
static size_t token_col(const char *text, size_t len, unsigned line, const char *key)
{
	size_t i = 0, klen = strlen(key);

	for (unsigned l = 1; text && l < line && i < len; i++)
		if (text[i] == '\n')
			l++;
	if (!text || i >= len)
		return 1;
	for (size_t start = i; i < len && text[i] != '\n' && text[i] != '#';) {
		while (i < len && (text[i] == ' ' || text[i] == '\t'))
			i++;
		size_t t = i;
		while (i < len && text[i] != ' ' && text[i] != '\t' && text[i] != '\n' &&
		       text[i] != '#')
			i++;
		if (i - t >= klen && memcmp(text + t, key, klen) == 0 &&
		    (i - t == klen || text[t + klen] == '='))
			return t - start + 1;
	}
	return 1;
}

static void warn(struct reuse_diag *d, const char *name, const char *text, size_t len,
		 const struct reuse_rule *r, const char *key, const char *msg)
{
	reuse_diag_add(d, "%s:%u:%zu: warning: %s", name, r->line,
		       token_col(text, len, r->line, key), msg);
}

/* One bracket expression at p ("[...]") into the positions' byte sets;
 * returns its length, 0 when it is no bracket (fnmatch: a lone '['),
 * -1 for a class the automaton does not know ("[[:alpha:]]"). */
static int bracket(const char *p, struct guard_glob *g, unsigned pos)
{
	const char *q = p + 1;
	bool neg = false, set[256] = { false };

	if (*q == '!' || *q == '^') {
		neg = true;
		q++;
	}
	if (*q == ']') {                      /* a ']' first is itself */
		set[']'] = true;
		q++;
	}
	for (; *q && *q != ']'; q++) {
		unsigned char lo = (unsigned char)*q, hi = lo;
		if (*q == '[' && q[1] == ':')
			return -1;
		if (q[1] == '-' && q[2] && q[2] != ']') {
			hi = (unsigned char)q[2];
			q += 2;
		}
		for (unsigned c = lo; c <= hi; c++)
			set[c] = true;
	}
	if (*q != ']')
		return 0;
	for (unsigned c = 1; c < 256; c++)
		if (set[c] != neg)
			g->m[c] |= 1u << pos;
	return (int)(q - p + 1);
}

/*
 * glob_compile - program=GLOB (fnmatch(3) without flags: '*', '?',
 * brackets, backslash escapes) into a shift-and automaton: for each byte,
 * the positions it may fill; star, the positions that repeat. NULL, or
 * why it cannot be compiled.
 */
static const char *glob_compile(const char *glob, struct guard_rule *r, struct guard_glob *g)
{
	unsigned pos = 0;

	memset(g, 0, sizeof *g);
	r->star = 0;
	for (const char *p = glob; *p; p++) {
		if (pos >= GUARD_GLOB_MAX)
			return "program= pattern is longer than the guard's 31 positions; "
			       "the rule is not enforced";
		if (*p == '*') {
			if (pos && (r->star >> (pos - 1) & 1))
				continue;              /* "**" is "*" */
			r->star |= 1u << pos++;
			continue;
		}
		if (*p == '?') {
			for (unsigned c = 1; c < 256; c++)
				g->m[c] |= 1u << pos;
			pos++;
			continue;
		}
		if (*p == '[') {
			int n = bracket(p, g, pos);
			if (n < 0)
				return "program= uses a character class ([:name:]) the guard cannot "
				       "match; the rule is not enforced";
			if (n > 0) {
				p += n - 1;
				pos++;
				continue;
			}
		}
		if (*p == '\\' && p[1])
			p++;
		g->m[(unsigned char)*p] |= 1u << pos++;
	}
	r->glob_n = (uint8_t)pos;
	return NULL;
}

/* HOST into net/mask words (network order), as reuse_host_match reads it. */
static void host_compile(const struct reuse_host *h, struct guard_rule *r)
{
	unsigned bits = h->family == AF_INET ? 32 : 128, left = h->prefix;

	r->family = h->family == AF_INET ? 4 : h->family == AF_INET6 ? 6 : 0;
	if (!r->family)
		return;
	for (unsigned w = 0; w < bits / 32; w++) {
		unsigned take = left > 32 ? 32 : left;
		uint32_t m = take ? (uint32_t)(~0ULL << (32 - take)) : 0, a;
		memcpy(&a, h->addr + 4 * w, 4);
		r->mask[w] = htonl(m);
		r->net[w] = a & r->mask[w];
		left -= take;
	}
}

int guard_compile(const struct reuse_policy *p, const char *name,
		  const char *text, size_t len, struct guard_image *img,
		  struct reuse_diag *diag)
{
	int warnings = 0;

	memset(img, 0, sizeof *img);
	for (size_t i = 0; p && i < p->nrules; i++) {
		const struct reuse_rule *r = &p->rules[i];
		struct guard_rule e = { .index = (uint32_t)i, .proto = (uint8_t)r->proto,
					.ra = r->reuseaddr, .rp = r->reuseport, .log = r->log };
		struct guard_glob g;
		size_t nports = r->nports ? r->nports : 1;

		if (r->handoff) {
			warn(diag, name, text, len, r, "handoff",
			     "handoff is not enforced by reuse guard (the kernel does not pass "
			     "sockets between processes); the rule's other directives are");
			warnings++;
		}
		host_compile(&r->host, &e);
		e.flags = (uint8_t)((r->deny ? GR_DENY : 0) | (r->reserve ? GR_RESERVE : 0) |
				    (r->exclusive ? GR_EXCLUSIVE : 0) |
				    (r->dry_run ? GR_DRY : 0) | (r->uid >= 0 ? GR_UID : 0) |
				    (r->program ? GR_PROGRAM : 0));
		e.uid = r->uid >= 0 ? (uint32_t)r->uid : 0;
		if (r->program) {
			const char *why = glob_compile(r->program, &e, &g);
			if (why) {
				warn(diag, name, text, len, r, "program", why);
				warnings++;
				img->skipped++;
				continue;
			}
		}
		if (img->n + nports > GUARD_MAX_RULES) {
			reuse_diag_add(diag, "%s:%u:1: error: the policy needs more than %d "
				       "entries (one per rule and port range); the guard holds %d",
				       name, r->line, GUARD_MAX_RULES, GUARD_MAX_RULES);
			return -1;
		}
		for (size_t k = 0; k < nports; k++) {
			e.port_lo = r->nports ? r->ports[k].lo : 0;
			e.port_hi = r->nports ? r->ports[k].hi : 65535;
			img->rules[img->n] = e;
			if (r->program)
				img->globs[img->n] = g;
			img->n++;
		}
	}
	return warnings;
}

int guard_library_notes(const struct reuse_policy *p, const char *name,
			const char *text, size_t len, struct reuse_diag *diag)
{
	int n = 0;

	for (size_t i = 0; p && i < p->nrules; i++) {
		if (!p->rules[i].reserve)
			continue;
		warn(diag, name, text, len, &p->rules[i], "reserve",
		     "reserve is enforced only by reuse guard; the library and "
		     "--seccomp apply the rule's other directives");
		n++;
	}
	return n;
}
