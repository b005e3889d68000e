/*
 * log.c - the decision log's lines: text, JSON or syslog, one line built
 * in a stack buffer and handed to log_dest.c for one write(2), so lines of
 * concurrent threads and processes never interleave. Nothing is built for
 * a line nobody reads: callers ask wants() first (engine.h).
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
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <sys/un.h>
#include <time.h>

#include "core/core.h"
#include "core/log_dest.h"
#include "core/sys.h"


/* A bounded string builder: appends are cut at the end, never overflow. */
struct line {
	char buf[LINE_MAX_BYTES];
	size_t len;
};

static void put_cut(struct line *l, const char *s, size_t n)
{
	size_t room = sizeof l->buf - 1 - l->len;

	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

/* Inline so that a piece of known length (a literal: PUT_LIT) is copied
 * with a few moves; a decision line has about thirty of them. */
static inline __attribute__((always_inline)) void put(struct line *l,
						       const char *s, size_t n)
{
	if (__builtin_expect(sizeof l->buf - 1 - l->len >= n, 1)) {
		memcpy(l->buf + l->len, s, n);
		l->len += n;
	} else {
		put_cut(l, s, n);
	}
}

#define PUT_LIT(l, lit) put((l), (lit), sizeof(lit) - 1)

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/*
 * Numbers without printf: a decision line is written on the program's
 * bind() path, and vsnprintf costs about a thousand instructions a field.
 * put_u writes v in decimal, zero-padded to at least width digits.
 */
static void put_u(struct line *l, unsigned long long v, int width)
{
	char d[24];
	int n = 0;

	if (v < 10 && width <= 1) {
		char c = (char)('0' + v);
		put(l, &c, 1);
		return;
	}
	do {
		d[sizeof d - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < (int)sizeof d);
	while (n < width && n < (int)sizeof d)
		d[sizeof d - 1 - n++] = '0';
	put(l, d + sizeof d - n, (size_t)n);
}

static void put_i(struct line *l, long long v)
{
	if (v < 0) {
		put(l, "-", 1);
		put_u(l, 0ULL - (unsigned long long)v, 0);
	} else {
		put_u(l, (unsigned long long)v, 0);
	}
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
	static const char hex[] = "0123456789abcdef";
	size_t limit = sizeof l->buf - 2 > keep ? sizeof l->buf - 2 - keep : 0;
	const char *run = s;

	PUT_LIT(l, "\"");
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[6] = { '\\', (char)c };
		size_t n = 2;

		if (c != '"' && c != '\\' && c >= 0x20 && c < 0x7f) {
			if (l->len + (size_t)(s - run) + 1 > limit)
				break;
			continue;                  /* plain bytes go out in runs */
		}
		put(l, run, (size_t)(s - run));
		run = s + 1;
		if (c != '"' && c != '\\') {
			memcpy(e, "\\u00", 4);
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			n = 6;
		}
		if (l->len + n > limit) {
			run = s;
			break;
		}
		put(l, e, n);
	}
	if (run)
		put(l, run, (size_t)(s - run));
	PUT_LIT(l, "\"");
}

/* A JSON string value known to need no escaping: the library's own words
 * (call, option, action names) and numeric addresses. */
static void put_json_word(struct line *l, const char *s)
{
	PUT_LIT(l, "\"");
	puts_(l, s);
	PUT_LIT(l, "\"");
}

/*
 * no_controls - a text line quotes what others chose: argv[0], environment
 * values, paths. A newline there would forge a second log line, an escape
 * sequence would drive the terminal reading it; control bytes become '?'
 * (as ps(1) shows them). JSON escapes them instead (put_json_str).
 */
static void no_controls(struct line *l)
{
	const uint64_t ones = 0x0101010101010101ull, highs = ones * 0x80;
	size_t i = 0;

#ifdef __SSE2__
	/* sixteen bytes at a time: unsigned min(c, 0x1f) == c is c < 0x20 */
	const __m128i low = _mm_set1_epi8(0x1f), del = _mm_set1_epi8(0x7f);

	for (; i + 16 <= l->len; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(l->buf + i));
		__m128i bad = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, low), v),
					   _mm_cmpeq_epi8(v, del));

		if (!_mm_movemask_epi8(bad))
			continue;
		for (size_t j = i; j < i + 16; j++)
			if ((unsigned char)l->buf[j] < 0x20 || (unsigned char)l->buf[j] == 0x7f)
				l->buf[j] = '?';
	}
