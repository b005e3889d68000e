/*
 * attackitems - the victims of tests/attack/items.bats and closed.bats (issue
 * 14), one mode each; every mode prints key=value lines, "ready" when the
 * attacker may try, and holds its sockets SECS seconds where it says so.
 * kernel_ra/kernel_rp are read with a raw system call the library cannot see
 * (--seccomp sees it: there they are the program's view).
 *
 *   hold PROTO ADDR PORT SECS OPTS     bind (TCP/MPTCP: listen); OPTS none|ra|rp|rarp
 *   sendfd PATH PROTO ADDR PORT        bind, pass the socket over unix socket PATH
 *   adopt scm PATH SECS | adopt pidfd PID FD SECS | adopt inherit FD SECS
 *                                      meet a bound socket, set SO_REUSEADDR=1, hold
 *   bindexec PROTO ADDR PORT CMD...    bind, exec CMD (an argument "FD" becomes the fd)
 *   v6len LEN PORT                     bind [::1]:PORT with address length LEN
 *   sigbind SECS PORT [USEC]           bind in a loop, and from a timer's handler (100 us)
 *   efault PORT                        bind with bytes 16-19 unmapped, getsockopt read-only
 *   lendtcp PORT                       own TCP bind beside an exclusive listener
 *   cycles N PORT                      N UDP bind/close cycles: VmRSS growth
 *   dup2own PORT                       own overlapping bind after dup2 moved the first
 *   timerbind N USEC restart|norestart PORT   N binds under an interval timer
 *   forget PORT N SECS                 bind in a thread that exits, N other binds, then RA=1
 *   shut PORT OPTS SECS                TCP listener, shutdown(SHUT_RDWR), hold
 *   drain PORT OPTS SECS [HOW]         TCP listener closed while an accepted connection lives;
 *                                      HOW close (default), dup2 (a UDP socket onto it) or
 *                                      close_range
 *   sendto PORT SECS                   UDP client with RA: sendto() binds it implicitly
 *   accepted PORT                      getsockopt(SO_REUSEADDR) of an accepted socket
 *   dupopt PORT                        option set through a dup, read through the original
 *   landlock ALLOW PORT                Landlock allows TCP bind on ALLOW only; bind PORT
 *   lender PROTO PORT N DONE           0.0.0.0:PORT, then after 0.3 s N own binds of
 *                                      127.0.0.1:PORT 1 ms apart (each a lend); creates DONE
 *   spinner PROTO PORT SECS DONE       bind 127.0.0.1:PORT with RA in a loop until DONE
 *                                      exists: wins, windows
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/landlock.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static const char *en(int rc)
{
	const char *n;

	if (rc == 0)
		return "ok";
	n = strerrorname_np(errno);
	return n ? n : "E?";
}

static int raw_flag(int fd, int name)
{
	int v = -1;
	socklen_t l = sizeof v;

	syscall(SYS_getsockopt, fd, SOL_SOCKET, name, &v, &l);
	return v;
}

static void set(int fd, int name, int v)
{
	setsockopt(fd, SOL_SOCKET, name, &v, sizeof v);
}

static socklen_t addr_of(const char *text, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (strchr(text, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, text, &s6->sin6_addr);
		return sizeof *s6;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, text, &s4->sin_addr);
	return sizeof *s4;
}

/* A socket of PROTO (tcp|udp|mptcp) for ADDR with OPTS asked, bound. */
static int bound(const char *proto, const char *addr, int port, const char *opts,
		 int *rc)
{
	struct sockaddr_storage ss;
	socklen_t len = addr_of(addr, port, &ss);
	int udp = !strcmp(proto, "udp");
	int fd = socket(ss.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM,
			!strcmp(proto, "mptcp") ? IPPROTO_MPTCP : 0);

	if (fd < 0) {
		printf("socket=%s\n", en(-1));
		exit(3);
	}
	if (strstr(opts, "ra"))
		set(fd, SO_REUSEADDR, 1);
	if (strstr(opts, "rp"))
		set(fd, SO_REUSEPORT, 1);
	*rc = bind(fd, (struct sockaddr *)&ss, len);
	return fd;
}

