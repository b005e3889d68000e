/*
 * host.c - the preloaded library as a host of the engine (core/host.h):
 * the program's memory is our own, its calls are the next definitions
 * (real.h), its sockets are the fd table's (core/sockets.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/stat.h>
#include <stdio.h>
#include <sys/uio.h>

#include "shim/host.h"

/*
 * copy_in - copy len bytes the program handed us; false if the memory is
 * not readable (the kernel's copy would say EFAULT). Memory on this
 * thread's stack between copy_in's frame and the page of the wrapper's
 * return address (c->ctx, the wrapper's frame, shim_call) is mapped and
 * readable: the thread ran through it to get here. An address there (the
 * program's local sockaddr, most often) is a plain memcpy; any other is
 * copied by the kernel, which refuses what it would refuse the program.
 * Pages are taken as 4 KiB, the smallest: a bound on a smaller page is
 * still inside the larger one.
 */
static bool copy_in(const struct reuse_call *c, void *dst, uint64_t src, size_t len)
{
	uintptr_t lo = (uintptr_t)__builtin_frame_address(0) & ~(uintptr_t)4095;
	uintptr_t hi = (((uintptr_t)c->ctx + 2 * sizeof(void *) - 1) | 4095) + 1;
	struct iovec local = { dst, len }, remote = { (void *)(uintptr_t)src, len };
	ssize_t n;

	if (c->ctx && src >= lo && src + len >= src && src + len <= hi) {
		/* the usual sizes, sockaddr_in and sockaddr_in6, copied inline */
		if (len == sizeof(struct sockaddr_in))
			memcpy(dst, (const void *)(uintptr_t)src, sizeof(struct sockaddr_in));
		else if (len == sizeof(struct sockaddr_in6))
			memcpy(dst, (const void *)(uintptr_t)src, sizeof(struct sockaddr_in6));
		else
			memcpy(dst, (const void *)(uintptr_t)src, len);
		return true;
	}
	if (!src)
		return false;
	n = sys_read_self(&local, &remote);
	if (n == (ssize_t)len)
		return true;
	if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
		/* a sandbox forbids it: trust the pointer as libc would */
		memcpy(dst, (const void *)(uintptr_t)src, len);
		return true;
	}
	return false;
}

/* Only ever called where the kernel has just written the same bytes
 * (getsockopt's value): they are writable. */
static bool copy_out(const struct reuse_call *c, uint64_t dst, const void *src, size_t len)
{
	(void)c;
	memcpy((void *)(uintptr_t)dst, src, len);
	return true;
}

static int host_bind(const struct reuse_call *c, const struct sockaddr *a, socklen_t len)
{
	return real_bind(c->fd, a, len);
}

static int host_listen(const struct reuse_call *c, int backlog)
{
	return real_listen(c->fd, backlog);
}

static int host_getsockopt(const struct reuse_call *c, int level, int name, uint64_t val,
			   uint64_t lenp)
{
	return real_getsockopt(c->fd, level, name, (void *)(uintptr_t)val,
			       (socklen_t *)(uintptr_t)lenp);
}

/* A duplicate of fd at a high number, if fd is still the socket with ino. */
static int dup_checked(int fd, uint64_t ino)
{
	struct stat st;
	int d = fd_dup_high(fd);

	if (d >= 0 && (sys_fstat(d, &st) < 0 || (uint64_t)st.st_ino != ino)) {
		sys_close(d);
		d = -1;
	}
	return d;
}

static int own_sockets(const struct reuse_call *c, unsigned proto, uint16_t port,
		       struct reuse_own *out, int max)
{
	int fds[LEND_MAX], n, m = 0;

	if (max > LEND_MAX)
		max = LEND_MAX;
	n = sock_excl_list(proto, port, c->fd, fds, max);
	for (int i = 0; i < n; i++) {
		struct reuse_sock *o = sock_get(fds[i]);
		int d;

		if (o && (d = dup_checked(fds[i], o->ino)) >= 0) {
			out[m].fd = d;
			out[m++].k = o;
		}
	}
	return m;
}

/*
 * install - put the received socket r at the program's fd number (dup3,
 * keeping the program's close-on-exec choice), non-blocking if the
 * program asked (that flag lives on the open file, which both holders
 * share: it is set, never cleared; a change is said in note). The record is learned anew
 * and keeps the rule and what the program asked.
 */
static struct reuse_sock *install(struct reuse_call *c, int r, char *note, size_t nlen)
{
	struct reuse_sock was = *c->k, *nk;
	int fd = c->fd, fdflags = sys_fcntl(fd, F_GETFD, 0), want = sys_fcntl(fd, F_GETFL, 0);
	int fl;
	struct stat st;

	note[0] = '\0';
	if (fdflags < 0 || want < 0 ||
	    sys_dup3(r, fd, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		int err = errno;
		sys_close(r);
		errno = err;
		return NULL;
	}
	sys_close(r);
	fl = sys_fcntl(fd, F_GETFL, 0);
	/* set, never cleared: the other holder (the running instance, or the
	 * activator's program) may wait in a non-blocking event loop, which a
	 * blocking accept() would stall; a program that sets O_NONBLOCK after
	 * listen() (redis) does so on the shared file anyway */
	if (fl >= 0 && (want & O_NONBLOCK) && !(fl & O_NONBLOCK)) {
		sys_fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		snprintf(note, nlen, "; O_NONBLOCK set as this program asked (the flag lives on the open file, which the socket's other holder shares)");
	}
	sock_forget(fd);
	nk = sock_get_or_add(fd);
	if (!nk)
		return NULL;
	nk->rule = was.rule;
	nk->log = was.log;
	nk->asked_ra = was.asked_ra;
	nk->asked_rp = was.asked_rp;
	nk->bound = 1;
	if (sys_fstat(fd, &st) == 0 && reuse_key_owner((uint32_t)st.st_uid, &nk->owner))
		nk->keyed = 1;
	c->k = nk;
	return nk;
}

static void asked_changed(const struct reuse_call *c)
{
	sock_sync(c->k);
}

static const struct reuse_sock *listener(const struct reuse_call *c, uint16_t port)
{
	(void)c;
	return sock_listener(port);
}

static void names(struct reuse_call *c)
{
	c->prog = reuse_cfg.prog;
	c->exe = reuse_cfg.exe;
}

void shim_bound_late(struct reuse_call *c)
{
	int saved = errno;

	c->k->bound = 0;
	engine_connected(c, 0, 0);
	errno = saved;
}

const struct engine_host shim_host = {
	.copy_in = copy_in,
	.copy_out = copy_out,
	.bind = host_bind,
	.listen = host_listen,
	.getsockopt = host_getsockopt,
	.own_sockets = own_sockets,
	.install = install,
	.asked_changed = asked_changed,
	.listener = listener,
	.names = names,
};
