/*
 * test_log.c - the decision log's lines (src/core/log.c): golden text and
 * JSON lines with every key, the escaping of what programs choose (names,
 * messages), the 2,048-byte cut, and one write(2) per line (logcap.c).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "tap.h"
#include "unit.h"

#define LINE_MAX_BYTES 2048

/* A small JSON checker for the log's objects: one flat object of string,
 * number and true values, each string's escapes whole. Returns the key
 * count, or -1 where the text stops being such an object. */
static const char *json_string(const char *p, char *out, size_t olen)
{
	size_t n = 0;

	if (*p++ != '"')
		return NULL;
	while (*p && *p != '"') {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c >= 0x7f)
			return NULL;            /* the log escapes all of these */
		if (c == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!isxdigit((unsigned char)p[i]))
						return NULL;
				p += 5;
			} else if (*p == '"' || *p == '\\') {
				p++;
			} else {
				return NULL;
			}
			c = '~';
		} else {
			p++;
		}
		if (out && n + 1 < olen)
			out[n++] = (char)c;
	}
	if (out)
		out[n] = '\0';
	return *p == '"' ? p + 1 : NULL;
}

static int json_keys(const char *p, char keys[][16], int max)
{
	int n = 0;

	if (*p++ != '{')
		return -1;
	for (;;) {
		char key[16];

		if (!(p = json_string(p, key, sizeof key)) || *p++ != ':')
			return -1;
		if (n < max)
			snprintf(keys[n], 16, "%s", key);
		n++;
		if (*p == '"') {
			if (!(p = json_string(p, NULL, 0)))
				return -1;
		} else if (strncmp(p, "true", 4) == 0) {
			p += 4;
		} else {
			if (*p == '-')
				p++;
			if (!isdigit((unsigned char)*p))
				return -1;
			while (isdigit((unsigned char)*p))
				p++;
		}
		if (*p == '}')
			return strcmp(p, "}\n") == 0 ? n : -1;
		if (*p++ != ',')
			return -1;
	}
}

static struct reuse_sock sock4 = { .family = AF_INET, .proto = REUSE_P_TCP };
static struct reuse_sock sock6 = { .family = AF_INET6, .proto = REUSE_P_UDP };

static struct reuse_rule rule = { .line = 7, .proto = REUSE_P_TCP, .uid = -1 };

static void event(struct reuse_event *ev, const struct sockaddr *sa)
{
	memset(ev, 0, sizeof *ev);
	ev->call = "bind";
	ev->fd = 5;
	ev->sock = &sock4;
	ev->addr = sa;
	ev->rule = &rule;
	ev->option = "SO_REUSEADDR";
	ev->asked = "on";
	ev->action = "force";
	ev->ra_now = 1;
	ev->rp_now = 0;
}

/* The one line the last call wrote ("" if none), after checking there was
 * one write of one whole line. */
static const char *one_line(const char *what)
{
	const char *l = logcap_line(0);
	size_t len = logcap_len(0);

	ok(logcap_n() == 1 && len == strlen(l) && len && l[len - 1] == '\n' &&
	   strchr(l, '\n') == l + len - 1,
	   "%s: one write(2), one whole line (%zu writes, %zu bytes)", what, logcap_n(), len);
	return l;
}

static bool same(const char *got, const char *want, const char *what)
{
	if (ok(got && strcmp(got, want) == 0, "%s", what))
		return true;
	diag("want: %s", want);
	diag("got:  %s", got ? got : "(none)");
	return false;
}

/* The text line's fixed head: "libreuse[PID]: YYYY-MM-DDTHH:MM:SS.mmmZ ". */
static bool text_head(const char *l)
{
	char head[64];
	int n = snprintf(head, sizeof head, "libreuse[%ld]: ", (long)getpid());
	const char *t = l + n;
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";

	if (strncmp(l, head, (size_t)n) != 0)
		return false;
	for (size_t i = 0; i < sizeof shape - 1; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)t[i]) : t[i] != shape[i])
			return false;
	return true;
}

