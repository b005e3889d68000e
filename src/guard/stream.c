/*
 * stream.c - the guard's decisions, read from the programs' ring buffer,
 * written as the library's log lines (src/core/log.c: the same keys, text
 * or JSON, one write each). The program's name is the task's (comm), the
 * pid the process's; the line names the backend (backend=guard). The
 * result is the guard's verdict: a bind it let through may still meet the
 * kernel's own EADDRINUSE.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cli/cli.h"
#include "core/core.h"
#include "guard/guard.h"

struct stream_ctx {
	const struct reuse_policy *p;
	const struct guard_image *img;
};

static const char *onoff(int v)
{
	return v ? "on" : "off";
}

/* The reservation that refused: who it is for, and the refused uid. */
static void reserved_msg(const struct reuse_rule *r, const struct guard_event *e,
			 char *out, size_t len)
{
	char who[96] = "";
	int n = 0;

	if (r->program)
		n = snprintf(who, sizeof who, " program=%.40s", r->program);
	if (r->uid >= 0 && n >= 0 && (size_t)n < sizeof who)
		snprintf(who + n, sizeof who - (size_t)n, " uid=%ld", r->uid);
	snprintf(out, len, "the address is reserved for%s by %s:%u; refused uid %u",
		 who[0] ? who : " nobody", log_rule_source(), r->line, e->uid);
}

static int on_event(void *arg, void *data, size_t size)
{
	const struct stream_ctx *x = arg;
	const struct guard_event *e = data;
	const struct reuse_rule *r;
	struct reuse_words w;
	struct reuse_sock k = { 0 };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in in = { .sin_family = AF_INET };
	char comm[GUARD_COMM_LEN + 1], msg[256];
	struct reuse_event ev = { .fd = -1, .ra_now = -1, .rp_now = -1 };

	if (size < sizeof *e || e->entry >= x->img->n)
		return 0;
	r = &x->p->rules[x->img->rules[e->entry].index];
	memcpy(comm, e->comm, GUARD_COMM_LEN);
	comm[GUARD_COMM_LEN] = '\0';
	k.proto = e->proto;
	k.family = e->family == 6 ? AF_INET6 : AF_INET;
	if (e->family == 6) {
		memcpy(&in6.sin6_addr, e->addr, 16);
		in6.sin6_port = htons(e->port);
		ev.addr = (const struct sockaddr *)&in6;
	} else {
		memcpy(&in.sin_addr, e->addr, 4);
		in.sin_port = htons(e->port);
		ev.addr = (const struct sockaddr *)&in;
	}
	ev.sock = &k;
	ev.rule = r;
	ev.pid = e->pid;
	ev.prog = comm;
	ev.result = e->result;
	if (e->call == GE_BIND) {
		ev.call = "bind";
		describe_rule(r, e->asked_ra == 1, e->asked_rp == 1, false, &w);
		if (e->action == GA_RESERVED || (r->reserve && !r->exclusive && !r->deny &&
						 !r->reuseaddr && !r->reuseport))
			w.action = "reserve";
		if (e->action == GA_RESERVED) {
			reserved_msg(r, e, msg, sizeof msg);
			ev.msg = msg;
		} else if (e->action == GA_EXCLUSIVE) {
			w.action = "exclusive";
			snprintf(msg, sizeof msg, "pid %u holds the address exclusively "
				 "(its rule %s:%u)", e->value, log_rule_source(), r->line);
			ev.msg = msg;
		}
		ev.ra_now = e->now_ra;
		ev.rp_now = e->now_rp;
	} else {
		unsigned act = e->optname_rp ? r->reuseport : r->reuseaddr;
		ev.call = e->call == GE_SETSOCKOPT ? "setsockopt" : "getsockopt";
		w.option = e->optname_rp ? "SO_REUSEPORT" : "SO_REUSEADDR";
		w.asked = onoff((int)e->value);
		w.action = r->exclusive ? "exclusive" : reuse_act_name(act);
		ev.msg = e->result ? "refused after bind()" :
			 "held by the rule: success without reaching the kernel";
	}
	ev.option = w.option;
	ev.asked = w.asked;
	ev.action = w.action;
	log_event(&ev);
	return 0;
}

/* Events the ring buffer had no room for, summed over the CPUs. */
static unsigned long long dropped(int fd)
{
	int ncpu = libbpf_num_possible_cpus();
	unsigned long long sum = 0, v[512];
	uint32_t zero = 0;

	if (ncpu <= 0 || ncpu > 512 || bpf_map_lookup_elem(fd, &zero, v))
		return 0;
	for (int i = 0; i < ncpu; i++)
		sum += v[i];
	return sum;
}

int guard_stream(const struct guard_run *g, const struct reuse_policy *p,
		 const struct guard_image *img, volatile int *stop)
{
	struct stream_ctx x = { p, img };
	struct ring_buffer *rb = ring_buffer__new(guard_events_fd(g), on_event, &x, NULL);
	unsigned long long told = 0, now;

	if (!rb) {
		cli_error("guard: cannot read the ring buffer: %s", strerror(errno));
		return -1;
	}
	while (!*stop) {
		int n = ring_buffer__poll(rb, 500);
		if (n < 0 && n != -EINTR) {
			cli_error("guard: reading decisions: %s", strerror(-n));
			break;
		}
		now = dropped(guard_dropped_fd(g));
		if (now != told) {
			log_text("guard: %llu decision%s not logged (the ring buffer was full)",
				 now - told, now - told == 1 ? "" : "s");
			told = now;
		}
	}
	ring_buffer__consume(rb);         /* what was decided before the stop */
	ring_buffer__free(rb);
	return 0;
}
