/*
 * test_fdtable.c - the fd table (src/core/sockets.c): records made, learned,
 * copied by dup, forgotten one by one and by range, a stale record noticed
 * by its inode, the exclusive list, and threads creating, duplicating and
 * closing sockets at once (run under TSan as build-tsan/unit).
 *
 * Fds go up to the file limit through dup2 onto high numbers. The plain
 * build's first level covers 2^20 fds; build-smallfd/unit (`make smallfd`)
 * shrinks it to 256, so the same tests reach the deeper level there.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "tap.h"
#include "unit.h"

static int flagset(int fd, int name)
{
	int on = 1;
	return setsockopt(fd, SOL_SOCKET, name, &on, sizeof on);
}

/* A tracked socket at number `at` (or wherever socket() puts it: -1). */
static int tracked(int family, int type, int at)
{
	int fd = socket(family, type, 0);

	if (fd < 0)
		return -1;
	if (at >= 0 && at != fd) {
		if (dup2(fd, at) < 0) {
			close(fd);
			return -1;
		}
		close(fd);
		fd = at;
	}
	sock_created(fd, family, type, 0);
	return fd;
}

static void forget_close(int fd)
{
	sock_forget(fd);
	close(fd);
}

static long fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < 20000) {
		rl.rlim_cur = rl.rlim_max < 20000 ? rl.rlim_max : 20000;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return (long)rl.rlim_cur;
}

/* The life of one record at fd number `at`. */
static void one_fd(int at)
{
	struct reuse_sock *k, *d;
	int fd = tracked(AF_INET6, SOCK_DGRAM, at), copy;
	int high = at + 1;

	if (!ok(fd == at, "fd %d: a socket there", at))
		return;
	k = sock_get(fd);
	ok(k && k->family == AF_INET6 && k->proto == REUSE_P_UDP && k->rule == SOCK_UNDECIDED &&
	   !k->bound && !k->asked_ra, "fd %d: created record (udp6, undecided)", fd);
	ok(sock_watched(fd), "fd %d: close() watches it", fd);
	if (!k) {
		close(fd);
		return;
	}
	k->rule = 3;
	k->plan = 0x5a;
	k->asked_rp = 1;
	k->exclusive = 1;
	/* dup onto the next number: the copy carries every field */
	copy = dup2(fd, high);
	sock_dup(fd, copy);
	d = sock_get(copy);
	ok(copy == high && d && d != k && d->ino == k->ino && d->rule == 3 && d->plan == 0x5a &&
	   d->asked_rp == 1 && d->exclusive == 1 && d->family == AF_INET6,
	   "fd %d: sock_dup to %d copies the whole record", fd, high);
	/* forget one: the other stays */
	forget_close(fd);
	ok(!sock_get(fd) && sock_get(copy) == d, "fd %d: forgotten, its copy %d kept", fd, copy);
	ok(fd >= (int)SOCK_WATCH_MAX || !(reuse_watch[fd] & WATCH_SOCK),
	   "fd %d: the watch bit cleared", fd);
	forget_close(copy);
	ok(!sock_get(copy), "fd %d: forgotten", copy);
}

static void levels(long limit)
{
	static const int at[] = { 3, 63, 64, 127, 128, 255, 256, 257, 511, 1023, 1024, 1025,
				  4095, 4096, 8191, 16383, 16384, 19990 };
	int n = 0;

	for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
		if (at[i] + 1 < limit) {
			one_fd(at[i]);
			n++;
		}
	diag("fd table: %d numbers tried below the limit %ld", n, limit);
	ok(n >= 8, "fd table: enough high numbers to reach both levels (limit %ld)", limit);

	/* out of range, never allocated, negative: no record, and no crash */
	sock_forget(INT_MAX);
	sock_forget(-5);
	sock_created(-1, AF_INET, SOCK_STREAM, 0);
	sock_dup(-1, INT_MAX);
	ok(!sock_get(-1) && !sock_get_or_add(-1) && !sock_get(INT_MAX) &&
	   !sock_get_or_add(INT_MAX), "fd table: -1 and INT_MAX have no record");
}