static void ready(int fd)
{
	if (fd >= 0)
		printf("kernel_ra=%d kernel_rp=%d fd=%d\n", raw_flag(fd, SO_REUSEADDR),
		       raw_flag(fd, SO_REUSEPORT), fd);
	printf("ready\n");
	fflush(stdout);
}

static int hold(char **a)
{
	int rc, fd = bound(a[0], a[1], atoi(a[2]), a[4], &rc);

	printf("bind=%s\n", en(rc));
	if (rc == 0 && strcmp(a[0], "udp")) {
		rc = listen(fd, 64);
		printf("listen=%s\n", en(rc));
	}
	ready(fd);
	sleep((unsigned)atoi(a[3]));
	return 0;
}

static int unix_sock(const char *path, int serve)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0), c;

	snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
	if (serve) {
		if (bind(fd, (struct sockaddr *)&un, sizeof un) < 0 || listen(fd, 1) < 0)
			return -1;
		printf("listening\n");
		fflush(stdout);
		c = accept(fd, NULL, NULL);
		close(fd);
		return c;
	}
	for (int i = 0; i < 200; i++) {
		if (connect(fd, (struct sockaddr *)&un, sizeof un) == 0)
			return fd;
		usleep(25000);
	}
	return -1;
}

static int sendfd(char **a)
{
	int rc, s = bound(a[1], a[2], atoi(a[3]), "none", &rc), u = unix_sock(a[0], 0);
	char byte = 'x', cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof cbuf };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

	printf("bind=%s\n", en(rc));
	if (u < 0)
		return 1;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &s, sizeof s);
	printf("sent=%s\n", en(sendmsg(u, &m, 0) == 1 ? 0 : -1));
	return 0;
}

static int adopt(int argc, char **a)
{
	int fd = -1, secs;

	if (!strcmp(a[0], "scm") && argc >= 3) {
		char byte, cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { &byte, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				    .msg_controllen = sizeof cbuf };
		int u = unix_sock(a[1], 1);
		if (u >= 0 && recvmsg(u, &m, 0) == 1 && CMSG_FIRSTHDR(&m))
			memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
		secs = atoi(a[2]);
	} else if (!strcmp(a[0], "pidfd") && argc >= 4) {
		int p = (int)syscall(SYS_pidfd_open, atoi(a[1]), 0);
		fd = (int)syscall(SYS_pidfd_getfd, p, atoi(a[2]), 0);
		secs = atoi(a[3]);
	} else if (!strcmp(a[0], "inherit") && argc >= 3) {
		fd = atoi(a[1]);
		secs = atoi(a[2]);
	} else {
		return 2;
	}
	printf("got=%s\n", fd >= 0 ? "ok" : "no");
	if (fd < 0)
		return 1;
	int one = 1;
	printf("set=%s\n", en(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)));
	ready(fd);
	sleep((unsigned)secs);
	return 0;
}

static int bindexec(char **a)
{
	int rc, fd = bound(a[0], a[1], atoi(a[2]), "none", &rc);
	char num[16];

	snprintf(num, sizeof num, "%d", fd);
	for (char **p = a + 3; *p; p++)
		if (!strcmp(*p, "FD"))
			*p = num;
	fflush(stdout);
	execvp(a[3], a + 3);
	return 127;
}

static int v6len(char **a)
{
	struct sockaddr_storage ss;
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);

	addr_of("::1", atoi(a[1]), &ss);
	printf("bind=%s\n", en(bind(fd, (struct sockaddr *)&ss, (socklen_t)atoi(a[0]))));
	return 0;
}

/* ---- signals and timers -------------------------------------------------- */

static volatile sig_atomic_t handler_binds, handler_fails, sig_port;

static void bind_in_handler(int sig)
{
	int saved = errno, rc, fd;

	(void)sig;
	fd = bound("udp", "127.0.0.1", sig_port, "ra", &rc);
	handler_binds++;
	if (rc)
		handler_fails++;
	close(fd);
	errno = saved;
}

