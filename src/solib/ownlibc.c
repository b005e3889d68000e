/*
 * ownlibc.c - the library's own copies of libc calls that are one system
 * call or a short loop (issue 16: start-up).
 *
 * libreuse.so is linked -z now (full RELRO): every symbol it imports is
 * bound by ld.so before main, in every process, about 800 instructions
 * each, whether the program ever makes a socket or not. The functions here
 * are defined with hidden visibility under libc's names, so the static
 * linker binds the library's own calls to them and ld.so has nothing to
 * look up; they are not exported, so the program still gets libc's. Only
 * libreuse.so links this file (the CLI and the unit tests use libc).
 *
 * Each keeps libc's contract: -1 and errno from the kernel's answer (sys.h),
 * pthread_sigmask's error number, glibc's refusal to let sigfillset() or
 * sigaddset() touch its two internal signals (SIGCANCEL 32, SIGSETXID 33).
 * Unlike libc's, none is a cancellation point, which is what a library
 * holding its own locks wants. Left to libc on purpose: clock_gettime (vDSO,
 * no kernel entry), memcpy/memset/memmove/memcmp/memchr/strlen (the data
 * path, the log and the policy parser use them; libc's vector versions are
 * faster than any loop here), everything that keeps state or allocates,
 * and open() and readlink(): the tests slow those down from another
 * preloaded library to hold init or the log's lock open
 * (tests/fixtures/slowopen.c, tests/fixtures/initfork.c).
 * x86-64 only (sys.h's bare syscall); elsewhere libc's are used.
 */
#if defined(__x86_64__)
/* Debian's build flags fortify: the headers would then define read(),
 * poll(), recv()... inline, and these definitions would clash with them. */
#undef _FORTIFY_SOURCE
#include <dirent.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "core/sys.h"

#define OWN __attribute__((visibility("hidden")))
/* the string loops below must not be turned back into calls to themselves */
#pragma GCC optimize("no-tree-loop-distribute-patterns")

/* --- one system call each ------------------------------------------------ */

OWN ssize_t read(int fd, void *b, size_t n)
{ return SYS3(SYS_read, fd, b, n); }
OWN ssize_t write(int fd, const void *b, size_t n)
{ return SYS3(SYS_write, fd, b, n); }
OWN ssize_t pread(int fd, void *b, size_t n, off_t off)
{ return SYS6(SYS_pread64, fd, b, n, off, 0, 0); }
OWN int stat(const char *restrict p, struct stat *restrict st)
{ return (int)SYS6(SYS_newfstatat, AT_FDCWD, p, st, 0, 0, 0); }
OWN int lstat(const char *restrict p, struct stat *restrict st)
{ return (int)SYS6(SYS_newfstatat, AT_FDCWD, p, st, AT_SYMLINK_NOFOLLOW, 0, 0); }
OWN int mkdir(const char *p, mode_t m)
{ return (int)SYS3(SYS_mkdir, p, m, 0); }
OWN int rename(const char *a, const char *b)
{ return (int)SYS3(SYS_rename, a, b, 0); }
OWN int symlink(const char *a, const char *b)
{ return (int)SYS3(SYS_symlink, a, b, 0); }
OWN int unlink(const char *p)
{ return (int)SYS3(SYS_unlink, p, 0, 0); }
OWN ssize_t readlinkat(int dir, const char *restrict p, char *restrict b, size_t n)
{ return SYS6(SYS_readlinkat, dir, p, b, n, 0, 0); }
OWN void *mmap(void *a, size_t n, int prot, int fl, int fd, off_t off)
{ return (void *)SYS6(SYS_mmap, a, n, prot, fl, fd, off); }
OWN int munmap(void *a, size_t n)
{ return (int)SYS3(SYS_munmap, a, n, 0); }
OWN int nanosleep(const struct timespec *t, struct timespec *rem)
{ return (int)SYS3(SYS_nanosleep, t, rem, 0); }
OWN int poll(struct pollfd *f, nfds_t n, int ms)
{ return (int)SYS3(SYS_poll, f, n, ms); }
OWN int kill(pid_t p, int sig)
{ return (int)SYS3(SYS_kill, p, sig, 0); }
OWN uid_t geteuid(void)
{ return sys_geteuid(); }
OWN pid_t getpid(void)
{ return sys_getpid(); }
OWN int getrlimit(__rlimit_resource_t r, struct rlimit *l)
{ return (int)SYS6(SYS_prlimit64, 0, r, 0, l, 0, 0); }
OWN ssize_t recv(int fd, void *b, size_t n, int fl)
{ return SYS6(SYS_recvfrom, fd, b, n, fl, 0, 0); }
OWN ssize_t send(int fd, const void *b, size_t n, int fl)
{ return SYS6(SYS_sendto, fd, b, n, fl, 0, 0); }
OWN ssize_t recvmsg(int fd, struct msghdr *m, int fl)
{ return SYS3(SYS_recvmsg, fd, m, fl); }
OWN int accept4(int fd, struct sockaddr *restrict a, socklen_t *restrict l, int fl)
{ return (int)SYS6(SYS_accept4, fd, a, l, fl, 0, 0); }

