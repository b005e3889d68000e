/*
 * fakehost.c - the fake engine host (fakehost.h) and the helpers the
 * engine's tests share.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakehost.h"
#include "tap.h"
#include "unit.h"

char pol[64];
const int fams[2] = { AF_INET, AF_INET6 };
const unsigned protos[2] = { REUSE_P_TCP, REUSE_P_UDP };

int flag(int fd, int name)
{
	int v = -1;
	socklen_t l = sizeof v;

	if (getsockopt(fd, SOL_SOCKET, name, &v, &l) < 0)
		return -1;
	return v != 0;
}

static struct fake *F(const struct reuse_call *c)
{
	return c->ctx;
}

static bool f_copy_in(const struct reuse_call *c, void *dst, uint64_t src, size_t len)
{
	if (F(c)->fault || !src)
		return false;
	memcpy(dst, (const void *)(uintptr_t)src, len);
	return true;
}

static bool f_copy_out(const struct reuse_call *c, uint64_t dst, const void *src,
		       size_t len)
{
	(void)c;
	memcpy((void *)(uintptr_t)dst, src, len);
	return true;
}

static int f_bind(const struct reuse_call *c, const struct sockaddr *a, socklen_t len)
{
	struct fake *f = F(c);
	struct stat st;
	int r;

	f->binds++;
	f->ra_at_bind = flag(c->sock, SO_REUSEADDR);
	f->rp_at_bind = flag(c->sock, SO_REUSEPORT);
	f->owner_at_bind = fstat(c->sock, &st) == 0 ? (uint32_t)st.st_uid : 0xffffffffu;
	f->bind_len = len;
	if (f->bind_err) {
		errno = f->bind_err;
		return -1;
	}
	r = bind(c->sock, a, len);
	if (r == 0)
		errno = EINTR;            /* noise a success must not show */
	return r;
}

static int f_listen(const struct reuse_call *c, int backlog)
{
	struct fake *f = F(c);
	int r;

	f->listens++;
	f->ra_at_listen = flag(c->sock, SO_REUSEADDR);
	f->rp_at_listen = flag(c->sock, SO_REUSEPORT);
	r = listen(c->sock, backlog);
	if (r == 0)
		errno = EINTR;
	return r;
}

static int f_getsockopt(const struct reuse_call *c, int level, int name, uint64_t val,
			uint64_t lenp)
{
	F(c)->getsockopts++;
	return getsockopt(c->sock, level, name, (void *)(uintptr_t)val,
			  (socklen_t *)(uintptr_t)lenp);
}

static int f_own(const struct reuse_call *c, unsigned proto, uint16_t port,
		 struct reuse_own *out, int max)
{
	struct fake *f = F(c);

	(void)proto;
	(void)port;
	f->owns++;
	if (f->own_fd < 0 || max < 1)
		return 0;
	out[0].fd = dup(f->own_fd);       /* the engine closes it */
	out[0].k = f->own_k;
	return 1;
}

static void f_names(struct reuse_call *c)
{
	c->prog = "unitprog";
	c->exe = "unitexe";
}

static const struct engine_host fake_host = {
	.copy_in = f_copy_in,
	.copy_out = f_copy_out,
	.bind = f_bind,
	.listen = f_listen,
	.getsockopt = f_getsockopt,
	.own_sockets = f_own,
	.install = NULL,
	.names = f_names,
};

/* A fresh socket the program made, with the options it asked before bind()
 * (set on the kernel directly: the engine leaves an undecided socket's
 * options alone and reads them at bind). */
int open_sock(int family, unsigned proto, bool ra, bool rp)
{
	int type = proto == REUSE_P_TCP ? SOCK_STREAM : SOCK_DGRAM;
	int fd = socket(family, type, 0), on = 1;

	if (fd < 0)
		return -1;
	sock_created(fd, family, type, 0);
	/* the options are set here behind the record, as the supervisor's
	 * target would: the engine reads the kernel (`known`, core.h) */
	__atomic_store_n(&sock_get(fd)->known, 0, __ATOMIC_RELAXED);
	if (ra)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	if (rp)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
	return fd;
}

void close_sock(int fd)
{
	sock_forget(fd);
	close(fd);
}

void call_init(struct reuse_call *c, struct fake *f, int fd)
{
	memset(f, 0, sizeof *f);
	f->ra_at_bind = f->rp_at_bind = f->ra_at_listen = f->rp_at_listen = -9;
	f->own_fd = -1;
	memset(c, 0, sizeof *c);
	c->host = &fake_host;
	c->ctx = f;
	c->fd = c->sock = fd;
	c->pidfd = -1;
	c->k = sock_get(fd);
	c->can_call_here = true;
	c->euid = -1;
	c->entry_errno = SENTINEL;
	errno = SENTINEL;
	logcap_clear();
}

/* A loopback address of family on port (0: the kernel picks). */
socklen_t loop_addr(int family, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (family == AF_INET) {
		struct sockaddr_in *in = (void *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof *in;
	}
	struct sockaddr_in6 *in6 = (void *)ss;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	in6->sin6_addr = in6addr_loopback;
	return sizeof *in6;
}

int do_bind(struct reuse_call *c, int family, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = loop_addr(family, port, &ss);

	return engine_bind(c, (uintptr_t)&ss, len);
}

const char *onoff(int v)
{
	return v ? "on" : "off";
}

const char *pname(unsigned proto)
{
	return proto == REUSE_P_TCP ? "tcp" : "udp";
}

const char *where(int family)
{
	return family == AF_INET ? "127.0.0.1:0" : "[::1]:0";
}

/* The only line logged, compared whole (after pid and time stamp). */
bool line_is(const char *want, const char *what)
{
	char body[2048];

	logcap_body(0, body, sizeof body);
	if (logcap_n() == 1 && strcmp(body, want) == 0)
		return ok(true, "%s: the log line", what);
	ok(false, "%s: the log line", what);
	diag("want: %s", want);
	diag("got %zu line(s): %s", logcap_n(), logcap_n() ? logcap_line(0) : "");
	return false;
}
