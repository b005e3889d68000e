/*
 * run.c - `reuse run [OPTION...] [--] CMD [ARG...]`: set the library's
 * environment, append it to LD_PRELOAD and become CMD (same PID, so CMD's
 * exit status is ours and supervisors see no extra process).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/core.h"

/* ld.so splits LD_PRELOAD on these (ld.so(8)). */
#define PRELOAD_SEP " :"

struct run_opts {
	const char *policy;          /* --policy FILE */
	const char *log;             /* --log stderr|syslog|off|FILE */
	const char *level;           /* --log-level LEVEL */
	bool json;                   /* --json */
	bool dry_run;                /* --dry-run */
	bool seccomp;                /* --seccomp: supervise, do not preload */
	bool supervise;              /* --supervise: stay as CMD's parent */
	double takeover;             /* --takeover-timeout S */
	int stop_sig;                /* --stop-signal SIG */
	const char *pid_file;        /* --pid-file FILE: what --supervise follows */
	int cmd;                     /* argv index of CMD */
};

/* A file the dynamic loader could open: regular and readable by us. */
static bool usable_file(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return false;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		return false;
	}
	return access(path, R_OK) == 0;
}

/*
 * The library to preload, as an absolute path (malloc'd): REUSE_LIBRARY if
 * set, else libreuse.so next to this executable (build/ in the source
 * tree), else the installed one. NULL after an error message.
 */
static char *find_library(void)
{
	const char *env = getenv("REUSE_LIBRARY");
	char exe[PATH_MAX], *lib, *slash;
	ssize_t n;

	if (env && *env) {
		lib = cli_absolute(env);
		if (lib && usable_file(lib))
			return lib;
		cli_error("REUSE_LIBRARY=%s: %s", env, strerror(errno));
		free(lib);
		return NULL;
	}
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			slash[1] = '\0';
			if (asprintf(&lib, "%slibreuse.so", exe) < 0)
				return NULL;
			if (usable_file(lib))
				return lib;
			free(lib);
		}
	} else {
		exe[0] = '\0';
	}
	/* installed: <prefix>/bin/reuse finds <prefix>/<libdir>/libreuse.so,
	 * wherever the tree was copied (a DESTDIR, a relocated prefix) */
	if (exe[0] && asprintf(&lib, "%s../%s/libreuse.so", exe,
			       REUSE_LIBDIR_REL) >= 0) {
		if (usable_file(lib))
			return lib;
		free(lib);
	}
	lib = strdup(REUSE_LIBDIR "/libreuse.so");
	if (lib && usable_file(lib))
		return lib;
	cli_error("libreuse.so not found in %s nor %s/ (set REUSE_LIBRARY)",
		  exe[0] ? exe : "this program's directory", REUSE_LIBDIR);
	free(lib);
	return NULL;
}

/* find_library for other commands (systemd-dropin): 0, or -1 after a
 * message. */
int cli_library_path(char *out, size_t len)
{
	char *lib = find_library();
	int rc = -1;

	if (lib && strlen(lib) < len) {
		strcpy(out, lib);
		rc = 0;
	}
	free(lib);
	return rc;
}

/* Same file by identity, so a symlinked spelling is not preloaded twice. */
static bool same_file(const char *a, const struct stat *b)
{
	struct stat st;

	return stat(a, &st) == 0 && st.st_dev == b->st_dev &&
	       st.st_ino == b->st_ino;
}

/*
 * The new LD_PRELOAD: the old list with lib appended after a space, or the
 * old list unchanged when it already names lib (by spelling or by file).
 * Other preloads keep their place ahead of ours. NULL on allocation failure.
 */
static char *preload_list(const char *old, const char *lib)
{
	struct stat lib_st;
	bool have_st = stat(lib, &lib_st) == 0;
	char *copy, *tok, *save, *out;
	size_t len;

	if (!old || old[strspn(old, PRELOAD_SEP)] == '\0')
		return strdup(lib);
	copy = strdup(old);
	if (!copy)
		return NULL;
	for (tok = strtok_r(copy, PRELOAD_SEP, &save); tok;
	     tok = strtok_r(NULL, PRELOAD_SEP, &save))
		if (strcmp(tok, lib) == 0 || (have_st && same_file(tok, &lib_st))) {
			free(copy);
			return strdup(old);
		}
	free(copy);
	len = strlen(old);
	if (asprintf(&out, "%s%s%s", old,
		     strchr(PRELOAD_SEP, old[len - 1]) ? "" : " ", lib) < 0)
		return NULL;
	return out;
}

/* setenv() that reports its (only) failure, ENOMEM. */
static int set(const char *name, const char *value)
{
	if (setenv(name, value, 1) == 0)
		return 0;
	cli_error("cannot set %s: %s", name, strerror(errno));
	return -1;
}

