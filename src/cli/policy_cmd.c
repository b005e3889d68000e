/*
 * policy_cmd.c - `reuse policy [--default]`: what the library would apply.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Copy the file's bytes to stdout unchanged; 0, or -1 with errno set. */
static int print_file(const char *path)
{
	char buf[8192];
	ssize_t n;
	int saved, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		fwrite(buf, 1, (size_t)n, stdout);
	}
	close(fd);
	return 0;
}

/*
 * Without an option: name the policy the library would load now and show
 * it. A policy that does not parse is shown too (that is what the operator
 * needs to see), with its errors on stderr and exit status 1: the library
 * would not apply it as written.
 */
int cmd_policy(int argc, char **argv)
{
	struct reuse_policy p;
	const char *path;
	bool want_default = false;
	int c, status;

	while ((c = cli_getopt("policy", argc, argv, &status)) != -1) {
		if (c == CLI_STOP)
			return status;
		want_default = true;          /* --default, its only option */
	}
	if (optind < argc)
		return cli_usage_error("policy", "policy: unexpected argument '%s'",
				       argv[optind]);
	if (want_default) {
		fputs(reuse_default_policy, stdout);
		return 0;
	}

	path = policy_in_force();
	printf("# source: %s\n", policy_name(path));
	if (!path)
		fputs(reuse_default_policy, stdout);
	else if (print_file(path) < 0) {
		cli_error("%s: %s", path, strerror(errno));
		return 1;
	}
	if (policy_load_report(path, &p) < 0)
		return 1;
	reuse_policy_free(&p);
	return 0;
}
