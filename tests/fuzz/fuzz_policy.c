/*
 * fuzz_policy.c - libFuzzer target for the policy parser
 * (reuse_policy_parse, src/core/policy_parse.c and its rooms).
 *
 * The harness checks the parser's promises on the structures it built,
 * not only that it did not crash:
 * an input either parses with no diagnostic or fails with one
 * "NAME:LINE:COL: error: ..." line per error and no rule; every rule's
 * ports are sorted, merged and non-empty; parsing is deterministic.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "libreuse.h"

#include <assert.h>

/* Every diagnostic line is "t:LINE:COL: error: MESSAGE". */
static void check_diag(const struct reuse_diag *d)
{
	const char *p = d->text;
	unsigned lines = 0;

	assert(d->len == 0 || p[d->len - 1] == '\n');
	while (p && p < d->text + d->len) {
		const char *nl = memchr(p, '\n', (size_t)(d->text + d->len - p));
		assert(nl);
		assert(strncmp(p, "t:", 2) == 0);
		assert(memmem(p, (size_t)(nl - p), ": error: ", 9));
		lines++;
		p = nl + 1;
	}
	assert(lines >= d->errors);
}

static void check_rules(const struct reuse_policy *pol)
{
	for (size_t i = 0; i < pol->nrules; i++) {
		const struct reuse_rule *r = &pol->rules[i];
		assert(r->proto >= 1 && r->proto <= 3);
		assert(r->host.family == 0 || r->host.family == AF_INET ||
		       r->host.family == AF_INET6);
		assert(r->host.prefix <= (r->host.family == AF_INET ? 32 : 128));
		for (size_t j = 0; j < r->nports; j++) {
			assert(r->ports[j].lo <= r->ports[j].hi);
			if (j)
				assert(r->ports[j].lo > r->ports[j - 1].hi + 1);
		}
		assert(i == 0 || r->line > pol->rules[i - 1].line);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reuse_policy a, b;
	struct reuse_diag da = { 0 }, db = { 0 };
	int na = reuse_policy_parse("t", (const char *)data, size, &a, &da);
	int nb = reuse_policy_parse("t", (const char *)data, size, &b, &db);

	assert(na == nb && (unsigned)na == da.errors);
	assert(da.len == db.len && (!da.len || memcmp(da.text, db.text, da.len) == 0));
	assert(a.nrules == b.nrules);
	assert(na == 0 || a.nrules == 0);
	assert((na == 0) == (da.len == 0));
	check_diag(&da);
	check_rules(&a);
	reuse_policy_free(&a);
	reuse_policy_free(&b);
	reuse_diag_free(&da);
	reuse_diag_free(&db);
	return 0;
}
