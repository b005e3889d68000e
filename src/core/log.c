/*
 * log.c - the decision log: one line, one write(2).
 *
 * REUSE_LOG=stderr (default) | syslog | /path (append);
 * REUSE_LOG_FORMAT=text (default) | json. In a secure-execution process the
 * environment is ignored and the log goes to syslog.
 *
 * Every line is formatted into a stack buffer and written with a single
 * call, so lines of concurrent threads and processes never interleave. The
 * fd is our own (see ownfd.c): checked against its identity before each
 * write, so a number the program reused is never written into. Writes
 * never raise SIGPIPE in the host and never change errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include "core/core.h"
#include "core/lock.h"
#include "core/sys.h"

enum dest { DEST_NONE, DEST_STDERR, DEST_FILE, DEST_SYSLOG };

static enum dest dest = DEST_STDERR;
static bool json;
static _Atomic int log_fd = -1;
/* Identity of the log file: atomics, as a reopen (under the lock) changes
 * them while other threads check them without it (fd_still_ours). */
static _Atomic uint64_t log_ino;
static _Atomic uint32_t log_dev;
static char log_path[512];

#define LINE_MAX_BYTES 2048

/* A bounded string builder: appends are cut at the end, never overflow. */
struct line {
	char buf[LINE_MAX_BYTES];
	size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
	size_t room = sizeof l->buf - 1 - l->len;

	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

static void putf(struct line *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void putf(struct line *l, const char *fmt, ...)
{
	va_list ap;
	size_t room = sizeof l->buf - 1 - l->len;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, room + 1, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n > room ? room : (size_t)n;
}

/* Bytes the keys after a JSON string need (all but msg are short). */
#define JSON_TAIL 256

/*
 * put_json_str - a JSON string value (quotes included); control bytes and
 * non-ASCII escaped. It stops, always closing its quote, while `keep`
 * bytes remain, so a long value is cut but the object stays valid JSON
 * (an escape is never cut in half).
 */
static void put_json_str(struct line *l, const char *s, size_t keep)
{
	size_t limit = sizeof l->buf - 2 > keep ? sizeof l->buf - 2 - keep : 0;

	puts_(l, "\"");
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[8];
		size_t n = 1;

		e[0] = (char)c;
		if (c == '"' || c == '\\') {
			e[0] = '\\';
			e[1] = (char)c;
			n = 2;
		} else if (c < 0x20 || c >= 0x7f) {
			n = (size_t)snprintf(e, sizeof e, "\\u%04x", c);
		}
		if (l->len + n > limit)
			break;
		put(l, e, n);
	}
	puts_(l, "\"");
}

/*
 * no_controls - a text line quotes what others chose: argv[0], environment
 * values, paths. A newline there would forge a second log line, an escape
 * sequence would drive the terminal reading it; control bytes become '?'
 * (as ps(1) shows them). JSON escapes them instead (put_json_str).
 */
static void no_controls(struct line *l)
{
	for (size_t i = 0; i < l->len; i++) {
		unsigned char c = (unsigned char)l->buf[i];
		if (c < 0x20 || c == 0x7f)
			l->buf[i] = '?';
	}
}

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

/*
 * log_init - pick the destination once, at start-up. A destination that
 * cannot be opened falls back to stderr with one warning line.
 */
void log_init(void)
{
	const char *d = reuse_cfg.secure ? "syslog" : getenv("REUSE_LOG");
	const char *f = reuse_cfg.secure ? NULL : getenv("REUSE_LOG_FORMAT");
	const char *why = NULL;
	int fd = -1;

	json = f && strcmp(f, "json") == 0;
	if (!d || !*d || strcmp(d, "stderr") == 0) {
		dest = DEST_STDERR;
		fd = sys_fcntl(2, F_DUPFD_CLOEXEC, 3);
	} else if (strcmp(d, "syslog") == 0) {
		dest = DEST_SYSLOG;
		fd = open_syslog();
	} else if (strcmp(d, "off") == 0) {
		dest = DEST_NONE;
	} else if (strlen(d) >= sizeof log_path || d[0] != '/') {
		why = "REUSE_LOG must be stderr, syslog, off or an absolute path";
	} else {
		dest = DEST_FILE;
		strcpy(log_path, d);
		fd = open_file();
		if (fd < 0)
			why = strerror(errno);
	}
	if (why) {
		dest = DEST_STDERR;
		fd = sys_fcntl(2, F_DUPFD_CLOEXEC, 3);
	}
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
static void emit(const char *buf, size_t len)
{
	struct stat st;
	int fd = atomic_load(&log_fd);

	if (fd < 0)
		return;
	if (!fd_still_ours(fd, &st)) {
		if (dest != DEST_FILE && dest != DEST_SYSLOG)
			return;            /* stderr is gone for good */
		reuse_lock();
		if (atomic_load(&log_fd) == fd) {
			int nfd = dest == DEST_FILE ? open_file() : open_syslog();
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
	if (S_ISSOCK(st.st_mode)) {
		if (send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
		    dest == DEST_SYSLOG && errno == ENOTCONN) {
			/* syslog daemon restarted: the next line reconnects */
		}
		return;
	}
	if (S_ISFIFO(st.st_mode)) {
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

/* ISO 8601 UTC with milliseconds, without locale or time zone locks. */
static void put_ts(struct line *l)
{
	struct timespec ts;
	long long days, secs, z, era, doe, yoe, y, doy, mp, d, m;

	clock_gettime(CLOCK_REALTIME, &ts);
	days = ts.tv_sec / 86400;
	secs = ts.tv_sec % 86400;
	z = days + 719468;                 /* civil-from-days (proleptic Gregorian) */
	era = z / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	putf(l, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03ldZ", y, m, d,
	     secs / 3600, secs / 60 % 60, secs % 60, ts.tv_nsec / 1000000);
}

static const char *errno_name(int e)
{
	const char *n = e ? strerrorname_np(e) : "ok";
	return n ? n : "EUNKNOWN";
}

/* Numeric address and port of a sockaddr (v4-mapped shown as IPv4). */
static void addr_text(const struct sockaddr *sa, char *host, size_t hlen,
		      unsigned *port, const char **family)
{
	strcpy(host, "-");
	*port = 0;
	*family = "-";
	if (!sa)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)hlen);
		*port = ntohs(in->sin_port);
		*family = "ipv4";
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)hlen);
		*port = ntohs(in6->sin6_port);
		*family = "ipv6";
	}
}

/* "FILE:LINE" of a rule, "default:LINE" for the embedded policy, or "none". */
static void rule_text(const struct reuse_rule *r, char *out, size_t len)
{
	if (!r)
		snprintf(out, len, "none");
	else
		snprintf(out, len, "%s:%u", log_rule_source(), r->line);
}

const char *log_rule_source(void)
{
	const char *s = reuse_cfg.policy.source;
	return s ? s : "default";
}

static const char *onoff(int v)
{
	return v < 0 ? "-" : v ? "on" : "off";
}

/*
 * log_event - one decision, one line. Never changes errno.
 */
void log_event(const struct reuse_event *ev)
{
	int saved = errno;
	struct line l = { .len = 0 };
	char host[INET6_ADDRSTRLEN] = "-", rule[600];
	const char *family, *proto = "-";
	unsigned port;
	long pid = (long)getpid();

	if (atomic_load(&log_fd) < 0)
		goto out;
	addr_text(ev->addr, host, sizeof host, &port, &family);
	if (ev->sock)
		proto = ev->sock->proto == REUSE_P_TCP ? "tcp" : "udp";
	if (ev->sock && !ev->addr)
		family = ev->sock->family == AF_INET6 ? "ipv6" : "ipv4";
	if (ev->rule_text)
		snprintf(rule, sizeof rule, "%s", ev->rule_text);
	else
		rule_text(ev->rule, rule, sizeof rule);

	if (dest == DEST_SYSLOG)   /* user.info, user.warning on failure */
		putf(&l, "<%d>libreuse[%ld]: ", ev->result ? 12 : 14, pid);
	if (json) {
		puts_(&l, "{\"ts\":\"");
		put_ts(&l);
		putf(&l, "\",\"pid\":%ld,\"prog\":", pid);
		put_json_str(&l, reuse_cfg.prog, JSON_TAIL);
		puts_(&l, ",\"call\":");
		put_json_str(&l, ev->call, JSON_TAIL);
		putf(&l, ",\"fd\":%d,\"proto\":\"%s\",\"family\":\"%s\",\"addr\":",
		     ev->fd, proto, family);
		put_json_str(&l, host, JSON_TAIL);
		putf(&l, ",\"port\":%u,\"rule\":", port);
		put_json_str(&l, rule, JSON_TAIL);
		puts_(&l, ",\"option\":");
		put_json_str(&l, ev->option ? ev->option : "-", JSON_TAIL);
		puts_(&l, ",\"asked\":");
		put_json_str(&l, ev->asked ? ev->asked : "-", JSON_TAIL);
		puts_(&l, ",\"action\":");
		put_json_str(&l, ev->action ? ev->action : "-", JSON_TAIL);
		putf(&l, ",\"result\":\"%s\",\"errno\":%d,\"reuseaddr\":\"%s\",\"reuseport\":\"%s\"",
		     errno_name(ev->result), ev->result, onoff(ev->ra_now),
		     onoff(ev->rp_now));
		if (ev->msg) {
			puts_(&l, ",\"msg\":");
			put_json_str(&l, ev->msg, 8);
		}
		/* keep the object whole even if a long message was cut */
		if (l.len > sizeof l.buf - 8)
			l.len = sizeof l.buf - 8;
		puts_(&l, "}\n");
	} else {
		if (dest != DEST_SYSLOG) {
			puts_(&l, "libreuse[");
			putf(&l, "%ld]: ", pid);
			put_ts(&l);
			puts_(&l, " ");
		}
		putf(&l, "%s %s", reuse_cfg.prog, ev->call);
		if (ev->fd >= 0)
			putf(&l, " fd=%d", ev->fd);
		if (ev->sock || ev->addr) {
			putf(&l, " %s", proto);
			if (strchr(host, ':'))
				putf(&l, " [%s]:%u", host, port);
			else
				putf(&l, " %s:%u", host, port);
		}
		putf(&l, " rule=%s", rule);
		if (ev->option)
			putf(&l, " option=%s asked=%s", ev->option,
			     ev->asked ? ev->asked : "-");
		if (ev->action)
			putf(&l, " action=%s", ev->action);
		putf(&l, " result=%s", errno_name(ev->result));
		if (ev->ra_now >= 0 || ev->rp_now >= 0)
			putf(&l, " now=reuseaddr:%s,reuseport:%s",
			     onoff(ev->ra_now), onoff(ev->rp_now));
		if (ev->msg)
			putf(&l, " -- %s", ev->msg);
		if (l.len > sizeof l.buf - 2)
			l.len = sizeof l.buf - 2;
		no_controls(&l);
		puts_(&l, "\n");
	}
	emit(l.buf, l.len);
out:
	errno = saved;
}

/*
 * log_text - a line that is not about one socket (start-up, policy errors).
 * It still carries every key of the JSON format.
 */
void log_text(const char *fmt, ...)
{
	int saved = errno;
	char msg[1024];
	va_list ap;
	struct reuse_event ev = {
		.call = "init", .fd = -1, .rule_text = "-", .msg = msg,
		.ra_now = -1, .rp_now = -1,
	};

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_event(&ev);
	errno = saved;
}
