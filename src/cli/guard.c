/*
 * guard.c - `reuse guard`: the policy enforced by cgroup BPF programs for
 * every process of a cgroup (or the whole host), whatever its binary:
 * static, Go, raw syscall(), io_uring. The checks that say exactly why it
 * cannot run, the policy compiled (src/guard/compile.c), the programs
 * loaded and attached (load.c), then either pinned, or the decisions
 * streamed into the log (stream.c) until SIGTERM/SIGINT detaches them.
 * docs/design-guard.md.
 */
#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cli.h"
#include "core/core.h"
#include "guard/guard.h"

struct guard_opts {
	const char *policy, *log, *cgroup;
	bool json, pin, force, host, list, remove, all;
};

static volatile int stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* CAP_BPF (or CAP_SYS_ADMIN) loads, CAP_NET_ADMIN attaches to a cgroup. */
static bool may_guard(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned long long eff = 0;

	if (!f)
		return geteuid() == 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return (eff >> 12 & 1) && ((eff >> 39 & 1) || (eff >> 21 & 1));
}

/* Where the cgroup v2 hierarchy is mounted (the first one), into out. */
static bool cgroup2_root(char *out, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[1024], mnt[512], fstype[64];
	bool ok = false;

	if (!f)
		return false;
	while (!ok && fgets(line, sizeof line, f)) {
		const char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
		    sscanf(dash + 3, "%63s", fstype) != 1)
			continue;
		if (strcmp(fstype, "cgroup2") == 0) {
			snprintf(out, len, "%s", mnt);
			ok = true;
		}
	}
	fclose(f);
	return ok;
}

static int parse(int argc, char **argv, struct guard_opts *o, int *status)
{
	int c;

	while ((c = cli_getopt("guard", argc, argv, status)) != -1) {
		switch (c) {
		case CLI_STOP:
			return -1;
		case 'p' | CLI_LONG_ONLY: o->policy = optarg; break;
		case 'l' | CLI_LONG_ONLY: o->log = optarg; break;
		case 'j' | CLI_LONG_ONLY: o->json = true; break;
		case 'P' | CLI_LONG_ONLY: o->pin = true; break;
		case 'f' | CLI_LONG_ONLY: o->force = true; break;
		case 'c' | CLI_LONG_ONLY: o->cgroup = optarg; break;
		case 'H' | CLI_LONG_ONLY: o->host = true; break;
		case 'L' | CLI_LONG_ONLY: o->list = true; break;
		case 'R' | CLI_LONG_ONLY: o->remove = true; break;
		case 'a' | CLI_LONG_ONLY: o->all = true; break;
		}
	}
	if (optind < argc) {
		*status = cli_usage_error("guard", "guard: unexpected argument '%s'", argv[optind]);
		return -1;
	}
	if ((!!o->cgroup + o->host + o->all) != (o->list ? 0 : 1) ||
	    (o->all && !o->remove) || (o->list && o->remove)) {
		*status = cli_usage_error("guard", o->list ? "guard: --list takes no target" :
					  "guard: say exactly one of --cgroup PATH, --host%s",
					  o->remove ? " or --all" : "");
		return -1;
	}
	return 0;
}

/* The target: an fd on the cgroup directory, its name for messages, its
 * pin directory. 0, or the status to exit with after a message. */
static int open_target(const struct guard_opts *o, const char *root, int *fd,
		       char *name, size_t nlen, char *pin, size_t plen)
{
	const char *path = o->host ? root : o->cgroup;
	struct statfs sf;
	struct stat st;

	*fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0) {
		cli_error("guard: cannot open the cgroup %s: %s", path, strerror(errno));
		return EXIT_USAGE;
	}
	if (fstatfs(*fd, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC || fstat(*fd, &st) < 0) {
		cli_error("guard: %s is not a directory of the cgroup v2 hierarchy "
			  "(mounted at %s)", path, root);
		close(*fd);
		return EXIT_USAGE;
	}
	snprintf(name, nlen, "%s", path);
	guard_pin_dir(o->host, (unsigned long long)st.st_ino, pin, plen);
	return 0;
}

/* The policy, parsed (errors on stderr: 1) and compiled (what the kernel
 * cannot honour on stderr: 2 unless --force). */
static int policy(const struct guard_opts *o, struct reuse_policy *p,
		  struct guard_image *img)
{
	const char *path = o->policy ? o->policy : policy_in_force();
	struct reuse_diag d = { 0 };
	char *text = NULL;
	size_t len = 0;
	int w;

