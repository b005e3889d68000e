/*
 * main.c - `reuse`: dispatch to a command, usage, the tool's messages.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage_main[] =
	"Usage: reuse COMMAND [ARG...]\n"
	"Apply an SO_REUSEADDR/SO_REUSEPORT policy to unmodified programs.\n"
	"\n"
	"Commands:\n"
	"  run [OPTION...] [--] CMD [ARG...]  run CMD with libreuse.so preloaded\n"
	"  check [FILE...]                    check policy files (none: the one in force)\n"
	"  policy [--default]                 show the policy in force, or the embedded one\n"
	"  who ADDR:PORT [--tcp|--udp] [--json]  who holds an address; what would bind\n"
	"  audit [--json]                     sockets another local user could hijack (root)\n"
	"  systemd-dropin UNIT                print a systemd drop-in running UNIT under libreuse\n"
	"  help [COMMAND]                     show this help, or a command's\n"
	"\n"
	"Options:\n"
	"  -h, --help     show this help and exit\n"
	"  --version      show the version and exit\n"
	"\n"
	"See reuse(1) and reuse.policy(5).\n";

static const char usage_who[] =
	"Usage: reuse who ADDR:PORT [--tcp|--udp] [--json]\n"
	"Show every socket whose local address overlaps ADDR:PORT (state, address,\n"
	"owner uid, pid, program, SO_REUSEADDR/SO_REUSEPORT where readable), the\n"
	"TIME_WAIT entries, and what a bind with each option choice would do now,\n"
	"as your uid, as each holder's uid and as another uid.\n"
	"ADDR: 127.0.0.1, [::1], or * for every address. Default: both protocols.\n"
	"--json prints one object per protocol, one per line.\n";

static const char usage_audit[] =
	"Usage: reuse audit [--json]\n"
	"List every listening TCP and bound UDP socket on this host that a process\n"
	"of another uid (or of the same uid, for SO_REUSEPORT groups) could bind\n"
	"beside and take traffic from, with pid, program, uid, flags and the rule\n"
	"that would protect it. Needs root (flags are read with pidfd_getfd).\n"
	"Exit status: 0 if nothing is open, 3 if something is, 1 on error.\n";

static const char usage_dropin[] =
	"Usage: reuse systemd-dropin UNIT [--policy FILE]\n"
	"Print a systemd drop-in that runs UNIT's ExecStart under libreuse\n"
	"(install it as /etc/systemd/system/UNIT.d/libreuse.conf).\n";

static const char usage_run[] =
	"Usage: reuse run [OPTION...] [--] CMD [ARG...]\n"
	"Run CMD in this process with libreuse.so appended to LD_PRELOAD.\n"
	"\n"
	"  --policy FILE      check FILE, then have the library use it (REUSE_POLICY)\n"
	"  --log DEST         stderr, syslog, off, or a file to append to (REUSE_LOG)\n"
	"  --json             log one JSON object per line (REUSE_LOG_FORMAT=json)\n"
	"  --log-level LEVEL  off, decisions (each rule's log=) or all (also sockets\n"
	"                     no rule matches) (REUSE_LOG_LEVEL)\n"
	"  --dry-run          decide and log everything, change nothing (REUSE_DRY_RUN=1)\n"
	"  --seccomp          do not preload: run CMD as a child under a seccomp\n"
	"                     filter and apply the policy from this process (reaches\n"
	"                     static and Go programs; see reuse(1))\n"
	"  --supervise        stay as CMD's parent: SIGHUP starts a new instance, which\n"
	"                     takes over the handoff sockets; then the old one is stopped\n"
	"  --takeover-timeout S  how long a new instance may take (default 30)\n"
	"  --stop-signal SIG  what stops the old instance (default TERM)\n"
	"  --pid-file FILE    with --supervise: the daemon's PID file; when CMD forks\n"
	"                     away, the pid in FILE is the process followed\n"
	"  -h, --help         show this help and exit\n"
	"\n"
	"The exit status is CMD's; 127 if CMD is not found, 126 if it cannot be run,\n"
	"1 if the policy does not parse or the library is missing, 2 on bad usage.\n";

static const char usage_check[] =
	"Usage: reuse check [FILE...]\n"
	"Check policy files; every problem is printed as FILE:LINE:COLUMN: error: ...\n"
	"Without FILE, check the policy the library would load now.\n"
	"Exit status: 0 if every file parses, 1 otherwise.\n";

static const char usage_policy[] =
	"Usage: reuse policy [--default]\n"
	"Print which policy the library would load now (# source: PATH|default)\n"
	"and its text; with --default, print the embedded default policy.\n";

/*
 * The usage of one command, or of the whole tool; shared by --help (stdout)
 * and every usage error (stderr) so the two never drift apart.
 */
void cli_usage(FILE *f, const char *cmd)
{
	const char *text = usage_main;

	if (cmd && strcmp(cmd, "run") == 0)
		text = usage_run;
	else if (cmd && strcmp(cmd, "check") == 0)
		text = usage_check;
	else if (cmd && strcmp(cmd, "policy") == 0)
		text = usage_policy;
	else if (cmd && strcmp(cmd, "who") == 0)
		text = usage_who;
	else if (cmd && strcmp(cmd, "audit") == 0)
		text = usage_audit;
	else if (cmd && strcmp(cmd, "systemd-dropin") == 0)
		text = usage_dropin;
	fputs(text, f);
}

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

/* `reuse help [COMMAND]`: the same text as --help. */
static int cmd_help(int argc, char **argv)
{
	if (argc > 2)
		return cli_usage_error(NULL, "help: too many arguments");
	if (argc == 2 && strcmp(argv[1], "run") && strcmp(argv[1], "check") &&
	    strcmp(argv[1], "policy") && strcmp(argv[1], "help") &&
	    strcmp(argv[1], "who") && strcmp(argv[1], "audit") &&
	    strcmp(argv[1], "systemd-dropin"))
		return cli_usage_error(NULL, "help: unknown command '%s'",
				       argv[1]);
	cli_usage(stdout, argc == 2 ? argv[1] : NULL);
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
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "run", cmd_run },
		{ "check", cmd_check },
		{ "policy", cmd_policy },
		{ "help", cmd_help },
		{ "who", cmd_who },
		{ "audit", cmd_audit },
		{ "systemd-dropin", cmd_systemd_dropin },
	};
	const char *cmd;
	size_t i;

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
	for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (strcmp(cmd, cmds[i].name) == 0)
			return finish(cmds[i].fn(argc - 1, argv + 1));
	if (cmd[0] == '-')
		return cli_usage_error(NULL, "unknown option '%s'", cmd);
	return cli_usage_error(NULL, "unknown command '%s'", cmd);
}
