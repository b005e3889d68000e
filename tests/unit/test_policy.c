/*
 * test_policy.c - the policy parser, matcher and index (src/core/policy_*.c).
 *
 * Tables of policy texts with the exact diagnostics they must produce,
 * tables of sockets with the rule that must decide for them, and a
 * randomised comparison of the indexed matcher with a naive scan written
 * here from the spec (reuse.policy(5)), not from the code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "libreuse.h"
#include "tap.h"
#include "unit.h"

#define NAME "t.policy"
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A growing string for generated policies. */
struct buf {
	char *s;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3)))
static void buf_add(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		b->s = realloc(b->s, cap);
		if (!b->s)
			abort();
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Count of lines in a diagnostics text. */
static unsigned diag_lines(const struct reuse_diag *d)
{
	unsigned n = 0;
	for (size_t i = 0; i < d->len; i++)
		n += d->text[i] == '\n';
	return n;
}

/* Does the diagnostics text hold NAME ":" expect? */
static bool has_diag(const struct reuse_diag *d, const char *expect)
{
	char want[512];
	snprintf(want, sizeof want, "%s:%s", NAME, expect);
	return d->text && strstr(d->text, want) != NULL;
}

/* ====================================================================
 * Parse errors
 * ==================================================================== */

struct err_case {
	const char *text;
	size_t len;
	unsigned nerr;           /* errors the text must produce, exactly */
	const char *expect;      /* "LINE:COL: error: MESSAGE-PREFIX" */
	const char *expect2;     /* a second diagnostic, or NULL */
};

#define E(s, n, e) { s, sizeof(s) - 1, n, e, NULL }
#define E2(s, n, e, e2) { s, sizeof(s) - 1, n, e, e2 }

static const struct err_case err_cases[] = {
	/* PROTO */
	E("tcpp *:80 deny\n", 1,
	  "1:1: error: expected PROTO (tcp, udp or any), got 'tcpp' (did you mean 'tcp'?)"),
	E("TCP *:80 deny\n", 1, "1:1: error: expected PROTO (tcp, udp or any), got 'TCP' (did you mean 'tcp'?)"),
	E("   sctp *:80 deny\n", 1, "1:4: error: expected PROTO (tcp, udp or any), got 'sctp'"),
	E("tcp\n", 1, "1:4: error: expected ADDRESS (HOST:PORTS) after 'tcp'"),
	/* ADDRESS */
	E("tcp 80 deny\n", 1, "1:5: error: expected ADDRESS as HOST:PORTS (e.g. *:80), got '80'"),
	E("tcp :80 deny\n", 1, "1:5: error: missing HOST before ':'"),
	E("tcp *: deny\n", 1, "1:6: error: missing PORTS after ':'"),
	E("tcp 300.1.1.1:80 deny\n", 1, "1:5: error: invalid IPv4 address '300.1.1.1'"),
	E("tcp 1.2.3:80 deny\n", 1, "1:5: error: invalid IPv4 address '1.2.3'"),
	E("tcp ::1:80 deny\n", 1,
	  "1:5: error: invalid IPv4 address '::1' (IPv6 addresses go in brackets"),
	E("tcp [::g]:80 deny\n", 1, "1:5: error: invalid IPv6 address '::g'"),
	E("tcp [127.0.0.1]:80 deny\n", 1,
	  "1:5: error: invalid IPv6 address '127.0.0.1' (IPv4 addresses take no brackets)"),
	E("tcp [::1:80 deny\n", 1, "1:5: error: missing ']' after '['"),
	E("tcp [::1]x:80 deny\n", 1, "1:10: error: unexpected 'x' after ']'"),
	/* prefixes and host bits */
	E("tcp 10.1.2.3/8:80 deny\n", 1,
	  "1:5: error: host bits set beyond /8 in '10.1.2.3/8' (did you mean 10.0.0.0/8?)"),
	E("tcp [fe80::1]/10:80 deny\n", 1,
	  "1:5: error: host bits set beyond /10 in '[fe80::1]/10' (did you mean [fe80::]/10?)"),
	E("tcp [::ffff:10.1.2.3]/104:80 deny\n", 1, "1:5: error: host bits set beyond /104"),
	E("tcp [::ffff:0:0]/95:80 deny\n", 1, "1:5: error: host bits set beyond /95"),
	E("tcp 10.0.0.0/33:80 deny\n", 1, "1:14: error: prefix length /33 out of range 0-32"),
	E("tcp [fe80::]/129:80 deny\n", 1, "1:14: error: prefix length /129 out of range 0-128"),
	E("tcp 10.0.0.0/:80 deny\n", 1, "1:13: error: missing prefix length after '/'"),
	E("tcp 10.0.0.0/8x:80 deny\n", 1, "1:13: error: invalid prefix length '/8x'"),
	/* PORTS */
	E("tcp *:70000 deny\n", 1, "1:7: error: port 70000 out of range 0-65535"),
	E("tcp *:80,70000 deny\n", 1, "1:10: error: port 70000 out of range 0-65535"),
	E("tcp *:99999999999999999999999 deny\n", 1,
	  "1:7: error: port 99999999999999999999999 out of range 0-65535"),
	E("tcp *:8099-8000 deny\n", 1, "1:7: error: reversed port range 8099-8000"),
	E("tcp *:80,,443 deny\n", 1, "1:10: error: empty element in port list"),
	E("tcp *:80, deny\n", 1, "1:9: error: empty element in port list"),
	E("tcp *:,80 deny\n", 1, "1:7: error: empty element in port list"),
	E("tcp *:80- deny\n", 1, "1:7: error: invalid port range '80-'"),
	E("tcp *:-5 deny\n", 1, "1:7: error: invalid port range '-5'"),
	E("tcp *:80,* deny\n", 1, "1:10: error: '*' cannot be part of a port list"),
	E("tcp *:0x50 deny\n", 1, "1:7: error: invalid port '0x50'"),
	E("tcp *:8o deny\n", 1, "1:7: error: invalid port '8o'"),
	E2("tcp *:1-x,70000,5-4 deny\n", 3, "1:9: error: invalid port 'x'",
	   "1:17: error: reversed port range 5-4"),
	/* MATCH */
	E("tcp *:80 program= deny\n", 1, "1:10: error: 'program=' needs a value (a non-empty GLOB)"),
	E("tcp *:80 uid=abc deny\n", 1, "1:14: error: invalid uid 'abc'"),
	E("tcp *:80 uid=-1 deny\n", 1, "1:14: error: invalid uid '-1'"),
	E("tcp *:80 uid=4294967295 deny\n", 1, "1:14: error: uid 4294967295 out of range 0-4294967294"),
	E("tcp *:80 prog=x deny\n", 1, "1:10: error: unknown match 'prog' (did you mean 'program'?)"),
	E("tcp *:80 progam=x deny\n", 1, "1:10: error: unknown match 'progam' (did you mean 'program'?)"),
	E("tcp *:80 program=a program=b deny\n", 1,
	  "1:20: error: duplicate match 'program' (first at column 10)"),
	/* DIRECTIVE */
	E("tcp *:80 reuseadr=force\n", 1,
	  "1:10: error: unknown directive 'reuseadr' (did you mean 'reuseaddr'?)"),
	E("any *:80 reuse=force\n", 1, "1:10: error: unknown directive 'reuse' (did you mean 'reuseaddr'?)"),
	E("tcp *:80 blah\n", 1, "1:10: error: unknown directive 'blah' (expected reuseaddr="),
	E("tcp *:80 reuseaddr=forse\n", 1,
	  "1:20: error: unknown reuseaddr value 'forse' (did you mean 'force'?)"),
	E("tcp *:80 reuseport=maybe\n", 1,
	  "1:20: error: unknown reuseport value 'maybe' (expected keep, force, strip or refuse)"),
	E("tcp *:80 log=verbose deny\n", 1,
	  "1:14: error: unknown log value 'verbose' (expected off, decisions or all)"),
	E("tcp *:80 reuseaddr\n", 1, "1:10: error: 'reuseaddr=' needs a value (keep, force, strip or refuse)"),
	E("tcp *:80 exclusive=yes\n", 1, "1:10: error: 'exclusive' takes no value"),
	E("tcp *:80 deny deny\n", 1, "1:15: error: duplicate directive 'deny' (first at column 10)"),
	E("tcp *:80 reuseaddr=force reuseaddr=strip\n", 1, "1:26: error: duplicate directive 'reuseaddr'"),
	E("tcp 127.0.0.1:80 handoff handoff\n", 1, "1:26: error: duplicate directive 'handoff'"),
	E("tcp *:80 log=off log=all\n", 1, "1:18: error: duplicate directive 'log'"),
	E("tcp *:80 program=foo\n", 1, "1:1: error: rule has no directive"),
	E("tcp *:80\n", 1, "1:1: error: rule has no directive"),
	E("tcp *:80 deny reuseaddr=force\n", 1,
	  "1:15: error: 'reuseaddr=force' cannot be combined with 'deny'"),
	E("udp 224.0.0.0/4:* reuseaddr=keep deny\n", 1,
	  "1:34: error: 'deny' cannot be combined with 'reuseaddr=keep'"),
	E("tcp *:80 deny handoff\n", 1, "1:15: error: 'handoff' cannot be combined with 'deny'"),
	E("tcp *:80 deny exclusive\n", 1, "1:15: error: 'exclusive' cannot be combined with 'deny'"),
	E("tcp *:80 uid=0 deny reserve\n", 1, "1:21: error: 'reserve' cannot be combined with 'deny'"),
	E("tcp *:80 reserve=yes\n", 1, "1:10: error: 'reserve' takes no value"),
	E("tcp *:80 reserve log=off\n", 1,
	  "1:10: error: 'reserve' needs program= or uid= (the processes the address is for)"),
	E("tcp *:80 reuseport=force exclusive\n", 1,
	  "1:26: error: 'exclusive' cannot be combined with 'reuseport=force' (exclusive keeps SO_REUSEPORT off)"),
	E2("tcp *:80 exclusive reuseaddr=force reuseport=force\n", 2,
	   "1:20: error: 'reuseaddr=force' cannot be combined with 'exclusive'",
	   "1:36: error: 'reuseport=force' cannot be combined with 'exclusive'"),
	/* bytes, line ends, tabs */
	E2("tcp *:80 deny\r\nudp *:x deny\r\n", 1, "2:7: error: invalid port 'x'", NULL),
	E("tcp *:80 deny\0\n", 1, "1:14: error: unexpected byte 0x00"),
	E("tcp *:80 deny\x01", 1, "1:14: error: unexpected byte 0x01"),
	E("tcp *:80 deny\rfoo\n", 1, "1:14: error: unexpected byte 0x0d"),
	E("tcp *:80 \x7f deny\n", 1, "1:10: error: unexpected byte 0x7f"),
	E("\xef\xbb\xbftcp *:80 deny\n", 1, "1:1: error: unexpected byte 0xef"),
	E("tcp *:80 deny caf\xc3\xa9 # fine here: caf\xc3\xa9\n", 1, "1:18: error: unexpected byte 0xc3"),
	E("tcp\t*:80\tdeny\tfoo\n", 1, "1:15: error: unknown directive 'foo'"),
	E(" \t tcp\t \t*:99999\tdeny\n", 1, "1:12: error: port 99999 out of range"),
	/* on-error */
	E("# c\ntcp *:80 deny\non-error closed\n", 1,
	  "3:1: error: 'on-error' is only allowed as the first rule line"),
	E("bogus\non-error closed\n", 3, "2:1: error: 'on-error' is only allowed as the first rule line"),
	E("on-error maybe\n", 1, "1:10: error: expected 'closed' or 'open' after 'on-error', got 'maybe'"),
	E("on-error\n", 1, "1:9: error: expected 'closed' or 'open' after 'on-error'"),
	E("on-error closed extra\n", 1, "1:17: error: unexpected 'extra' after 'on-error closed'"),
	E2("on-error closed\ntcpp *:80 deny\n", 1, "2:1: error: expected PROTO", NULL),
	/* several lines, all reported */
	E2("tcp *:80 deny\ntcp *:81 bogus\nudp *:99999 deny\n", 2,
	   "2:10: error: unknown directive 'bogus'", "3:7: error: port 99999 out of range"),
	E2("tcpp 10.1.2.3/8:80,x reuseadr=force\n", 4,
	   "1:1: error: expected PROTO", "1:20: error: invalid port 'x'"),
};

/* One table case: the exact count and the expected diagnostics. */
static void check_err_case(const struct err_case *c)
{
	struct reuse_policy p;
	struct reuse_diag d = { 0 };
	int n = reuse_policy_parse(NAME, c->text, c->len, &p, &d);
	bool good = n == (int)c->nerr && d.errors == c->nerr &&
		    diag_lines(&d) == c->nerr && has_diag(&d, c->expect) &&
		    (!c->expect2 || has_diag(&d, c->expect2)) &&
		    p.rules == NULL && p.nrules == 0;
	if (!ok(good, "error: %s", c->expect))
		diag("got %d error(s):\n%s", n, d.text ? d.text : "(none)");
	reuse_policy_free(&p);
	reuse_diag_free(&d);
}

/* A line of any length: columns past a million, a token cut in messages. */
static void test_long_lines(void)
{
	struct buf b = { 0 };
	struct reuse_policy p;
	struct reuse_diag d = { 0 };

	buf_add(&b, "tcp *:80");
	for (int i = 0; i < 1000000; i++)
		buf_add(&b, " ");
	buf_add(&b, "deny bogus\n");
	int n = reuse_policy_parse(NAME, b.s, b.len, &p, &d);
	ok(n == 1 && has_diag(&d, "1:1000014: error: unknown directive 'bogus'"),
	   "long line: column 1000014 reported");
	reuse_policy_free(&p);
	reuse_diag_free(&d);

	b.len = 0;
	buf_add(&b, "tcp *:80 deny ");
	for (int i = 0; i < 1000000; i++)
		buf_add(&b, "x");
	n = reuse_policy_parse(NAME, b.s, b.len, &p, &d);
	ok(n == 1 && has_diag(&d, "1:15: error: unknown directive 'xxxxxxxx") && d.len < 300,
	   "a megabyte token is quoted cut short (%zu bytes of diagnostics)", d.len);
	reuse_policy_free(&p);
	reuse_diag_free(&d);

	/* one 10 MB line: a port list naming every port many times */
	b.len = 0;
	buf_add(&b, "udp *:");
	for (unsigned i = 0; b.len < 10u << 20; i++)
		buf_add(&b, "%u,", (i * 7919u) % 65536u);
	buf_add(&b, "65535 reuseport=force\n");
	n = reuse_policy_parse(NAME, b.s, b.len, &p, &d);
	ok(n == 0 && p.nrules == 1 && p.rules[0].nports == 1 &&
	   p.rules[0].ports[0].lo == 0 && p.rules[0].ports[0].hi == 65535,
	   "10 MB port list on one line merges to 0-65535");
	reuse_policy_free(&p);
	reuse_diag_free(&d);
	free(b.s);
}

/* 100 errors, then one "too many errors" line, then silence. */
static void test_too_many_errors(void)
{
	struct buf b = { 0 };
	struct reuse_policy p;
	struct reuse_diag d = { 0 };

	for (int i = 0; i < 150; i++)
		buf_add(&b, "tcp *:80 bogus\n");
	int n = reuse_policy_parse(NAME, b.s, b.len, &p, &d);
	const char *last = d.text ? strstr(d.text, NAME ":101:") : NULL;
	ok(n == 101 && diag_lines(&d) == 101 && has_diag(&d, "100:10: error: unknown directive") &&
	   last && strcmp(last, NAME ":101:10: error: too many errors, giving up\n") == 0,
	   "error cap: 100 errors then 'too many errors, giving up'");
	reuse_policy_free(&p);
	reuse_diag_free(&d);

	/* exactly 100 errors is not "too many" */
	b.len = 0;
	for (int i = 0; i < 100; i++)
		buf_add(&b, "tcp *:80 bogus\n");
	n = reuse_policy_parse(NAME, b.s, b.len, &p, &d);
	ok(n == 100 && !strstr(d.text, "too many"), "exactly 100 errors are all reported");
	reuse_policy_free(&p);
	reuse_diag_free(&d);
	free(b.s);
}

/* on-error: first rule line only, found even when other lines are wrong. */
static void test_on_error(void)
{
	static const struct {
		const char *text;
		int nerr;
		bool closed;
	} cases[] = {
		{ "on-error closed\ntcp *:80 deny\n", 0, true },
		{ "on-error open\ntcp *:80 deny\n", 0, false },
		{ "\n# comment\n \t\n  on-error closed # why\ntcpp *:80\n", 1, true },
		{ "on-error closed\r\nbogus line\nudp *:70000 deny\n", 3, true },
		{ "on-error closed extra\n", 1, true },
		{ "on-error open\ntcpp *:80 deny\n", 1, false },
		{ "tcp *:80 deny\non-error closed\n", 1, false },
		{ "tcpp *:80 deny\non-error closed\n", 2, false },
		{ "on-error closed\non-error closed\n", 1, true },
		{ "tcp *:80 deny\n", 0, false },
		{ "", 0, false },
	};
	for (size_t i = 0; i < COUNT(cases); i++) {
		struct reuse_policy p;
		struct reuse_diag d = { 0 };
		int n = reuse_policy_parse(NAME, cases[i].text, strlen(cases[i].text), &p, &d);
		ok(n == cases[i].nerr && p.on_error_closed == cases[i].closed,
		   "on-error case %zu: %d error(s), closed=%d", i, cases[i].nerr, cases[i].closed);
		reuse_policy_free(&p);
		reuse_diag_free(&d);
	}
}

/* ====================================================================
 * Parsed rules
 * ==================================================================== */

struct rule_case {
	const char *text;
	size_t len;
	unsigned proto;
	int family;
	const char *addr;        /* expected host address, NULL for `*` */
	unsigned prefix;
	const char *ports;       /* "*" or "lo-hi,port,..." */
	const char *program;
	long uid;
	unsigned ra, rp, log;
	bool excl, handoff, deny, reserve;
};

#define R(s) s, sizeof(s) - 1
enum { K = REUSE_KEEP, F = REUSE_FORCE, S = REUSE_STRIP, X = REUSE_REFUSE };
enum { LO = REUSE_LOG_OFF, LD = REUSE_LOG_DECISIONS, LA = REUSE_LOG_ALL };

static const struct rule_case rule_cases[] = {
	{ R("tcp *:* reuseaddr=force"), REUSE_P_TCP, 0, NULL, 0, "*", NULL, -1, F, K, LD, 0, 0, 0, 0 },
	{ R("udp 0.0.0.0:53 exclusive program=dnsmasq"), REUSE_P_UDP, AF_INET, "0.0.0.0", 32,
	  "53", "dnsmasq", -1, K, K, LD, 1, 0, 0, 0 },
	{ R("any 10.0.0.0/8:80,443,8000-8099,81 deny log=all"), REUSE_P_ANY, AF_INET, "10.0.0.0", 8,
	  "80-81,443,8000-8099", NULL, -1, K, K, LA, 0, 0, 1, 0 },
	{ R("tcp [::1]:8080 reuseport=force handoff uid=1000"), REUSE_P_TCP, AF_INET6, "::1", 128,
	  "8080", NULL, 1000, K, F, LD, 0, 1, 0, 0 },
	{ R("tcp [fe80::]/10:0 reuseaddr=strip"), REUSE_P_TCP, AF_INET6, "fe80::", 10, "0", NULL, -1,
	  S, K, LD, 0, 0, 0, 0 },
	{ R("tcp [::ffff:127.0.0.1]:80 reuseaddr=refuse"), REUSE_P_TCP, AF_INET, "127.0.0.1", 32,
	  "80", NULL, -1, X, K, LD, 0, 0, 0, 0 },
	{ R("tcp [::ffff:10.0.0.0]/104:80 reuseaddr=keep"), REUSE_P_TCP, AF_INET, "10.0.0.0", 8,
	  "80", NULL, -1, K, K, LD, 0, 0, 0, 0 },
	{ R("tcp [::ffff:0:0]/96:1-65535 log=off"), REUSE_P_TCP, AF_INET, "0.0.0.0", 0,
	  "1-65535", NULL, -1, K, K, LO, 0, 0, 0, 0 },
	{ R("udp 224.0.0.0/4:* reuseaddr=keep"), REUSE_P_UDP, AF_INET, "224.0.0.0", 4, "*", NULL, -1,
	  K, K, LD, 0, 0, 0, 0 },
	{ R("tcp *:65535,0,1-10,5-20,21 reuseport=strip"), REUSE_P_TCP, 0, NULL, 0, "0-21,65535",
	  NULL, -1, K, S, LD, 0, 0, 0, 0 },
	{ R("\t tcp\t\t*:80\tuid=0 program=ng* deny # trailing comment\r\n"), REUSE_P_TCP, 0, NULL, 0,
	  "80", "ng*", 0, K, K, LD, 0, 0, 1, 0 },
	{ R("tcp [::]:80 reuseaddr=strip exclusive"), REUSE_P_TCP, AF_INET6, "::", 128, "80", NULL, -1,
	  S, K, LD, 1, 0, 0, 0 },
	{ R("tcp 0.0.0.0/0:80 reuseaddr=force"), REUSE_P_TCP, AF_INET, "0.0.0.0", 0, "80", NULL, -1,
	  F, K, LD, 0, 0, 0, 0 },
	{ R("any *:80 uid=4294967294 reuseaddr=force"), REUSE_P_ANY, 0, NULL, 0, "80", NULL,
	  4294967294L, F, K, LD, 0, 0, 0, 0 },
	{ R("tcp [::]/0:80 deny"), REUSE_P_TCP, AF_INET6, "::", 0, "80", NULL, -1, K, K, LD, 0, 0, 1, 0 },
	{ R("tcp 127.0.0.1:80 reuseaddr=force # \xff\xfe\x00\x01 bytes in a comment are fine"),
	  REUSE_P_TCP, AF_INET, "127.0.0.1", 32, "80", NULL, -1, F, K, LD, 0, 0, 0, 0 },
	{ R("tcp *:080,80,80 deny"), REUSE_P_TCP, 0, NULL, 0, "80", NULL, -1, K, K, LD, 0, 0, 1, 0 },
	{ R("tcp *:0-65535 log=decisions reuseaddr=keep reuseport=refuse"), REUSE_P_TCP, 0, NULL, 0,
	  "0-65535", NULL, -1, K, X, LD, 0, 0, 0, 0 },
	{ R("udp 192.168.1.0/24:5000-5001,5002 reuseport=keep reuseaddr=strip exclusive"),
	  REUSE_P_UDP, AF_INET, "192.168.1.0", 24, "5000-5002", NULL, -1, S, K, LD, 1, 0, 0, 0 },
	{ R("tcp [2001:db8::]/32:443 program=*x deny#comment right after a token"), REUSE_P_TCP,
	  AF_INET6, "2001:db8::", 32, "443", "*x", -1, K, K, LD, 0, 0, 1, 0 },
	{ R("udp 127.0.0.1:53 program=dnsmasq uid=0 reserve"), REUSE_P_UDP, AF_INET, "127.0.0.1",
	  32, "53", "dnsmasq", 0, K, K, LD, 0, 0, 0, 1 },
	{ R("any *:53 reserve exclusive log=off uid=53"), REUSE_P_ANY, 0, NULL, 0, "53", NULL, 53,
	  K, K, LO, 1, 0, 0, 1 },
};

/* ports_str - a rule's ranges as "lo-hi,port,..." ("*" for none). */
static void ports_str(const struct reuse_rule *r, char *out, size_t size)
{
	size_t n = 0;
	out[0] = '\0';
	if (!r->nports)
		snprintf(out, size, "*");
	for (size_t i = 0; i < r->nports && n < size; i++) {
		const struct reuse_ports *p = &r->ports[i];
		if (p->lo == p->hi)
			n += (size_t)snprintf(out + n, size - n, "%s%u", i ? "," : "", p->lo);
		else
			n += (size_t)snprintf(out + n, size - n, "%s%u-%u", i ? "," : "", p->lo, p->hi);
	}
}

static bool host_is(const struct reuse_rule *r, int family, const char *addr, unsigned prefix)
{
	uint8_t want[16] = { 0 };
	if (r->host.family != family)
		return false;
	if (!family)
		return r->host.prefix == 0;
	if (inet_pton(family, addr, want) != 1)
		return false;
	return memcmp(r->host.addr, want, family == AF_INET ? 4 : 16) == 0 &&
	       r->host.prefix == prefix;
}

static void check_rule_case(const struct rule_case *c)
{
	struct reuse_policy p;
	struct reuse_diag d = { 0 };
	char ports[256];
	int n = reuse_policy_parse(NAME, c->text, c->len, &p, &d);
	bool good = n == 0 && p.nrules == 1;
	if (good) {
		const struct reuse_rule *r = &p.rules[0];
		ports_str(r, ports, sizeof ports);
		good = r->line == 1 && r->proto == c->proto &&
		       host_is(r, c->family, c->addr, c->prefix) &&
		       strcmp(ports, c->ports) == 0 &&
		       (c->program ? r->program && strcmp(r->program, c->program) == 0
				   : r->program == NULL) &&
		       r->uid == c->uid && r->reuseaddr == c->ra && r->reuseport == c->rp &&
		       r->log == c->log && r->exclusive == c->excl &&
		       r->handoff == c->handoff && r->deny == c->deny &&
		       r->reserve == c->reserve;
		if (!good)
			diag("proto %u family %d prefix %u ports %s program %s uid %ld "
			     "ra %u rp %u log %u excl %d handoff %d deny %d", r->proto,
			     r->host.family, r->host.prefix, ports,
			     r->program ? r->program : "-", r->uid, r->reuseaddr,
			     r->reuseport, r->log, r->exclusive, r->handoff, r->deny);
	} else {
		diag("%s", d.text ? d.text : "no rule");
	}
	ok(good, "parses: %.*s", (int)strcspn(c->text, "\r\n#"), c->text);
	reuse_policy_free(&p);
	reuse_diag_free(&d);
}

/* Lines, comments, blank lines, CRLF, missing final newline. */
static void test_rule_lines(void)
{
	static const char text[] =
		"# header\r\n"
		"\r\n"
		"tcp *:1 deny\r\n"
		"   \t  \n"
		"  # indented comment\n"
		"udp *:2 deny # comment\n"
		"\n"
		"any *:3 deny";
	static const unsigned lines[] = { 3, 6, 8 };
	struct reuse_policy p;
	struct reuse_diag d = { 0 };
	int n = reuse_policy_parse(NAME, text, sizeof text - 1, &p, &d);
	bool good = n == 0 && p.nrules == 3;
	for (size_t i = 0; good && i < 3; i++)
		good = p.rules[i].line == lines[i] && p.rules[i].ports[0].lo == i + 1;
	ok(good, "rule line numbers across comments, blanks and CRLF");
	ok(p.source && strcmp(p.source, NAME) == 0, "source is the name given");
	reuse_policy_free(&p);

	n = reuse_policy_parse(NAME, "# only comments\n\n  \n", 20, &p, &d);
	ok(n == 0 && p.nrules == 0 && !p.on_error_closed, "a policy of comments has no rules");
	reuse_policy_free(&p);

	n = reuse_policy_parse(NAME, NULL, 0, &p, &d);
	ok(n == 0 && p.nrules == 0, "an empty policy parses");
	reuse_policy_free(&p);
	reuse_diag_free(&d);
}

/* ====================================================================
 * Diagnostics buffer, load, free
 * ==================================================================== */

static void test_diag(void)
{
	struct reuse_diag d = { 0 };
	reuse_diag_add(&d, "%s:%d:%d: error: %s", "f", 1, 2, "x");
	ok(d.errors == 1 && d.text && strcmp(d.text, "f:1:2: error: x\n") == 0 && d.len == 16,
	   "reuse_diag_add appends one line");
	for (int i = 0; i < 10000; i++)
		reuse_diag_add(&d, "line %d", i);
	ok(d.errors == 10001 && diag_lines(&d) == 10001 && strstr(d.text, "\nline 9999\n") &&
	   strlen(d.text) == d.len, "reuse_diag_add grows the buffer");
	reuse_diag_free(&d);
	ok(d.text == NULL && d.len == 0 && d.cap == 0 && d.errors == 0, "reuse_diag_free zeroes");
	reuse_diag_free(&d);
	reuse_diag_add(NULL, "ignored %d", 1);
	ok(true, "NULL diag is ignored by add and free");

	/* parse counts only its own errors */
	struct reuse_policy p;
	reuse_diag_add(&d, "earlier");
	int n = reuse_policy_parse(NAME, "tcp *:x deny\n", 13, &p, &d);
	ok(n == 1 && d.errors == 2, "parse returns the errors of this call only");
	reuse_policy_free(&p);
	n = reuse_policy_parse(NAME, "tcp *:x deny\nbogus *:1 deny\n", 28, &p, NULL);
	ok(n == 2 && p.nrules == 0, "parse without a diag still counts errors");
	reuse_policy_free(&p);
	reuse_diag_free(&d);
}

/* write_file - a temporary file with the given bytes; the caller unlinks. */
static bool write_file(char *path, const char *text, size_t len)
{
	int fd = mkstemp(path);
	if (fd < 0)
		return false;
	bool good = write(fd, text, len) == (ssize_t)len;
	close(fd);
	return good;
}

static void test_load(void)
{
	struct reuse_policy p;
	struct reuse_diag d = { 0 };

	int n = reuse_policy_load("/nonexistent/x.policy", &p, &d);
	ok(n == 1 && d.errors == 1 && strcmp(d.text, "/nonexistent/x.policy:1:1: error: cannot "
					     "read policy: No such file or directory\n") == 0 &&
	   p.nrules == 0 && p.rules == NULL, "load: missing file is one error at 1:1");
	reuse_policy_free(&p);
	reuse_diag_free(&d);

	n = reuse_policy_load("/", &p, &d);
	ok(n == 1 && strstr(d.text, "/:1:1: error: cannot read policy: Is a directory"),
	   "load: a directory cannot be read");
	reuse_policy_free(&p);
	reuse_diag_free(&d);

	char path[] = "/tmp/reuse-unit-XXXXXX";
	static const char text[] = "on-error closed\r\ntcp *:80 deny\r\nudp *:x deny";
	if (write_file(path, text, sizeof text - 1)) {
		n = reuse_policy_load(path, &p, &d);
		char want[128];
		snprintf(want, sizeof want, "%s:3:7: error: invalid port 'x'\n", path);
		ok(n == 1 && d.text && strcmp(d.text, want) == 0 && p.on_error_closed &&
		   p.source && strcmp(p.source, path) == 0, "load: errors name the path");
		reuse_policy_free(&p);
		reuse_diag_free(&d);
		unlink(path);
	} else {
		ok(false, "load: cannot write %s: %s", path, strerror(errno));
	}

	char big[] = "/tmp/reuse-unit-XXXXXX";
	int fd = mkstemp(big);
	if (fd >= 0 && ftruncate(fd, (64 << 20) + 1) == 0) {
		n = reuse_policy_load(big, &p, &d);
		ok(n == 1 && strstr(d.text, ":1:1: error: cannot read policy: larger than 64 MiB"),
		   "load: more than 64 MiB is refused");
		reuse_policy_free(&p);
		reuse_diag_free(&d);
	} else {
		ok(false, "load: cannot make a big file: %s", strerror(errno));
	}
	if (fd >= 0) {
		close(fd);
		unlink(big);
	}

	/* the shipped default, from disk and as embedded */
	n = reuse_policy_load("policy/default.policy", &p, &d);
	ok(n == 0 && p.nrules >= 1, "policy/default.policy parses (%zu rules)", p.nrules);
	if (n)
		diag("%s", d.text);
	size_t nrules = p.nrules;
	reuse_policy_free(&p);
	reuse_diag_free(&d);
	n = reuse_policy_parse("default", reuse_default_policy, strlen(reuse_default_policy), &p, &d);
	ok(n == 0 && p.nrules == nrules, "embedded default policy parses like the file");
	reuse_policy_free(&p);
	reuse_diag_free(&d);
}

static void test_free(void)
{
	struct reuse_policy p;
	memset(&p, 0, sizeof p);
	reuse_policy_free(&p);
	reuse_policy_free(&p);
	reuse_policy_free(NULL);
	ok(p.rules == NULL && p.source == NULL, "free of a zeroed policy, twice, and NULL");

	reuse_policy_parse(NAME, "tcp *:80 program=x deny\n", 24, &p, NULL);
	reuse_policy_free(&p);
	ok(p.rules == NULL && p.nrules == 0 && p.index == NULL && p.source == NULL,
	   "free zeroes a parsed policy");
	reuse_policy_free(&p);
	ok(true, "free after free is safe");
}

/* ====================================================================
 * Matching
 * ==================================================================== */

/* subject - a socket; an address with ':' is IPv6. */
static struct reuse_subject subject(unsigned proto, const char *addr, unsigned port,
				    const char *prog, const char *exe, long uid)
{
	struct reuse_subject s = { .proto = proto, .port = (uint16_t)port, .prog = prog,
				   .exe = exe, .uid = uid };
	s.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(s.family, addr, s.addr) != 1)
		abort();
	return s;
}