/* A signal by name (TERM, SIGTERM, sigterm) or number; -1 if neither. */
static int signal_number(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);

	if (!*end && end != s)
		return n > 0 && n < NSIG ? (int)n : -1;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (int i = 1; i < NSIG; i++) {
		const char *name = sigabbrev_np(i);
		if (name && strcasecmp(name, s) == 0)
			return i;
	}
	return -1;
}

/*
 * Options up to CMD (commands.c's table: in order, so CMD's own options are
 * never ours and "--" is needed only before a CMD that starts with '-').
 * Returns -1 to go on (o->cmd set), else the status to
 * exit with (help printed, or a usage error).
 */
static int parse(int argc, char **argv, struct run_opts *o)
{
	char *end;
	int c, status;

	o->takeover = 30;
	o->stop_sig = SIGTERM;
	while ((c = cli_getopt("run", argc, argv, &status)) != -1) {
		switch (c == CLI_STOP ? c : c & ~CLI_LONG_ONLY) {
		case 'p': o->policy = optarg; break;
		case 'l': o->log = optarg; break;
		case 'j': o->json = true; break;
		case 'L': o->level = optarg; break;
		case 'n': o->dry_run = true; break;
		case 's': o->seccomp = true; break;
		case 'V': o->supervise = true; break;
		case 't':
			o->takeover = strtod(optarg, &end);
			if (*end || end == optarg || !(o->takeover > 0 && o->takeover <= 86400))
				return cli_usage_error("run", "run: --takeover-timeout "
						       "needs seconds (0 < S <= 86400), "
						       "not '%s'", optarg);
			break;
		case 'k':
			o->stop_sig = signal_number(optarg);
			if (o->stop_sig <= 0)
				return cli_usage_error("run", "run: --stop-signal needs "
						       "a signal name or number, not "
						       "'%s'", optarg);
			break;
		case 'P': o->pid_file = optarg; break;
		default:                      /* CLI_STOP: --help, or bad usage */
			return status;
		}
	}
	if (o->level && strcmp(o->level, "off") &&
	    strcmp(o->level, "decisions") && strcmp(o->level, "all"))
		return cli_usage_error("run", "run: --log-level must be off, "
				       "decisions or all, not '%s'", o->level);
	if (o->policy && !*o->policy)
		return cli_usage_error("run", "run: --policy needs a file");
	if (o->log && !*o->log)
		return cli_usage_error("run", "run: --log needs stderr, syslog, "
				       "off or a file");
	if (o->pid_file && (!*o->pid_file || !o->supervise))
		return cli_usage_error("run", "run: --pid-file needs a file and --supervise");
	if (optind >= argc)
		return cli_usage_error("run", "run: no command given");
	o->cmd = optind;
	return -1;
}

/*
 * The environment the library reads (reuse(1), ENVIRONMENT): each variable is
 * set only when its option was given, so an operator's own settings pass
 * through. lib NULL (--seccomp): nothing is preloaded.
 */
static int set_environment(const struct run_opts *o, const char *lib)
{
	char *abs, *list;
	int rc = 0;

	if (o->policy) {
		abs = cli_absolute(o->policy);
		if (!abs) {
			cli_error("%s: %s", o->policy, strerror(errno));
			return -1;
		}
		rc |= set("REUSE_POLICY", abs);
		free(abs);
	}
	if (o->log && (strcmp(o->log, "stderr") == 0 ||
		       strcmp(o->log, "syslog") == 0 ||
		       strcmp(o->log, "off") == 0)) {
		rc |= set("REUSE_LOG", o->log);
	} else if (o->log) {
		abs = cli_absolute(o->log);
		if (!abs) {
			cli_error("%s: %s", o->log, strerror(errno));
			return -1;
		}
		rc |= set("REUSE_LOG", abs);
		free(abs);
	}
	if (o->json)
		rc |= set("REUSE_LOG_FORMAT", "json");
	if (o->level)
		rc |= set("REUSE_LOG_LEVEL", o->level);
	if (o->dry_run)
		rc |= set("REUSE_DRY_RUN", "1");
	if (!lib)
		return rc;

	list = preload_list(getenv("LD_PRELOAD"), lib);
	if (!list) {
		cli_error("LD_PRELOAD: %s", strerror(ENOMEM));
		return -1;
	}
	rc |= set("LD_PRELOAD", list);
	free(list);
	return rc;
}

/* The ELF identity of the library, for the architecture warning. */
static void inspect_library(const char *lib, struct elf_info *info)
{
	int fd = open(lib, O_RDONLY | O_CLOEXEC);

	memset(info, 0, sizeof *info);
	if (fd >= 0) {
		elf_inspect(fd, info);
		close(fd);
	}
}

/*
 * stable_policy - a policy given as a pipe or FIFO (--policy <(...)) can be
 * read once, and reuse run reads it first to check it: the program, and
 * every process it starts, would then find it empty. Its text is copied
 * once into uid's private directory (handoff.c's), named by a hash of the
 * text, so the same policy is the same file and nothing piles up; the
 * program is pointed there. It is checked first, under the name given, and
 * a broken one is never copied. A regular file or a device is used as named.
 * Returns a malloc'd path, or NULL after saying why.
 */