OWN long syscall(long n, ...)
{
	va_list ap;
	long a[6];

	va_start(ap, n);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	return sys_ret(sys_raw(n, a[0], a[1], a[2], a[3], a[4], a[5]));
}

/* getcwd with the caller's buffer only (libc's NULL form allocates). */
OWN char *getcwd(char *b, size_t n)
{
	if (!b) {
		errno = EINVAL;
		return NULL;
	}
	if (SYS3(SYS_getcwd, b, n, 0) < 0)
		return NULL;
	if (b[0] != '/') {               /* "(unreachable)...": as libc says */
		errno = ENOENT;
		return NULL;
	}
	return b;
}

/* --- signal sets: the kernel's 64 signals, glibc's two kept out ------------ */

#define KSET 8                            /* bytes of the kernel's sigset */
#define INTERNAL(s) ((s) == 32 || (s) == 33)

static unsigned long *bits(sigset_t *s)
{ return (unsigned long *)(void *)s; }

OWN int sigemptyset(sigset_t *s)
{
	memset(s, 0, sizeof *s);
	return 0;
}
OWN int sigfillset(sigset_t *s)
{
	memset(s, 0xff, sizeof *s);
	bits(s)[0] &= ~(3UL << 31);           /* signals 32 and 33 */
	return 0;
}
static int bad_signal(int sig)
{
	if (sig < 1 || sig > 64 || INTERNAL(sig)) {
		errno = EINVAL;
		return 1;
	}
	return 0;
}
OWN int sigaddset(sigset_t *s, int sig)
{
	if (bad_signal(sig))
		return -1;
	bits(s)[0] |= 1UL << (sig - 1);
	return 0;
}
OWN int sigismember(const sigset_t *s, int sig)
{
	if (sig < 1 || sig > 64) {
		errno = EINVAL;
		return -1;
	}
	return (int)((((const unsigned long *)(const void *)s)[0] >> (sig - 1)) & 1);
}
OWN int sigpending(sigset_t *s)
{ return (int)SYS3(SYS_rt_sigpending, s, KSET, 0); }
OWN int sigtimedwait(const sigset_t *restrict s, siginfo_t *restrict i,
		     const struct timespec *restrict t)
{ return (int)SYS6(SYS_rt_sigtimedwait, s, i, t, KSET, 0, 0); }

/* Returns the error number, errno untouched (POSIX), and never blocks
 * glibc's internal signals, as libc's does not. */
OWN int pthread_sigmask(int how, const sigset_t *restrict set, sigset_t *restrict old)
{
	unsigned long k;
	long r;

	if (set) {
		k = ((const unsigned long *)(const void *)set)[0];
		if (how != SIG_UNBLOCK)
			k &= ~(3UL << 31);
	}
	r = sys_raw(SYS_rt_sigprocmask, how, set ? (long)&k : 0, (long)old, KSET, 0, 0);
	return r < 0 ? (int)-r : 0;
}

/* --- short string loops (parsing and set-up, not the data path) ------------ */

