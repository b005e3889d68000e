/*
 * envpath.c - make the paths the library's environment names absolute.
 *
 * `cd conf; REUSE_POLICY=nh.policy reuse run -- sshd -D`: sshd re-executes
 * itself after chdir("/") and the new image, reading the same environment,
 * would look for /nh.policy and fail open. A relative path is therefore
 * rewritten, where it enters (the first init in a process, and `reuse run`),
 * to the absolute path it means now, in the environment every later exec
 * passes on: REUSE_POLICY, REUSE_LOG when it names a file, and the entries
 * of LD_PRELOAD that contain a '/' (ld.so opens those relative to the
 * working directory; bare names are searched in the library path, left so).
 * Nothing is done in a secure-execution process (its environment is not
 * read) or when the working directory cannot be known.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

/* ld.so splits LD_PRELOAD on these (ld.so(8)). */
#define PRELOAD_SEP " :"

static bool relative(const char *p)
{
	return p && *p && *p != '/';
}

/* cwd/path with leading "./" dropped, malloc'd; NULL on failure. */
static char *join(const char *cwd, const char *path, size_t len)
{
	char *out;

	while (len >= 2 && path[0] == '.' && path[1] == '/') {
		path += 2;
		len -= 2;
		while (len && *path == '/') {
			path++;
			len--;
		}
	}
	if (asprintf(&out, "%s%s%.*s", cwd, strcmp(cwd, "/") ? "/" : "", (int)len,
		     path) < 0)
		return NULL;
	return out;
}

static void absolutize(const char *name, const char *cwd)
{
	const char *v = getenv(name);
	char *abs;

	if (!relative(v))
		return;
	if (strcmp(name, "REUSE_LOG") == 0 &&
	    (!strcmp(v, "stderr") || !strcmp(v, "syslog") || !strcmp(v, "off")))
		return;
	abs = join(cwd, v, strlen(v));
	if (abs)
		setenv(name, abs, 1);
	free(abs);
}

/* LD_PRELOAD with each relative entry that has a '/' made absolute; the
 * separators are kept as they were. */
static void absolutize_preload(const char *cwd)
{
	const char *v = getenv("LD_PRELOAD"), *p;
	char *out = NULL, *abs;
	size_t olen = 0;
	FILE *f;
	bool changed = false;

	if (!v || !*v)
		return;
	f = open_memstream(&out, &olen);
	if (!f)
		return;
	for (p = v; *p;) {
		size_t sep = strspn(p, PRELOAD_SEP), n;

		fwrite(p, 1, sep, f);
		p += sep;
		n = strcspn(p, PRELOAD_SEP);
		if (!n)
			break;
		if (*p != '/' && memchr(p, '/', n) && (abs = join(cwd, p, n))) {
			fputs(abs, f);
			free(abs);
			changed = true;
		} else {
			fwrite(p, 1, n, f);
		}
		p += n;
	}
	if (fclose(f) == 0 && changed)
		setenv("LD_PRELOAD", out, 1);
	free(out);
}

/* Whether an LD_PRELOAD entry is relative and has a '/'. */
static bool preload_relative(const char *v)
{
	for (const char *p = v; p && *p;) {
		size_t n;

		p += strspn(p, PRELOAD_SEP);
		n = strcspn(p, PRELOAD_SEP);
		if (n && *p != '/' && memchr(p, '/', n))
			return true;
		p += n;
	}
	return false;
}

/*
 * config_absolutize_env - rewrite REUSE_POLICY, REUSE_LOG and LD_PRELOAD's
 * relative paths as absolute ones (above). Call before they are read.
 */
void config_absolutize_env(void)
{
	const char *pol = getenv("REUSE_POLICY"), *log = getenv("REUSE_LOG");
	const char *pre = getenv("LD_PRELOAD");
	char *cwd;

	if (reuse_cfg.secure)
		return;
	/* the common case: nothing relative, no getcwd, no allocation */
	if (!relative(pol) && !relative(log) && !preload_relative(pre))
		return;
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return;
	absolutize("REUSE_POLICY", cwd);
	absolutize("REUSE_LOG", cwd);
	absolutize_preload(cwd);
	free(cwd);
}
