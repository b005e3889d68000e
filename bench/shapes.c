/*
 * shapes.c - one policy shape of 10,000 rules (or 1), parsed and matched
 * N times against one socket, for callgrind: bench/run reads the
 * inclusive cost of reuse_policy_parse and reuse_policy_match.
 *
 * Usage: shapes SHAPE N [RULES]   SHAPE: one ports hosts program uid
 *   nested mix mix6 (mix6: the socket is tcp [fd00::1]:8080, matched by
 *   a last rule `tcp [fd00::1]:* reuseaddr=force`); with REUSE_SHAPES_IDENT=1 in the environment the subject
 *   carries its identity's handle (reuse_policy_ident); with
 *   REUSE_SHAPES_CACHE=DIR (a 0700 directory) the policy is written to
 *   DIR/SHAPE-RULES.policy once and loaded with reuse_policy_load_cached,
 *   its image kept in DIR: the second run maps what the first compiled. The socket is tcp 127.0.0.1:8080 of program "probe",
 *   uid 1000; every generated rule misses it, and a last rule
 *   `tcp 127.0.0.1:* reuseaddr=force` matches (checked: exit 1 if not).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "libreuse.h"

static unsigned long long seed = 42;

static unsigned rnd(unsigned n)
{
	seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(seed >> 33) % n;
}

/* a port other than the socket's 8080 */
static unsigned port(void)
{
	unsigned p = 1 + rnd(65535);
	return p == 8080 ? 8081 : p;
}

static void mix_rule(FILE *f, unsigned i)
{
	switch (rnd(8)) {
	case 0: {                            /* 10.x.y.z/8-32, host bits clear */
		unsigned len = 8 + rnd(25);
		uint32_t a = (10u << 24 | rnd(1u << 24)) & (uint32_t)(~0ULL << (32 - len));
		fprintf(f, "tcp %u.%u.%u.%u/%u:* reuseaddr=force\n", a >> 24,
			a >> 16 & 255, a >> 8 & 255, a & 255, len);
		break;
	}
	case 1: {                            /* 2001:db8:x:y::/16-128 */
		unsigned len = 16 + rnd(113);
		uint16_t w[8] = { 0x2001, 0xdb8 };
		char buf[64];
		for (int k = 2; k < 8; k++)
			w[k] = (uint16_t)rnd(65536);
		for (int k = 0; k < 8; k++) {
			int keep = (int)len - 16 * k;
			w[k] &= keep >= 16 ? 0xffff : keep <= 0 ? 0 : (uint16_t)(0xffff << (16 - keep));
		}
		snprintf(buf, sizeof buf, "%x:%x:%x:%x:%x:%x:%x:%x", w[0], w[1], w[2],
			 w[3], w[4], w[5], w[6], w[7]);
		fprintf(f, "any [%s]/%u:* reuseport=force\n", buf, len);
		break;
	}
	case 2:
		fprintf(f, "tcp 127.0.0.1:%u,%u,%u-%u reuseaddr=force\n", port(),
			port(), 9000 + rnd(100), 9100 + rnd(100));
		break;
	case 3:
		fprintf(f, "tcp *:* program=prog%u* reuseaddr=force\n", i);
		break;
	case 4:
		fprintf(f, "tcp *:* uid=%u reuseaddr=force\n", 2000 + i);
		break;
	case 5:
		fprintf(f, "udp 127.0.0.1:* reuseport=force\n");
		break;
	case 6:
		fprintf(f, "any 127.0.0.0/%u:%u-%u program=d%u log=off\n", 8 + rnd(17),
			8081 + rnd(1000), 9081 + rnd(1000), i);
		break;
	default:
		fprintf(f, "any [::1]:* exclusive\n");
		break;
	}
}

static void rule(FILE *f, const char *shape, unsigned i)
{
	if (!strcmp(shape, "ports"))
		fprintf(f, "tcp 127.0.0.1:%u reuseaddr=force\n", 10000 + i);
	else if (!strcmp(shape, "hosts"))
		fprintf(f, "tcp 10.%u.%u.0/24:* reuseaddr=force\n", i / 256, i % 256);
	else if (!strcmp(shape, "program"))
		fprintf(f, "tcp *:* program=prog%u reuseaddr=force\n", i);
	else if (!strcmp(shape, "uid"))
		fprintf(f, "tcp *:* uid=%u reuseaddr=force\n", 2000 + i);
	else if (!strcmp(shape, "nested"))   /* every range around 8080, none holding it */
		fprintf(f, "tcp *:%u-%u,%u-%u reuseaddr=force\n", 1 + i % 8000, 8079,
			8081, 65535 - i * 5 % 50000);
	else if (!strcmp(shape, "mix") || !strcmp(shape, "mix6"))
		mix_rule(f, i);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	const char *shape = argv[1];
	unsigned n = (unsigned)atoi(argv[2]);
	unsigned rules = argc > 3 ? (unsigned)atoi(argv[3]) : 10000;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	for (unsigned i = 0; strcmp(shape, "one") && i < rules; i++)
		rule(f, shape, i);
	bool v6 = !strcmp(shape, "mix6");
	fprintf(f, "tcp %s:* reuseaddr=force\n", v6 ? "[fd00::1]" : "127.0.0.1");
	fclose(f);

	struct reuse_policy p;
	struct reuse_diag d = { 0 };
	const char *cache = getenv("REUSE_SHAPES_CACHE");
	int errs;
	if (cache) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s-%u.policy", cache, shape, rules);
		FILE *pf = access(path, F_OK) ? fopen(path, "w") : NULL;
		if (pf) {
			fwrite(text, 1, len, pf);
			fclose(pf);
		}
		errs = reuse_policy_load_cached(path, &p, &d, cache);
	} else {
		errs = reuse_policy_parse("shape", text, len, &p, &d);
	}
	if (errs) {
		fputs(d.text, stderr);
		return 1;
	}
	struct reuse_subject s = {
		.proto = REUSE_P_TCP, .family = AF_INET, .addr = { 127, 0, 0, 1 },
		.port = 8080, .prog = "probe", .exe = "probe", .uid = 1000,
	};
	if (v6) {
		static const uint8_t fd00_1[16] = { 0xfd, [15] = 1 };
		s.family = AF_INET6;
		memcpy(s.addr, fd00_1, 16);
	}
	if (getenv("REUSE_SHAPES_IDENT"))
		s.ident = reuse_policy_ident(&p, &s);
	const struct reuse_rule *r = NULL;
	for (unsigned i = 0; i < n; i++)
		r = reuse_policy_match(&p, &s);
	if (n && r != &p.rules[p.nrules - 1]) {
		fprintf(stderr, "shapes: %s: the last rule did not match\n", shape);
		return 1;
	}
	printf("%s: %zu rules\n", shape, p.nrules);
	reuse_policy_free(&p);
	reuse_diag_free(&d);
	free(text);
	return 0;
}