static const char match_policy[] =
	"# first match wins\n"                                  /* 1 */
	"tcp 127.0.0.1:8080 reuseport=force\n"                  /* 2 */
	"tcp *:8080 reuseaddr=force\n"                          /* 3 */
	"udp *:53 program=dnsmasq exclusive\n"                  /* 4 */
	"any 0.0.0.0:9000 deny\n"                               /* 5 */
	"tcp 10.0.0.0/8:80,443,8000-8099 reuseaddr=strip\n"     /* 6 */
	"tcp [::1]:8081 handoff\n"                              /* 7 */
	"tcp [fe80::]/10:* reuseaddr=keep\n"                    /* 8 */
	"udp [::ffff:192.168.1.1]:* reuseport=force\n"          /* 9 */
	"tcp *:0 log=all\n"                                     /* 10 */
	"any *:7000-7010 uid=1000 deny\n"                       /* 11 */
	"tcp *:7000 program=ng* reuseaddr=force\n"              /* 12 */
	"udp 224.0.0.0/4:* reuseaddr=keep\n"                    /* 13 */
	"any *:* program=last reuseaddr=strip\n"                /* 14 */
	"udp *:65535 uid=0 deny\n"                              /* 15 */
	"udp 127.0.0.0/31:1-2,65534 reuseaddr=force\n"          /* 16 */
	"tcp [2001:db8::]/33:* deny\n"                          /* 17 */
	"any *:4000-4999 uid=7 program=n?x deny\n";             /* 18 */