static char *stable_policy(const char *path)
{
	char dir[PATH_MAX], name[PATH_MAX + 64], tmp[PATH_MAX + 96], *text = NULL;
	uint64_t hash = 1469598103934665603ull;       /* FNV-1a */
	struct reuse_diag diag = { 0 };
	struct reuse_policy p;
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd, err;

	if (stat(path, &st) < 0 || !S_ISFIFO(st.st_mode))
		return strdup(path);          /* the loader reports what is wrong */
	/* read as the library reads: bounded wait, size cap, empty is an error */
	if (reuse_policy_read(path, &text, &len, &diag)) {
		if (diag.len) {
			fwrite(diag.text, 1, diag.len, stderr);
			if (diag.text[diag.len - 1] != '\n')
				fputc('\n', stderr);
		}
		reuse_diag_free(&diag);
		return NULL;
	}
	/* checked here, under the name the operator gave */
	if (policy_text_report(path, text, len, &p) < 0) {
		free(text);
		return NULL;
	}
	reuse_policy_free(&p);
	for (size_t i = 0; i < len; i++)
		hash = (hash ^ (unsigned char)text[i]) * 1099511628211ull;
	if ((err = reuse_user_dir((uint32_t)geteuid(), dir, sizeof dir))) {
		cli_error("%s: cannot keep a copy of the piped policy: %s", dir, strerror(err));
		free(text);
		return NULL;
	}
	snprintf(name, sizeof name, "%s/policy-%016llx", dir, (unsigned long long)hash);
	snprintf(tmp, sizeof tmp, "%s.%d", name, (int)getpid());
	unlink(tmp);                          /* left by a run that died here */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
	n = fd < 0 ? -1 : write(fd, text, len);
	if (n >= 0 && (size_t)n != len)
		errno = EIO;                  /* a short write to a local file */
	if (fd < 0 || (size_t)n != len || close(fd) < 0 || rename(tmp, name) < 0) {
		cli_error("%s: cannot keep a copy of the piped policy: %s", name, strerror(errno));
		unlink(tmp);
		free(text);
		return NULL;
	}
	free(text);
	return strdup(name);
}

/*
 * Check, set up, exec. Returns only on failure: 1 for our own errors, 2 for
 * usage, and as env(1) does 127 when CMD is not found and 126 when it
 * cannot be run.
 */
int cmd_run(int argc, char **argv)
{
	struct run_opts o = { 0 };
	struct reuse_policy p;
	struct elf_info lib_info;
	const char *cmd;
	char *lib, *stable = NULL;
	int status, err;

	status = parse(argc, argv, &o);
	if (status >= 0)
		return status;
	cmd = argv[o.cmd];
	/* an operator's own REUSE_POLICY=rel.policy must survive CMD's chdir
	 * and re-exec, as --policy's path does (set_environment) */
	config_absolutize_env();

	/* A broken policy never reaches CMD. */
	if (o.policy) {
		if (!(stable = stable_policy(o.policy)))
			return 1;
		if (strcmp(stable, o.policy) != 0) {
			o.policy = stable;        /* the copy, checked already */
		} else {
			if (policy_load_report(o.policy, &p) < 0)
				return 1;
			reuse_policy_free(&p);
		}
	}
	if (o.seccomp && o.supervise)
		return cli_usage_error("run", "run: --seccomp and --supervise do not combine "
				       "(handoff needs the library in the program)");
	if (o.seccomp) {
		/* the supervisor reads the same variables the library would */
		if (set_environment(&o, NULL) < 0)
			return 1;
		return seccomp_run(argv + o.cmd);
	}
	lib = find_library();
	if (!lib)
		return 1;
	if (lib[strcspn(lib, PRELOAD_SEP)] != '\0') {
		cli_error("%s: LD_PRELOAD cannot name a path containing a "
			  "space or ':'", lib);
		free(lib);
		return 1;
	}
	if (set_environment(&o, lib) < 0) {
		free(lib);
		return 1;
	}
	inspect_library(lib, &lib_info);
	target_warn(cmd, lib, &lib_info);
	free(lib);

	fflush(NULL);
	if (o.supervise) {
		char *pid_file = o.pid_file ? cli_absolute(o.pid_file) : NULL;

		status = cli_supervise(argv + o.cmd, o.takeover, o.stop_sig, pid_file);
		free(pid_file);
		return status;
	}
	execvp(cmd, argv + o.cmd);
	err = errno;
	if (err == ENOENT && !strchr(cmd, '/'))
		cli_error("%s: command not found", cmd);
	else
		cli_error("cannot run '%s': %s", cmd, strerror(err));
	return err == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
}