#endif

	/* eight bytes at a time: a word with no byte below 0x20 and none equal
	 * to 0x7f (the exact "has a byte less than n" test, n <= 128, on x and
	 * on x ^ 0x7f...) is skipped whole */
	for (; i + 8 <= l->len; i += 8) {
		uint64_t x, y;

		memcpy(&x, l->buf + i, sizeof x);
		y = x ^ (ones * 0x7f);
		if (!(((x - ones * 0x20) & ~x & highs) | ((y - ones) & ~y & highs)))
			continue;
		for (size_t j = i; j < i + 8; j++)
			if ((unsigned char)l->buf[j] < 0x20 || (unsigned char)l->buf[j] == 0x7f)
				l->buf[j] = '?';
	}
	for (; i < l->len; i++) {
		unsigned char c = (unsigned char)l->buf[i];
		if (c < 0x20 || c == 0x7f)
			l->buf[i] = '?';
	}
}

/*
 * The "YYYY-MM-DDTHH:MM:SS" of the last second a thread logged in: lines
 * come in bursts, and the calendar arithmetic and its twelve numbers are
 * then done once a second. Per thread, so no lock and no torn copy.
 */
static __thread struct {
	time_t sec;
	char text[20];
} ts_cache __attribute__((tls_model("initial-exec")));

/* ISO 8601 UTC with milliseconds, without locale or time zone locks. */
static void put_ts(struct line *l)
{
	struct timespec ts;
	long long days, secs, z, era, doe, yoe, y, doy, mp, d, m;
	unsigned ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (unsigned)(ts.tv_nsec / 1000000);
	if (ts_cache.sec == ts.tv_sec && ts_cache.text[0]) {
		char frac[5] = { '.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10),
				 (char)('0' + ms % 10), 'Z' };
		put(l, ts_cache.text, 19);
		put(l, frac, 5);
		return;
	}
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
	put_u(l, (unsigned long long)y, 4);
	put(l, "-", 1);
	put_u(l, (unsigned long long)m, 2);
	put(l, "-", 1);
	put_u(l, (unsigned long long)d, 2);
	put(l, "T", 1);
	put_u(l, (unsigned long long)(secs / 3600), 2);
	put(l, ":", 1);
	put_u(l, (unsigned long long)(secs / 60 % 60), 2);
	put(l, ":", 1);
	put_u(l, (unsigned long long)(secs % 60), 2);
	if (l->len >= 19 && y >= 1000 && y <= 9999) {   /* 19 bytes: cacheable */
		memcpy(ts_cache.text, l->buf + l->len - 19, 19);
		ts_cache.sec = ts.tv_sec;
	}
	put(l, ".", 1);
	put_u(l, ms, 3);
	put(l, "Z", 1);
}

static const char *errno_name(int e)
{
	const char *n = e ? strerrorname_np(e) : "ok";
	return n ? n : "EUNKNOWN";
}

/* Dotted quad, as inet_ntop writes it, without its sprintf; out holds 16
 * bytes. Returns the length. */
static size_t ipv4_text(const uint8_t *b, char *out)
{
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];
		if (i)
			out[n++] = '.';
		if (v >= 100) {
			out[n++] = (char)('0' + v / 100);
			v %= 100;
			out[n++] = (char)('0' + v / 10);
			v %= 10;
		} else if (v >= 10) {
			out[n++] = (char)('0' + v / 10);
			v %= 10;
		}
		out[n++] = (char)('0' + v);
	}
	out[n] = '\0';
	return n;
}

/* Numeric address and port of a sockaddr, as the kernel shows it (a
 * v4-mapped address stays ::ffff:a.b.c.d: the socket is IPv6, though the
 * policy matches it as IPv4); returns the address text's length. */
static size_t addr_text(const struct sockaddr *sa, char *host, size_t hlen,
			unsigned *port, const char **family)
{
	strcpy(host, "-");
	*port = 0;
	*family = "-";
	if (!sa)
		return 1;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		*port = ntohs(in->sin_port);
		*family = "ipv4";
		return ipv4_text((const uint8_t *)&in->sin_addr, host);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)hlen);
		*port = ntohs(in6->sin6_port);
		*family = "ipv6";
	}
	return strlen(host);
}

