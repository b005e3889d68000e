/*
 * diag.c - the sock_diag netlink dumps: who holds a port, as the
 * kernel lists it, and SOCK_DESTROY of stale TIME_WAIT entries.
 *
 * Runs only after a bind() already failed, to say why (or, when the
 * engine decides so and we are privileged, to clear stale TIME_WAIT
 * entries), and for `reuse who` / `reuse audit`. Everything goes over a
 * private NETLINK_SOCK_DIAG socket that lives for one call; no global
 * state, no malloc, errno is preserved.
 *
 * The port is filtered in the kernel with inet_diag bytecode (S_GE && S_LE:
 * every inet_diag accepts those, S_EQ is newer) and checked again here; the
 * address overlap rule is applied here, in user space. Addresses follow
 * libreuse.h (network order, IPv4 in the first 4 bytes); ports host order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <linux/capability.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "core.h"
#include "diag_int.h"
#include "sys.h"
/* Big enough for any dump datagram: the kernel sizes dump skbs by the
 * largest recvmsg() buffer it has seen, floor NLMSG_GOODSIZE (<= 8 KiB). */
#define DIAG_BUF   16384
#define DIAG_TIMEO 1                 /* s per recv: the kernel always answers */
#define CLEAR_PASSES 8               /* dump+destroy rounds, see below */

/* Not in every libc's netinet/tcp.h. */
#define DIAG_NEW_SYN_RECV 12         /* request sockets: not port holders */
#define DIAG_TW_TIMER 3              /* idiag_timer of a timewait mini-socket */

/* One side of an overlap test: normalised (v4-mapped -> AF_INET). */
struct endpoint {
	int family;
	uint8_t addr[16];
	bool v6only;
};

typedef int (*diag_fn)(const struct inet_diag_msg *m, bool v6only, void *ctx);

static const uint8_t v4mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static void endpoint_set(struct endpoint *e, int family, const void *addr,
			 bool v6only)
{
	memset(e, 0, sizeof *e);
	e->family = family;
	e->v6only = v6only;
	if (family == AF_INET6 &&
	    memcmp(addr, v4mapped_prefix, sizeof v4mapped_prefix) == 0) {
		e->family = AF_INET;
		memcpy(e->addr, (const uint8_t *)addr + 12, 4);
		e->v6only = false;
	} else {
		memcpy(e->addr, addr, family == AF_INET ? 4 : 16);
	}
}

static bool endpoint_wild(const struct endpoint *e)
{
	static const uint8_t zero[16];
	return memcmp(e->addr, zero, e->family == AF_INET ? 4 : 16) == 0;
}

/*
 * Do two local bindings on the same port collide? Same family: equal, or
 * either is the wildcard. Across families only an IPv6 `::` that is not
 * v6only reaches IPv4 (a specific IPv6 address never does).
 */
static bool overlaps(const struct endpoint *a, const struct endpoint *b)
{
	if (a->family == b->family)
		return endpoint_wild(a) || endpoint_wild(b) ||
		       memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
	const struct endpoint *v6 = a->family == AF_INET6 ? a : b;
	return endpoint_wild(v6) && !v6->v6only;
}

/* Which families must be dumped to see everything that may overlap q. */
static bool need_v4_dump(const struct endpoint *q)
{
	return q->family == AF_INET || (endpoint_wild(q) && !q->v6only);
}

/*
 * A timewait mini-socket: TIME_WAIT proper, or an orphan that closed first
 * and waits for the peer's FIN, which the kernel also keeps as a timewait
 * entry (substate FIN_WAIT2, timer 3). Both block a restart the same way;
 * a full FIN_WAIT2 socket never reports timer 3, so it is never matched.
 */
static bool is_timewait(const struct inet_diag_msg *m)
{
	return m->idiag_state == TCP_TIME_WAIT ||
	       (m->idiag_state == TCP_FIN_WAIT2 &&
		m->idiag_timer == DIAG_TW_TIMER);
}

