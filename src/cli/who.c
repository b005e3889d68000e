/*
 * who.c - `reuse who ADDR:PORT [--tcp|--udp] [--json]`: who holds an
 * address now, and what a bind with each SO_REUSEADDR/SO_REUSEPORT choice
 * would do, as this uid, as each holder's uid and as a stranger.
 *
 * The same explanation the library logs after EADDRINUSE (diag.c, owners.c,
 * explain.c), on demand; the verdicts come from rules.c, the kernel's rules
 * as a pure function, so what is printed is a prediction tests/insight.bats
 * checks against real binds, and its advice tests/advice.bats follows.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/explain.h"
#include "core/rules.h"

struct target {
	int family;
	uint8_t addr[16];
	uint16_t port;
	bool v6only;             /* `*` is [::] reaching IPv4 too */
};

/* "127.0.0.1:53", "[::1]:53", "*:53", ":53" or "53" (the last three: every
 * address, both families). 0 or -1. */
static int parse_target(const char *s, struct target *t)
{
	char host[64];
	const char *colon, *ps;
	char *end;

	memset(t, 0, sizeof *t);
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof host)
			return -1;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		ps = rb + 2;
		t->family = AF_INET6;
	} else if ((colon = strrchr(s, ':'))) {
		if ((size_t)(colon - s) >= sizeof host)
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		ps = colon + 1;
		t->family = AF_INET;
	} else {
		strcpy(host, "*");
		ps = s;
	}
	errno = 0;
	unsigned long p = strtoul(ps, &end, 10);
	if (!*ps || *end || errno || p == 0 || p > 65535)
		return -1;
	t->port = (uint16_t)p;
	if (host[0] == '\0' || strcmp(host, "*") == 0) {
		t->family = AF_INET6;        /* [::], not v6only: overlaps all */
		return 0;
	}
	return inet_pton(t->family, host, t->addr) == 1 ? 0 : -1;
}

/* A JSON string (quotes included), control and non-ASCII bytes escaped. */
void cli_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/*
 * A name another user chose (a process name), for a terminal: bytes outside
 * printable ASCII become \xHH and a backslash \\, so an escape sequence in
 * a process name is shown, never obeyed, and the text maps back to the bytes.
 * Cut whole at len; returns out.
 */
const char *cli_text_str(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[4] = { (char)c };
		size_t k = 1;
		if (c == '\\') {
			e[1] = '\\';
			k = 2;
		} else if (c < 0x20 || c >= 0x7f) {
			e[0] = '\\';
			e[1] = 'x';
			e[2] = hex[c >> 4];
			e[3] = hex[c & 15];
			k = 4;
		}
		if (n + k >= len)
			break;
		memcpy(out + n, e, k);
		n += k;
	}
	if (len)
		out[n] = '\0';
	return out;
}

/* ip_unprivileged_port_start (1024 if unreadable). */
static unsigned unpriv_start(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");
	unsigned v = 1024;

	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 1024;
		fclose(f);
	}
	return v;
}

/* The uids to predict for: this one, each holder's, and one holding none. */
struct who_uid {
	uint32_t uid;
	const char *as;
};

static size_t pick_uids(const struct reuse_holder_list *l, struct who_uid *u)
{
	size_t n = 0;
	uint32_t me = (uint32_t)geteuid(), other = 65534;

	u[n++] = (struct who_uid){ me, "you" };
	for (unsigned i = 0; i < l->n && n < 4; i++) {
		bool seen = false;
		for (size_t k = 0; k < n; k++)
			seen |= u[k].uid == l->h[i].uid;
		if (!seen)
			u[n++] = (struct who_uid){ l->h[i].uid, "holder" };
	}
	for (;;) {
		bool used = other == me;
		for (unsigned i = 0; i < l->n; i++)
			used |= l->h[i].uid == other;
		if (!used)
			break;
		other--;
	}
	u[n++] = (struct who_uid){ other, "other" };
	return n;
}

static const char *const combo_name[4] = {
	"none", "reuseaddr", "reuseport", "reuseaddr+reuseport",
};

static void print_holder_json(const struct reuse_holder *h, bool tcp)
{
	char a[INET6_ADDRSTRLEN] = "";

	inet_ntop(h->family, h->addr, a, sizeof a);
	printf("{\"proto\":\"%s\",\"state\":\"%s\",\"family\":\"%s\",\"addr\":\"%s\","
	       "\"port\":%u,\"uid\":%u,\"inode\":%llu,\"pid\":%d,\"program\":",
	       tcp ? "tcp" : "udp", explain_state_name(h),
	       h->family == AF_INET6 ? "ipv6" : "ipv4", a, h->port, h->uid,
	       (unsigned long long)h->ino, h->pid);
	cli_json_str(stdout, h->comm);
	printf(",\"processes\":%d,\"reuseaddr\":%s,\"reuseport\":%s}", h->nprocs,
	       h->ra < 0 ? "null" : h->ra ? "true" : "false",
	       h->rp < 0 ? "null" : h->rp ? "true" : "false");
}

