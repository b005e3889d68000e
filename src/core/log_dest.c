/*
 * log_dest.c - where the log's lines go, and the one write(2) of each.
 *
 * REUSE_LOG=stderr (default) | syslog | off | /path (append);
 * REUSE_LOG_FORMAT=text (default) | json. In a secure-execution process the
 * environment is ignored and the log goes to syslog.
 *
 * The fd is our own (see ownfd.c): checked against its identity before each
 * write, so a number the program reused is never written into. Writes
 * never raise SIGPIPE in the host and never change errno.
 *
 * stderr is the program's, not ours: no copy of fd 2 is kept. A daemon
 * that closes its fds, or points 2 at /dev/null, lets go of the caller's
 * pipe, and a held copy would keep `out=$(daemon 2>&1)` waiting for its
 * whole life. Each line duplicates fd 2 for one write instead, and is
 * written only while fd 2 is still the file it was at start-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "core/core.h"
#include "core/lock.h"
#include "core/log_dest.h"
#include "core/sys.h"

enum log_dest log_dest = DEST_STDERR;
bool log_json;
static _Atomic int log_fd = -1;
/* Identity of the log file: atomics, as a reopen (under the lock) changes
 * them while other threads check them without it (fd_still_ours). */
static _Atomic uint64_t log_ino;
static _Atomic uint32_t log_dev;
static char log_path[512];
/* DEST_STDERR: fd 2's identity is known (log_ino/log_dev); err_tmp is the
 * duplicate one line is being written through, ours for that time (one
 * writer at a time claims it: err_busy; another uses a plain duplicate). */
static _Atomic bool err_live;
static _Atomic int err_tmp = -1;
static atomic_flag err_busy = ATOMIC_FLAG_INIT;

/* Identity of the fd we opened, to notice it was closed and reused. */
static bool fd_still_ours(int fd, struct stat *st)
{
	return sys_fstat(fd, st) == 0 && (uint64_t)st->st_ino == atomic_load(&log_ino) &&
	       (uint32_t)st->st_dev == atomic_load(&log_dev);
}

static void adopt_fd(int fd)
{
	struct stat st;

	fd = fd_move_high(fd);
	if (fd >= 0 && sys_fstat(fd, &st) == 0) {
		atomic_store(&log_ino, (uint64_t)st.st_ino);
		atomic_store(&log_dev, (uint32_t)st.st_dev);
	}
	fd_note_ours(fd);
	atomic_store(&log_fd, fd);
}

static int open_file(void)
{
	/* O_NONBLOCK: a FIFO with no reader must not block the host program. */
	return open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
			      O_NOCTTY | O_NONBLOCK, 0644);
}

static int open_syslog(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = sys_socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	strcpy(sun.sun_path, "/dev/log");
	if (sys_connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		sys_close(fd);
		return -1;
	}
	return fd;
}

/* stderr: remember what fd 2 is now; lines go there while it stays so. */
static void stderr_init(void)
{
	struct stat st;
	static bool marked;

	atomic_store(&err_live, false);
	if (sys_fstat(2, &st) < 0)
		return;
	atomic_store(&log_ino, (uint64_t)st.st_ino);
	atomic_store(&log_dev, (uint32_t)st.st_dev);
	atomic_store(&err_live, true);
	if (!marked) {
		fd_mark_ours(&err_tmp);
		marked = true;
	}
}

/*
 * log_init - pick the destination once, at start-up. A destination that
 * cannot be opened falls back to stderr with one warning line.
 */