static void timer(long usec, void (*h)(int), int restart)
{
	struct sigaction sa = { .sa_handler = h, .sa_flags = restart ? SA_RESTART : 0 };
	struct itimerval it = { { 0, usec }, { 0, usec } };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static int sigbind(char **a)
{
	double end = now() + atof(a[0]);
	long binds = 0, fails = 0;
	int rc, fd;

	sig_port = atoi(a[1]) ? atoi(a[1]) + 1 : 0;
	timer(a[2] ? atol(a[2]) : 100, bind_in_handler, 1);
	while (now() < end) {
		fd = bound("udp", "127.0.0.1", atoi(a[1]), "ra", &rc);
		binds++;
		fails += rc != 0;
		close(fd);
	}
	timer(0, SIG_IGN, 1);
	printf("binds=%ld fails=%ld handler_binds=%d handler_fails=%d\n", binds, fails,
	       (int)handler_binds, (int)handler_fails);
	return 0;
}

static void nothing(int sig)
{
	(void)sig;
}

static int timerbind(char **a)
{
	long n = atol(a[0]), fails = 0, einval = 0, eintr = 0, other = 0;
	int rc, fd;

	timer(atol(a[1]), nothing, !strcmp(a[2], "restart"));
	for (long i = 0; i < n; i++) {
		fd = bound("udp", "127.0.0.1", atoi(a[3]), "none", &rc);
		if (rc) {
			fails++;
			*(errno == EINVAL ? &einval : errno == EINTR ? &eintr : &other) += 1;
		}
		close(fd);
	}
	timer(0, SIG_IGN, 1);
	printf("binds=%ld fails=%ld einval=%ld eintr=%ld other=%ld\n", n, fails, einval, eintr,
	       other);
	return 0;
}

/* ---- memory and fds -------------------------------------------------------- */

static int efault(char **a)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct sockaddr_storage ss;
	socklen_t len = addr_of("127.0.0.1", atoi(a[0]), &ss);
	int fd = socket(AF_INET, SOCK_DGRAM, 0), *ro;
	socklen_t *rol;

	memcpy(m + pg - 16, &ss, 16);
	mprotect(m + pg, (size_t)pg, PROT_NONE);
	printf("bind20=%s\n", en(bind(fd, (struct sockaddr *)(m + pg - 16), 20)));
	printf("bind16=%s\n", en(bind(fd, (struct sockaddr *)&ss, len)));
	ro = (int *)(m + pg - 16);
	rol = (socklen_t *)(m + pg - 8);
	*rol = sizeof(int);
	*ro = 7;
	mprotect(m, (size_t)pg, PROT_READ);
	printf("getsockopt_ro=%s value=%d\n", en(getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, ro, rol)),
	       *ro);
	return 0;
}

static int lendtcp(char **a)
{
	int rc, port = atoi(a[0]);
	int l = bound("tcp", "0.0.0.0", port, "ra", &rc);

	printf("bind_listener=%s listen=%s\n", en(rc), en(listen(l, 16)));
	printf("listener_ra_before=%d\n", raw_flag(l, SO_REUSEADDR));
	int s = bound("tcp", "127.0.0.1", port, "ra", &rc);
	printf("bind_own=%s\n", en(rc));
	printf("listener_ra_after=%d\n", raw_flag(l, SO_REUSEADDR));
	close(s);
	return 0;
}