#define T REUSE_P_TCP
#define U REUSE_P_UDP

static const struct match_case {
	unsigned proto;
	const char *addr;
	unsigned port;
	const char *prog, *exe;
	long uid;
	unsigned line;           /* 0: no rule */
} match_cases[] = {
	{ T, "127.0.0.1", 8080, NULL, NULL, 0, 2 },
	{ T, "127.0.0.2", 8080, NULL, NULL, 0, 3 },
	{ T, "::1", 8080, NULL, NULL, 0, 3 },          /* `*` covers IPv6 too */
	{ T, "0.0.0.0", 8080, NULL, NULL, 0, 3 },
	{ U, "127.0.0.1", 8080, NULL, NULL, 0, 0 },    /* tcp rules only */
	{ T, "::1", 8081, NULL, NULL, 0, 7 },
	{ T, "::2", 8081, NULL, NULL, 0, 0 },
	{ T, "127.0.0.1", 8081, NULL, NULL, 0, 0 },
	{ U, "0.0.0.0", 53, "dnsmasq", NULL, 0, 4 },
	{ U, "::", 53, "other", "dnsmasq", 0, 4 },     /* exe counts too */
	{ U, "0.0.0.0", 53, NULL, NULL, 0, 0 },
	{ U, "0.0.0.0", 53, "dnsmasq2", "dnsmasq.bin", 0, 0 },
	{ T, "0.0.0.0", 53, "dnsmasq", NULL, 0, 0 },
	{ T, "0.0.0.0", 9000, NULL, NULL, 0, 5 },
	{ U, "0.0.0.0", 9000, NULL, NULL, 0, 5 },
	{ T, "127.0.0.1", 9000, NULL, NULL, 0, 0 },    /* 0.0.0.0 is literal */
	{ T, "::", 9000, NULL, NULL, 0, 0 },
	{ T, "10.1.2.3", 80, NULL, NULL, 0, 6 },
	{ T, "10.255.255.255", 443, NULL, NULL, 0, 6 },
	{ T, "10.0.0.1", 8000, NULL, NULL, 0, 6 },
	{ T, "10.0.0.1", 8099, NULL, NULL, 0, 6 },
	{ T, "10.0.0.1", 8100, NULL, NULL, 0, 0 },
	{ T, "10.0.0.1", 7999, NULL, NULL, 0, 0 },
	{ T, "10.0.0.1", 81, NULL, NULL, 0, 0 },
	{ T, "11.0.0.1", 80, NULL, NULL, 0, 0 },
	{ T, "9.255.255.255", 443, NULL, NULL, 0, 0 },
	{ T, "fe80::1", 22, NULL, NULL, 0, 8 },
	{ T, "febf:ffff::1", 22, NULL, NULL, 0, 8 },
	{ T, "fec0::1", 22, NULL, NULL, 0, 0 },
	{ U, "fe80::1", 22, NULL, NULL, 0, 0 },
	{ U, "192.168.1.1", 5000, NULL, NULL, 0, 9 },  /* v4-mapped rule is IPv4 */
	{ U, "192.168.1.2", 5000, NULL, NULL, 0, 0 },
	{ T, "127.0.0.1", 0, NULL, NULL, 0, 10 },      /* port 0 is a port */
	{ T, "::", 0, NULL, NULL, 0, 10 },
	{ U, "127.0.0.5", 0, NULL, NULL, 0, 0 },
	{ T, "1.2.3.4", 7005, NULL, NULL, 1000, 11 },
	{ U, "1.2.3.4", 7010, NULL, NULL, 1000, 11 },
	{ T, "1.2.3.4", 7011, NULL, NULL, 1000, 0 },
	{ T, "1.2.3.4", 7005, NULL, NULL, 0, 0 },
	{ T, "1.2.3.4", 7000, "nginx", NULL, 0, 12 },
	{ T, "1.2.3.4", 7000, "apache", "nginx", 0, 12 },
	{ T, "1.2.3.4", 7000, "nginx", NULL, 1000, 11 },
	{ T, "1.2.3.4", 7000, "xnginx", NULL, 0, 0 },
	{ U, "239.1.1.1", 5353, NULL, NULL, 0, 13 },
	{ U, "224.0.0.0", 0, NULL, NULL, 0, 13 },
	{ U, "223.255.255.255", 5353, NULL, NULL, 0, 0 },
	{ U, "240.0.0.0", 5353, NULL, NULL, 0, 0 },
	{ T, "2001:db8::1", 1234, "last", NULL, 0, 14 },
	{ U, "8.8.8.8", 65535, NULL, "last", 5, 14 },
	{ U, "8.8.8.8", 65535, NULL, NULL, 0, 15 },
	{ U, "8.8.8.8", 65535, NULL, NULL, 1, 0 },
	{ U, "127.0.0.1", 2, NULL, NULL, 0, 16 },
	{ U, "127.0.0.0", 65534, NULL, NULL, 0, 16 },
	{ U, "127.0.0.2", 1, NULL, NULL, 0, 0 },
	{ U, "127.0.0.1", 3, NULL, NULL, 0, 0 },
	{ U, "127.0.0.1", 65533, NULL, NULL, 0, 0 },
	{ T, "2001:db8:7fff::1", 1, NULL, NULL, 0, 17 },
	{ T, "2001:db8:8000::1", 1, NULL, NULL, 0, 0 },
	{ T, "2001:db9::1", 1, NULL, NULL, 0, 0 },
	{ T, "1.1.1.1", 4500, "nix", NULL, 7, 18 },
	{ U, "::", 4999, NULL, "nax", 7, 18 },
	{ T, "1.1.1.1", 4500, "nix", NULL, 8, 0 },
	{ T, "1.1.1.1", 4500, "nixx", NULL, 7, 0 },
	{ T, "1.1.1.1", 5000, "nix", NULL, 7, 0 },
};

