/*
 * stress - many threads hammer the shim while the process forks.
 *
 *   stress [-l] SECONDS THREADS
 *
 * Each worker thread, until the deadline, makes a socket (IPv4 or IPv6,
 * TCP or UDP), maybe sets SO_REUSEADDR, duplicates it (dup, dup2 onto a
 * random number, or fcntl F_DUPFD_CLOEXEC), binds one of the two numbers
 * to loopback port 0, and closes both. The main thread forks now and then;
 * each child binds one socket and exits at once. A timer signal lands on
 * the workers; its handler closes a socket the main thread keeps ready.
 * Every bind() call, in any process, is counted in shared memory.
 *
 * -l (lock): before each bind a worker closes the shim's log fd behind its
 * back (raw syscall), so the next log line reopens the file under the
 * shim's lock; run with a slow open() (tests/fixtures/slowopen.c) forks
 * then happen while that lock is held. Binds are not counted exactly here
 * (a line may be lost to a number closed under the writer).
 *
 * Prints "binds=N forks=N handler_closes=N" and exits 0; a deadlock is
 * ended by alarm() after SECONDS+20 (exit by SIGALRM).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64

struct shared {
	atomic_long binds;
	atomic_long forks;
	atomic_long handler_closes;
};

static struct shared *sh;
static atomic_int victim = -1;
static atomic_bool stop;
static bool lock_mode;
static time_t deadline;

/* A socket the handler may close: close() is async-signal-safe. */
static void on_signal(int sig)
{
	int fd = atomic_exchange(&victim, -1);
	int saved = errno;

	(void)sig;
	if (fd >= 0 && close(fd) == 0)
		atomic_fetch_add(&sh->handler_closes, 1);
	errno = saved;
}

/* The fd whose link names $REUSE_LOG (the shim's log), or -1. */
static int find_log_fd(void)
{
	const char *path = getenv("REUSE_LOG");
	char link[300], target[PATH_MAX];
	DIR *d;
	struct dirent *e;
	int found = -1;

	if (!path || !(d = opendir("/proc/self/fd")))
		return -1;
	while ((e = readdir(d))) {
		ssize_t n;
		snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
		n = readlink(link, target, sizeof target - 1);
		if (n > 0) {
			target[n] = '\0';
			if (strcmp(target, path) == 0)
				found = atoi(e->d_name);
		}
	}
	closedir(d);
	return found;
}

static void bind_one(int fd, int family)
{
	struct sockaddr_storage ss;
	socklen_t len;

	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof *a;
	}
	atomic_fetch_add(&sh->binds, 1);
	bind(fd, (struct sockaddr *)&ss, len);
}

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 7919u + (unsigned)getpid();

	while (!atomic_load(&stop)) {
		int family = rand_r(&seed) & 1 ? AF_INET6 : AF_INET;
		int type = rand_r(&seed) & 1 ? SOCK_DGRAM : SOCK_STREAM;
		int s = socket(family, type, 0), d = -1, one = 1, how;

		if (s < 0)
			continue;
		if (rand_r(&seed) & 1)
			setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		how = rand_r(&seed) % 3;
		if (how == 0)
			d = dup(s);
		else if (how == 1)   /* 100-199: never a number another thread dup2()s onto */
			d = fcntl(s, F_DUPFD_CLOEXEC, 100 + rand_r(&seed) % 100);
		else
			d = dup2(s, 300 + (int)((uintptr_t)arg * 4 + rand_r(&seed) % 4));
		if (lock_mode) {
			int lfd = find_log_fd();
			if (lfd >= 0)
				syscall(SYS_close, lfd);
		}
		bind_one(d >= 0 && (rand_r(&seed) & 1) ? d : s, family);
		if (d >= 0)
			close(d);
		close(s);
	}
	return NULL;
}

/* Child: one socket, one bind, out without running atexit handlers. */
static void child(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s >= 0)
		bind_one(s, AF_INET);
	_exit(0);
}

int main(int argc, char **argv)
{
	pthread_t tid[MAX_THREADS];
	struct sigaction sa = { .sa_handler = on_signal };
	int secs, n, argi = 1;

	if (argc > 1 && strcmp(argv[1], "-l") == 0) {
		lock_mode = true;
		argi++;
	}
	if (argc - argi != 2) {
		fprintf(stderr, "usage: stress [-l] SECONDS THREADS\n");
		return 2;
	}
	secs = atoi(argv[argi]);
	n = atoi(argv[argi + 1]);
	if (secs < 1 || n < 1 || n > MAX_THREADS)
		return 2;
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	alarm((unsigned)secs + 20);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	deadline = time(NULL) + secs;
	for (int i = 0; i < n; i++)
		if (pthread_create(&tid[i], NULL, worker, (void *)(uintptr_t)i))
			return 1;
	for (unsigned i = 0; time(NULL) < deadline; i++) {
		struct timespec pause = { 0, 2000000 };
		int s = atomic_load(&victim) < 0 ? socket(AF_INET6, SOCK_DGRAM, 0) : -1;
		pid_t pid;

		if (s >= 0 && !atomic_compare_exchange_strong(&victim, &(int){ -1 }, s))
			close(s);
		pthread_kill(tid[i % (unsigned)n], SIGUSR1);
		pid = fork();
		if (pid == 0)
			child();
		if (pid > 0) {
			atomic_fetch_add(&sh->forks, 1);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		nanosleep(&pause, NULL);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	printf("binds=%ld forks=%ld handler_closes=%ld\n", atomic_load(&sh->binds),
	       atomic_load(&sh->forks), atomic_load(&sh->handler_closes));
	return 0;
}