static long rss_kb(void)
{
	char buf[4096];
	FILE *f = fopen("/proc/self/status", "r");
	long kb = -1;

	while (f && fgets(buf, sizeof buf, f))
		if (sscanf(buf, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static int cycles(char **a)
{
	long n = atol(a[0]), fails = 0, before = 0;
	int rc, fd;

	for (long i = 0; i < n + 2000; i++) {
		if (i == 2000)
			before = rss_kb();
		fd = bound("udp", "127.0.0.1", atoi(a[1]), "none", &rc);
		if (rc && !fails++)
			printf("first_fail=%ld fd=%d errno=%s\n", i, fd, en(rc));
		close(fd);
	}
	printf("cycles=%ld fails=%ld rss_growth_kb=%ld\n", n, fails, rss_kb() - before);
	return 0;
}

static int dup2own(char **a)
{
	int rc, port = atoi(a[0]);
	int first = bound("udp", "0.0.0.0", port, "ra", &rc);

	printf("bind_first=%s\n", en(rc));
	printf("dup2=%s\n", en(dup2(first, 100) == 100 ? 0 : -1));
	close(first);
	bound("udp", "127.0.0.1", port, "ra", &rc);
	printf("bind_own=%s\n", en(rc));
	return 0;
}

/* ---- the open items ---------------------------------------------------------- */

static int thread_fd = -1, thread_port;

static void *thread_bind(void *x)
{
	int rc;

	(void)x;
	thread_fd = bound("udp", "127.0.0.1", thread_port, "none", &rc);
	printf("thread_bind=%s\n", en(rc));
	return NULL;
}

static int forget(char **a)
{
	pthread_t t;
	long n = atol(a[1]);
	int rc, fd, one = 1;

	thread_port = atoi(a[0]);
	pthread_create(&t, NULL, thread_bind, NULL);
	pthread_join(t, NULL);
	for (long i = 0; i < n; i++) {
		fd = bound("udp", "127.0.0.1", 0, "none", &rc);
		close(fd);
	}
	printf("set=%s\n", en(setsockopt(thread_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)));
	ready(thread_fd);
	sleep((unsigned)atoi(a[2]));
	return 0;
}

static int shut(char **a)
{
	int rc, fd = bound("tcp", "127.0.0.1", atoi(a[0]), a[1], &rc);

	printf("bind=%s listen=%s\n", en(rc), en(listen(fd, 16)));
	printf("shutdown=%s\n", en(shutdown(fd, SHUT_RDWR)));
	ready(fd);
	sleep((unsigned)atoi(a[2]));
	return 0;
}

/* a listener closed while its accepted connection still drains */
static int drain(char **a)
{
	struct sockaddr_storage ss;
	socklen_t len = addr_of("127.0.0.1", atoi(a[0]), &ss);
	int rc, l = bound("tcp", "127.0.0.1", atoi(a[0]), a[1], &rc), c, s;

	printf("bind=%s listen=%s\n", en(rc), en(listen(l, 4)));
	c = socket(AF_INET, SOCK_STREAM, 0);
	printf("connect=%s\n", en(connect(c, (struct sockaddr *)&ss, len)));
	s = accept(l, NULL, NULL);
	if (a[3] && !strcmp(a[3], "dup2")) {
		int z = socket(AF_INET, SOCK_DGRAM, 0);
		dup2(z, l);
		close(z);
	} else if (a[3] && !strcmp(a[3], "close_range")) {
		close_range((unsigned)l, (unsigned)l, 0);
	} else {
		close(l);
	}
	ready(-1);      /* no getsockopt: --seccomp would meet s there */
	sleep((unsigned)atoi(a[2]));
	close(s);
	close(c);
	return 0;
}

static int sendto_client(char **a)
{
	struct sockaddr_storage ss, me;
	socklen_t len = addr_of("127.0.0.1", atoi(a[0]), &ss), ml = sizeof me;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	set(fd, SO_REUSEADDR, 1);
	printf("sendto=%s\n", en(sendto(fd, "q", 1, 0, (struct sockaddr *)&ss, len) == 1 ? 0 : -1));
	getsockname(fd, (struct sockaddr *)&me, &ml);
	printf("port=%d\n", ntohs(((struct sockaddr_in *)&me)->sin_port));
	ready(-1);      /* no getsockopt: --seccomp would meet the socket there */
	sleep((unsigned)atoi(a[1]));
	return 0;
}

static int accepted(char **a)
{
	struct sockaddr_storage ss;
	socklen_t len = addr_of("127.0.0.1", atoi(a[0]), &ss);
	int rc, l = bound("tcp", "127.0.0.1", atoi(a[0]), "none", &rc), c, v = -1;
	socklen_t vl = sizeof v;

	printf("bind=%s listen=%s\n", en(rc), en(listen(l, 4)));
	c = socket(AF_INET, SOCK_STREAM, 0);
	printf("connect=%s\n", en(connect(c, (struct sockaddr *)&ss, len)));
	int s = accept(l, NULL, NULL);
	getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, &vl);
	printf("accepted_seen_ra=%d accepted_kernel_ra=%d\n", v, raw_flag(s, SO_REUSEADDR));
	return 0;
}

static int dupopt(char **a)
{
	int rc, fd = bound("udp", "127.0.0.1", atoi(a[0]), "none", &rc), d = dup(fd);
	int v = -1;
	socklen_t vl = sizeof v;

	printf("bind=%s\n", en(rc));
	set(d, SO_REUSEADDR, 1);
	set(d, SO_REUSEPORT, 1);
	getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, &vl);
	printf("orig_seen_ra=%d", v);
	getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &v, &vl);
	printf(" orig_seen_rp=%d kernel_ra=%d kernel_rp=%d\n", v, raw_flag(fd, SO_REUSEADDR),
	       raw_flag(fd, SO_REUSEPORT));
	return 0;
}