static void test_match_table(void)
{
	struct reuse_policy p;
	struct reuse_diag d = { 0 };
	int n = reuse_policy_parse(NAME, match_policy, sizeof match_policy - 1, &p, &d);
	ok(n == 0 && p.nrules == 17 && p.index, "match policy parses, with an index");
	for (size_t i = 0; i < COUNT(match_cases); i++) {
		const struct match_case *c = &match_cases[i];
		struct reuse_subject s = subject(c->proto, c->addr, c->port, c->prog, c->exe, c->uid);
		const struct reuse_rule *r = reuse_policy_match(&p, &s);
		unsigned got = r ? r->line : 0;
		ok(got == c->line, "match %s %s port %u prog %s exe %s uid %ld -> line %u (got %u)",
		   c->proto == T ? "tcp" : "udp", c->addr, c->port, c->prog ? c->prog : "-",
		   c->exe ? c->exe : "-", c->uid, c->line, got);
	}
	reuse_policy_free(&p);
	reuse_diag_free(&d);
}

/* No policy, a broken one, an empty one: nothing matches. */
static void test_match_nothing(void)
{
	struct reuse_policy p;
	struct reuse_subject s = subject(T, "127.0.0.1", 80, "x", "x", 0);

	ok(reuse_policy_match(NULL, &s) == NULL, "match: NULL policy");
	memset(&p, 0, sizeof p);
	ok(reuse_policy_match(&p, &s) == NULL, "match: zeroed policy");
	reuse_policy_parse(NAME, "tcp *:* deny\nbogus\n", 19, &p, NULL);
	ok(reuse_policy_match(&p, &s) == NULL, "match: broken policy applies no rule");
	reuse_policy_free(&p);
	reuse_policy_parse(NAME, "# nothing\n", 10, &p, NULL);
	ok(reuse_policy_match(&p, &s) == NULL, "match: empty policy");
	reuse_policy_free(&p);
}