/* "FILE:LINE" of a rule, "default:LINE" for the embedded policy, or "none". */
static void rule_text(const struct reuse_rule *r, const char *text, char *out,
		      size_t len)
{
	struct line t;
	size_t n;

	t.len = 0;
	if (text) {
		puts_(&t, text);
	} else if (!r) {
		puts_(&t, "none");
	} else {
		puts_(&t, log_rule_source());
		put(&t, ":", 1);
		put_u(&t, r->line, 0);
	}
	n = t.len < len - 1 ? t.len : len - 1;
	memcpy(out, t.buf, n);
	out[n] = '\0';
}

/*
 * What every line of this process repeats, built once the policy is
 * loaded (log_policy_ready), as neither it nor the program's name changes
 * afterwards: the name as a JSON string, and the policy source as the
 * start of the rule field, JSON ("\"FILE:) and text (FILE:). A line then
 * only adds the rule's number. Before that, for a source too long to fit
 * (a rule field is cut at 599 bytes), and for lines the supervisor writes
 * about other processes, lines are built in full.
 */
#define PRE_SOURCE_MAX 400
static struct {
	bool ready;
	size_t prog_len, prog_json_len, src_json_len, src_text_len;
	char prog_json[sizeof reuse_cfg.prog * 6 + 3];
	char src_json[PRE_SOURCE_MAX * 6 + 3];
	char src_text[PRE_SOURCE_MAX + 2];
} pre;

/* The pid's decimal text, per thread, rebuilt when getpid() differs (fork). */
static __thread struct {
	long pid;
	size_t len;
	char text[24];
} pid_cache __attribute__((tls_model("initial-exec")));

static void put_pid(struct line *l, long pid)
{
	if (pid_cache.pid != pid || !pid_cache.len) {
		struct line t;
		t.len = 0;
		put_i(&t, pid);
		memcpy(pid_cache.text, t.buf, t.len);
		pid_cache.len = t.len;
		pid_cache.pid = pid;
	}
	put(l, pid_cache.text, pid_cache.len);
}

/*
 * self_pid - this process's pid for its lines, asked once and again after
 * fork() (log_fork_child, from the child handler, core/lock.c). A child
 * made by a raw clone() or vfork() runs no handler: the few lines it
 * writes before exec name its parent's pid.
 */
static _Atomic long my_pid;

static long self_pid(void)
{
	long pid = __atomic_load_n(&my_pid, __ATOMIC_RELAXED);

	if (!pid) {
		pid = (long)getpid();
		__atomic_store_n(&my_pid, pid, __ATOMIC_RELAXED);
	}
	return pid;
}

void log_fork_child(void)
{
	__atomic_store_n(&my_pid, 0, __ATOMIC_RELAXED);
}

/*
 * log_policy_ready - the policy is loaded: build the pieces every line
 * repeats (above). Called once, by the constructor, before any other
 * thread can log.
 */
void log_policy_ready(void)
{
	const char *src = log_rule_source();
	size_t n = strlen(src);
	struct line t;

	if (n > PRE_SOURCE_MAX)
		return;
	t.len = 0;
	put_json_str(&t, reuse_cfg.prog, JSON_TAIL);
	memcpy(pre.prog_json, t.buf, t.len);
	pre.prog_json_len = t.len;
	pre.prog_len = strlen(reuse_cfg.prog);
	t.len = 0;
	put_json_str(&t, src, JSON_TAIL);
	memcpy(pre.src_json, t.buf, t.len - 1);       /* without the closing quote */
	pre.src_json[t.len - 1] = ':';
	pre.src_json_len = t.len;
	memcpy(pre.src_text, src, n);
	pre.src_text[n] = ':';
	pre.src_text_len = n + 1;
	pre.ready = true;
}

/* The backend every line names, e.g. "guard"; NULL (the library and the
 * supervisor): no key, so their lines stay as they were. */
static const char *log_backend;

void log_set_backend(const char *name)
{
	log_backend = name;
}

const char *log_rule_source(void)
{
	const char *s = reuse_cfg.policy.source;
	return s ? s : "default";
}

