/*
 * audit.c - `reuse audit [--json]`: which sockets on this host could another
 * local user bind beside, and take traffic from, right now?
 *
 * Every listening TCP and unconnected UDP socket (sock_diag), its process
 * (/proc/<pid>/fd), its SO_REUSEADDR/SO_REUSEPORT (pidfd_getfd + getsockopt:
 * root), judged by rules.c: open to any uid (UDP with SO_REUSEADDR, and so
 * RA+RP), or to the same uid (SO_REUSEPORT groups). Read-only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/core.h"
#include "core/rules.h"

struct found {
	struct reuse_holder *h;
	size_t n, cap;
};

/* Keep listeners and unconnected UDP sockets: what receives new traffic. */
static int collect(const struct reuse_holder *h, void *ctx)
{
	struct found *f = ctx;

	if (h->timewait || (h->proto == IPPROTO_TCP && h->state != TCP_LISTEN) ||
	    (h->proto == IPPROTO_UDP && h->state == TCP_ESTABLISHED))
		return 0;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		void *p = realloc(f->h, cap * sizeof *f->h);
		if (!p)
			return -ENOMEM;
		f->h = p;
		f->cap = cap;
	}
	f->h[f->n++] = *h;
	return 0;
}

static void owner(size_t i, int pid, int fd, void *ctx)
{
	struct reuse_holder *h = &((struct found *)ctx)->h[i];

	h->nprocs++;
	if (h->pid < 0) {
		h->pid = pid;
		h->fd = fd;
	}
}