/* reuse_host_match on hand-made hosts. */
static void test_host_match(void)
{
	static const struct {
		int hfam;
		const char *haddr;
		unsigned prefix;
		const char *addr;
		bool want;
	} cases[] = {
		{ 0, NULL, 0, "1.2.3.4", true },
		{ 0, NULL, 0, "::1", true },
		{ AF_INET, "0.0.0.0", 0, "1.2.3.4", true },
		{ AF_INET, "0.0.0.0", 0, "::", false },
		{ AF_INET, "0.0.0.0", 32, "0.0.0.0", true },
		{ AF_INET, "0.0.0.0", 32, "0.0.0.1", false },
		{ AF_INET, "10.0.0.0", 31, "10.0.0.1", true },
		{ AF_INET, "10.0.0.0", 31, "10.0.0.2", false },
		{ AF_INET, "10.0.0.0", 7, "11.255.0.0", true },
		{ AF_INET, "10.0.0.0", 7, "12.0.0.0", false },
		{ AF_INET, "10.0.0.0", 7, "9.0.0.0", false },
		{ AF_INET, "192.168.1.128", 25, "192.168.1.255", true },
		{ AF_INET, "192.168.1.128", 25, "192.168.1.127", false },
		{ AF_INET6, "fe80::", 10, "fe80::1", true },
		{ AF_INET6, "fe80::", 10, "febf::", true },
		{ AF_INET6, "fe80::", 10, "fec0::", false },
		{ AF_INET6, "::1", 128, "::1", true },
		{ AF_INET6, "::1", 128, "::", false },
		{ AF_INET6, "::", 0, "2001::1", true },
		{ AF_INET6, "::", 0, "1.2.3.4", false },
		{ AF_INET6, "2001:db8::", 127, "2001:db8::1", true },
		{ AF_INET6, "2001:db8::", 127, "2001:db8::2", false },
	};
	for (size_t i = 0; i < COUNT(cases); i++) {
		struct reuse_host h = { .family = cases[i].hfam, .prefix = (uint8_t)cases[i].prefix };
		uint8_t a[16] = { 0 };
		int fam = strchr(cases[i].addr, ':') ? AF_INET6 : AF_INET;
		if (h.family)
			inet_pton(h.family, cases[i].haddr, h.addr);
		inet_pton(fam, cases[i].addr, a);
		ok(reuse_host_match(&h, fam, a) == cases[i].want, "host %s/%u %s %s",
		   h.family ? cases[i].haddr : "*", cases[i].prefix,
		   cases[i].want ? "matches" : "does not match", cases[i].addr);
	}
}

