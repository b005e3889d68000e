/*
 * main.c - the unit test binary: every suite, one TAP stream; or only the
 * suites named as arguments (build-tsan/unit fdtable: the threaded one).
 * Run from the repository root (test_policy reads policy/default.policy).
 * The order matters once: test_log runs after test_engine, as it builds
 * the lines' fixed parts for good (log_policy_ready).
 */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "unit.h"

TAP_STATE_DEFINE;

static const struct {
	const char *name;
	void (*run)(void);
} suites[] = {
	{ "policy", test_policy },
	{ "policy_cache", test_policy_cache },
	{ "decide", test_decide },
	{ "rules", test_rules },
	{ "subject", test_subject },
	{ "engine", test_engine },
	{ "log", test_log },
	{ "explain", test_explain },
	{ "explain_text", test_explain_text },
	{ "fdtable", test_fdtable },
	{ "guard", test_guard },
};

int main(int argc, char **argv)
{
	/* line-buffered, so a crash still shows how far the run got */
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		bool known = false;
		for (size_t j = 0; j < sizeof suites / sizeof suites[0]; j++)
			known |= strcmp(argv[i], suites[j].name) == 0;
		if (!known) {
			fprintf(stderr, "unit: no suite '%s'\n", argv[i]);
			return 2;
		}
	}
	for (size_t j = 0; j < sizeof suites / sizeof suites[0]; j++) {
		bool run = argc == 1;
		for (int i = 1; i < argc; i++)
			run |= strcmp(argv[i], suites[j].name) == 0;
		if (run)
			suites[j].run();
	}
	return done_testing();
}
