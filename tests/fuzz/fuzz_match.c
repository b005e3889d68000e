/*
 * fuzz_match - libFuzzer target for the address matcher
 * (reuse_policy_match and reuse_host_match, src/core/policy_index.c).
 *
 * Input: one byte N (mod 8), N subjects of 24 bytes, then a policy text.
 * Each subject is matched through the index and by a plain first-match
 * scan written here; the two must pick the same rule. reuse_host_match is
 * checked against a bit-by-bit prefix comparison.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "libreuse.h"

#include <assert.h>

#define SUBJ 24

static const char *const names[] = { "dnsmasq", "python3", "x", "lighttpd" };

static void subject_of(const uint8_t *b, struct reuse_subject *s)
{
	memset(s, 0, sizeof *s);
	s->proto = (b[0] & 1) ? REUSE_P_UDP : REUSE_P_TCP;
	s->family = (b[0] & 2) ? AF_INET6 : AF_INET;
	memcpy(s->addr, b + 1, 16);
	if (s->family == AF_INET)
		memset(s->addr + 4, 0, 12);
	s->port = (uint16_t)(b[17] << 8 | b[18]);
	s->uid = b[19] & 0x80 ? 65534 : b[19] & 3;
	s->prog = names[b[20] & 3];
	s->exe = b[21] & 4 ? NULL : names[(b[21] >> 4) & 3];
}

/* The rule's prefix, compared one bit at a time. */
static bool host_naive(const struct reuse_host *h, int family, const uint8_t *a)
{
	if (!h->family)
		return true;
	if (h->family != family)
		return false;
	for (unsigned i = 0; i < h->prefix; i++) {
		unsigned m = 0x80u >> (i % 8);
		if ((h->addr[i / 8] & m) != (a[i / 8] & m))
			return false;
	}
	return true;
}

static bool ports_naive(const struct reuse_rule *r, unsigned port)
{
	if (!r->nports)
		return true;
	for (size_t i = 0; i < r->nports; i++)
		if (port >= r->ports[i].lo && port <= r->ports[i].hi)
			return true;
	return false;
}

static const struct reuse_rule *scan(const struct reuse_policy *p,
				     const struct reuse_subject *s)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct reuse_rule *r = &p->rules[i];
		if (!(r->proto & s->proto) || !ports_naive(r, s->port) ||
		    !host_naive(&r->host, s->family, s->addr))
			continue;
		if (r->uid != -1 && r->uid != s->uid)
			continue;
		if (r->program && !((s->prog && !fnmatch(r->program, s->prog, 0)) ||
				    (s->exe && !fnmatch(r->program, s->exe, 0))))
			continue;
		return r;
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reuse_policy pol;
	struct reuse_diag diag = { 0 };
	size_t n, off;

	if (size < 1)
		return 0;
	n = data[0] % 8;
	off = 1 + n * SUBJ;
	if (size < off)
		return 0;
	reuse_policy_parse("t", (const char *)data + off, size - off, &pol, &diag);
	for (size_t i = 0; i < n; i++) {
		struct reuse_subject s;
		subject_of(data + 1 + i * SUBJ, &s);
		assert(reuse_policy_match(&pol, &s) == scan(&pol, &s));
		for (size_t j = 0; j < pol.nrules; j++) {
			const struct reuse_host *h = &pol.rules[j].host;
			assert(reuse_host_match(h, s.family, s.addr) ==
			       host_naive(h, s.family, s.addr));
		}
	}
	assert(reuse_policy_match(&pol, NULL) == NULL);
	reuse_policy_free(&pol);
	reuse_diag_free(&diag);
	return 0;
}
