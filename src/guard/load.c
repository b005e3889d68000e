/*
 * load.c - the programs of guard.bpf.c (embedded in `reuse` as a libbpf
 * skeleton) loaded with a compiled policy, attached to one cgroup, and
 * pinned, listed and removed under GUARD_PIN_ROOT. Links, not legacy
 * attachments: a guard detaches when its process ends (or its pins are
 * removed), and other programs on the cgroup keep running beside it.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cli/cli.h"
#include "guard/guard.h"
#include "guard.skel.h"

static const char *const link_names[GUARD_PROGS] = {
	"bind4", "bind6", "setsockopt", "getsockopt", "post_bind4", "post_bind6",
	"sock_release",
};

/* libbpf's warnings (the verifier's log among them) as our messages;
 * its chatter below that level is not the operator's business. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_WARN)
		return 0;
	fputs("reuse: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

int guard_load(struct guard_run *g, const struct guard_image *img, bool events)
{
	struct guard_config cfg = { .nrules = (uint32_t)img->n, .events = events };
	uint32_t zero = 0;
	int err;

	for (size_t i = 0; i < img->n; i++)
		if ((img->rules[i].flags & (GR_EXCLUSIVE | GR_DRY)) == GR_EXCLUSIVE)
			cfg.exclusive = 1;

	memset(g, 0, sizeof *g);
	libbpf_set_print(libbpf_print);
	g->skel = guard_bpf__open_and_load();
	if (!g->skel) {
		err = errno;
		cli_error("guard: cannot load the BPF programs: %s%s", strerror(err),
			  err == EPERM ? " (needs CAP_BPF and CAP_NET_ADMIN, or root)" : "");
		return -1;
	}
	for (uint32_t i = 0; i < img->n; i++) {
		if (bpf_map__update_elem(g->skel->maps.rules, &i, sizeof i, &img->rules[i],
					 sizeof img->rules[i], 0) ||
		    bpf_map__update_elem(g->skel->maps.globs, &i, sizeof i, &img->globs[i],
					 sizeof img->globs[i], 0))
			goto fail;
	}
	/* last: the programs see no rule before every entry is in place */
	if (bpf_map__update_elem(g->skel->maps.config, &zero, sizeof zero, &cfg,
				 sizeof cfg, 0))
		goto fail;
	return 0;
fail:
	cli_error("guard: cannot fill the rule maps: %s", strerror(errno));
	guard_close(g);
	return -1;
}

int guard_attach(struct guard_run *g, int cgfd)
{
	struct bpf_program *progs[GUARD_PROGS] = {
		g->skel->progs.guard_bind4, g->skel->progs.guard_bind6,
		g->skel->progs.guard_setsockopt, g->skel->progs.guard_getsockopt,
		g->skel->progs.guard_post_bind4, g->skel->progs.guard_post_bind6,
		g->skel->progs.guard_release,
	};

	uint32_t zero = 0;
	struct guard_config cfg = { 0 };
	/* post_bind and sock_release serve exclusive rules alone: without
	 * one they are not attached, and cost no bind or close anything */
	int n = bpf_map__lookup_elem(g->skel->maps.config, &zero, sizeof zero, &cfg,
				     sizeof cfg, 0) == 0 && cfg.exclusive ? GUARD_PROGS : 4;

	for (int i = 0; i < n; i++) {
		g->links[i] = bpf_program__attach_cgroup(progs[i], cgfd);
		if (!g->links[i]) {
			int err = errno;
			cli_error("guard: cannot attach the %s program: %s", link_names[i],
				  strerror(err));
			g->links[i] = NULL;
			return -1;
		}
	}
	return 0;
}

void guard_pin_dir(bool host, unsigned long long ino, char *out, size_t len)
{
	if (host)
		snprintf(out, len, "%s/host", GUARD_PIN_ROOT);
	else
		snprintf(out, len, "%s/cg-%llu", GUARD_PIN_ROOT, ino);
}

/* Pins live on the BPF file system; mount it where it belongs when the
 * machine has not (systemd does at boot; a bare container may not). */