/* ====================================================================
 * Index against a naive scan
 * ==================================================================== */

/* xorshift64*: deterministic across libcs, unlike rand(). */
static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32) % n;
}

/* The spec's matching, written out plainly: one bit at a time. */
static bool naive_host(const struct reuse_host *h, const struct reuse_subject *s)
{
	if (h->family == 0)
		return true;
	if (h->family != s->family)
		return false;
	for (unsigned b = 0; b < h->prefix; b++) {
		unsigned x = (h->addr[b / 8] >> (7 - b % 8)) & 1;
		unsigned y = (s->addr[b / 8] >> (7 - b % 8)) & 1;
		if (x != y)
			return false;
	}
	return true;
}

static const struct reuse_rule *naive_match(const struct reuse_policy *p,
					    const struct reuse_subject *s)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct reuse_rule *r = &p->rules[i];
		bool port = r->nports == 0;
		for (size_t j = 0; j < r->nports; j++)
			port = port || (s->port >= r->ports[j].lo && s->port <= r->ports[j].hi);
		if (!(r->proto & s->proto) || !port || !naive_host(&r->host, s))
			continue;
		if (r->uid != -1 && r->uid != s->uid)
			continue;
		if (r->program && !((s->prog && fnmatch(r->program, s->prog, 0) == 0) ||
				    (s->exe && fnmatch(r->program, s->exe, 0) == 0)))
			continue;
		return r;
	}
	return NULL;
}

static const char *const v4_hosts[] = {
	"127.0.0.1", "0.0.0.0", "10.0.0.1", "10.0.0.0/8", "10.1.0.0/16",
	"192.168.1.0/24", "0.0.0.0/0", "[::ffff:10.0.0.1]", "[::ffff:10.0.0.0]/104",
};
static const char *const v6_hosts[] = {
	"[::1]", "[::]", "[fe80::]/10", "[2001:db8::]/32", "[::]/0", "[2001:db8::5]",
};
static const char *const v4_addrs[] = {
	"127.0.0.1", "0.0.0.0", "10.0.0.1", "10.1.2.3", "192.168.1.7", "8.8.8.8",
};
static const char *const v6_addrs[] = {
	"::1", "::", "fe80::1", "2001:db8::5", "2001:db9::1",
};
static const char *const globs[] = { "a*", "b?", "prog1", "[ab]x" };
static const char *const names[] = { "ax", "bx", "prog1", "zz", NULL };
static const char *const directives[] = {
	"deny", "reuseaddr=force", "reuseport=strip", "exclusive", "handoff log=all",
};

/* Shapes of the generated policies. HOSTS: thousands of networks of every
 * prefix length, both families and the v4-mapped form, mostly `*` ports. */
enum shape { MIXED, EXPLICIT, NESTED, HOSTS };

#define SPAN 5000                /* most generated ports are below this */

/*
 * gen_ports - PORTS of one random rule. `*` and wide ranges only when
 * specific (a specific host); returns true for those, which then get a
 * uid= too, so that few rules match nearly every socket.
 */
static bool gen_ports(struct buf *b, enum shape shape, unsigned i, bool specific)
{
	unsigned k = rnd(100), lo;
	if (shape == NESTED) {                  /* wide nested ranges: forces demotion */
		buf_add(b, "%u-%u", i * 7, 65535 - i * 7);
		return false;
	}
	if (shape == MIXED && specific && k < 10) {
		buf_add(b, "*");
		return true;
	} else if (specific && k >= 95) {
		buf_add(b, rnd(2) ? "1-65535" : "1024-65535");
		return true;
	} else if (k < 65) {
		buf_add(b, "%u", rnd(10) ? rnd(SPAN) : 65535);
	} else if (k < 80) {
		lo = rnd(SPAN);
		buf_add(b, "%u-%u", lo, lo + rnd(50));
	} else {
		for (unsigned e = 0, n = 2 + rnd(3); e < n; e++) {
			lo = rnd(SPAN);
			buf_add(b, e ? ",%u" : "%u", lo);
			if (rnd(2))
				buf_add(b, "-%u", lo + rnd(20));
		}
	}
	return false;
}