static void kinds(void)
{
	int u = socket(AF_UNIX, SOCK_STREAM, 0), p[2];
	int raw = socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP);
	int t;

	sock_created(u, AF_UNIX, SOCK_STREAM, 0);
	ok(!sock_get(u) && !sock_get_or_add(u), "kinds: a Unix socket is not tracked");
	close(u);
	if (raw >= 0) {
		sock_created(raw, AF_INET, SOCK_STREAM, IPPROTO_SCTP);
		ok(!sock_get(raw) && !sock_get_or_add(raw), "kinds: SCTP is not tracked");
		close(raw);
	}
	if (pipe(p) == 0) {
		sock_created(p[0], AF_INET, SOCK_STREAM, 0);
		ok(!sock_get(p[0]) && !sock_get_or_add(p[0]), "kinds: a pipe is not a socket");
		close(p[0]);
		close(p[1]);
	}
	t = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sock_created(t, AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	ok(sock_get(t) && sock_get(t)->proto == REUSE_P_TCP, "kinds: TCP with type flags is");
	forget_close(t);
}

/* A socket the table never saw: learned from the kernel as it is now. */
static void learning(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct reuse_sock *k;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	flagset(fd, SO_REUSEADDR);
	bind(fd, (struct sockaddr *)&in, sizeof in);
	listen(fd, 1);
	ok(!sock_get(fd), "learn: not tracked before");
	k = sock_get_or_add(fd);
	ok(k && k->proto == REUSE_P_TCP && k->family == AF_INET && k->asked_ra == 1 &&
	   k->asked_rp == 0 && k->bound && k->listening && k->rule == SOCK_UNDECIDED,
	   "learn: asked, bound and listening taken from the kernel");
	forget_close(fd);
}

/* The number reused behind the table's back: noticed by the inode. */
static void stale(void)
{
	struct reuse_sock *k;
	int fd = tracked(AF_INET, SOCK_STREAM, -1), again, p[2];

	k = sock_get(fd);
	if (k)
		k->rule = 5;
	close(fd);                             /* no sock_forget: a raw close */
	again = socket(AF_INET6, SOCK_DGRAM, 0);
	ok(again == fd, "stale: the kernel gave the number out again (%d, %d)", fd, again);
	ok(!sock_get(again), "stale: the old record is not the new socket's");
	k = sock_get_or_add(again);
	ok(k && k->family == AF_INET6 && k->proto == REUSE_P_UDP && k->rule == SOCK_UNDECIDED,
	   "stale: learned afresh, nothing of the old record kept");
	close(again);                          /* raw again, then a pipe there */
	if (pipe(p) == 0) {
		ok(!sock_get(p[0] == again ? p[0] : p[1]) &&
		   !sock_get_or_add(p[0] == again ? p[0] : p[1]),
		   "stale: a pipe at the number has no record");
		close(p[0]);
		close(p[1]);
	}
	sock_forget(again);
	/* sock_dup from an untracked fd clears the target */
	fd = tracked(AF_INET, SOCK_STREAM, -1);
	p[0] = socket(AF_INET, SOCK_STREAM, 0);  /* untracked */
	dup2(p[0], fd);
	sock_dup(p[0], fd);
	ok(!sock_get(fd), "dup from an untracked fd: the target's record dropped");
	close(p[0]);
	forget_close(fd);
}

static void ranges(long limit)
{
	int fds[] = { 40, 300, 1500, 5000, 19000 }, n = 0;
	struct timespec t0, t1;
	long us;

	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] < limit && tracked(AF_INET, SOCK_STREAM, fds[i]) == fds[i])
			n++;
	sock_forget_range(41, 4999);
	ok(sock_get(40) && !sock_get(300) && !sock_get(1500) && (n < 4 || sock_get(5000)),
	   "range [41, 4999]: those inside forgotten, 40 and 5000 kept");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sock_forget_range(4999, UINT_MAX);     /* closefrom(4999) */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
	ok(sock_get(40) && !sock_get(5000) && !sock_get(19000),
	   "range [4999, UINT_MAX]: forgotten up to the top");
	ok(us < 200000, "range to UINT_MAX skips missing chunks: %ld us", us);
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] < limit)
			forget_close(fds[i]);
}