static void text_lines(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(8080) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(53) };
	struct reuse_event ev;
	char body[LINE_MAX_BYTES + 8], want[512];
	const char *l;

	in.sin_addr.s_addr = htonl(0x7f000001);
	in6.sin6_addr = in6addr_loopback;
	logcap_start("text", NULL);
	snprintf(want, sizeof want, "%s:7", log_rule_source());

	event(&ev, (struct sockaddr *)&in);
	errno = ENOTRECOVERABLE;
	logcap_clear();
	log_event(&ev);
	ok(errno == ENOTRECOVERABLE, "text: log_event keeps errno");
	l = one_line("text bind");
	ok(l && text_head(l), "text: libreuse[pid]: and an ISO 8601 UTC stamp (%.60s)", l);
	char gold[1400];
	snprintf(gold, sizeof gold, "unitprog bind fd=5 tcp 127.0.0.1:8080 rule=%s option=SO_REUSEADDR asked=on action=force result=ok now=reuseaddr:on,reuseport:off",
		 want);
	same(logcap_body(0, body, sizeof body), gold, "text: a bind line, golden");

	/* IPv6, a failure, unknown options, a message, a dry run */
	event(&ev, (struct sockaddr *)&in6);
	ev.sock = &sock6;
	ev.result = EADDRINUSE;
	ev.rp_now = -1;
	ev.msg = "held by 1 live socket";
	rule.dry_run = true;
	logcap_clear();
	log_event(&ev);
	rule.dry_run = false;
	snprintf(gold, sizeof gold, "unitprog bind fd=5 udp [::1]:53 rule=%s option=SO_REUSEADDR asked=on action=force dry-run result=EADDRINUSE now=reuseaddr:on,reuseport:- -- held by 1 live socket",
		 want);
	same(logcap_body(0, body, sizeof body), gold, "text: IPv6, dry run, failure, message");

	/* a backend (reuse guard): named after now=, before the message */
	event(&ev, (struct sockaddr *)&in);
	ev.fd = -1;
	ev.msg = "m";
	log_set_backend("guard");
	logcap_clear();
	log_event(&ev);
	log_set_backend(NULL);
	snprintf(gold, sizeof gold, "unitprog bind tcp 127.0.0.1:8080 rule=%s option=SO_REUSEADDR asked=on action=force result=ok now=reuseaddr:on,reuseport:off backend=guard -- m",
		 want);
	same(logcap_body(0, body, sizeof body), gold, "text: backend=guard, golden");

	/* another process's line (the supervisor): its pid and name */
	event(&ev, NULL);
	ev.pid = 4242;
	ev.prog = "other";
	ev.rule = NULL;
	ev.result_text = "continued";
	ev.ra_now = ev.rp_now = -1;
	logcap_clear();
	log_event(&ev);
	l = logcap_line(0);
	ok(strncmp(l, "libreuse[4242]: ", 16) == 0 &&
	   strstr(l, " other bind fd=5 tcp -:0 rule=none option=SO_REUSEADDR asked=on action=force result=continued\n"),
	   "text: pid, name and result text of another process's line (%s)", l);

	/* an IPv4-mapped address is shown as the kernel shows the IPv6 socket */
	{
		struct sockaddr_in6 m = in6;
		m.sin6_addr.s6_addr[10] = m.sin6_addr.s6_addr[11] = 0xff;
		m.sin6_addr.s6_addr[15] = 0;
		m.sin6_addr.s6_addr[12] = 127;
		m.sin6_addr.s6_addr[15] = 1;
		event(&ev, (struct sockaddr *)&m);
		logcap_clear();
		log_event(&ev);
		l = logcap_line(0);
		ok(strstr(l, " bind fd=5 tcp [::ffff:127.0.0.1]:53 ") != NULL,
		   "text: an IPv4-mapped address is shown as the IPv6 socket's (%s)", l);
	}

	/* log_text: the start-up line */
	logcap_clear();
	errno = EBADF;
	log_text("policy %s has %d errors", "/p", 2);
	ok(errno == EBADF, "log_text keeps errno");
	same(logcap_body(0, body, sizeof body), "unitprog init rule=- result=ok -- policy /p has 2 errors",
	     "text: log_text, golden");

	/* escaping: control bytes become '?', a forged second line cannot be;
	 * quotes, backslashes and other bytes are the program's own */
	event(&ev, (struct sockaddr *)&in);
	ev.prog = "ev\til\"\\\xff\x7f";
	ev.pid = 1;
	ev.msg = "a\nlibreuse[1]: forged\r\x1b[31m \"q\" \\ \xc3\xa9";
	logcap_clear();
	log_event(&ev);
	l = one_line("text escaping");
	ok(strstr(l, " ev?il\"\\\xff? bind fd=5 ") != NULL,
	   "text: a name's tab and DEL become '?', quote, backslash and 0xff stay (%s)", l);
	ok(strstr(l, " -- a?libreuse[1]: forged??[31m \"q\" \\ \xc3\xa9\n") != NULL,
	   "text: a message's newline, CR and ESC become '?' (%s)", l);

	/* the 2,048-byte cut: one line, newline kept */
	{
		static char big[5000];
		memset(big, 'x', sizeof big - 1);
		event(&ev, (struct sockaddr *)&in);
		ev.msg = big;
		logcap_clear();
		log_event(&ev);
		l = one_line("text cut");
		ok(l && strlen(l) == LINE_MAX_BYTES - 1 && strstr(l, " -- xxx"),
		   "text: a 5,000-byte message is cut to a 2,047-byte line (%zu)", l ? strlen(l) : 0);
	}
}