static int nl_open(void)
{
	int fd = sys_socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
			    NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	struct timeval tv = { .tv_sec = DIAG_TIMEO };
	(void)sys_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

int diag_nl_send(int fd, const void *msg, size_t len)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	ssize_t n;

	do
		n = sys_sendto(fd, msg, len, 0, (const struct sockaddr *)&kernel,
			   sizeof kernel);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/* One datagram; -errno on failure (a timeout reads as -ETIMEDOUT). */
static ssize_t nl_recv(int fd, void *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct sockaddr_nl from;
	struct msghdr mh = {
		.msg_name = &from, .msg_namelen = sizeof from,
		.msg_iov = &iov, .msg_iovlen = 1,
	};
	ssize_t n;

	do
		n = recvmsg(fd, &mh, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
	if (mh.msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	if (from.nl_pid != 0)            /* not from the kernel */
		return 0;
	return n;
}

/* INET_DIAG_SKV6ONLY from the attributes after the message, if present. */
static bool msg_v6only(const struct nlmsghdr *h)
{
	size_t off = NLMSG_LENGTH(sizeof(struct inet_diag_msg));
	const uint8_t *p = (const uint8_t *)h;

	off = NLMSG_ALIGN(off);
	while (off + NLA_HDRLEN <= h->nlmsg_len) {
		const struct nlattr *a = (const struct nlattr *)(p + off);
		if (a->nla_len < NLA_HDRLEN || off + a->nla_len > h->nlmsg_len)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == INET_DIAG_SKV6ONLY &&
		    a->nla_len >= NLA_HDRLEN + 1)
			return p[off + NLA_HDRLEN] != 0;
		off += NLA_ALIGN(a->nla_len);
	}
	return false;
}

/* Bytecode "port >= LO && port <= HI". Each comparison op is followed by
 * an op whose `no` holds the port; `yes` steps to the next test, `no`
 * jumps 4 bytes past the end, which rejects. */
struct port_bc {
	struct nlattr attr;
	struct inet_diag_bc_op op[4];
};

static void port_bc_set(struct port_bc *b, uint16_t lo, uint16_t hi)
{
	const unsigned short opsz = sizeof b->op[0], bclen = sizeof b->op;

	b->attr.nla_len = NLA_HDRLEN + bclen;
	b->attr.nla_type = INET_DIAG_REQ_BYTECODE;
	/* offsets count from each test op; "reject" = 4 bytes past the end */
	b->op[0] = (struct inet_diag_bc_op){ INET_DIAG_BC_S_GE, 2 * opsz, bclen + 4 };
	b->op[1] = (struct inet_diag_bc_op){ 0, 0, lo };
	b->op[2] = (struct inet_diag_bc_op){ INET_DIAG_BC_S_LE, 2 * opsz,
					     bclen - 2 * opsz + 4 };
	b->op[3] = (struct inet_diag_bc_op){ 0, 0, hi };
}

/* Dump requests: header, the request, the bytecode. AF_UNSPEC (TCP only)
 * is the legacy TCPDIAG_GETSOCK request, the one that dumps both families
 * in one walk of the kernel's tables (inet_diag.c's compat path, which
 * every kernel keeps for old `ss`). A walk costs the same whatever the
 * filter: the connection table is walked bucket by bucket (1-15 ms here,
 * as busy as the host is), so two families asked apart cost two walks. */
struct dump_req {
	struct nlmsghdr nh;
	struct inet_diag_req_v2 r;
	struct port_bc bc;
};
struct dump_req_compat {
	struct nlmsghdr nh;
	struct inet_diag_req r;
	struct port_bc bc;
};
_Static_assert(offsetof(struct dump_req, bc) ==
	       NLMSG_LENGTH(sizeof(struct inet_diag_req_v2)), "dump_req layout");
_Static_assert(offsetof(struct dump_req_compat, bc) ==
	       NLMSG_LENGTH(sizeof(struct inet_diag_req)), "dump_req_compat layout");
_Static_assert(sizeof(struct port_bc) == NLA_HDRLEN + 4 * sizeof(struct inet_diag_bc_op),
	       "port_bc padding");

static int dump_send(int fd, uint32_t seq, uint8_t proto, int family,
		     uint16_t lo, uint16_t hi)
{
	uint32_t states = ~0u;

	if (proto == IPPROTO_TCP)        /* half-open requests hold nothing */
		states &= ~((1u << TCP_SYN_RECV) | (1u << DIAG_NEW_SYN_RECV));
	if (family == AF_UNSPEC) {
		struct dump_req_compat q;
		memset(&q, 0, sizeof q);
		q.nh = (struct nlmsghdr){ sizeof q, TCPDIAG_GETSOCK,
					  NLM_F_REQUEST | NLM_F_DUMP, seq, 0 };
		q.r.idiag_states = states;
		port_bc_set(&q.bc, lo, hi);
		return diag_nl_send(fd, &q, sizeof q);
	}
	struct dump_req q;
	memset(&q, 0, sizeof q);
	q.nh = (struct nlmsghdr){ sizeof q, SOCK_DIAG_BY_FAMILY,
				  NLM_F_REQUEST | NLM_F_DUMP, seq, 0 };
	q.r.sdiag_family = (uint8_t)family;
	q.r.sdiag_protocol = proto;
	q.r.idiag_states = states;
	port_bc_set(&q.bc, lo, hi);
	return diag_nl_send(fd, &q, sizeof q);
}

/*
 * Stream one dump of proto/family sockets (AF_UNSPEC: TCP, both families)
 * whose local port is in [lo, hi], calling fn for each. Returns 0, or
 * -errno (from the kernel, or fn's own negative return, which ends the
 * walk: closing the socket afterwards discards the rest of the dump).
 */
static int diag_dump_range(int fd, uint32_t seq, uint8_t proto, int family,
			   uint16_t lo, uint16_t hi, diag_fn fn, void *ctx)
{
	uint16_t type = family == AF_UNSPEC ? TCPDIAG_GETSOCK : SOCK_DIAG_BY_FAMILY;
	int rc = dump_send(fd, seq, proto, family, lo, hi);

	if (rc < 0)
		return rc;

	union {
		struct nlmsghdr align;
		uint8_t b[DIAG_BUF];
	} buf;
	for (;;) {
		ssize_t n = nl_recv(fd, buf.b, sizeof buf.b);
		if (n < 0)
			return (int)n;
		size_t left = (size_t)n;
		for (const struct nlmsghdr *h = &buf.align; NLMSG_OK(h, left);
		     h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE) {
				/* a dump that failed half-way says so here */
				int err = 0;
				if (h->nlmsg_len >= NLMSG_LENGTH(sizeof err))
					memcpy(&err, NLMSG_DATA(h), sizeof err);
				return err < 0 ? err : 0;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				if (h->nlmsg_len < NLMSG_LENGTH(sizeof *e))
					return -EPROTO;
				return e->error < 0 ? e->error : -EPROTO;
			}
			if (h->nlmsg_type != type ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
				continue;
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			if (ntohs(m->id.idiag_sport) < lo ||
			    ntohs(m->id.idiag_sport) > hi)
				continue;        /* the kernel filter, again */
			rc = fn(m, msg_v6only(h), ctx);
			if (rc < 0)
				return rc;
		}
	}
}

/* One port: what explaining a failed bind needs. */
static int diag_dump(int fd, uint32_t seq, uint8_t proto, int family,
		     uint16_t port, diag_fn fn, void *ctx)
{
	return diag_dump_range(fd, seq, proto, family, port, port, fn, ctx);
}

/*
 * Dump every family that may hold something overlapping q. If the query is
 * IPv4 and the kernel has no IPv6 (no AF_INET6 diag handler: ENOENT), there
 * is simply nothing more to see.
 */
static int diag_dump_overlapping(int fd, uint8_t proto,
				 const struct endpoint *q, uint16_t port,
				 diag_fn fn, void *ctx)
{
	int rc;

	/* TCP: both families in one walk; a kernel that refuses the legacy
	 * request (it answers before any entry) is asked per family */
	if (proto == IPPROTO_TCP) {
		rc = diag_dump(fd, 3, proto, AF_UNSPEC, port, fn, ctx);
		if (rc != -EINVAL && rc != -EOPNOTSUPP && rc != -ENOENT)
			return rc;
	}
	if (need_v4_dump(q)) {
		rc = diag_dump(fd, 1, proto, AF_INET, port, fn, ctx);
		if (rc < 0)
			return rc;
	}
	rc = diag_dump(fd, 2, proto, AF_INET6, port, fn, ctx);
	if (rc == -ENOENT && q->family == AF_INET)
		rc = 0;
	return rc;
}

static bool entry_overlaps(const struct inet_diag_msg *m, bool v6only,
			   const struct endpoint *q)
{
	struct endpoint e;

	if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
		return false;
	endpoint_set(&e, m->idiag_family, m->id.idiag_src, v6only);
	return overlaps(q, &e);
}

/* IPPROTO_TCP/UDP; REUSE_P_TCP/UDP (what struct reuse_sock holds) too. */
static uint8_t diag_proto(unsigned proto)
{
	if (proto == IPPROTO_TCP || proto == REUSE_P_TCP)
		return IPPROTO_TCP;
	if (proto == IPPROTO_UDP || proto == REUSE_P_UDP)
		return IPPROTO_UDP;
	return 0;
}

/*
 * dump_overlapping - one sock_diag dump of proto's sockets whose local
 * address overlaps (family, addr, v6only) on port, each given to fn (its
 * ctx points at *q, filled here). 0, or the errno to report as diag_errno
 * (what fn saw before a failure stands). errno is the caller's to keep.
 */
static int dump_overlapping(unsigned proto, int family, const uint8_t addr[16],
			    uint16_t port, bool v6only, struct endpoint *q,
			    diag_fn fn, void *ctx)
{
	uint8_t p = diag_proto(proto);
	int fd, rc;

	if (!p)
		return EPROTONOSUPPORT;
	if ((family != AF_INET && family != AF_INET6) || !addr)
		return EAFNOSUPPORT;
	endpoint_set(q, family, addr, v6only);
	if ((fd = nl_open()) < 0)
		return -fd;
	rc = diag_dump_overlapping(fd, p, q, port, fn, ctx);
	sys_close(fd);
	return rc < 0 ? -rc : 0;
}

struct clear_ctx {
	const struct endpoint *q;
	int dfd;                         /* second socket: destroy requests */
	uint32_t seq;
	unsigned seen, destroyed;
};

/* SOCK_DESTROY one entry by its full id (addresses, ports, interface,
 * cookie): the kernel refuses with ESTALE if the id now names another
 * socket, so only the entry we saw can go. 0 or -errno. */
static int destroy_one(int dfd, uint32_t seq, const struct inet_diag_msg *m)
{
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 r;
	} q;

	memset(&q, 0, sizeof q);
	q.nh.nlmsg_len = sizeof q;
	q.nh.nlmsg_type = SOCK_DESTROY;
	q.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	q.nh.nlmsg_seq = seq;
	q.r.sdiag_family = m->idiag_family;
	q.r.sdiag_protocol = IPPROTO_TCP;
	q.r.idiag_states = (1u << TCP_TIME_WAIT) | (1u << TCP_FIN_WAIT2);
	q.r.id = m->id;

	int rc = diag_nl_send(dfd, &q, sizeof q);
	if (rc < 0)
		return rc;

	union {
		struct nlmsghdr align;
		uint8_t b[512];
	} buf;
	for (;;) {
		ssize_t n = nl_recv(dfd, buf.b, sizeof buf.b);
		if (n < 0)
			return (int)n;
		size_t left = (size_t)n;
		for (const struct nlmsghdr *h = &buf.align; NLMSG_OK(h, left);
		     h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = NLMSG_DATA(h);
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof *e))
				return -EPROTO;
			return e->error;
		}
	}
}