/* /proc/<pid>/comm (the CLI may allocate; explain.c's reader is private). */
static void comm_of(int pid, char *out, size_t len)
{
	char path[32];
	FILE *f;

	out[0] = '\0';
	snprintf(path, sizeof path, "/proc/%d/comm", pid);
	if (!(f = fopen(path, "re")))
		return;
	if (fgets(out, (int)len, f))
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

/* The process name as a program= glob: a byte that could end the word, open
 * a bracket or drive a terminal becomes '?', which matches it. */
static void name_glob(const char *comm, char *out, size_t len)
{
	size_t n = 0;

	for (; *comm && n + 1 < len; comm++) {
		unsigned char c = (unsigned char)*comm;
		out[n++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || strchr("._-+@:", c) ? (char)c : '?';
	}
	out[n] = '\0';
}

/* The rule that closes the door: exclusive for this program's sockets. */
static void protect_rule(const struct reuse_holder *h, char *out, size_t len)
{
	char a[64], glob[sizeof h->comm];

	explain_addr_text(h->family, h->addr, h->port, a, sizeof a);
	name_glob(h->comm, glob, sizeof glob);
	if (h->comm[0])
		snprintf(out, len, "%s %s program=%s%s exclusive",
			 h->proto == IPPROTO_TCP ? "tcp" : "udp", a, glob,
			 strlen(h->comm) >= 15 ? "*" : "");
	else
		snprintf(out, len, "%s %s exclusive",
			 h->proto == IPPROTO_TCP ? "tcp" : "udp", a);
}

int cmd_audit(int argc, char **argv)
{
	struct found f = { 0 };
	bool json = false;
	unsigned open_n = 0, unreadable = 0;
	int c, rc;

	while ((c = cli_getopt("audit", argc, argv, &rc)) != -1) {
		if (c == CLI_STOP)
			return rc;
		json = true;                  /* --json, its only option */
	}
	if (optind != argc)
		return cli_usage_error("audit", "audit: no argument expected");
	if (geteuid() != 0) {
		cli_error("audit: needs root (other processes' socket options are "
			  "read with pidfd_getfd)");
		return 1;
	}
	rc = explain_walk(REUSE_P_TCP, 1, 65535, collect, &f);
	if (rc == 0)
		rc = explain_walk(REUSE_P_UDP, 1, 65535, collect, &f);
	if (rc < 0) {
		cli_error("audit: sock_diag: %s", strerror(-rc));
		free(f.h);
		return 1;
	}
	uint64_t *ino = calloc(f.n ? f.n : 1, sizeof *ino);
	if (!ino) {
		free(f.h);
		return 1;
	}
	for (size_t i = 0; i < f.n; i++)
		ino[i] = f.h[i].ino;
	explain_find_owners(ino, f.n, owner, &f);
	free(ino);

	if (json)
		printf("[");
	else
		printf("%-5s %-28s %-6s %-7s %-15s %-9s %-9s %s\n", "PROTO", "ADDRESS",
		       "UID", "PID", "PROGRAM", "FLAGS", "OPEN-TO", "PROTECT WITH");
	for (size_t i = 0; i < f.n; i++) {
		struct reuse_holder *h = &f.h[i];
		bool tcp = h->proto == IPPROTO_TCP;
		if (h->pid >= 0) {
			comm_of(h->pid, h->comm, sizeof h->comm);
			explain_peer_flags(h->pid, h->fd, h->ino, &h->ra, &h->rp);
		}
		struct rules_holder rh = {
			.state = tcp ? RULES_LISTEN : RULES_BOUND,
			.ra = h->ra, .rp = h->rp, .uid = h->uid,
		};
		int any = rules_hijackable(&rh, tcp, false);
		int same = rules_hijackable(&rh, tcp, true);
		if (any < 0 || same < 0) {
			unreadable++;
			continue;
		}
		if (!any && !same)
			continue;
		const char *to = any ? "any-uid" : "same-uid";
		char a[64], flags[16], rule[128], ip[INET6_ADDRSTRLEN] = "", name[CLI_NAME_MAX];
		explain_addr_text(h->family, h->addr, h->port, a, sizeof a);
		inet_ntop(h->family, h->addr, ip, sizeof ip);
		snprintf(flags, sizeof flags, "%s%s%s", h->ra ? "RA" : "",
			 h->ra && h->rp ? "+" : "", h->rp ? "RP" : "");
		protect_rule(h, rule, sizeof rule);
		if (json) {
			printf("%s{\"proto\":\"%s\",\"family\":\"%s\",\"addr\":\"%s\",\"port\":%u,"
			       "\"uid\":%u,\"pid\":%d,\"program\":", open_n ? "," : "",
			       tcp ? "tcp" : "udp", h->family == AF_INET6 ? "ipv6" : "ipv4",
			       ip, h->port, h->uid, h->pid);
			cli_json_str(stdout, h->comm);
			printf(",\"reuseaddr\":%s,\"reuseport\":%s,\"open_to\":\"%s\",\"rule\":",
			       h->ra ? "true" : "false", h->rp ? "true" : "false", to);
			cli_json_str(stdout, rule);
			putchar('}');
		} else {
			printf("%-5s %-28s %-6u %-7d %-15s %-9s %-9s %s\n", tcp ? "tcp" : "udp",
			       a, h->uid, h->pid, cli_text_str(h->comm, name, sizeof name),
			       flags, to, rule);
		}
		open_n++;
	}
	if (json)
		printf("]\n");
	else
		printf("# %zu sockets checked, %u open to another process, %u unreadable "
		       "(no owner found or pidfd_getfd refused)\n", f.n, open_n, unreadable);
	free(f.h);
	return open_n ? 3 : 0;
}

/*
 * systemd-dropin UNIT: ExecStart= cannot be wrapped from a drop-in (it
 * would need the original command line), but the environment can: the
 * loader preloads the library for every process of the unit, exactly what
 * `reuse run` sets up. Printed, never installed.
 */
int cmd_systemd_dropin(int argc, char **argv)
{
	const char *unit, *policy = NULL;
	char lib[4096];
	int c, rc;

	while ((c = cli_getopt("systemd-dropin", argc, argv, &rc)) != -1) {
		if (c == CLI_STOP)
			return rc;
		policy = optarg;              /* --policy FILE, its only option */
	}
	if (optind != argc - 1)
		return cli_usage_error("systemd-dropin", "systemd-dropin: expected UNIT "
				       "[--policy FILE]");
	unit = argv[optind];
	if (!*unit || strchr(unit, '/') || unit[0] == '-')
		return cli_usage_error("systemd-dropin", "systemd-dropin: '%s' is not "
				       "a unit name", unit);
	if (cli_library_path(lib, sizeof lib) < 0)
		return 1;
	printf("# /etc/systemd/system/%s%s.d/libreuse.conf\n", unit,
	       strchr(unit, '.') ? "" : ".service");
	printf("# written by `reuse systemd-dropin %s`; then: systemctl daemon-reload &&"
	       " systemctl restart %s\n", unit, unit);
	printf("[Service]\n");
	printf("Environment=LD_PRELOAD=%s\n", lib);
	if (policy)
		printf("Environment=REUSE_POLICY=%s\n", policy);
	printf("# decisions go to the journal: journalctl -t libreuse\n");
	printf("Environment=REUSE_LOG=syslog\n");
	return 0;
}