static const char *const keys_all[] = {
	"ts", "pid", "prog", "call", "fd", "proto", "family", "addr", "port", "rule",
	"option", "asked", "action", "result", "errno", "reuseaddr", "reuseport",
};
#define NKEYS (sizeof keys_all / sizeof keys_all[0])

/* The JSON line with its "ts" value replaced by TS, for comparison. */
static const char *no_ts(const char *l, char *out, size_t len)
{
	const char *ts = strstr(l, "{\"ts\":\""), *end;

	if (!ts || !(end = strchr(ts + 7, '"')))
		return "";
	snprintf(out, len, "{\"ts\":\"TS%s", end);
	return out;
}

static void json_lines(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(8080) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(53) };
	struct reuse_event ev;
	char keys[32][16], gold[1200], buf[LINE_MAX_BYTES + 8], src[300];
	const char *l;
	int n;

	in.sin_addr.s_addr = htonl(0x7f000001);
	in6.sin6_addr = in6addr_loopback;
	logcap_start("json", NULL);
	snprintf(src, sizeof src, "%s:7", log_rule_source());

	event(&ev, (struct sockaddr *)&in);
	ev.msg = "m";
	logcap_clear();
	log_event(&ev);
	l = one_line("json bind");
	n = l ? json_keys(l, keys, 32) : -1;
	ok(n == (int)NKEYS + 1, "json: one valid object, %d keys", n);
	for (size_t i = 0; i < NKEYS && n > 0; i++)
		ok(i < (size_t)n && strcmp(keys[i], keys_all[i]) == 0, "json: key %zu is %s (%s)",
		   i, keys_all[i], i < (size_t)n ? keys[i] : "-");
	snprintf(gold, sizeof gold, "{\"ts\":\"TS\",\"pid\":%ld,\"prog\":\"unitprog\",\"call\":\"bind\",\"fd\":5,\"proto\":\"tcp\",\"family\":\"ipv4\",\"addr\":\"127.0.0.1\",\"port\":8080,\"rule\":\"%s\",\"option\":\"SO_REUSEADDR\",\"asked\":\"on\",\"action\":\"force\",\"result\":\"ok\",\"errno\":0,\"reuseaddr\":\"on\",\"reuseport\":\"off\",\"msg\":\"m\"}\n",
		 (long)getpid(), src);
	same(l ? no_ts(l, buf, sizeof buf) : NULL, gold, "json: a bind line, golden");
	ok(strlen(l) > 33 && l[30] == 'Z' && l[17] == 'T' && l[26] == '.' && l[31] == '"',
	   "json: ts is YYYY-MM-DDTHH:MM:SS.mmmZ (%.40s)", l);

	/* IPv6, failure, dry run, unknown flags */
	event(&ev, (struct sockaddr *)&in6);
	ev.sock = &sock6;
	ev.result = EACCES;
	ev.ra_now = -1;
	rule.dry_run = true;
	logcap_clear();
	log_event(&ev);
	rule.dry_run = false;
	snprintf(gold, sizeof gold, "{\"ts\":\"TS\",\"pid\":%ld,\"prog\":\"unitprog\",\"call\":\"bind\",\"fd\":5,\"proto\":\"udp\",\"family\":\"ipv6\",\"addr\":\"::1\",\"port\":53,\"rule\":\"%s\",\"option\":\"SO_REUSEADDR\",\"asked\":\"on\",\"action\":\"force\",\"dry_run\":true,\"result\":\"EACCES\",\"errno\":13,\"reuseaddr\":\"-\",\"reuseport\":\"off\"}\n",
		 (long)getpid(), src);
	same(no_ts(logcap_line(0), buf, sizeof buf), gold, "json: IPv6, dry run, failure, golden");

	/* a backend (reuse guard) is named before the message */
	event(&ev, (struct sockaddr *)&in);
	ev.fd = -1;
	ev.msg = "m";
	log_set_backend("guard");
	logcap_clear();
	log_event(&ev);
	log_set_backend(NULL);
	snprintf(gold, sizeof gold, "{\"ts\":\"TS\",\"pid\":%ld,\"prog\":\"unitprog\",\"call\":\"bind\",\"fd\":-1,\"proto\":\"tcp\",\"family\":\"ipv4\",\"addr\":\"127.0.0.1\",\"port\":8080,\"rule\":\"%s\",\"option\":\"SO_REUSEADDR\",\"asked\":\"on\",\"action\":\"force\",\"result\":\"ok\",\"errno\":0,\"reuseaddr\":\"on\",\"reuseport\":\"off\",\"backend\":\"guard\",\"msg\":\"m\"}\n",
		 (long)getpid(), src);
	same(no_ts(logcap_line(0), buf, sizeof buf), gold, "json: backend, golden");

	/* log_text carries every key too */
	logcap_clear();
	log_text("hello");
	l = one_line("json log_text");
	snprintf(gold, sizeof gold, "{\"ts\":\"TS\",\"pid\":%ld,\"prog\":\"unitprog\",\"call\":\"init\",\"fd\":-1,\"proto\":\"-\",\"family\":\"-\",\"addr\":\"-\",\"port\":0,\"rule\":\"-\",\"option\":\"-\",\"asked\":\"-\",\"action\":\"-\",\"result\":\"ok\",\"errno\":0,\"reuseaddr\":\"-\",\"reuseport\":\"-\",\"msg\":\"hello\"}\n",
		 (long)getpid());
	same(l ? no_ts(l, buf, sizeof buf) : NULL, gold, "json: log_text, golden, every key");

	/* escaping of a name and a message */
	event(&ev, (struct sockaddr *)&in);
	ev.pid = 9;
	ev.prog = "a\"b\\c\td\x7f\xff";
	ev.msg = "x\ny\"z\\\x01\xc3\xa9";
	logcap_clear();
	log_event(&ev);
	l = one_line("json escaping");
	ok(json_keys(l, keys, 32) > 0, "json: escaped line is valid (%s)", l);
	ok(strstr(l, "\"prog\":\"a\\\"b\\\\c\\u0009d\\u007f\\u00ff\","),
	   "json: name: quote, backslash, tab, DEL, 0xff escaped (%s)", l);
	ok(strstr(l, "\"msg\":\"x\\u000ay\\\"z\\\\\\u0001\\u00c3\\u00a9\"}\n"),
	   "json: message: newline, quote, backslash, 0x01, UTF-8 bytes escaped (%s)", l);

	/* the cut keeps the object valid, never halving an escape */
	{
		static char big[5000];
		for (int fill = 0; fill < 3; fill++) {
			/* plain bytes; 6-byte escapes; 2-byte escapes */
			memset(big, fill == 0 ? 'x' : fill == 1 ? '\x01' : '"', sizeof big - 1);
			event(&ev, (struct sockaddr *)&in);
			ev.msg = big;
			logcap_clear();
			log_event(&ev);
			l = one_line("json cut");
			n = l ? json_keys(l, keys, 32) : -1;
			ok(l && strlen(l) <= LINE_MAX_BYTES - 1 && strlen(l) > LINE_MAX_BYTES - 16 &&
			   n == (int)NKEYS + 1,
			   "json cut (%s): %zu bytes, still one valid object of %d keys",
			   fill == 0 ? "plain" : fill == 1 ? "\\u0001" : "\\\"", l ? strlen(l) : 0, n);
		}
		/* a long program name (another process's) is cut, the keys after it stay */
		memset(big, 'p', sizeof big - 1);
		event(&ev, (struct sockaddr *)&in);
		ev.pid = 3;
		ev.prog = big;
		logcap_clear();
		log_event(&ev);
		l = one_line("json long name");
		n = l ? json_keys(l, keys, 32) : -1;
		ok(n == (int)NKEYS && strstr(l, "\"reuseport\":\"off\"}\n"),
		   "json: a 5,000-byte name is cut, every key after it kept (%d keys)", n);
	}
}

/* After log_policy_ready the name and source come prebuilt: same lines. */
static void prebuilt(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(80) };
	struct reuse_event ev;
	char before[LINE_MAX_BYTES + 8], after[LINE_MAX_BYTES + 8];

	in.sin_addr.s_addr = htonl(0x7f000001);
	snprintf(reuse_cfg.prog, sizeof reuse_cfg.prog, "pre\"\x01");
	logcap_clear();
	event(&ev, (struct sockaddr *)&in);
	log_event(&ev);
	no_ts(logcap_line(0), before, sizeof before);
	log_policy_ready();
	logcap_clear();
	log_event(&ev);
	no_ts(logcap_line(0), after, sizeof after);
	ok(before[0] && strcmp(before, after) == 0 && strstr(after, "\"prog\":\"pre\\\"\\u0001\""),
	   "json: lines built from the prebuilt name and source are the same (%s)", after);
	snprintf(reuse_cfg.prog, sizeof reuse_cfg.prog, "unitprog");
	log_policy_ready();
}

void test_log(void)
{
	text_lines();
	json_lines();
	prebuilt();
	logcap_start("text", NULL);
}