/* One protocol's answer, human or JSON (one object per line). */
static int who_proto(const struct target *t, bool tcp, bool json)
{
	struct reuse_holder_list *l = calloc(1, sizeof *l);
	struct rules_holder rh[REUSE_HOLDERS_MAX + 1];
	struct who_uid uids[5];
	char where[64], a[64], why[256], name[CLI_NAME_MAX];
	unsigned proto = tcp ? REUSE_P_TCP : REUSE_P_UDP;

	if (!l)
		return 1;
	explain_list(proto, t->family, t->addr, t->port, t->v6only, l);
	if (l->diag_errno) {
		cli_error("sock_diag: %s", strerror(l->diag_errno));
		free(l);
		return 1;
	}
	explain_fill_owners(l);
	bool unreadable = false;
	for (unsigned i = 0; i < l->n; i++)
		unreadable |= l->h[i].ra < 0 || l->h[i].rp < 0;
	size_t nh = explain_rules_holders(l, -1, -1, rh);
	size_t nu = pick_uids(l, uids);
	bool low = t->port < unpriv_start();
	explain_addr_text(t->family, t->addr, t->port, where, sizeof where);
	if (t->family == AF_INET6 && !memcmp(t->addr, (uint8_t[16]){ 0 }, 16))
		snprintf(where, sizeof where, "*:%u", t->port);

	if (json) {
		printf("{\"proto\":\"%s\",\"target\":", tcp ? "tcp" : "udp");
		cli_json_str(stdout, where);
		printf(",\"holders\":[");
		for (unsigned i = 0; i < l->n; i++) {
			if (i)
				putchar(',');
			print_holder_json(&l->h[i], tcp);
		}
		printf("],\"more\":%u,\"timewait\":%u", l->more, l->timewait);
		if (l->timewait) {
			explain_addr_text(l->tw.family, l->tw.addr, l->tw.port, a, sizeof a);
			printf(",\"timewait_addr\":\"%s\"", a);
		}
		printf(",\"binds\":[");
	} else {
		printf("%s %s\n", tcp ? "tcp" : "udp", where);
		if (!l->n && !l->timewait)
			printf("  free: no socket holds an overlapping address\n");
		for (unsigned i = 0; i < l->n; i++) {
			const struct reuse_holder *h = &l->h[i];
			explain_addr_text(h->family, h->addr, h->port, a, sizeof a);
			printf("  %-9s %-24s uid %-6u", explain_state_name(h), a, h->uid);
			if (h->pid >= 0)
				printf(" pid %d %s", h->pid,
				       cli_text_str(h->comm, name, sizeof name));
			else
				printf(" pid ?");
			if (h->nprocs > 1)
				printf(" (+%d processes)", h->nprocs - 1);
			printf("  reuseaddr=%s reuseport=%s\n",
			       h->ra < 0 ? "?" : h->ra ? "on" : "off",
			       h->rp < 0 ? "?" : h->rp ? "on" : "off");
		}
		if (l->more)
			printf("  ... and %u more\n", l->more);
		if (l->timewait) {
			explain_addr_text(l->tw.family, l->tw.addr, l->tw.port, a, sizeof a);
			printf("  %u TIME-WAIT on %s (their flags are not visible: "
			       "'unknown' below); they go when cleared, as root: "
			       EXPLAIN_SS_KILL ", or within " EXPLAIN_TW_WAIT "\n", l->timewait, a,
			       l->tw.port);
		}
		if (unreadable)
			printf("  (?: not readable as uid %u; as root, reuse who reads them)\n",
			       (unsigned)geteuid());
		printf("  a new socket binding %s%s now:\n", where,
		       tcp ? " (and listening)" : "");
	}
	for (size_t u = 0; u < nu; u++) {
		if (!json)
			printf("    as uid %-6u %-7s", uids[u].uid, uids[u].as);
		for (unsigned m = 0; m < 4; m++) {
			struct rules_cand c = { .tcp = tcp, .ra = m & 1, .rp = m & 2,
						.uid = uids[u].uid,
						.low_port_denied = low && uids[u].uid != 0 };
			struct rules_result r;
			rules_bind(rh, nh, &c, &r);
			why[0] = '\0';
			if (r.verdict == RULES_INUSE)
				explain_why(l, r.blocker, uids[u].uid, tcp, why, sizeof why);
			if (json) {
				printf("%s{\"uid\":%u,\"as\":\"%s\",\"reuseaddr\":%s,"
				       "\"reuseport\":%s,\"verdict\":\"%s\"",
				       u || m ? "," : "", uids[u].uid, uids[u].as,
				       c.ra ? "true" : "false", c.rp ? "true" : "false",
				       rules_verdict_name(r.verdict));
				if (why[0]) {
					printf(",\"why\":");
					cli_json_str(stdout, why);
				}
				putchar('}');
			} else {
				printf("  %s: %s", combo_name[m], rules_verdict_name(r.verdict));
				if (m < 3)
					putchar(';');
			}
		}
		if (!json)
			putchar('\n');
	}
	if (json)
		printf("]}\n");
	free(l);
	return 0;
}

int cmd_who(int argc, char **argv)
{
	bool tcp = false, udp = false, json = false;
	struct target t;
	int c, rc = 0;

	while ((c = cli_getopt("who", argc, argv, &rc)) != -1) {
		switch (c & ~CLI_LONG_ONLY) {
		case 't': tcp = true; break;
		case 'u': udp = true; break;
		case 'j': json = true; break;
		default: return rc;           /* CLI_STOP */
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("who", "who: expected one ADDR:PORT");
	if (parse_target(argv[optind], &t) < 0)
		return cli_usage_error("who", "who: '%s' is not ADDR:PORT "
				       "(127.0.0.1:53, [::1]:53, *:53)", argv[optind]);
	if (!tcp && !udp)
		tcp = udp = true;
	if (tcp)
		rc |= who_proto(&t, true, json);
	if (udp)
		rc |= who_proto(&t, false, json);
	return rc;
}