static int landlock(char **a)
{
	/* the ABI 4 structures, spelled out: older headers lack the net fields */
	struct { uint64_t fs, net; } ra = { 0, 1 /* LANDLOCK_ACCESS_NET_BIND_TCP */ };
	struct __attribute__((packed)) { uint64_t allowed, port; } np = { 1, (uint64_t)atoi(a[0]) };
	int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
			       LANDLOCK_CREATE_RULESET_VERSION), rs, rc;

	if (abi < 4) {
		printf("landlock=unsupported\n");
		return 0;
	}
	rs = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof ra, 0);
	if (rs < 0 || syscall(SYS_landlock_add_rule, rs, 2 /* LANDLOCK_RULE_NET_PORT */, &np, 0) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_landlock_restrict_self, rs, 0) < 0) {
		printf("landlock=%s\n", en(-1));
		return 1;
	}
	bound("tcp", "127.0.0.1", atoi(a[1]), "none", &rc);
	printf("landlock=ok bind=%s\n", en(rc));
	return 0;
}

static int lender(char **a)
{
	int rc, port = atoi(a[1]), fails = 0;
	long n = atol(a[2]);
	int first = bound(a[0], "0.0.0.0", port, "ra", &rc);
	double t0;

	printf("bind_first=%s\n", en(rc));
	ready(-1);
	usleep(300000);            /* the spinner is spinning by then */
	t0 = now();
	for (long i = 0; i < n; i++) {
		int fd = bound(a[0], "127.0.0.1", port, "ra", &rc);
		fails += rc != 0;
		close(fd);
		usleep(1000);
	}
	printf("lends=%ld fails=%d ms=%.0f\n", n, fails, (now() - t0) * 1000);
	fflush(stdout);
	fclose(fopen(a[3], "w"));  /* the spinner stops */
	sleep(1);                  /* still held while it does */
	close(first);
	return 0;
}

/* wins: binds that succeeded; windows: runs of wins less than 300 us
 * apart (the lender paces its lends 1 ms apart: one run, one lend won) */
static int spinner(char **a)
{
	double end = now() + atof(a[2]), last = 0, t;
	long tries = 0, wins = 0, windows = 0;
	int rc, tcp = strcmp(a[0], "udp") != 0;

	while ((t = now()) < end && (tries % 256 || access(a[3], F_OK) < 0)) {
		int fd = bound(a[0], "127.0.0.1", atoi(a[1]), "ra", &rc);
		tries++;
		if (rc == 0) {
			wins++;     /* bound: the address is taken, whatever listen() says */
			windows += t - last > 300e-6;
			last = now();
			if (tcp)
				listen(fd, 1);
		}
		close(fd);
	}
	printf("tries=%ld wins=%ld windows=%ld\n", tries, wins, windows);
	return 0;
}

static const struct {
	const char *name;
	int args;
	int (*run)(char **a);
} modes[] = {
	{ "hold", 5, hold }, { "sendfd", 4, sendfd }, { "bindexec", 4, bindexec },
	{ "v6len", 2, v6len }, { "sigbind", 2, sigbind }, { "efault", 1, efault },
	{ "lendtcp", 1, lendtcp }, { "cycles", 2, cycles }, { "dup2own", 1, dup2own },
	{ "timerbind", 4, timerbind }, { "forget", 3, forget }, { "shut", 3, shut },
	{ "drain", 3, drain }, { "sendto", 2, sendto_client }, { "accepted", 1, accepted }, { "dupopt", 1, dupopt },
	{ "landlock", 2, landlock }, { "lender", 4, lender }, { "spinner", 4, spinner },
};

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && !strcmp(argv[1], "adopt"))
		return adopt(argc - 2, argv + 2);
	for (size_t i = 0; argc >= 2 && i < sizeof modes / sizeof modes[0]; i++)
		if (!strcmp(argv[1], modes[i].name) && argc - 2 >= modes[i].args)
			return modes[i].run(argv + 2);
	fprintf(stderr, "usage: see the comment at the top of attackitems.c\n");
	return 2;
}
