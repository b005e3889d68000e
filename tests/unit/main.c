/*
 * main.c - the unit test binary: every suite, one TAP stream.
 * Run from the repository root (test_policy reads policy/default.policy).
 */
#include <stdio.h>

#include "tap.h"
#include "unit.h"

TAP_STATE_DEFINE;

int main(void)
{
	/* line-buffered, so a crash still shows how far the run got */
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_policy();
	test_decide();
	test_rules();
	test_subject();
	test_explain_text();
	return done_testing();
}