void log_init(void)
{
	const char *d = reuse_cfg.secure ? "syslog" : getenv("REUSE_LOG");
	const char *f = config_env("REUSE_LOG_FORMAT");
	const char *why = NULL;
	int fd = -1;

	log_json = f && strcmp(f, "json") == 0;
	if (!d || !*d || strcmp(d, "stderr") == 0) {
		log_dest = DEST_STDERR;
	} else if (strcmp(d, "syslog") == 0) {
		log_dest = DEST_SYSLOG;
		fd = open_syslog();
	} else if (strcmp(d, "off") == 0) {
		log_dest = DEST_NONE;
	} else if (strlen(d) >= sizeof log_path || d[0] != '/') {
		why = "REUSE_LOG must be stderr, syslog, off or an absolute path";
	} else {
		log_dest = DEST_FILE;
		strcpy(log_path, d);
		fd = open_file();
		if (fd < 0)
			why = strerror(errno);
	}
	if (why)
		log_dest = DEST_STDERR;
	if (log_dest == DEST_STDERR)
		stderr_init();
	if (fd >= 0) {
		adopt_fd(fd);
		fd_mark_ours(&log_fd);
	}
	if (f && *f && strcmp(f, "json") != 0 && strcmp(f, "text") != 0)
		log_text("REUSE_LOG_FORMAT='%.40s' is not text or json; using text", f);
	if (why)
		log_text("cannot log to REUSE_LOG='%.200s' (%s); logging to stderr", d, why);
}

/*
 * Write one line with one call. Pipes and FIFOs get SIGPIPE blocked around
 * the write and a pending one consumed, so a closed reader cannot kill the
 * host; sockets use MSG_NOSIGNAL.
 */
static void write_fd(int fd, const struct stat *st, const char *buf, size_t len);

/*
 * emit_stderr - one line through a duplicate of fd 2 taken now, at a high
 * number (ownfd.c's habit), written only when it is still the stderr of
 * start-up: a number the program closed and reused is never written into.
 */
static void emit_stderr(const char *buf, size_t len)
{
	struct stat st;
	bool mine = !atomic_flag_test_and_set(&err_busy);
	int d = sys_fcntl(2, F_DUPFD_CLOEXEC, 512);

	if (d < 0)
		d = sys_fcntl(2, F_DUPFD_CLOEXEC, 3);
	if (d >= 0 && mine) {
		fd_note_ours(d);
		atomic_store(&err_tmp, d);
	}
	if (d >= 0 && fd_still_ours(mine ? atomic_load(&err_tmp) : d, &st))
		write_fd(mine ? atomic_load(&err_tmp) : d, &st, buf, len);
	if (mine) {
		d = atomic_exchange(&err_tmp, -1);   /* moved if the program dup2()ed onto it */
		atomic_flag_clear(&err_busy);
	}
	if (d >= 0)
		sys_close(d);
}

void log_emit(const char *buf, size_t len)
{
	struct stat st;
	int fd = atomic_load(&log_fd);

	if (log_dest == DEST_STDERR) {
		if (atomic_load(&err_live))
			emit_stderr(buf, len);
		return;
	}
	if (fd < 0)
		return;
	if (!fd_still_ours(fd, &st)) {
		reuse_lock();
		if (atomic_load(&log_fd) == fd) {
			int nfd = log_dest == DEST_FILE ? open_file() : open_syslog();
			if (nfd >= 0)
				adopt_fd(nfd);
			else
				atomic_store(&log_fd, -1);
		}
		reuse_unlock();
		fd = atomic_load(&log_fd);
		if (fd < 0 || !fd_still_ours(fd, &st))
			return;
	}
	write_fd(fd, &st, buf, len);
}

static void write_fd(int fd, const struct stat *st, const char *buf, size_t len)
{
	if (S_ISSOCK(st->st_mode)) {
		if (send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
		    log_dest == DEST_SYSLOG && errno == ENOTCONN) {
			/* syslog daemon restarted: the next line reconnects */
		}
		return;
	}
	if (S_ISFIFO(st->st_mode)) {
		sigset_t pipe, old, pending;
		struct timespec zero = { 0, 0 };
		bool had;

		sigemptyset(&pipe);
		sigaddset(&pipe, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &pipe, &old);
		sigpending(&pending);
		had = sigismember(&pending, SIGPIPE);
		if (write(fd, buf, len) < 0 && errno == EPIPE && !had)
			sigtimedwait(&pipe, NULL, &zero);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return;
	}
	if (write(fd, buf, len) < 0) {
		/* full disk, /dev/full: the line is lost, the program goes on */
	}
}


/* Whether a line would go anywhere now (a closed destination builds none). */
bool log_open(void)
{
	return atomic_load(&log_fd) >= 0 || atomic_load(&err_live);
}