/* The HOSTS address space: 10.0-1.0-7.0-15 and 2001:db8::0-1:0:0:0-3:0-f,
 * or (wide, for big policies) 10.*.*.* and 2001:db8::0-ff:0:0:0-ff:0-ff.
 * Addresses rules were made from are kept, for sockets to fall in them. */
static bool hosts_wide;
static struct { int family; uint8_t a[16]; } host_pool[1024];
static unsigned host_npool;

static void gen_addr(int family, uint8_t a[16])
{
	unsigned w = hosts_wide;
	memset(a, 0, 16);
	if (family == AF_INET) {
		a[0] = 10;
		a[1] = (uint8_t)rnd(w ? 256 : 2);
		a[2] = (uint8_t)rnd(w ? 256 : 8);
		a[3] = (uint8_t)rnd(w ? 256 : 16);
	} else {
		a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = 0xb8;
		a[7] = (uint8_t)rnd(w ? 256 : 2);
		a[13] = (uint8_t)rnd(w ? 256 : 4);
		a[15] = (uint8_t)rnd(w ? 256 : 16);
	}
}

/* A rule's address (before masking), for sockets to fall in its network. */
static void pool_keep(int family, const uint8_t a[16])
{
	if (host_npool < COUNT(host_pool)) {
		host_pool[host_npool].family = family;
		memcpy(host_pool[host_npool++].a, a, 16);
	}
}

/* Keep the first len bits of a. */
static void mask_addr(uint8_t a[16], unsigned len)
{
	for (unsigned b = len; b < 128; b++)
		a[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
}

/*
 * gen_host_rule - one HOSTS rule: `*` (5 %, explicit ports then), an IPv4
 * network (45 %), the same written v4-mapped (10 %) or an IPv6 network; 70 %
 * of the others take every port; program= and uid= now and then, and
 * always on broad networks (/16 and /64 or shorter), so that not every
 * socket matches.
 */
static void gen_host_rule(struct buf *b, unsigned i)
{
	static const unsigned len4[] = { 0, 8, 16, 20, 24, 28, 30, 31, 32, 32 };
	static const unsigned len6[] = { 0, 32, 64, 100, 112, 120, 124, 127, 128, 128 };
	unsigned h = rnd(100), len = 128;
	uint8_t a[16];
	char txt[INET6_ADDRSTRLEN];
	bool broad;

	if (h < 5) {
		buf_add(b, "*:%u", rnd(SPAN));
	} else if (h < 60) {
		gen_addr(AF_INET, a);
		pool_keep(AF_INET, a);
		len = len4[rnd(COUNT(len4))];
		mask_addr(a, len);
		inet_ntop(AF_INET, a, txt, sizeof txt);
		if (h < 50)
			buf_add(b, "%s/%u:", txt, len);
		else
			buf_add(b, "[::ffff:%s]/%u:", txt, 96 + len);
	} else {
		gen_addr(AF_INET6, a);
		pool_keep(AF_INET6, a);
		len = len6[rnd(COUNT(len6))];
		mask_addr(a, len);
		inet_ntop(AF_INET6, a, txt, sizeof txt);
		buf_add(b, "[%s]/%u:", txt, len);
	}
	if (h >= 5) {
		if (rnd(100) < 70)
			buf_add(b, "*");
		else
			buf_add(b, "%u-%u", rnd(SPAN), SPAN + rnd(100));
	}
	broad = h >= 5 && (h < 60 ? len <= 16 : len <= 64);
	if (broad || rnd(100) < 15)
		buf_add(b, " program=%s", globs[rnd(COUNT(globs))]);
	if (broad || rnd(100) < 20)
		buf_add(b, " uid=%u", rnd(4));
	buf_add(b, " %s # %u\n", directives[rnd(COUNT(directives))], i);
}

/* gen_policy - n random rules, one per line. */
static char *gen_policy(unsigned n, enum shape shape, size_t *len)
{
	static const char *const protos[] = { "tcp", "udp", "any" };
	struct buf b = { 0 };
	hosts_wide = n > 1000;
	host_npool = 0;
	for (unsigned i = 0; i < n; i++) {
		unsigned h = rnd(100);
		char host[32] = "*";
		buf_add(&b, "%s ", protos[rnd(3)]);
		if (shape == HOSTS) {
			gen_host_rule(&b, i);
			continue;
		}
		if (shape == NESTED)       /* two hosts: big groups, demoted rules */
			snprintf(host, sizeof host, "10.0.0.%u", rnd(2));
		else if (h < 6)
			;
		else if (h < 60)
			snprintf(host, sizeof host, "%s", v4_hosts[rnd(COUNT(v4_hosts))]);
		else
			snprintf(host, sizeof host, "%s", v6_hosts[rnd(COUNT(v6_hosts))]);
		buf_add(&b, "%s:", host);
		bool broad = gen_ports(&b, shape, i, strcmp(host, "*") && !strstr(host, "/0"));
		if (rnd(100) < 20)
			buf_add(&b, " program=%s", globs[rnd(COUNT(globs))]);
		if (broad || rnd(100) < 15)
			buf_add(&b, " uid=%u", rnd(4));
		buf_add(&b, " %s\n", directives[rnd(COUNT(directives))]);
	}
	*len = b.len;
	return b.s;
}

/*
 * host_subject - a socket in the HOSTS space, made the way the shim makes
 * it (subject_from_addr): IPv4 given as such or v4-mapped, IPv6, and now
 * and then an address no network holds.
 */
static struct reuse_subject host_subject(unsigned proto)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (void *)&ss;
	struct sockaddr_in6 *in6 = (void *)&ss;
	struct reuse_subject s;
	unsigned k = rnd(100);
	uint8_t a[16];

	memset(&ss, 0, sizeof ss);
	if (rnd(2) && host_npool) {              /* in a rule's network */
		unsigned i = rnd(host_npool);
		memcpy(a, host_pool[i].a, 16);
		k = host_pool[i].family == AF_INET ? 5 + rnd(55) : 65 + rnd(35);
	} else if (k < 60) {
		gen_addr(AF_INET, a);
	} else {
		gen_addr(AF_INET6, a);
	}
	if (k < 60) {
		if (k < 5)
			a[0] = 192;
		if (k < 40) {
			in->sin_family = AF_INET;
			memcpy(&in->sin_addr, a, 4);
		} else {
			in6->sin6_family = AF_INET6;
			in6->sin6_addr.s6_addr[10] = in6->sin6_addr.s6_addr[11] = 0xff;
			memcpy(in6->sin6_addr.s6_addr + 12, a, 4);
		}
	} else {
		if (k < 65)
			a[0] = 0xfe;
		in6->sin6_family = AF_INET6;
		memcpy(in6->sin6_addr.s6_addr, a, 16);
	}
	in->sin_port = htons((uint16_t)rnd(SPAN + 200));   /* same offset in both */
	subject_from_addr(&ss, proto, &s);
	return s;
}

/* gen_subject - a random socket, near the generated rules most of the time. */
static struct reuse_subject gen_subject(enum shape shape)
{
	struct reuse_subject s = { 0 };
	unsigned k = rnd(100);
	char a[32];
	s.proto = rnd(2) ? REUSE_P_TCP : REUSE_P_UDP;
	if (shape == HOSTS) {
		s = host_subject(s.proto);
	} else if (shape == NESTED) {
		snprintf(a, sizeof a, "10.0.0.%u", rnd(3));
		s = subject(s.proto, a, rnd(65536), NULL, NULL, 0);
	} else if (rnd(2)) {
		s = subject(s.proto, v4_addrs[rnd(COUNT(v4_addrs))], 0, NULL, NULL, 0);
	} else {
		s = subject(s.proto, v6_addrs[rnd(COUNT(v6_addrs))], 0, NULL, NULL, 0);
	}
	if (shape == HOSTS) {                    /* half of them: no uid= can match */
		s.prog = names[rnd(COUNT(names))];
		s.exe = names[rnd(COUNT(names))];
		s.uid = rnd(8);
		return s;
	}
	if (shape == MIXED || shape == EXPLICIT)
		s.port = (uint16_t)(k < 70 ? rnd(SPAN + 60) : k < 80 ? (rnd(2) ? 65535 : rnd(2))
							: rnd(65536));
	s.prog = names[rnd(COUNT(names))];
	s.exe = names[rnd(COUNT(names))];
	s.uid = rnd(5);
	return s;
}