OWN char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}
OWN char *strrchr(const char *s, int c)
{
	const char *last = NULL;

	for (;; s++) {
		if (*s == (char)c)
			last = s;
		if (!*s)
			return (char *)last;
	}
}
OWN int strcmp(const char *a, const char *b)
{
	const unsigned char *x = (const void *)a, *y = (const void *)b;

	while (*x && *x == *y)
		x++, y++;
	return *x - *y;
}
OWN char *strcpy(char *restrict d, const char *restrict s)
{
	char *r = d;

	while ((*d++ = *s++))
		;
	return r;
}
OWN size_t strnlen(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && s[i])
		i++;
	return i;
}
static size_t span(const char *s, const char *set, bool in)
{
	size_t i = 0;

	for (; s[i]; i++)
		if ((strchr(set, s[i]) != NULL) != in)
			break;
	return i;
}
OWN size_t strspn(const char *s, const char *set)
{ return span(s, set, true); }
OWN size_t strcspn(const char *s, const char *set)
{ return span(s, set, false); }
OWN char *strndup(const char *s, size_t n)
{
	const char *z = memchr(s, '\0', n);
	size_t len = z ? (size_t)(z - s) : n;
	char *d = malloc(len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}
OWN char *strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	return d ? memcpy(d, s, n) : NULL;
}
/* strtol: libc's contract (leading space, sign, base 0/8/10/16 and its
 * prefix, LONG_MIN/LONG_MAX and ERANGE on overflow, *end at the first byte
 * not used, at s when there is no number). */
static int digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return 99;
}
OWN long strtol(const char *restrict s, char **restrict end, int base)
{
	const char *p = s;
	unsigned long v = 0, lim;
	bool neg = false, any = false, over = false;

	if (base < 0 || base == 1 || base > 36) {
		errno = EINVAL;
		if (end)
			*end = (char *)s;
		return 0;
	}
	while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
		p++;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if ((base == 0 || base == 16) && p[0] == '0' && (p[1] | 32) == 'x' &&
	    digit(p[2]) < 16) {
		p += 2;
		base = 16;
	} else if (base == 0) {
		base = p[0] == '0' ? 8 : 10;
	}
	lim = neg ? -(unsigned long)LONG_MIN : (unsigned long)LONG_MAX;
	for (int d; (d = digit(*p)) < base; p++) {
		any = true;
		if (over || v > (lim - (unsigned long)d) / (unsigned long)base)
			over = true;
		else
			v = v * (unsigned long)base + (unsigned long)d;
	}
	if (end)
		*end = (char *)(any ? p : s);
	if (over) {
		errno = ERANGE;
		return neg ? LONG_MIN : LONG_MAX;
	}
	return neg ? (long)-v : (long)v;
}

OWN void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *a = d;
	const unsigned char *b = s;

	if (a < b)
		for (size_t i = 0; i < n; i++)
			a[i] = b[i];
	else
		while (n--)
			a[n] = b[n];
	return d;
}

/* --- directories: getdents64 into a buffer, as libc's readdir does -------- */

struct __dirstream {
	int fd;
	size_t at, len;
	char buf[4096] __attribute__((aligned(8)));
};

OWN DIR *opendir(const char *p)
{
	int fd = (int)SYS6(SYS_openat, AT_FDCWD, p,
			   O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, 0, 0);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = malloc(sizeof *d);
	if (!d) {
		sys_close(fd);
		errno = ENOMEM;
		return NULL;
	}
	d->fd = fd;
	d->at = d->len = 0;
	return d;
}
OWN struct dirent *readdir(DIR *d)
{
	struct dirent *e;

	if (d->at >= d->len) {
		long n = SYS3(SYS_getdents64, d->fd, d->buf, sizeof d->buf);

		if (n <= 0)               /* end (errno kept) or error (set) */
			return NULL;
		d->len = (size_t)n;
		d->at = 0;
	}
	e = (struct dirent *)(void *)(d->buf + d->at);
	d->at += e->d_reclen;
	return e;
}
OWN int closedir(DIR *d)
{
	int r = sys_close(d->fd);

	free(d);
	return r;
}
/* snprintf over libc's vsnprintf: the same formatting, one import less. */
OWN int snprintf(char *restrict b, size_t n, const char *restrict f, ...)
{
	va_list ap;
	int r;

	va_start(ap, f);
	r = vsnprintf(b, n, f, ap);
	va_end(ap);
	return r;
}
#endif