static int bpffs_ready(void)
{
	struct statfs sf;

	if (statfs("/sys/fs/bpf", &sf) == 0 && sf.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") == 0)
		return 0;
	cli_error("guard: no BPF file system at /sys/fs/bpf to pin in, and mounting one "
		  "failed: %s (mount -t bpf bpf /sys/fs/bpf)", strerror(errno));
	return -1;
}

int guard_pin(struct guard_run *g, const char *dir)
{
	char path[512];

	if (bpffs_ready() < 0)
		return -1;
	if ((mkdir(GUARD_PIN_ROOT, 0700) < 0 && errno != EEXIST) || mkdir(dir, 0700) < 0) {
		cli_error("guard: cannot make %s: %s%s", errno == EEXIST ? dir : GUARD_PIN_ROOT,
			  strerror(errno), errno == EEXIST ?
			  " (a guard is pinned there: reuse guard --remove first)" : "");
		return -1;
	}
	for (int i = 0; i < GUARD_PROGS && g->links[i]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, link_names[i]);
		if (bpf_link__pin(g->links[i], path))
			goto fail;
	}
	snprintf(path, sizeof path, "%s/config", dir);
	if (bpf_map__pin(g->skel->maps.config, path) == 0)
		return 0;
fail:
	cli_error("guard: cannot pin in %s: %s", dir, strerror(errno));
	guard_unpin(dir);
	return -1;
}

void guard_close(struct guard_run *g)
{
	for (int i = 0; i < GUARD_PROGS; i++)
		bpf_link__destroy(g->links[i]);       /* a pinned link stays attached */
	guard_bpf__destroy(g->skel);
	memset(g, 0, sizeof *g);
}

int guard_events_fd(const struct guard_run *g)
{
	return bpf_map__fd(g->skel->maps.events);
}

int guard_dropped_fd(const struct guard_run *g)
{
	return bpf_map__fd(g->skel->maps.dropped);
}

/* ---- pinned guards ------------------------------------------------------ */

static unsigned long long want_ino;
static char found[4096];

static int find_ino(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)f;
	if (flag == FTW_D && (unsigned long long)st->st_ino == want_ino) {
		snprintf(found, sizeof found, "%s", path);
		return 1;
	}
	return 0;
}

/* One pinned guard: its target and how many entries it enforces. */
static void list_one(const char *cgroot, const char *name)
{
	char path[512];
	struct guard_config cfg = { 0 };
	uint32_t zero = 0;
	int fd;

	snprintf(path, sizeof path, "%s/%s/config", GUARD_PIN_ROOT, name);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		bpf_map_lookup_elem(fd, &zero, &cfg);
		close(fd);
	}
	found[0] = '\0';
	if (strcmp(name, "host") == 0) {
		snprintf(found, sizeof found, "%s (--host)", cgroot);
	} else if (sscanf(name, "cg-%llu", &want_ino) == 1) {
		nftw(cgroot, find_ino, 16, FTW_PHYS | FTW_MOUNT);
		if (!found[0])
			snprintf(found, sizeof found, "(cgroup inode %llu, removed)", want_ino);
	}
	printf("%s/%s cgroup=%s entries=%u\n", GUARD_PIN_ROOT, name, found, cfg.nrules);
}

int guard_list(const char *cgroot)
{
	DIR *d = opendir(GUARD_PIN_ROOT);
	struct dirent *e;

	if (!d)
		return 0;                 /* nothing was ever pinned */
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			list_one(cgroot, e->d_name);
	closedir(d);
	return 0;
}

/* Removing a link's last pin detaches it: unlink every pin, then the dir. */
static int unpin_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];
	int status = 0;

	if (!d) {
		cli_error("guard: nothing pinned at %s: %s", dir, strerror(errno));
		return 1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (unlink(path) < 0) {
			cli_error("guard: cannot remove %s: %s", path, strerror(errno));
			status = 1;
		}
	}
	closedir(d);
	if (rmdir(dir) < 0) {
		cli_error("guard: cannot remove %s: %s", dir, strerror(errno));
		status = 1;
	}
	return status;
}

int guard_unpin(const char *dir)
{
	DIR *d;
	struct dirent *e;
	char path[512];
	int status = 0;

	if (dir) {
		status = unpin_dir(dir);
		rmdir(GUARD_PIN_ROOT);            /* only when it is empty */
		return status;
	}
	d = opendir(GUARD_PIN_ROOT);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", GUARD_PIN_ROOT, e->d_name);
		status |= unpin_dir(path);
	}
	closedir(d);
	rmdir(GUARD_PIN_ROOT);
	return status;
}
