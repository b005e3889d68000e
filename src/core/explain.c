/*
 * explain.c - sock_diag: who holds a port, TIME_WAIT clearing.
 *
 * Runs only after a bind() already failed, to say why (or, when the
 * operator allows it and we are privileged, to clear stale TIME_WAIT
 * entries). Everything goes over a private NETLINK_SOCK_DIAG socket that
 * lives for one call; no global state, no malloc, errno is preserved.
 *
 * The port is filtered in the kernel with inet_diag bytecode (S_GE && S_LE:
 * every inet_diag accepts those, S_EQ is newer) and checked again here; the
 * address overlap rule is applied here, in user space. Addresses follow
 * libreuse.h (network order, IPv4 in the first 4 bytes); ports host order.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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
#include "rules.h"
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

static int nl_send(int fd, const void *msg, size_t len)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	ssize_t n;

	do
		n = sendto(fd, msg, len, 0, (const struct sockaddr *)&kernel,
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

/* Dump request: header, inet_diag_req_v2, bytecode "port >= LO && port <= HI".
 * Each comparison op is followed by an op whose `no` holds the port; `yes`
 * steps to the next test, `no` jumps 4 bytes past the end, which rejects. */
struct dump_req {
	struct nlmsghdr nh;
	struct inet_diag_req_v2 r;
	struct nlattr bc_attr;
	struct inet_diag_bc_op bc[4];
};
_Static_assert(offsetof(struct dump_req, bc_attr) ==
	       NLMSG_LENGTH(sizeof(struct inet_diag_req_v2)), "dump_req layout");
_Static_assert(sizeof(struct dump_req) ==
	       offsetof(struct dump_req, bc) + 4 * sizeof(struct inet_diag_bc_op),
	       "dump_req padding");

/*
 * Stream one SOCK_DIAG_BY_FAMILY dump of proto/family sockets whose local
 * port is in [lo, hi], calling fn for each. Returns 0, or -errno (from the kernel,
 * or fn's own negative return, which ends the walk: closing the socket
 * afterwards discards the rest of the dump).
 */
