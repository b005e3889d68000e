/*
 * commands.c - every command's one table: its options (what getopt_long
 * is given), its usage and --help text, and the line in `reuse --help`.
 * completion/reuse.bash is checked against the --help printed from here
 * (tests/cli.bats), so an option added here and not there fails the suite.
 */
#include <getopt.h>
#include <string.h>

#include "cli.h"

#define HELP_OPT { "help", 'h', NULL, "show this help and exit" }
#define END_OPT { NULL, 0, NULL, NULL }

static const struct cli_opt run_opts[] = {
	{ "policy", 'p' | CLI_LONG_ONLY, "FILE",
	  "check FILE, then have the library use it (REUSE_POLICY)" },
	{ "log", 'l' | CLI_LONG_ONLY, "DEST",
	  "stderr, syslog, off, or a file to append to (REUSE_LOG)" },
	{ "json", 'j' | CLI_LONG_ONLY, NULL,
	  "log one JSON object per line (REUSE_LOG_FORMAT=json)" },
	{ "log-level", 'L' | CLI_LONG_ONLY, "LEVEL",
	  "off, decisions (each rule's log=) or all (also sockets\n"
	  "no rule matches) (REUSE_LOG_LEVEL)" },
	{ "dry-run", 'n' | CLI_LONG_ONLY, NULL,
	  "decide and log everything, change nothing (REUSE_DRY_RUN=1)" },
	{ "seccomp", 's' | CLI_LONG_ONLY, NULL,
	  "do not preload: run CMD as a child under a seccomp\n"
	  "filter and apply the policy from this process (reaches\n"
	  "static and Go programs; see reuse(1))" },
	{ "supervise", 'V' | CLI_LONG_ONLY, NULL,
	  "stay as CMD's parent: SIGHUP starts a new instance, which\n"
	  "takes over the handoff sockets; then the old one is stopped" },
	{ "takeover-timeout", 't' | CLI_LONG_ONLY, "S",
	  "how long a new instance may take (default 30)" },
	{ "stop-signal", 'k' | CLI_LONG_ONLY, "SIG",
	  "what stops the old instance (default TERM)" },
	{ "pid-file", 'P' | CLI_LONG_ONLY, "FILE",
	  "with --supervise: the daemon's PID file; when CMD forks\n"
	  "away, the pid in FILE is the process followed" },
	HELP_OPT,
	END_OPT,
};

static const struct cli_opt who_opts[] = {
	{ "tcp", 't' | CLI_LONG_ONLY, NULL, "TCP only" },
	{ "udp", 'u' | CLI_LONG_ONLY, NULL, "UDP only" },
	{ "json", 'j' | CLI_LONG_ONLY, NULL, "one JSON object per protocol, one per line" },
	HELP_OPT,
	END_OPT,
};

static const struct cli_opt audit_opts[] = {
	{ "json", 'j' | CLI_LONG_ONLY, NULL, "one JSON array of the open sockets" },
	HELP_OPT,
	END_OPT,
};

static const struct cli_opt policy_opts[] = {
	{ "default", 'd' | CLI_LONG_ONLY, NULL, "print the embedded default policy" },
	HELP_OPT,
	END_OPT,
};

static const struct cli_opt dropin_opts[] = {
	{ "policy", 'p' | CLI_LONG_ONLY, "FILE",
	  "have the unit's programs use FILE (REUSE_POLICY)" },
	HELP_OPT,
	END_OPT,
};

static const struct cli_opt guard_opts[] = {
	{ "policy", 'p' | CLI_LONG_ONLY, "FILE",
	  "enforce FILE (default: the policy in force, as `reuse\n"
	  "policy` shows it)" },
	{ "log", 'l' | CLI_LONG_ONLY, "DEST",
	  "stderr (default), syslog, off, or a file to append to" },
	{ "json", 'j' | CLI_LONG_ONLY, NULL, "log one JSON object per line" },
	{ "cgroup", 'c' | CLI_LONG_ONLY, "PATH",
	  "govern the processes of this cgroup v2 directory" },
	{ "host", 'H' | CLI_LONG_ONLY, NULL,
	  "govern every process: the root of the cgroup v2 mount" },
	{ "pin", 'P' | CLI_LONG_ONLY, NULL,
	  "pin the programs under /sys/fs/bpf/libreuse and exit\n"
	  "(they stay attached, nothing is logged)" },
	{ "force", 'f' | CLI_LONG_ONLY, NULL,
	  "start even if some rules cannot be honoured in the\n"
	  "kernel (reuse check --guard lists them)" },
	{ "list", 'L' | CLI_LONG_ONLY, NULL, "list the pinned guards" },
	{ "remove", 'R' | CLI_LONG_ONLY, NULL,
	  "detach the guard pinned for --cgroup PATH, --host,\n"
	  "or every one (--all)" },
	{ "all", 'a' | CLI_LONG_ONLY, NULL, "with --remove: every pinned guard" },
	HELP_OPT,
	END_OPT,
};