static int clear_one(const struct inet_diag_msg *m, bool v6only, void *arg)
{
	struct clear_ctx *c = arg;

	if (!is_timewait(m) || !entry_overlaps(m, v6only, c->q))
		return 0;
	c->seen++;
	int rc = destroy_one(c->dfd, ++c->seq, m);
	if (rc == 0)
		c->destroyed++;
	else if (rc != -ENOENT && rc != -ESTALE)
		return rc;               /* gone or replaced: not ours; else stop */
	return 0;
}

/*
 * Clear the TIME_WAIT entries that keep a restarted server from binding,
 * as `ss -K` would, but exactly those overlapping the address and nothing
 * in any other state. Destroying while the dump streams can make the
 * kernel's resume point skip a few entries, so dump again until a round
 * finds none left (bounded). Needs CAP_NET_ADMIN: -EPERM otherwise,
 * -EOPNOTSUPP without CONFIG_INET_DIAG_DESTROY.
 */
int explain_clear_timewait(int family, const uint8_t addr[16], uint16_t port,
			   bool v6only)
{
	int saved = errno;
	struct endpoint q;
	int rc;

	if ((family != AF_INET && family != AF_INET6) || !addr) {
		rc = -EAFNOSUPPORT;
		goto done;
	}
	endpoint_set(&q, family, addr, v6only);

	int fd = nl_open();
	if (fd < 0) {
		rc = fd;
		goto done;
	}
	int dfd = nl_open();
	if (dfd < 0) {
		sys_close(fd);
		rc = dfd;
		goto done;
	}
	struct clear_ctx c = { .q = &q, .dfd = dfd };
	rc = 0;
	for (int pass = 0; pass < CLEAR_PASSES; pass++) {
		unsigned before = c.destroyed;
		c.seen = 0;
		rc = diag_dump_overlapping(fd, IPPROTO_TCP, &q, port,
					   clear_one, &c);
		if (rc < 0 || c.seen == 0 || c.destroyed == before)
			break;
	}
	sys_close(dfd);
	sys_close(fd);
	if (rc == 0)
		rc = (int)c.destroyed;
done:
	errno = saved;
	return rc;
}

