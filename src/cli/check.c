/*
 * check.c - `reuse check [--guard] [FILE...]`: does a policy parse, how
 * many rules does it hold, and which rules does a backend accept but not
 * enforce (warnings, FILE:LINE:COL: warning: ...)?
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "guard/guard.h"

/* The warnings of one parsed policy: reserve is the guard's alone; with
 * --guard, also each rule the guard cannot honour in the kernel. */
static void warnings(const char *path, const struct reuse_policy *p, bool guard)
{
	struct reuse_diag d = { 0 };
	struct reuse_diag rd = { 0 };
	struct guard_image *img;
	char *text = NULL;
	size_t len = 0;
	const char *t = reuse_default_policy;

	if (path) {
		if (reuse_policy_read(path, &text, &len, &rd) != 0) {
			reuse_diag_free(&rd);
			return;
		}
		t = text;
	} else {
		len = strlen(t);
	}
	if (guard && (img = malloc(sizeof *img))) {
		guard_compile(p, policy_name(path), t, len, img, &d);
		free(img);
	} else if (!guard) {
		guard_library_notes(p, policy_name(path), t, len, &d);
	}
	if (d.len)
		fprintf(stderr, "%s", d.text);
	reuse_diag_free(&d);
	free(text);
}

/* One policy: its errors on stderr, or "NAME: ok (N rules)" on stdout. */
static int check_one(const char *path, bool guard)
{
	struct reuse_policy p;

	if (policy_load_report(path, &p) < 0)
		return 1;
	fflush(stdout);
	warnings(path, &p, guard);
	printf("%s: ok (%zu rule%s)\n", policy_name(path), p.nrules,
	       p.nrules == 1 ? "" : "s");
	reuse_policy_free(&p);
	return 0;
}

/*
 * Check every file named, reporting all of them even after a failure, so
 * one run shows every problem. Without a file, check what the library
 * would load now.
 */
int cmd_check(int argc, char **argv)
{
	int c, status = 0;
	bool guard = false;

	while ((c = cli_getopt("check", argc, argv, &status)) != -1) {
		if (c == CLI_STOP)
			return status;
		if (c == ('g' | CLI_LONG_ONLY))
			guard = true;
	}
	if (optind == argc)
		return check_one(policy_in_force(), guard);
	for (int i = optind; i < argc; i++)
		status |= check_one(argv[i], guard);
	return status;
}