/* "on", "off", or "-" (unknown), as a piece of known length. */
static inline void put_onoff(struct line *l, int v)
{
	if (v < 0)
		PUT_LIT(l, "-");
	else if (v)
		PUT_LIT(l, "on");
	else
		PUT_LIT(l, "off");
}

/* The rule field: "FILE:LINE" from the pieces built at start-up when it
 * can, else in full (rule_text). */
static void put_rule(struct line *l, const struct reuse_event *ev, bool js)
{
	char rule[600];

	if (pre.ready && ev->rule && !ev->rule_text) {
		if (js) {
			put(l, pre.src_json, pre.src_json_len);
			put_u(l, ev->rule->line, 0);
			PUT_LIT(l, "\"");
		} else {
			put(l, pre.src_text, pre.src_text_len);
			put_u(l, ev->rule->line, 0);
		}
		return;
	}
	rule_text(ev->rule, ev->rule_text, rule, sizeof rule);
	if (js)
		put_json_str(l, rule, JSON_TAIL);
	else
		puts_(l, rule);
}

/* The program's name, JSON-quoted or plain. */
static void put_prog(struct line *l, const struct reuse_event *ev, bool js)
{
	if (pre.ready && !ev->prog) {
		if (js)
			put(l, pre.prog_json, pre.prog_json_len);
		else
			put(l, reuse_cfg.prog, pre.prog_len);
		return;
	}
	if (js)
		put_json_str(l, ev->prog ? ev->prog : reuse_cfg.prog, JSON_TAIL);
	else
		puts_(l, ev->prog ? ev->prog : reuse_cfg.prog);
}

static inline void put_proto(struct line *l, const struct reuse_sock *k)
{
	if (!k)
		PUT_LIT(l, "-");
	else if (k->proto == REUSE_P_TCP && k->mptcp)
		PUT_LIT(l, "mptcp");
	else if (k->proto == REUSE_P_TCP)
		PUT_LIT(l, "tcp");
	else
		PUT_LIT(l, "udp");
}

/*
 * log_event - one decision, one line. Never changes errno. The line is
 * built from pieces of known length where it can: a JSON decision line
 * is about 320 bytes and is written on the program's bind() path.
 */
