/*
 * policy_file.c - reading a policy file: size and time limits, the wait
 * for a pipe, and root's StrictModes-like checks of who could change it.
 */
#include "policy_int.h"

/* read_all's answer for a policy strict_modes() refuses. */
#define ERR_UNSAFE (-1)

/* Whether a directory lets a user other than root replace what it holds. */
static const char *unsafe_dir(const char *dir, char *why, size_t size)
{
	struct stat ds;

	if (stat(dir, &ds) < 0)
		snprintf(why, size, "directory %s: %s", dir, strerror(errno));
	else if (ds.st_uid != 0)
		snprintf(why, size, "directory %s is owned by uid %u, not root", dir,
			 (unsigned)ds.st_uid);
	else if ((ds.st_mode & (S_IWGRP | S_IWOTH)) && !(ds.st_mode & S_ISVTX))
		snprintf(why, size, "directory %s is writable by %s (mode %04o)", dir,
			 ds.st_mode & S_IWOTH ? "others" : "its group",
			 (unsigned)(ds.st_mode & 07777));
	else
		return NULL;
	return why;
}

/*
 * strict_modes - sshd's StrictModes, for a process running as root: a
 * policy another user could change decides for root's sockets, so it is
 * refused when the file is not owned by root or is writable by its group
 * or others, or when a directory on its real path is not owned by root or
 * is writable by group or others without the sticky bit (/tmp is fine).
 * Regular files and FIFOs are checked; devices are not.
 * Returns NULL when the policy may be used, else why (in `why`).
 */
static const char *strict_modes(const char *path, const struct stat *st,
				char *why, size_t size)
{
	const char *bad = NULL;
	char *real, *slash;

	/* a device (/dev/null) keeps no content another user could plant */
	if (geteuid() != 0 || !(S_ISREG(st->st_mode) || S_ISFIFO(st->st_mode)))
		return NULL;
	if (st->st_uid != 0) {
		snprintf(why, size, "owned by uid %u, not root", (unsigned)st->st_uid);
		return why;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, size, "writable by %s (mode %04o)",
			 st->st_mode & S_IWOTH ? "others" : "its group",
			 (unsigned)(st->st_mode & 07777));
		return why;
	}
	if (!S_ISREG(st->st_mode))
		return NULL;          /* a pipe (<(...)) has no directory */
	real = realpath(path, NULL);
	if (!real) {
		snprintf(why, size, "cannot resolve its path: %s", strerror(errno));
		return why;
	}
	while (!bad && (slash = strrchr(real, '/'))) {
		if (slash != real)
			*slash = '\0';
		else if (real[1])
			real[1] = '\0';
		else
			break;
		bad = unsafe_dir(real, why, size);
	}
	free(real);
	return bad;
}

/* How long a policy that is a pipe or FIFO may stay silent, and take in
 * all: the program's start waits for it, so the wait is bounded. */
#define POLICY_WAIT_MS 5000
#define POLICY_CAP_MS 30000

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * await_text - a pipe, FIFO or device has something to read (or its writer
 * is gone) before `deadline`; ETIMEDOUT if not. A FIFO no writer ever
 * opened would otherwise block the program's start for good.
 */
static int await_text(int fd, long deadline)
{
	struct pollfd p = { fd, POLLIN, 0 };
	long left;
	int r;

	do {
		left = deadline - now_ms();
		if (left <= 0)
			return ETIMEDOUT;
		r = poll(&p, 1, (int)left);
	} while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : r == 0 ? ETIMEDOUT : errno;
}

/*
 * read_all - the whole file into a malloc'd buffer. Uses raw system calls:
 * the library interposes close() and must not re-enter itself. Returns 0,
 * an errno (EFBIG over MAX_POLICY_SIZE, ETIMEDOUT for a pipe that stayed
 * silent POLICY_WAIT_MS), or ERR_UNSAFE with the reason in `why` when
 * running as root and strict_modes() refuses the file.
 */
