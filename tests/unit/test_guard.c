/*
 * test_guard.c - reuse guard's policy compiler (src/guard/compile.c): the
 * entries one rule becomes (ports, masks, flags), the warnings with their
 * columns, and program= globs run through the programs' own automaton
 * (guard_glob_match) against fnmatch(3), the library's matcher, on many
 * generated patterns and names.
 */
#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard.h"
#include "tap.h"
#include "unit.h"

static struct guard_image img;

/* Parse and compile text; returns the warnings (or -1), diag in *d. */
static int compile(const char *text, struct reuse_policy *p, struct reuse_diag *d)
{
	memset(d, 0, sizeof *d);
	if (reuse_policy_parse("P", text, strlen(text), p, d) != 0)
		return -2;
	return guard_compile(p, "P", text, strlen(text), &img, d);
}

static void test_entries(void)
{
	struct reuse_policy p;
	struct reuse_diag d;
	int w;

	w = compile("tcp 10.1.0.0/16:80,443,8000-8099 uid=7 deny\n"
		    "udp [2001:db8::]/33:53 program=dns* reserve dry-run log=off\n", &p, &d);
	ok(w == 0 && img.n == 4, "two rules, four entries (%d warnings, %zu entries)", w, img.n);
	ok(img.rules[0].port_lo == 80 && img.rules[1].port_lo == 443 &&
	   img.rules[2].port_lo == 8000 && img.rules[2].port_hi == 8099 &&
	   img.rules[3].port_lo == 53, "one entry per port range, in order");
	ok(img.rules[0].family == 4 && img.rules[0].net[0] == htonl(0x0a010000) &&
	   img.rules[0].mask[0] == htonl(0xffff0000) && img.rules[0].index == 0,
	   "IPv4 network and mask in network order");
	ok(img.rules[0].flags == (GR_DENY | GR_UID) && img.rules[0].uid == 7 &&
	   img.rules[0].proto == REUSE_P_TCP, "deny, uid=");
	ok(img.rules[3].family == 6 && img.rules[3].mask[0] == 0xffffffffu &&
	   img.rules[3].mask[1] == htonl(0x80000000) && img.rules[3].mask[2] == 0 &&
	   img.rules[3].net[0] == htonl(0x20010db8) && img.rules[3].index == 1,
	   "IPv6 /33: the mask spans two words");
	ok(img.rules[3].flags == (GR_RESERVE | GR_DRY | GR_PROGRAM) && img.rules[3].log == 0,
	   "reserve, dry-run, program=, log=off");
	reuse_policy_free(&p);
	reuse_diag_free(&d);

	w = compile("tcp *:* reuseaddr=force handoff\n"
		    "  udp *:53 program=[[:alpha:]] exclusive\n", &p, &d);
	ok(w == 2 && img.n == 1 && img.skipped == 1,
	   "handoff warns (the rule stays), a class warns (the rule goes): %d, %zu", w, img.n);
	bool cols = d.text && strstr(d.text, "P:1:25: warning: handoff is not enforced") &&
		    strstr(d.text, "P:2:12: warning: program= uses a character class");
	if (!cols)
		diag("%s", d.text ? d.text : "no warning");
	ok(cols, "warnings point at the directive (FILE:LINE:COL)");
	reuse_policy_free(&p);
	reuse_diag_free(&d);
}

/* A random pattern over a small alphabet, so names often match. */
static void gen_pattern(char *out, size_t len)
{
	static const char *const atoms[] = {
		"a", "b", "c", "*", "?", "[ab]", "[!a]", "[a-c]", "\\*", "**", "[]a]", "[",
	};
	size_t n = 0, k = (size_t)(rand() % 6) + 1;

	out[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		const char *a = atoms[rand() % (int)(sizeof atoms / sizeof atoms[0])];
		if (n + strlen(a) + 1 >= len)
			break;
		strcpy(out + n, a);
		n += strlen(a);
	}
}

static void test_globs(void)
{
	static const char alpha[] = "abc*[]?";
	struct reuse_policy p;
	struct reuse_diag d;
	char pat[64], text[128], name[16];
	unsigned bad = 0, tried = 0;

	srand(18);
	for (int i = 0; i < 2000; i++) {
		gen_pattern(pat, sizeof pat);
		snprintf(text, sizeof text, "tcp *:1 program=%s deny\n", pat);
		if (compile(text, &p, &d) != 0 || img.n != 1) {
			reuse_policy_free(&p);
			reuse_diag_free(&d);
			continue;
		}
		for (int j = 0; j < 40; j++) {
			size_t n = (size_t)(rand() % 10);
			for (size_t k = 0; k < n; k++)
				name[k] = alpha[rand() % 7];
			name[n] = '\0';
			int want = fnmatch(pat, name, 0) == 0;
			int got = guard_glob_match(img.globs[0].m, img.rules[0].star,
						   img.rules[0].glob_n, name);
			tried++;
			if (want != got && bad++ < 5)
				diag("program=%s name '%s': fnmatch %d, guard %d", pat, name, want, got);
		}
		reuse_policy_free(&p);
		reuse_diag_free(&d);
	}
	ok(bad == 0 && tried > 40000, "program= globs: the guard's automaton agrees with fnmatch "
	   "on %u names (%u differ)", tried, bad);
}

/* A 15-byte name may be a longer one the kernel cut. */
static void test_cut_names(void)
{
	struct reuse_policy p;
	struct reuse_diag d;

	compile("tcp *:1 program=systemd-resolved deny\n", &p, &d);
	ok(guard_glob_match(img.globs[0].m, img.rules[0].star, img.rules[0].glob_n,
			    "systemd-resolve"), "a cut name matches the whole one");
	ok(!guard_glob_match(img.globs[0].m, img.rules[0].star, img.rules[0].glob_n,
			     "systemd-resol"), "a shorter name does not");
	ok(!guard_glob_match(img.globs[0].m, img.rules[0].star, img.rules[0].glob_n,
			     "systemd-network"), "nor another 15-byte one");
	reuse_policy_free(&p);
	reuse_diag_free(&d);
}

void test_guard(void)
{
	test_entries();
	test_globs();
	test_cut_names();
}