/*
 * May this thread clear TIME_WAIT entries? CAP_NET_ADMIN in the effective
 * set, asked of the kernel directly (no libcap in a preload library).
 */
bool explain_have_net_admin(void)
{
	int saved = errno;
	bool have = sys_have_cap(CAP_NET_ADMIN);

	errno = saved;
	return have;
}

/* ---- holders by name: what `reuse who`, `reuse audit` and the log list */

static void holder_from(const struct inet_diag_msg *m, bool v6only,
			uint8_t proto, struct reuse_holder *h)
{
	memset(h, 0, sizeof *h);
	h->proto = proto;
	h->state = m->idiag_state;
	h->family = m->idiag_family;
	h->v6only = v6only;
	h->timewait = proto == IPPROTO_TCP && is_timewait(m);
	memcpy(h->addr, m->id.idiag_src, m->idiag_family == AF_INET ? 4 : 16);
	h->port = ntohs(m->id.idiag_sport);
	h->uid = m->idiag_uid;
	h->ino = h->timewait ? 0 : m->idiag_inode;
	h->pid = h->fd = -1;
	h->ra = h->rp = -1;
}

/*
 * What one dump gathers: the counts (struct reuse_holders) and the list.
 * Both keep the order of an IPv4 dump followed by an IPv6 one, whatever
 * order the kernel's one walk of both families gives (the kernel's order
 * within a family is the same either way): the uid told is the first
 * listener's (else the first live socket's) in that order, the list keeps
 * the first REUSE_HOLDERS_MAX and is put in that order at the end.
 */