	if (path && reuse_policy_read(path, &text, &len, &d) != 0) {
		fprintf(stderr, "%s", d.text ? d.text : "");
		reuse_diag_free(&d);
		return 1;
	}
	if (policy_text_report(policy_name(path), path ? text : reuse_default_policy,
			       path ? len : strlen(reuse_default_policy), p) < 0) {
		free(text);
		return 1;
	}
	w = guard_compile(p, policy_name(path), path ? text : reuse_default_policy,
			  path ? len : strlen(reuse_default_policy), img, &d);
	free(text);
	if (d.len)
		fprintf(stderr, "%s", d.text);
	reuse_diag_free(&d);
	if (w < 0)
		return EXIT_USAGE;
	if (w > 0 && !o->force) {
		cli_error("guard: %d rule%s cannot be honoured in the kernel (above); "
			  "--force starts anyway, without what %s not enforced", w,
			  w == 1 ? "" : "s", w == 1 ? "it says is" : "they say is");
		return EXIT_USAGE;
	}
	return 0;
}

/* The log the library would write, with the guard's backend named. */
static void log_setup(const struct guard_opts *o, struct reuse_policy *p)
{
	setenv("REUSE_LOG", o->log ? o->log : "stderr", 1);
	setenv("REUSE_LOG_FORMAT", o->json ? "json" : "text", 1);
	snprintf(reuse_cfg.prog, sizeof reuse_cfg.prog, "reuse");
	snprintf(reuse_cfg.exe, sizeof reuse_cfg.exe, "reuse");
	config_init();
	/* REUSE_DRY_RUN is the library's: the guard's dry runs are its rules' */
	reuse_cfg.dry_run = false;
	log_set_backend("guard");
	reuse_cfg.policy = *p;
	log_policy_ready();
}

static int run(const struct guard_opts *o, const char *root)
{
	struct reuse_policy p;
	struct guard_image *img = calloc(1, sizeof *img);
	struct guard_run g;
	struct sigaction sa = { .sa_handler = on_signal };
	char name[512], pin[512];
	int fd, status;

	if (!img)
		return 1;
	memset(&p, 0, sizeof p);
	if ((status = policy(o, &p, img)) ||
	    (status = open_target(o, root, &fd, name, sizeof name, pin, sizeof pin)))
		goto out;
	log_setup(o, &p);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	status = EXIT_USAGE;
	if (guard_load(&g, img, !o->pin) < 0)
		goto out_fd;
	if (guard_attach(&g, fd) < 0 || (o->pin && guard_pin(&g, pin) < 0))
		goto out_guard;
	log_text("guard ready: policy %s, %zu rule%s (%zu entries), cgroup %s%s%s",
		 log_rule_source(), p.nrules, p.nrules == 1 ? "" : "s", img->n, name,
		 o->pin ? ", pinned at " : "", o->pin ? pin : "");
	status = 0;
	if (!o->pin) {
		guard_stream(&g, &p, img, &stop);
		log_text("guard stopped: detached from cgroup %s", name);
	}
out_guard:
	guard_close(&g);
out_fd:
	close(fd);
out:
	free(img);
	return status;
}

int cmd_guard(int argc, char **argv)
{
	struct guard_opts o = { 0 };
	char root[512], name[512], pin[512];
	int status = 0, fd;

	if (parse(argc, argv, &o, &status) < 0)
		return status;
	if (!may_guard()) {
		cli_error("guard: needs root (CAP_BPF and CAP_NET_ADMIN) to load and attach "
			  "cgroup BPF programs; running as uid %u without them", (unsigned)geteuid());
		return EXIT_USAGE;
	}
	if (!cgroup2_root(root, sizeof root)) {
		if (o.list)
			return guard_list("/");
		cli_error("guard: no cgroup v2 hierarchy is mounted (e.g. mount -t cgroup2 "
			  "none /sys/fs/cgroup): the guard attaches to a cgroup v2");
		return EXIT_USAGE;
	}
	if (o.list)
		return guard_list(root);
	if (o.remove) {
		if (o.all)
			return guard_unpin(NULL);
		if ((status = open_target(&o, root, &fd, name, sizeof name, pin, sizeof pin)))
			return status;
		close(fd);
		return guard_unpin(pin);
	}
	return run(&o, root);
}