void log_event(const struct reuse_event *ev)
{
	int saved = errno;
	struct line l;
	char host[INET6_ADDRSTRLEN];
	const char *family;
	unsigned port;
	size_t hlen;
	bool dry = reuse_cfg.dry_run || (ev->rule && ev->rule->dry_run);
	long pid = ev->pid ? ev->pid : self_pid();
	const char *result = ev->result_text ? ev->result_text :
			     ev->result ? errno_name(ev->result) : NULL;

	l.len = 0;
	if (!log_open())
		goto out;
	hlen = addr_text(ev->addr, host, sizeof host, &port, &family);
	if (ev->sock && !ev->addr)
		family = ev->sock->family == AF_INET6 ? "ipv6" : "ipv4";

	/* syslog/journald: daemon.info, daemon.warning on failure; identifier
	 * "libreuse" (journalctl -t libreuse), no timestamp of our own (the
	 * journal stamps each entry), no trailing newline (one datagram each) */
	if (log_dest == DEST_SYSLOG) {
		if (ev->result)
			PUT_LIT(&l, "<28>libreuse[");
		else
			PUT_LIT(&l, "<30>libreuse[");
		put_pid(&l, pid);
		PUT_LIT(&l, "]: ");
	}
	if (log_json) {
		PUT_LIT(&l, "{\"ts\":\"");
		put_ts(&l);
		PUT_LIT(&l, "\",\"pid\":");
		put_pid(&l, pid);
		PUT_LIT(&l, ",\"prog\":");
		put_prog(&l, ev, true);
		PUT_LIT(&l, ",\"call\":");
		put_json_word(&l, ev->call);
		PUT_LIT(&l, ",\"fd\":");
		put_i(&l, ev->fd);
		PUT_LIT(&l, ",\"proto\":\"");
		put_proto(&l, ev->sock);
		PUT_LIT(&l, "\",\"family\":\"");
		puts_(&l, family);
		PUT_LIT(&l, "\",\"addr\":\"");
		put(&l, host, hlen);
		PUT_LIT(&l, "\",\"port\":");
		put_u(&l, port, 0);
		PUT_LIT(&l, ",\"rule\":");
		put_rule(&l, ev, true);
		PUT_LIT(&l, ",\"option\":");
		put_json_word(&l, ev->option ? ev->option : "-");
		PUT_LIT(&l, ",\"asked\":");
		put_json_word(&l, ev->asked ? ev->asked : "-");
		PUT_LIT(&l, ",\"action\":");
		put_json_word(&l, ev->action ? ev->action : "-");
		if (dry && ev->action)
			PUT_LIT(&l, ",\"dry_run\":true");
		PUT_LIT(&l, ",\"result\":\"");
		if (result)
			puts_(&l, result);
		else
			PUT_LIT(&l, "ok");
		PUT_LIT(&l, "\",\"errno\":");
		put_i(&l, ev->result);
		PUT_LIT(&l, ",\"reuseaddr\":\"");
		put_onoff(&l, ev->ra_now);
		PUT_LIT(&l, "\",\"reuseport\":\"");
		put_onoff(&l, ev->rp_now);
		PUT_LIT(&l, "\"");
		if (log_backend) {
			PUT_LIT(&l, ",\"backend\":");
			put_json_word(&l, log_backend);
		}
		if (ev->msg) {
			PUT_LIT(&l, ",\"msg\":");
			put_json_str(&l, ev->msg, 8);
		}
		/* keep the object whole even if a long message was cut */
		if (l.len > sizeof l.buf - 8)
			l.len = sizeof l.buf - 8;
		PUT_LIT(&l, "}\n");
	} else {
		if (log_dest != DEST_SYSLOG) {
			PUT_LIT(&l, "libreuse[");
			put_pid(&l, pid);
			PUT_LIT(&l, "]: ");
			put_ts(&l);
			PUT_LIT(&l, " ");
		}
		put_prog(&l, ev, false);
		PUT_LIT(&l, " ");
		puts_(&l, ev->call);
		if (ev->fd >= 0) {
			PUT_LIT(&l, " fd=");
			put_i(&l, ev->fd);
		}
		if (ev->sock || ev->addr) {
			bool v6 = memchr(host, ':', hlen) != NULL;
			PUT_LIT(&l, " ");
			put_proto(&l, ev->sock);
			if (v6)
				PUT_LIT(&l, " [");
			else
				PUT_LIT(&l, " ");
			put(&l, host, hlen);
			if (v6)
				PUT_LIT(&l, "]:");
			else
				PUT_LIT(&l, ":");
			put_u(&l, port, 0);
		}
		PUT_LIT(&l, " rule=");
		put_rule(&l, ev, false);
		if (ev->option) {
			PUT_LIT(&l, " option=");
			puts_(&l, ev->option);
			PUT_LIT(&l, " asked=");
			puts_(&l, ev->asked ? ev->asked : "-");
		}
		if (ev->action) {
			PUT_LIT(&l, " action=");
			puts_(&l, ev->action);
			if (dry)
				PUT_LIT(&l, " dry-run");
		}
		PUT_LIT(&l, " result=");
		if (result)
			puts_(&l, result);
		else
			PUT_LIT(&l, "ok");
		if (ev->ra_now >= 0 || ev->rp_now >= 0) {
			PUT_LIT(&l, " now=reuseaddr:");
			put_onoff(&l, ev->ra_now);
			PUT_LIT(&l, ",reuseport:");
			put_onoff(&l, ev->rp_now);
		}
		if (log_backend) {
			PUT_LIT(&l, " backend=");
			puts_(&l, log_backend);
		}
		if (ev->msg) {
			PUT_LIT(&l, " -- ");
			puts_(&l, ev->msg);
		}
		if (l.len > sizeof l.buf - 2)
			l.len = sizeof l.buf - 2;
		no_controls(&l);
		PUT_LIT(&l, "\n");
	}
	if (log_dest == DEST_SYSLOG && l.len && l.buf[l.len - 1] == '\n')
		l.len--;
	log_emit(l.buf, l.len);
out:
	errno = saved;
}

/* log_diag - a diagnostics buffer (policy errors), one line each. */
void log_diag(const struct reuse_diag *d)
{
	const char *p = d->text, *nl;

	while (p && *p) {
		nl = strchr(p, '\n');
		log_text("%.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
		p = nl ? nl + 1 : NULL;
	}
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
