/*
 * main.c - `reuse`: dispatch to a command (commands.c's table), the tool's
 * messages.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* One place formats the tool's messages: "reuse: " + text + newline. */
static void vmessage(const char *prefix, const char *fmt, va_list ap)
{
	fflush(stdout);
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* An error the tool reports before it exits non-zero. */
void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage("reuse: ", fmt, ap);
	va_end(ap);
}

/* A problem worth the operator's attention that does not stop the tool. */
void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage("reuse: warning: ", fmt, ap);
	va_end(ap);
}

/* Bad command line: say what is wrong, then how to say it right. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage("reuse: ", fmt, ap);
	va_end(ap);
	cli_usage(stderr, cmd);
	return EXIT_USAGE;
}

/*
 * The library reads REUSE_POLICY and REUSE_LOG in whatever directory the
 * program later moves to, so relative paths are anchored here. Symbolic
 * links are kept: the operator's name is what the log should show.
 */
char *cli_absolute(const char *path)
{
	char *cwd, *out;

	if (path[0] == '/')
		return strdup(path);
	while (path[0] == '.' && path[1] == '/')
		for (path += 2; path[0] == '/'; path++)
			;
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	if (path[0] == '\0' || strcmp(path, ".") == 0)
		return cwd;
	if (asprintf(&out, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "",
		     path) < 0)
		out = NULL;
	free(cwd);
	return out;
}

/* `reuse help [COMMAND]`: the same text as COMMAND --help. */
int cmd_help(int argc, char **argv)
{
	int c, status;

	while ((c = cli_getopt("help", argc, argv, &status)) != -1)
		if (c == CLI_STOP)
			return status;
	if (argc - optind > 1)
		return cli_usage_error("help", "help: too many arguments");
	if (optind < argc && !cli_cmd_find(argv[optind]))
		return cli_usage_error(NULL, "help: unknown command '%s'", argv[optind]);
	cli_usage(stdout, optind < argc ? argv[optind] : NULL);
	return 0;
}

/*
 * Everything printed on stdout must have reached it: a full disk or a
 * closed pipe turns success into failure.
 */
static int finish(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error("write error: %s", strerror(errno));
		return status ? status : 1;
	}
	return status;
}

/*
 * Top-level options first (--help, --version), then the command; every
 * status a command returns passes through finish() so stdout errors count.
 */
int main(int argc, char **argv)
{
	const struct cli_cmd *c;
	const char *cmd;

	if (argc < 2)
		return cli_usage_error(NULL, "no command given");
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		cli_usage(stdout, NULL);
		return finish(0);
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("reuse %s\n", LIBREUSE_VERSION);
		return finish(0);
	}
	if ((c = cli_cmd_find(cmd)))
		return finish(c->fn(argc - 1, argv + 1));
	if (cmd[0] == '-')
		return cli_usage_error(NULL, "unknown option '%s'", cmd);
	return cli_usage_error(NULL, "unknown command '%s'", cmd);
}