static const struct cli_opt check_opts[] = {
	{ "guard", 'g' | CLI_LONG_ONLY, NULL,
	  "also warn of each rule `reuse guard` cannot honour in\n"
	  "the kernel (FILE:LINE:COL: warning: ...)" },
	HELP_OPT,
	END_OPT,
};

static const struct cli_opt help_only[] = {
	HELP_OPT,
	END_OPT,
};

const struct cli_cmd cli_cmds[] = {
	{ "run", cmd_run, "[OPTION...] [--] CMD [ARG...]",
	  "run CMD with libreuse.so preloaded",
	  "Run CMD in this process with libreuse.so appended to LD_PRELOAD.\n",
	  run_opts,
	  "The exit status is CMD's (128+N if it was killed by signal N, under\n"
	  "--supervise and --seccomp); 127 if CMD is not found, 126 if it cannot be\n"
	  "run, 1 if the policy does not parse or the library is missing, 2 on bad usage.\n",
	  true },
	{ "check", cmd_check, "[--guard] [FILE...]",
	  "check policy files (none: the one in force)",
	  "Check policy files; every problem is printed as FILE:LINE:COLUMN: error: ...\n"
	  "and every rule a backend accepts but does not enforce as ... warning: ...\n"
	  "Without FILE, check the policy the library would load now.\n",
	  check_opts,
	  "Exit status: 0 if every file parses (warnings included), 1 otherwise.\n", false },
	{ "policy", cmd_policy, "[--default]",
	  "show the policy in force, or the embedded one",
	  "Print which policy the library would load now (# source: PATH|default)\n"
	  "and its text; with --default, print the embedded default policy.\n",
	  policy_opts, NULL, false },
	{ "who", cmd_who, "ADDR:PORT [--tcp|--udp] [--json]",
	  "who holds an address; what would bind",
	  "Show every socket whose local address overlaps ADDR:PORT (state, address,\n"
	  "owner uid, pid, program, SO_REUSEADDR/SO_REUSEPORT where readable), the\n"
	  "TIME_WAIT entries, and what a bind with each option choice would do now,\n"
	  "as your uid, as each holder's uid and as another uid.\n"
	  "ADDR: 127.0.0.1, [::1], or * for every address. Default: both protocols.\n",
	  who_opts, NULL, false },
	{ "audit", cmd_audit, "[--json]",
	  "sockets another local user could hijack (root)",
	  "List every listening TCP and bound UDP socket on this host that a process\n"
	  "of another uid (or of the same uid, for SO_REUSEPORT groups) could bind\n"
	  "beside and take traffic from, with pid, program, uid, flags and the rule\n"
	  "that would protect it. Needs root (flags are read with pidfd_getfd).\n",
	  audit_opts,
	  "Exit status: 0 if nothing is open, 3 if something is, 1 on error.\n", false },
	{ "systemd-dropin", cmd_systemd_dropin, "UNIT [--policy FILE]",
	  "print a systemd drop-in running UNIT under libreuse",
	  "Print a systemd drop-in that runs UNIT's ExecStart under libreuse\n"
	  "(install it as /etc/systemd/system/UNIT.d/libreuse.conf).\n",
	  dropin_opts, NULL, false },
	{ "guard", cmd_guard, "[OPTION...] (--cgroup PATH | --host)",
	  "enforce the policy in the kernel for a cgroup (root)",
	  "Compile the policy into cgroup BPF programs and attach them to a cgroup\n"
	  "v2 (--host: its root, every process): each bind(), and setsockopt() and\n"
	  "getsockopt() of SO_REUSEADDR/SO_REUSEPORT, is decided in the kernel,\n"
	  "whatever the binary (static, Go, io_uring). Runs in the foreground: after\n"
	  "attaching it logs a line with `guard ready`, then every decision, until\n"
	  "SIGTERM or SIGINT detaches it. Also: reuse guard --list;\n"
	  "reuse guard --remove (--cgroup PATH | --host | --all).\n",
	  guard_opts,
	  "Exit status: 0 after a clean detach (or pin, list, remove); 1 if the policy\n"
	  "does not parse; 2 on bad usage, or when it cannot run: no root/CAP_BPF, no\n"
	  "cgroup v2, or a rule it cannot honour (without --force).\n", false },
	{ "help", cmd_help, "[COMMAND]",
	  "show this help, or a command's",
	  "Print the usage of reuse, or of one command (as COMMAND --help does).\n",
	  help_only, NULL, false },
	{ NULL, NULL, NULL, NULL, NULL, NULL, NULL, false },
};

