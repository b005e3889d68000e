/*
 * check.c - `reuse check [FILE...]`: does a policy parse, and how many
 * rules does it hold?
 */
#include <getopt.h>
#include <string.h>

#include "cli.h"

/* One policy: its errors on stderr, or "NAME: ok (N rules)" on stdout. */
static int check_one(const char *path)
{
	struct reuse_policy p;

	if (policy_load_report(path, &p) < 0)
		return 1;
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

	while ((c = cli_getopt("check", argc, argv, &status)) != -1)
		if (c == CLI_STOP)
			return status;
	if (optind == argc)
		return check_one(policy_in_force());
	for (int i = optind; i < argc; i++)
		status |= check_one(argv[i]);
	return status;
}