static int read_all(const char *path, char **buf, size_t *len, char *why,
		    size_t whylen, struct stat *stp)
{
	/* O_NONBLOCK: opening a FIFO waits for a writer otherwise */
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path,
			      O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno;
	struct stat st;
	memset(&st, 0, sizeof st);
	size_t cap = 4096, n = 0;
	int err = 0;
	long start = now_ms(), deadline = start + POLICY_WAIT_MS;
	if (sys_fstat(fd, &st) < 0)
		err = errno;
	else if (strict_modes(path, &st, why, whylen))
		err = ERR_UNSAFE;
	else if (S_ISREG(st.st_mode)) {
		if ((unsigned long long)st.st_size > MAX_POLICY_SIZE)
			err = EFBIG;
		else
			cap = (size_t)st.st_size + 1;
	}
	char *b = err ? NULL : malloc(cap);
	if (!b && !err)
		err = ENOMEM;
	while (!err) {
		if (n == cap) {
			/* n <= MAX here, so growing up to MAX + 1 bytes is enough */
			size_t ncap = cap > MAX_POLICY_SIZE / 2 ? MAX_POLICY_SIZE + 1
								 : cap * 2;
			char *nb = realloc(b, ncap);
			if (!nb) {
				err = ENOMEM;
				break;
			}
			b = nb;
			cap = ncap;
		}
		if (!S_ISREG(st.st_mode) && (err = await_text(fd, deadline)))
			break;
		ssize_t r = syscall(SYS_read, fd, b + n, cap - n);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			err = errno;
		else if (r == 0)
			break;
		else
			n += (size_t)r;
		/* a pipe that keeps sending gets another wait, up to a cap */
		if (r > 0 && now_ms() + POLICY_WAIT_MS < start + POLICY_CAP_MS)
			deadline = now_ms() + POLICY_WAIT_MS;
		if (n > MAX_POLICY_SIZE)
			err = EFBIG;
	}
	sys_close(fd);
	*stp = st;
	/* a pipe is read once: an empty one was most likely drained by
	 * another process (<(...) inherited by a program's children) */
	if (!err && n == 0 && S_ISFIFO(st.st_mode))
		err = ENODATA;
	if (err) {
		free(b);
		return err;
	}
	*buf = b;
	*len = n;
	return 0;
}

/*
 * reuse_policy_load - read and parse a policy file. A file that cannot be
 * read is one error at PATH:1:1; out is then an empty, broken policy.
 */
int reuse_policy_read(const char *path, char **text, size_t *len,
		      struct reuse_diag *diag)
{
	struct stat st;

	return policy_read_st(path, text, len, &st, diag);
}

/* policy_read_st - reuse_policy_read, and the file's fstat in *st. */
int policy_read_st(const char *path, char **text, size_t *len, struct stat *st,
		   struct reuse_diag *diag)
{
	char why[PATH_MAX + 80];
	int err = path ? read_all(path, text, len, why, sizeof why, st) : EINVAL;
	if (err) {
		if (err == ERR_UNSAFE)
			reuse_diag_add(diag, "%s:1:1: error: refusing policy: %s, and the "
				       "process runs as root (only root may be able "
				       "to change it: chown root, chmod go-w)", path, why);
		else if (err == EFBIG)
			reuse_diag_add(diag, "%s:1:1: error: cannot read policy: "
				       "larger than 64 MiB", path);
		else if (err == ENODATA)
			reuse_diag_add(diag, "%s:1:1: error: cannot read policy: the "
				       "pipe or FIFO was empty (a pipe is read once: "
				       "was it read by another process?)", path);
		else if (err == ETIMEDOUT)
			reuse_diag_add(diag, "%s:1:1: error: cannot read policy: "
				       "its writer did not finish in time (%d s "
				       "without data, %d s in all, for a pipe or "
				       "FIFO)", path, POLICY_WAIT_MS / 1000,
				       POLICY_CAP_MS / 1000);
		else
			reuse_diag_add(diag, "%s:1:1: error: cannot read policy: %s",
				       path ? path : "(null)", strerror(err));
		return 1;
	}
	return 0;
}

int reuse_policy_load(const char *path, struct reuse_policy *out,
		      struct reuse_diag *diag)
{
	char *buf = NULL;
	size_t len = 0;

	if (reuse_policy_read(path, &buf, &len, diag)) {
		memset(out, 0, sizeof *out);
		out->source = path ? strdup(path) : NULL;
		return 1;
	}
	int n = reuse_policy_parse(path, buf, len, out, diag);
	free(buf);
	return n;
}