/* Identities (names, uid) the sockets are drawn from: 0 = any; a few
 * keep every socket on the identities' own indices (policy_index.c),
 * many send most to the shared one. */
static unsigned ident_pool;

/*
 * Threads deciding at once for more identities than get their own index
 * (policy_index.c, IDENT_MAX): the first sockets of an identity race to
 * build and publish its index, the rest use the shared one; every answer
 * must still be the linear scan's. Each thread draws its sockets first
 * (the generator is not thread-safe).
 */
#define THR_N 6
#define THR_SOCKETS 3000
struct thr {
	const struct reuse_policy *p;
	struct reuse_subject s[THR_SOCKETS];
	const struct reuse_rule *want[THR_SOCKETS];
	unsigned differ;
};

static void *thr_run(void *arg)
{
	struct thr *t = arg;

	for (unsigned i = 0; i < THR_SOCKETS; i++)
		t->differ += reuse_policy_match(t->p, &t->s[i]) != t->want[i];
	return NULL;
}

static void check_index_threads(void)
{
	static const char *const progs[] = { "ax", "bx", "prog1", "zz", "q", "r" };
	static struct thr t[THR_N];
	struct reuse_policy p;
	struct reuse_diag d = { 0 };
	pthread_t tid[THR_N];
	unsigned differ = 0, started = 0;
	size_t len;

	rng_state = 0x5eed0009;
	char *text = gen_policy(2000, MIXED, &len);
	ok(reuse_policy_parse(NAME, text, len, &p, &d) == 0 && p.index,
	   "threads: 2000 random rules parse");
	for (unsigned k = 0; k < THR_N; k++) {
		t[k].p = &p;
		t[k].differ = 0;
		for (unsigned i = 0; i < THR_SOCKETS; i++) {
			struct reuse_subject *s = &t[k].s[i];
			unsigned id = rnd(24);              /* more than IDENT_MAX */
			*s = gen_subject(MIXED);
			s->prog = progs[id % 6];
			s->exe = progs[(id / 6) % 6];
			s->uid = id % 4;
			t[k].want[i] = naive_match(&p, s);
		}
	}
	for (unsigned k = 0; k < THR_N; k++)
		started += pthread_create(&tid[k], NULL, thr_run, &t[k]) == 0;
	for (unsigned k = 0; k < started; k++)
		pthread_join(tid[k], NULL);
	for (unsigned k = 0; k < THR_N; k++)
		differ += t[k].differ;
	ok(started == THR_N && differ == 0,
	   "threads: %u threads agree with a linear scan on %u sockets each (%u differ)",
	   started, THR_SOCKETS, differ);
	reuse_policy_free(&p);
	reuse_diag_free(&d);
	free(text);
}

/* One random policy against many random sockets. */
static void check_index(const char *what, uint64_t seed, unsigned nrules,
			enum shape shape, unsigned nsubjects)
{
	struct reuse_policy p;
	struct reuse_diag d = { 0 };
	size_t len;
	rng_state = seed;
	char *text = gen_policy(nrules, shape, &len);
	int n = reuse_policy_parse(NAME, text, len, &p, &d);
	if (!ok(n == 0 && p.nrules == nrules && p.index, "%s: %u random rules parse", what, nrules))
		diag("%.2000s", d.text ? d.text : "");
	unsigned same = 0, hits = 0;
	for (unsigned i = 0; i < nsubjects; i++) {
		struct reuse_subject s = gen_subject(shape);
		if (ident_pool) {
			unsigned id = rnd(ident_pool);
			s.prog = names[id % COUNT(names)];
			s.exe = names[(id / 2) % COUNT(names)];
			s.uid = id % 2 ? 7 : 1;       /* 7: no uid= rule names it */
			/* the handle of a caller that keeps one: its own, or a
			 * stale one of another uid, which must be ignored */
			if (rnd(2))
				s.ident = reuse_policy_ident(&p, &s);
			if (s.ident && rnd(4) == 0)
				s.uid = s.uid == 7 ? 1 : 7;
		}
		const struct reuse_rule *want = naive_match(&p, &s);
		const struct reuse_rule *got = reuse_policy_match(&p, &s);
		if (got == want)
			same++;
		else if (i - same < 5)          /* show the first few */
			diag("proto %u family %d port %u: index line %u, scan line %u", s.proto,
			     s.family, s.port, got ? got->line : 0, want ? want->line : 0);
		hits += want != NULL;
	}
	ok(same == nsubjects, "%s: index agrees with a linear scan on %u sockets (%u differ)",
	   what, nsubjects, nsubjects - same);
	unsigned least = nsubjects / (ident_pool ? 20 : 5);
	ok(hits > least && nsubjects - hits > least,
	   "%s: the sockets exercise both outcomes (%u matched, %u not)", what, hits,
	   nsubjects - hits);
	reuse_policy_free(&p);
	reuse_diag_free(&d);
	free(text);
}

/* A 10 MB policy of distinct rules parses in reasonable time. */
static void test_big_policy(void)
{
	struct buf b = { 0 };
	struct reuse_policy p;
	struct reuse_diag d = { 0 };
	unsigned n = 0;
	while (b.len < 10u << 20) {
		buf_add(&b, "tcp 10.%u.%u.0/24:%u,%u-%u program=p%u reuseaddr=force # rule %u\n",
			n % 256, n / 256 % 256, n % 65536, n % 60000 + 10, n % 60000 + 20, n, n);
		n++;
	}
	clock_t t0 = clock();
	int e = reuse_policy_parse(NAME, b.s, b.len, &p, &d);
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	ok(e == 0 && p.nrules == n && p.index, "10 MB policy: %u rules in %.2f s", n, secs);
	struct reuse_subject s = subject(T, "10.7.0.9", 7, "p7", NULL, 0);
	const struct reuse_rule *r = reuse_policy_match(&p, &s);
	ok(r && r->line == 8, "10 MB policy: a socket finds its rule (line %u)", r ? r->line : 0);
	reuse_policy_free(&p);
	reuse_diag_free(&d);
	free(b.s);
}

void test_policy(void)
{
	diag("policy: parse errors");
	for (size_t i = 0; i < COUNT(err_cases); i++)
		check_err_case(&err_cases[i]);
	test_long_lines();
	test_too_many_errors();
	test_on_error();

	diag("policy: parsed rules");
	for (size_t i = 0; i < COUNT(rule_cases); i++)
		check_rule_case(&rule_cases[i]);
	test_rule_lines();

	diag("policy: diagnostics, load, free");
	test_diag();
	test_load();
	test_free();

	diag("policy: matching");
	test_host_match();
	test_match_table();
	test_match_nothing();

	diag("policy: index against a linear scan");
	check_index("mixed", 0x5eed0001, 2000, MIXED, 100000);
	check_index("explicit ports", 0x5eed0002, 2000, EXPLICIT, 100000);
	check_index("nested wide ranges", 0x5eed0003, 3000, NESTED, 20000);
	check_index("many hosts", 0x5eed0004, 4000, HOSTS, 30000);
	check_index("few hosts", 0x5eed0005, 60, HOSTS, 20000);
	ident_pool = 4;              /* each identity gets its own index */
	check_index("mixed, 4 identities", 0x5eed0006, 2000, MIXED, 50000);
	check_index("nested, 4 identities", 0x5eed0007, 3000, NESTED, 20000);
	check_index("many hosts, 4 identities", 0x5eed0008, 4000, HOSTS, 20000);
	ident_pool = 0;
	check_index_threads();
	test_big_policy();
}