static void exclusives(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	socklen_t l = sizeof in;
	int a = tracked(AF_INET, SOCK_DGRAM, -1), b, c, out[8], n;
	uint16_t port;

	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	flagset(a, SO_REUSEADDR);
	bind(a, (struct sockaddr *)&in, sizeof in);
	getsockname(a, (struct sockaddr *)&in, &l);
	port = ntohs(in.sin_port);
	b = tracked(AF_INET, SOCK_DGRAM, -1);
	flagset(b, SO_REUSEADDR);
	bind(b, (struct sockaddr *)&in, sizeof in);
	c = tracked(AF_INET, SOCK_DGRAM, -1);
	/* the records say which sockets are exclusive: no list to add to */
	sock_get(a)->exclusive = sock_get(b)->exclusive = 1;
	n = sock_excl_list(REUSE_P_UDP, port, c, out, 8);
	ok(n == 2 && ((out[0] == a && out[1] == b) || (out[0] == b && out[1] == a)),
	   "exclusive list: both sockets on the port (%d)", n);
	n = sock_excl_list(REUSE_P_UDP, port, a, out, 8);
	ok(n == 1 && out[0] == b, "exclusive list: not the caller's own socket");
	ok(sock_excl_list(REUSE_P_TCP, port, c, out, 8) == 0 &&
	   sock_excl_list(REUSE_P_UDP, (uint16_t)(port + 1), c, out, 8) == 0,
	   "exclusive list: another proto or port: none");
	forget_close(a);
	n = sock_excl_list(REUSE_P_UDP, port, c, out, 8);
	ok(n == 1 && out[0] == b, "exclusive list: a closed socket drops out");
	forget_close(b);
	forget_close(c);
	ok(sock_excl_list(REUSE_P_UDP, port, -1, out, 8) == 0, "exclusive list: empty again");
	/* dup2 to another number: the socket is still found, once */
	a = tracked(AF_INET, SOCK_DGRAM, -1);
	flagset(a, SO_REUSEADDR);
	bind(a, (struct sockaddr *)&in, sizeof in);
	sock_get(a)->exclusive = 1;
	b = fcntl(a, F_DUPFD, 700);
	sock_dup(a, b);
	forget_close(a);
	c = tracked(AF_INET, SOCK_DGRAM, -1);
	n = sock_excl_list(REUSE_P_UDP, port, c, out, 8);
	ok(n == 1 && out[0] == b, "exclusive list: found at the number dup2 moved it to (%d)", n);
	forget_close(b);
	forget_close(c);
}

/* ---- threads ------------------------------------------------------------- */

#define THREADS 4
static atomic_int wrong;
static int rounds;

/* Each thread makes sockets of its own kind, duplicates and closes them;
 * the numbers pass from thread to thread as the kernel reuses them. A
 * thread's own open fd must always show the record it made. */
static void *churn(void *arg)
{
	long id = (long)arg;
	int family = id & 1 ? AF_INET6 : AF_INET, type = id & 2 ? SOCK_DGRAM : SOCK_STREAM;
	unsigned proto = type == SOCK_DGRAM ? REUSE_P_UDP : REUSE_P_TCP;

	for (int i = 0; i < rounds; i++) {
		int fd = socket(family, type, 0), d;
		struct reuse_sock *k;

		if (fd < 0)
			continue;
		sock_created(fd, family, type, 0);
		k = sock_get(fd);
		if (!k || k->family != family || k->proto != proto) {
			atomic_fetch_add(&wrong, 1);
			forget_close(fd);
			continue;
		}
		k->rule = (int32_t)id;
		k->asked_ra = (uint8_t)(i & 1);
		d = i % 3 == 0 ? fcntl(fd, F_DUPFD, 1000 + (int)id * 50) : dup(fd);
		if (d >= 0) {
			sock_dup(fd, d);
			k = sock_get(d);
			if (!k || k->family != family || k->rule != (int32_t)id ||
			    k->asked_ra != (i & 1))
				atomic_fetch_add(&wrong, 1);
		}
		if (i % 5 == 0) {
			forget_close(fd);
			if (d >= 0)
				forget_close(d);
		} else {
			/* the range path on this thread's block of high fds */
			forget_close(fd);
			if (d >= 0) {
				if (d >= 1000)
					sock_forget_range((unsigned)d, (unsigned)d);
				else
					sock_forget(d);
				close(d);
			}
		}
		if (i % 64 == 0)
			(void)sock_get_or_add(0);      /* not a socket: a lookup only */
	}
	return NULL;
}

static void threads(void)
{
	pthread_t t[THREADS];
	struct timespec t0, t1;
	const char *r = getenv("REUSE_UNIT_ROUNDS");

	rounds = r ? atoi(r) : 3000;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, churn, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ok(atomic_load(&wrong) == 0, "threads: %d x %d sockets made, duplicated, closed; every own lookup right (%d wrong, %ld ms)",
	   THREADS, rounds, atomic_load(&wrong),
	   (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
}

void test_fdtable(void)
{
	long limit = fd_limit();

	levels(limit);
	kinds();
	learning();
	stale();
	ranges(limit);
	exclusives();
	threads();
}