const struct cli_cmd *cli_cmd_find(const char *name)
{
	for (const struct cli_cmd *c = cli_cmds; name && c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* "  -h, --help         text", continuation lines under the text. */
static void print_opt(FILE *f, const struct cli_opt *o)
{
	char head[64];
	const char *t = o->help;
	int key = o->key & ~CLI_LONG_ONLY;

	snprintf(head, sizeof head, "%s--%s%s%s", o->key & CLI_LONG_ONLY ? "" :
		 (char[]){ '-', (char)key, ',', ' ', '\0' }, o->name,
		 o->arg ? " " : "", o->arg ? o->arg : "");
	fprintf(f, "  %-18s  ", head);
	for (;;) {
		size_t n = strcspn(t, "\n");
		fprintf(f, "%.*s\n", (int)n, t);
		if (!t[n] || !t[n + 1])
			break;
		t += n + 1;
		fprintf(f, "%22s", "");
	}
}

void cli_usage(FILE *f, const char *name)
{
	const struct cli_cmd *c = cli_cmd_find(name);

	if (!c) {
		fputs("Usage: reuse COMMAND [ARG...]\n"
		      "Apply an SO_REUSEADDR/SO_REUSEPORT policy to unmodified programs.\n"
		      "\nCommands:\n", f);
		for (c = cli_cmds; c->name; c++) {
			char head[64];
			snprintf(head, sizeof head, "%s %s", c->name, c->synopsis);
			fprintf(f, "  %-33s  %s\n", head, c->summary);
		}
		fputs("\nOptions:\n"
		      "  -h, --help          show this help and exit\n"
		      "  --version           show the version and exit\n"
		      "\nSee reuse(1) and reuse.policy(5).\n", f);
		return;
	}
	fprintf(f, "Usage: reuse %s %s\n%s\nOptions:\n", c->name, c->synopsis, c->text);
	for (const struct cli_opt *o = c->opts; o->name; o++)
		print_opt(f, o);
	if (c->tail)
		fprintf(f, "\n%s", c->tail);
}

int cli_getopt(const char *name, int argc, char **argv, int *status)
{
	static char **last;
	const struct cli_cmd *c = cli_cmd_find(name);
	struct option lo[CLI_OPTS_MAX + 1];
	char shorts[2 * CLI_OPTS_MAX + 4];
	size_t n = 0, s = 0;
	int key;

	if (argv != last) {                   /* a new command line: start over */
		last = argv;
		optind = 0;
	}
	/* in order: the first operand ends the options (run: CMD's own are
	 * never ours); else operands may come anywhere. ':' reports a
	 * missing argument apart from an unknown option. */
	if (c->in_order)
		shorts[s++] = '+';
	shorts[s++] = ':';
	for (const struct cli_opt *o = c->opts; o->name && n < CLI_OPTS_MAX; o++, n++) {
		lo[n] = (struct option){ o->name, o->arg ? required_argument : no_argument,
					 NULL, o->key };
		if (!(o->key & CLI_LONG_ONLY)) {
			shorts[s++] = (char)o->key;
			if (o->arg)
				shorts[s++] = ':';
		}
	}
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	shorts[s] = '\0';
	opterr = 0;
	key = getopt_long(argc, argv, shorts, lo, NULL);
	switch (key) {
	case 'h':
		cli_usage(stdout, name);
		*status = 0;
		return CLI_STOP;
	case ':':
		*status = cli_usage_error(name, "%s: option '%s' needs an argument",
					  name, argv[optind - 1]);
		return CLI_STOP;
	case '?':
		if (optopt && !(optopt & CLI_LONG_ONLY))
			*status = cli_usage_error(name, "%s: unknown option '-%c'", name,
						  optopt);
		else
			*status = cli_usage_error(name, "%s: unknown option '%s'", name,
						  argv[optind - 1]);
		return CLI_STOP;
	default:
		return key;
	}
}
