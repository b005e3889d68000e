/*
 * target.c - find CMD where execvp() will, and tell the operator when the
 * shim cannot reach the program found there. The program runs anyway: the
 * warning is the whole job.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cli.h"

/* glibc's execvp() search path when PATH is unset. */
#define DEFAULT_PATH "/bin:/usr/bin"

/* A regular file we may execute (execve() checks the effective ids). */
static bool runnable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       eaccess(path, X_OK) == 0;
}

/*
 * The file execvp(cmd) will run, malloc'd, or NULL when it will fail. A
 * name with a slash is used as is; otherwise each PATH entry is tried in
 * order, an empty one meaning the working directory, as execvp() does.
 */
static char *resolve(const char *cmd)
{
	const char *path = getenv("PATH"), *p, *end;
	char *cand;
	size_t dirlen;

	if (strchr(cmd, '/'))
		return runnable(cmd) ? strdup(cmd) : NULL;
	if (!path)
		path = DEFAULT_PATH;
	for (p = path;; p = end + 1) {
		end = strchrnul(p, ':');
		dirlen = (size_t)(end - p);
		if (asprintf(&cand, "%.*s%s%s", (int)dirlen, p,
			     dirlen ? "/" : "", cmd) < 0)
			return NULL;
		if (runnable(cand))
			return cand;
		free(cand);
		if (*end == '\0')
			return NULL;
	}
}

/* "64-bit x86-64" and the like, for the architecture warning. */
static void describe(const struct elf_info *e, char *buf, size_t len)
{
	const char *name = elf_machine_name(e->machine);

	if (name)
		snprintf(buf, len, "%u-bit %s", e->bits, name);
	else
		snprintf(buf, len, "%u-bit (machine %u)", e->bits, e->machine);
}

/*
 * Everything the dynamic loader would hold against preloading: no loader
 * at all (static, static-pie), secure execution (set-user-ID,
 * set-group-ID, file capabilities), or a library of another architecture.
 * A #! script is the interpreter's business: nothing more is looked at.
 */
void target_warn(const char *cmd, const char *lib_path,
		 const struct elf_info *lib)
{
	static const char tail[] =
		"libreuse cannot reach it; running it anyway";
	struct elf_info info = { .kind = ELF_BROKEN };
	struct stat st;
	char magic[2], have[64], want[64];
	char *path = resolve(cmd);
	int fd;

	if (!path || stat(path, &st) < 0)
		goto out;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		bool script = pread(fd, magic, 2, 0) == 2 &&
			      magic[0] == '#' && magic[1] == '!';
		if (!script)
			elf_inspect(fd, &info);
		close(fd);
		if (script || info.kind == ELF_NONE)
			goto out;
	}

	if (st.st_mode & S_ISUID)
		cli_warn("%s is set-user-ID: the dynamic loader ignores "
			 "LD_PRELOAD in secure execution, so %s", path, tail);
	if ((st.st_mode & S_ISGID) && (st.st_mode & S_IXGRP))
		cli_warn("%s is set-group-ID: the dynamic loader ignores "
			 "LD_PRELOAD in secure execution, so %s", path, tail);
	if (getxattr(path, "security.capability", NULL, 0) > 0)
		cli_warn("%s carries file capabilities (security.capability): "
			 "the dynamic loader ignores LD_PRELOAD in secure "
			 "execution, so %s", path, tail);
	if (info.kind == ELF_STATIC)
		cli_warn("%s is statically linked: LD_PRELOAD needs the "
			 "dynamic loader, so %s", path, tail);
	else if (info.kind == ELF_STATIC_PIE)
		cli_warn("%s is statically linked (static-pie): LD_PRELOAD "
			 "needs the dynamic loader, so %s", path, tail);
	else if (info.kind == ELF_DYNAMIC && lib->bits &&
		 (info.bits != lib->bits || info.machine != lib->machine)) {
		describe(&info, have, sizeof have);
		describe(lib, want, sizeof want);
		cli_warn("%s is a %s program but %s is %s: the dynamic loader "
			 "will skip it, so %s", path, have, lib_path, want,
			 tail);
	}
out:
	free(path);
}
