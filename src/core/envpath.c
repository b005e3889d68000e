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
#include <limits.h>
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

/* REUSE_LOG names a file only when it is none of its keywords. */
static bool log_relative(const char *v)
{
	return relative(v) && strcmp(v, "stderr") && strcmp(v, "syslog") &&
	       strcmp(v, "off");
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
	/* by hand, not asprintf: one import less bound at every start */
	size_t clen = strlen(cwd), slash = strcmp(cwd, "/") != 0;

	out = malloc(clen + slash + len + 1);
	if (!out)
		return NULL;
	memcpy(out, cwd, clen);
	out[clen] = '/';
	memcpy(out + clen + slash, path, len);
	out[clen + slash + len] = '\0';
	return out;
}

static void absolutize(const char *name, const char *cwd)
{
	const char *v = getenv(name);
	char *abs;

	if (strcmp(name, "REUSE_LOG") == 0 ? !log_relative(v) : !relative(v))
		return;
	abs = join(cwd, v, strlen(v));
	if (abs)
		setenv(name, abs, 1);
	free(abs);
}

/* LD_PRELOAD with each relative entry that has a '/' made absolute; the
 * separators are kept as they were. Built in one buffer sized for the
 * worst case (every entry gains cwd and a '/'): no stdio stream. */
static void absolutize_preload(const char *cwd)
{
	const char *v = getenv("LD_PRELOAD"), *p;
	size_t len, cwdlen = strlen(cwd), o = 0;
	char *out;

	if (!v || !*v)
		return;
	len = strlen(v);
	out = malloc(len + 1 + (len / 2 + 1) * (cwdlen + 1));
	if (!out)
		return;
	for (p = v; *p;) {
		size_t sep = strspn(p, PRELOAD_SEP), n;

		memcpy(out + o, p, sep);
		o += sep;
		p += sep;
		n = strcspn(p, PRELOAD_SEP);
		if (!n)
			break;
		if (*p != '/' && memchr(p, '/', n)) {
			while (n >= 2 && p[0] == '.' && p[1] == '/') {
				p += 2;               /* as join() does */
				n -= 2;
				while (n && *p == '/')
					p++, n--;
			}
			memcpy(out + o, cwd, cwdlen);
			o += cwdlen;
			if (strcmp(cwd, "/"))
				out[o++] = '/';
		}
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	out[o] = '\0';
	setenv("LD_PRELOAD", out, 1);
	free(out);
}

/* Whether an LD_PRELOAD entry is relative and has a '/': one pass, as
 * every process that starts under the library asks. */
static bool preload_relative(const char *v)
{
	bool start = true, rel = false;

	for (const char *p = v; p && *p; p++) {
		if (*p == ' ' || *p == ':') {
			start = true;
			rel = false;
		} else if (start) {
			start = false;
			rel = *p != '/';
		} else if (rel && *p == '/') {
			return true;
		}
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
	char cwd[PATH_MAX];

	if (reuse_cfg.secure)
		return;
	/* the common case (REUSE_LOG=off included): nothing relative, no
	 * getcwd, no allocation */
	if (!relative(pol) && !log_relative(log) && !preload_relative(pre))
		return;
	if (!getcwd(cwd, sizeof cwd))
		return;
	absolutize("REUSE_POLICY", cwd);
	absolutize("REUSE_LOG", cwd);
	if (preload_relative(pre))
		absolutize_preload(cwd);
}