struct gather_ctx {
	const struct endpoint *q;
	struct reuse_holders *h;         /* or NULL */
	struct reuse_holder_list *l;     /* or NULL */
	uint8_t proto;
	bool have_live[2], have_listen[2];   /* [0] IPv4, [1] IPv6 */
	uint32_t live_uid[2], listen_uid[2];
};

static void gather_list(struct reuse_holder_list *o, const struct reuse_holder *h)
{
	if (h->timewait) {
		/* the first entry seen, an IPv4 one before any IPv6 one */
		if (!o->tw_have || (h->family == AF_INET && o->tw.family != AF_INET))
			o->tw = *h;
		o->tw_have = true;
		o->timewait++;
		return;
	}
	if (o->n < REUSE_HOLDERS_MAX) {
		o->h[o->n++] = *h;
		return;
	}
	o->more++;
	if (h->family != AF_INET)
		return;
	/* full: an IPv4 socket goes ahead of the IPv6 ones: the last one goes */
	for (unsigned j = o->n; j-- > 0;) {
		if (o->h[j].family != AF_INET) {
			memmove(&o->h[j], &o->h[j + 1], (o->n - j - 1) * sizeof o->h[0]);
			o->h[o->n - 1] = *h;
			return;
		}
	}
}

static int gather_one(const struct inet_diag_msg *m, bool v6only, void *arg)
{
	struct gather_ctx *c = arg;
	int f = m->idiag_family != AF_INET;

	if (!entry_overlaps(m, v6only, c->q))
		return 0;
	if (c->h && is_timewait(m)) {    /* never true for UDP */
		c->h->timewait++;
	} else if (c->h) {
		bool listener = m->idiag_state == TCP_LISTEN;
		if (!c->have_live[f])
			c->live_uid[f] = m->idiag_uid;
		if (listener && !c->have_listen[f])
			c->listen_uid[f] = m->idiag_uid;
		c->have_live[f] = true;
		c->have_listen[f] |= listener;
		c->h->live++;
		c->h->listen += listener;
	}
	if (c->l) {
		struct reuse_holder h;
		holder_from(m, v6only, c->proto, &h);
		gather_list(c->l, &h);
	}
	return 0;
}