static int diag_dump_range(int fd, uint32_t seq, uint8_t proto, int family,
			   uint16_t lo, uint16_t hi, diag_fn fn, void *ctx)
{
	struct dump_req q;
	const unsigned short opsz = sizeof q.bc[0], bclen = sizeof q.bc;

	memset(&q, 0, sizeof q);
	q.nh.nlmsg_len = sizeof q;
	q.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	q.nh.nlmsg_seq = seq;
	q.r.sdiag_family = (uint8_t)family;
	q.r.sdiag_protocol = proto;
	q.r.idiag_states = ~0u;
	if (proto == IPPROTO_TCP)        /* half-open requests hold nothing */
		q.r.idiag_states &= ~((1u << TCP_SYN_RECV) |
				      (1u << DIAG_NEW_SYN_RECV));
	q.bc_attr.nla_len = NLA_HDRLEN + bclen;
	q.bc_attr.nla_type = INET_DIAG_REQ_BYTECODE;
	/* offsets count from each test op; "reject" = 4 bytes past the end */
	q.bc[0] = (struct inet_diag_bc_op){ INET_DIAG_BC_S_GE, 2 * opsz,
					    bclen + 4 };
	q.bc[1].no = lo;
	q.bc[2] = (struct inet_diag_bc_op){ INET_DIAG_BC_S_LE, 2 * opsz,
					    bclen - 2 * opsz + 4 };
	q.bc[3].no = hi;

	int rc = nl_send(fd, &q, sizeof q);
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
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
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

struct holders_ctx {
	const struct endpoint *q;
	struct reuse_holders *out;
	bool uid_from_listener;
};

static int count_holder(const struct inet_diag_msg *m, bool v6only, void *arg)
{
	struct holders_ctx *c = arg;
	struct reuse_holders *o = c->out;

	if (!entry_overlaps(m, v6only, c->q))
		return 0;
	if (is_timewait(m)) {            /* never true for UDP */
		o->timewait++;
		return 0;
	}
	bool listener = m->idiag_state == TCP_LISTEN;
	if (o->live == 0 || (listener && !c->uid_from_listener)) {
		o->live_uid = m->idiag_uid;
		c->uid_from_listener = listener;
	}
	o->live++;
	if (listener)
		o->listen++;
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

/*
 * Why did a bind fail? Count who holds an overlapping local address on the
 * port: live sockets (any state; for UDP every bound socket), listeners
 * among them, and TCP TIME_WAIT entries. diag_errno says when sock_diag
 * could not answer; the counts are then what was seen before the failure.
 */
void explain_holders(unsigned proto, int family, const uint8_t addr[16],
		     uint16_t port, bool v6only, struct reuse_holders *out)
{
	int saved = errno;
	struct endpoint q;
	struct holders_ctx c = { .q = &q, .out = out };

	memset(out, 0, sizeof *out);
	out->diag_errno = dump_overlapping(proto, family, addr, port, v6only, &q,
					   count_holder, &c);
	errno = saved;
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

	int rc = nl_send(dfd, &q, sizeof q);
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

/* ---- who exactly: owners, flags, and what would bind ---------------- */

/* ss's words for the states, so the log reads like `ss -tuan`. */
const char *explain_state_name(const struct reuse_holder *h)
{
	static const char *const tcp[] = {
		"?", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2",
		"TIME-WAIT", "UNCONN", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING",
	};
	if (h->timewait)
		return "TIME-WAIT";
	if (h->proto == IPPROTO_UDP)
		return h->state == TCP_ESTABLISHED ? "ESTAB" : "UNCONN";
	return h->state < sizeof tcp / sizeof tcp[0] ? tcp[h->state] : "?";
}

void explain_addr_text(int family, const uint8_t addr[16], uint16_t port,
		       char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(family, addr, a, sizeof a);
	snprintf(out, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
}

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

struct list_ctx {
	const struct endpoint *q;
	struct reuse_holder_list *out;
	uint8_t proto;
};

static int list_one(const struct inet_diag_msg *m, bool v6only, void *arg)
{
	struct list_ctx *c = arg;
	struct reuse_holder_list *o = c->out;
	struct reuse_holder h;

	if (!entry_overlaps(m, v6only, c->q))
		return 0;
	holder_from(m, v6only, c->proto, &h);
	if (h.timewait) {
		if (!o->tw_have)
			o->tw = h;
		o->tw_have = true;
		o->timewait++;
	} else if (o->n < REUSE_HOLDERS_MAX) {
		o->h[o->n++] = h;
	} else {
		o->more++;
	}
	return 0;
}

/*
 * explain_list - explain_holders with names: each live socket on an
 * overlapping address, and the TIME_WAIT entries counted.
 */
void explain_list(unsigned proto, int family, const uint8_t addr[16],
		  uint16_t port, bool v6only, struct reuse_holder_list *out)
{
	int saved = errno;
	struct endpoint q;
	struct list_ctx c = { .q = &q, .out = out, .proto = diag_proto(proto) };

	memset(out, 0, sizeof *out);
	out->diag_errno = dump_overlapping(proto, family, addr, port, v6only, &q,
					   list_one, &c);
	errno = saved;
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

struct dirent64_ {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* A directory under dirfd (or absolute path), opened without libc's DIR
 * (which allocates): the caller reads it with getdents64. */
static int open_dir(int dirfd, const char *path)
{
	return (int)syscall(SYS_openat, dirfd, path,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* "123" -> 123; -1 if the name is not all digits. */
static long parse_num(const char *s)
{
	long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 100000000)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

/* The socket inode an fd link names ("socket:[12345]"), or 0. */
static uint64_t link_inode(int dirfd, const char *name)
{
	char l[64];
	ssize_t n = readlinkat(dirfd, name, l, sizeof l - 1);
	uint64_t v = 0;

	if (n < 9 || memcmp(l, "socket:[", 8) != 0)
		return 0;
	for (ssize_t i = 8; i < n && l[i] != ']'; i++) {
		if (l[i] < '0' || l[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(l[i] - '0');
	}
	return v;
}

/* Every fd of one process: report those naming a wanted inode. */
static void scan_fds(int proc, long pid, const uint64_t *ino, size_t n,
		     void (*found)(size_t, int, int, void *), void *ctx)
{
	char path[32];
	union { struct dirent64_ align; char b[4096]; } buf;
	long r;

	snprintf(path, sizeof path, "%ld/fd", pid);
	int dfd = open_dir(proc, path);
	if (dfd < 0)
		return;
	while ((r = syscall(SYS_getdents64, dfd, buf.b, sizeof buf.b)) > 0) {
		for (long off = 0; off < r;) {
			struct dirent64_ *d = (struct dirent64_ *)(buf.b + off);
			off += d->d_reclen;
			long fd = parse_num(d->d_name);
			uint64_t i = fd >= 0 ? link_inode(dfd, d->d_name) : 0;
			if (!i)
				continue;
			for (size_t k = 0; k < n; k++)
				if (ino[k] == i)
					found(k, (int)pid, (int)fd, ctx);
		}
	}
	sys_close(dfd);
}

/*
 * explain_find_owners - sock_diag knows a socket's inode and uid, not its
 * process; /proc/<pid>/fd links know the inode. One pass over /proc, no
 * allocation (getdents64 on a stack buffer), so it can run inside the
 * library after a failed bind. Processes we may not look into are skipped.
 */
void explain_find_owners(const uint64_t *ino, size_t n,
			 void (*found)(size_t i, int pid, int fd, void *ctx),
			 void *ctx)
{
	int saved = errno;
	union { struct dirent64_ align; char b[4096]; } buf;
	long r;

	int proc = open_dir(AT_FDCWD, "/proc");
	if (proc < 0 || n == 0)
		goto out;
	while ((r = syscall(SYS_getdents64, proc, buf.b, sizeof buf.b)) > 0) {
		for (long off = 0; off < r;) {
			struct dirent64_ *d = (struct dirent64_ *)(buf.b + off);
			off += d->d_reclen;
			long pid = parse_num(d->d_name);
			if (pid > 0)
				scan_fds(proc, pid, ino, n, found, ctx);
		}
	}
out:
	if (proc >= 0)
		sys_close(proc);
	errno = saved;
}

/* /proc/<pid>/comm, newline cut; "" if unreadable. */
static void read_comm(int pid, char *out, size_t len)
{
	char path[32];
	ssize_t n;

	out[0] = '\0';
	snprintf(path, sizeof path, "/proc/%d/comm", pid);
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, out, len - 1);
	sys_close(fd);
	if (n <= 0)
		n = 0;
	out[n] = '\0';
	char *nl = strchr(out, '\n');
	if (nl)
		*nl = '\0';
}

/*
 * explain_peer_flags - the only way to read another process's socket
 * options: pidfd_getfd() gives us a second fd on the same socket (ptrace
 * rights over the owner: root, or same uid and dumpable). The copy is
 * checked to be the inode we meant (the fd number may have been reused)
 * and closed at once.
 */
bool explain_peer_flags(int pid, int fd, uint64_t ino, int8_t *ra, int8_t *rp)
{
	int saved = errno;
	struct stat st;
	bool ok = false;

	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		goto out;
	int copy = (int)syscall(SYS_pidfd_getfd, pfd, fd, 0);
	sys_close(pfd);
	if (copy < 0)
		goto out;
	if (sys_fstat(copy, &st) == 0 && (uint64_t)st.st_ino == ino) {
		int a = sys_getflag(copy, SO_REUSEADDR);
		int p = sys_getflag(copy, SO_REUSEPORT);
		if (a >= 0 && p >= 0) {
			*ra = (int8_t)a;
			*rp = (int8_t)p;
			ok = true;
		}
	}
	sys_close(copy);
out:
	errno = saved;
	return ok;
}

static void owner_found(size_t i, int pid, int fd, void *ctx)
{
	struct reuse_holder *h = &((struct reuse_holder_list *)ctx)->h[i];

	h->nprocs++;
	if (h->pid < 0) {
		h->pid = pid;
		h->fd = fd;
	}
}

/* explain_fill_owners - pid, program and flags of each listed holder. */
void explain_fill_owners(struct reuse_holder_list *l)
{
	uint64_t ino[REUSE_HOLDERS_MAX];

	for (unsigned i = 0; i < l->n; i++)
		ino[i] = l->h[i].ino;
	explain_find_owners(ino, l->n, owner_found, l);
	for (unsigned i = 0; i < l->n; i++) {
		struct reuse_holder *h = &l->h[i];
		if (h->pid < 0)
			continue;
		read_comm(h->pid, h->comm, sizeof h->comm);
		explain_peer_flags(h->pid, h->fd, h->ino, &h->ra, &h->rp);
	}
}

size_t explain_rules_holders(const struct reuse_holder_list *l, int8_t tw_ra,
			     int8_t tw_rp, struct rules_holder *out)
{
	size_t n = 0;

	for (unsigned i = 0; i < l->n; i++) {
		const struct reuse_holder *h = &l->h[i];
		out[n++] = (struct rules_holder){
			.state = h->proto == IPPROTO_TCP && h->state == TCP_LISTEN ?
				 RULES_LISTEN : RULES_BOUND,
			.ra = h->ra, .rp = h->rp, .uid = h->uid,
		};
	}
	if (l->timewait)
		out[n++] = (struct rules_holder){
			.state = RULES_TIMEWAIT, .ra = tw_ra, .rp = tw_rp,
			.uid = l->tw.uid,
		};
	return n;
}

/* The live listener on exactly the TIME_WAIT entries' address, if any. */
static const struct reuse_holder *tw_listener(const struct reuse_holder_list *l)
{
	for (unsigned i = 0; i < l->n; i++) {
		const struct reuse_holder *h = &l->h[i];
		if (h->state == TCP_LISTEN && h->family == l->tw.family &&
		    memcmp(h->addr, l->tw.addr, 16) == 0)
			return h;
	}
	return NULL;
}

void explain_why(const struct reuse_holder_list *l, size_t i, uint32_t uid,
		 bool tcp, char *out, size_t len)
{
	if (i >= l->n) {
		snprintf(out, len, "TIME_WAIT entries pass only a socket with the "
			 "option their old listener had (SO_REUSEADDR, or SO_REUSEPORT); "
			 "clear them (CAP_NET_ADMIN) or wait up to 60 s");
		return;
	}
	const struct reuse_holder *h = &l->h[i];
	const char *ra = h->ra < 0 ? "?" : h->ra ? "on" : "off";
	const char *rp = h->rp < 0 ? "?" : h->rp ? "on" : "off";
	if (tcp && h->state == TCP_LISTEN)
		snprintf(out, len, "a TCP listener admits only SO_REUSEPORT sockets of "
			 "its own uid, and only if it has SO_REUSEPORT (it: uid %u, "
			 "reuseport=%s; this uid %u)", h->uid, rp, uid);
	else
		snprintf(out, len, "sharing needs SO_REUSEADDR on both, or SO_REUSEPORT "
			 "on both and one uid (it: uid %u, reuseaddr=%s, reuseport=%s; "
			 "this uid %u)", h->uid, ra, rp, uid);
}

/* Bounded appends to the caller's message. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room = b->cap > b->len ? b->cap - b->len : 0;
	int n;

	if (room <= 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n >= room ? room - 1 : (size_t)n;
}

static const char *flag_word(int8_t v)
{
	return v < 0 ? "?" : v ? "on" : "off";
}

static const char *const combo_rule[4] = {
	"", "reuseaddr=force", "reuseport=force", "reuseaddr=force reuseport=force",
};

/*
 * explain_detail - the holders by name and what would bind, appended to
 * the one-sentence explanation apply.c already wrote. The TIME_WAIT flags
 * are inferred from the failure itself: a socket that had SO_REUSEADDR
 * (SO_REUSEPORT) and still failed over TIME_WAIT alone proves the entries
 * lack it; otherwise they are unknown.
 */
void explain_detail(int fd, const struct reuse_subject *s, char *msg, size_t mlen)
{
	int saved = errno;
	struct reuse_holder_list l;
	struct rules_holder rh[REUSE_HOLDERS_MAX + 1];
	struct sbuf b = { msg, strnlen(msg, mlen), mlen };
	struct stat st;
	char a[64];
	int v = 0;
	socklen_t vl = sizeof v;
	bool v6only = s->family == AF_INET6 &&
		sys_getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl) == 0 && v;
	int own_ra = sys_getflag(fd, SO_REUSEADDR), own_rp = sys_getflag(fd, SO_REUSEPORT);
	uint32_t uid = sys_fstat(fd, &st) == 0 ? (uint32_t)st.st_uid : (uint32_t)geteuid();
	bool tcp = s->proto == REUSE_P_TCP;

	explain_list(s->proto, s->family, s->addr, s->port, v6only, &l);
	if (l.diag_errno)
		goto out;
	explain_fill_owners(&l);
	sb_add(&b, " | holders:");
	for (unsigned i = 0; i < l.n && i < 6; i++) {
		const struct reuse_holder *h = &l.h[i];
		explain_addr_text(h->family, h->addr, h->port, a, sizeof a);
		sb_add(&b, "%s %s %s %s uid=%u", i ? ";" : "", tcp ? "tcp" : "udp",
		       explain_state_name(h), a, h->uid);
		if (h->pid >= 0)
			sb_add(&b, " pid=%d(%s)", h->pid, h->comm[0] ? h->comm : "?");
		else
			sb_add(&b, " pid=?");
		sb_add(&b, " reuseaddr=%s reuseport=%s", flag_word(h->ra), flag_word(h->rp));
	}
	if (l.n > 6 || l.more)
		sb_add(&b, "; and %u more", l.n - (l.n > 6 ? 6 : l.n) + l.more);
	if (l.timewait) {
		const struct reuse_holder *li = tw_listener(&l);
		explain_addr_text(l.tw.family, l.tw.addr, l.tw.port, a, sizeof a);
		sb_add(&b, "%s %u TIME-WAIT on %s, left by ", l.n ? ";" : "", l.timewait, a);
		if (li && li->pid >= 0)
			sb_add(&b, "the listener there (pid %d %s, still running)",
			       li->pid, li->comm);
		else if (li)
			sb_add(&b, "the listener there (still running)");
		else
			sb_add(&b, "a listener on %s that has exited", a);
	}
	if (!l.n && !l.timewait)
		sb_add(&b, " none seen");

	/* what each option choice would do now, for this socket's owner */
	size_t n = explain_rules_holders(&l, own_ra == 1 && !l.n ? 0 : -1,
					 own_rp == 1 && !l.n ? 0 : -1, rh);
	struct rules_cand c = { .tcp = tcp, .uid = uid };
	struct rules_result r[4];
	int fix = -1, maybe = -1;
	sb_add(&b, " | as uid %u:", uid);
	for (unsigned m = 0; m < 4; m++) {
		c.ra = m & 1;
		c.rp = m & 2;
		rules_bind(rh, n, &c, &r[m]);
		sb_add(&b, " %s=%s", m == 0 ? "none" : m == 1 ? "reuseaddr" :
		       m == 2 ? "reuseport" : "both", rules_verdict_name(r[m].verdict));
		if (m && fix < 0 && r[m].verdict != RULES_INUSE &&
		    r[m].verdict != RULES_MAYBE && r[m].verdict != RULES_ACCES)
			fix = (int)m;
		if (m && maybe < 0 && r[m].verdict == RULES_MAYBE)
			maybe = (int)m;
	}
	explain_addr_text(s->family, s->addr, s->port, a, sizeof a);
	if (fix > 0 && (fix != (own_ra == 1) + 2 * (own_rp == 1))) {
		sb_add(&b, " | fix: rule '%s %s %s'%s", tcp ? "tcp" : "udp", a,
		       combo_rule[fix], r[fix].verdict == RULES_TAKE ?
		       " (it would take the holder's datagrams)" : "");
	} else if (maybe > 0) {
		sb_add(&b, " | perhaps: rule '%s %s %s' (the holder's flags are unreadable here)",
		       tcp ? "tcp" : "udp", a, combo_rule[maybe]);
	} else if (fix < 0) {
		char why[200];
		explain_why(&l, r[3].blocker < l.n ? r[3].blocker : l.n, uid, tcp,
			    why, sizeof why);
		sb_add(&b, " | no option lets it bind now: %s", why);
	}
out:
	errno = saved;
}

/*
 * explain_lent - the note of a bind() made with options lent to `own`
 * overlapping exclusive sockets of the program's (and to the binding
 * socket itself when `self`), shared by the library and the supervisor.
 */
void explain_lent(char *msg, size_t mlen, int own, bool self, bool ra, bool rp,
		  long us)
{
	snprintf(msg, mlen, "this process's own exclusive socket%s overlap%s: lent %s%s%s to %d socket%s for this bind() only, %ld us",
		 own == 1 ? "" : "s", own == 1 ? "s" : "", ra ? "SO_REUSEADDR" : "",
		 ra && rp ? "," : "", rp ? "SO_REUSEPORT" : "", own + self,
		 own + self == 1 ? "" : "s", us);
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

/* "127.0.0.1:80" or "[::1]:80" for messages. */
static void where_text(const struct reuse_subject *s, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(s->family, s->addr, a, sizeof a);
	snprintf(out, len, s->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, s->port);
}

/*
 * explain_in_use_text - why the kernel said EADDRINUSE, in one sentence,
 * from the holders found and the TIME_WAIT remedy the engine tried
 * (engine_bind.c): pure text, no kernel state read or changed. `ra` is the
 * socket's SO_REUSEADDR, `excl` whether it is exclusive under a rule that
 * acts; n the entries cleared (or -errno), err the retried bind's errno.
 */
void explain_in_use_text(const struct reuse_holders *h, const struct reuse_subject *s,
			 int ra, bool excl, enum reuse_remedy done, int n, int err,
			 char *msg, size_t mlen)
{
	const char *es = h->timewait == 1 ? "y" : "ies";
	char where[64];

	where_text(s, where, sizeof where);
	if (h->diag_errno) {
		snprintf(msg, mlen, "%s is in use; could not ask the kernel who holds it (%s)",
			 where, strerror(h->diag_errno));
	} else if (h->live) {
		snprintf(msg, mlen, "%s is held by %u live socket%s (%u listening, owner uid %u)%s",
			 where, h->live, h->live == 1 ? "" : "s", h->listen, h->live_uid,
			 h->timewait ? " and TIME_WAIT entries" : "");
	} else if (!h->timewait) {
		snprintf(msg, mlen, "%s is in use, but the kernel lists no holder now (a race, or another network namespace)",
			 where);
	} else if (done == REMEDY_PASSED) {
		snprintf(msg, mlen, "passed %u TIME_WAIT entr%s on %s left by an exclusive run, with SO_REUSEADDR lent to this bind() only",
			 h->timewait, es, where);
	} else if (done == REMEDY_CLEARED) {
		snprintf(msg, mlen, "cleared %d TIME_WAIT entr%s on %s left by a listener without SO_REUSEADDR (CAP_NET_ADMIN, SOCK_DESTROY); bind retried: %s",
			 n, n == 1 ? "y" : "ies", where, err ? strerror(err) : "ok");
	} else if (done == REMEDY_CLEAR_FAILED) {
		snprintf(msg, mlen, "%u TIME_WAIT entr%s hold %s; clearing them failed (%s)",
			 h->timewait, es, where, strerror(-n));
	} else if (ra > 0 || excl) {
		snprintf(msg, mlen, "%u TIME_WAIT entr%s hold %s, left by a listener that lacked SO_REUSEADDR (entries keep the old listener's flags, so SO_REUSEADDR here cannot pass them); fix: start once with CAP_NET_ADMIN (libreuse clears them), or wait up to 60 s, or as root: ss -K state time-wait sport = :%u; runs under reuseaddr=force or exclusive never leave such entries",
			 h->timewait, es, where, s->port);
	} else {
		snprintf(msg, mlen, "%u TIME_WAIT entr%s hold %s and this socket lacks SO_REUSEADDR; fix: a rule 'tcp %s reuseaddr=force' (entries left by a listener without it also need CAP_NET_ADMIN once, or up to 60 s)",
			 h->timewait, es, where, where);
	}
}