/* IPv4 holders first, each family in the kernel's order (stable). */
static void list_v4_first(struct reuse_holder_list *o)
{
	unsigned w = 0;

	for (unsigned i = 0; i < o->n; i++) {
		if (o->h[i].family != AF_INET)
			continue;
		if (i != w) {
			struct reuse_holder t = o->h[i];
			memmove(&o->h[w + 1], &o->h[w], (i - w) * sizeof o->h[0]);
			o->h[w] = t;
		}
		w++;
	}
}

/*
 * explain_gather - one dump for both: who holds an overlapping local
 * address on the port, counted (live sockets in any state, for UDP every
 * bound socket; listeners among them; TCP TIME_WAIT entries) into h and
 * listed into l (either may be NULL). diag_errno says when sock_diag could
 * not answer; what was seen before the failure stands.
 */
void explain_gather(unsigned proto, int family, const uint8_t addr[16],
		    uint16_t port, bool v6only, struct reuse_holders *h,
		    struct reuse_holder_list *l)
{
	int saved = errno, err;
	struct endpoint q;
	struct gather_ctx c = { .q = &q, .h = h, .l = l, .proto = diag_proto(proto) };

	if (h)
		memset(h, 0, sizeof *h);
	if (l)
		memset(l, 0, sizeof *l);
	err = dump_overlapping(proto, family, addr, port, v6only, &q, gather_one, &c);
	if (h) {
		int f = !c.have_listen[0] && (c.have_listen[1] || !c.have_live[0]);
		h->live_uid = c.have_listen[f] ? c.listen_uid[f] : c.live_uid[f];
		h->diag_errno = err;
	}
	if (l) {
		list_v4_first(l);
		l->diag_errno = err;
	}
	errno = saved;
}

void explain_holders(unsigned proto, int family, const uint8_t addr[16],
		     uint16_t port, bool v6only, struct reuse_holders *out)
{
	explain_gather(proto, family, addr, port, v6only, out, NULL);
}

void explain_list(unsigned proto, int family, const uint8_t addr[16],
		  uint16_t port, bool v6only, struct reuse_holder_list *out)
{
	explain_gather(proto, family, addr, port, v6only, NULL, out);
}

struct walk_ctx {
	int (*fn)(const struct reuse_holder *h, void *ctx);
	void *ctx;
	uint8_t proto;
};

static int walk_one(const struct inet_diag_msg *m, bool v6only, void *arg)
{
	struct walk_ctx *w = arg;
	struct reuse_holder h;

	if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
		return 0;
	holder_from(m, v6only, w->proto, &h);
	return w->fn(&h, w->ctx);
}

/* explain_walk - every socket of proto on ports [lo, hi], both families:
 * what `reuse audit` reads the host's sockets with. */
int explain_walk(unsigned proto, uint16_t lo, uint16_t hi,
		 int (*fn)(const struct reuse_holder *h, void *ctx), void *ctx)
{
	int saved = errno, rc;
	struct walk_ctx w = { fn, ctx, diag_proto(proto) };

	if (!w.proto)
		return -EPROTONOSUPPORT;
	int fd = nl_open();
	if (fd < 0)
		return fd;
	rc = diag_dump_range(fd, 1, w.proto, AF_INET, lo, hi, walk_one, &w);
	if (rc == 0) {
		rc = diag_dump_range(fd, 2, w.proto, AF_INET6, lo, hi, walk_one, &w);
		if (rc == -ENOENT)
			rc = 0;
	}
	sys_close(fd);
	errno = saved;
	return rc;
}

/* explain_overlap - whether two local addresses overlap on one port
 * (addresses as libreuse.h: network order, IPv4 in the first 4 bytes). */
bool explain_overlap(int fa, const uint8_t a[16], bool v6only_a,
		     int fb, const uint8_t b[16], bool v6only_b)
{
	struct endpoint ea, eb;

	endpoint_set(&ea, fa, a, v6only_a);
	endpoint_set(&eb, fb, b, v6only_b);
	return overlaps(&ea, &eb);
}
