// SPDX-License-Identifier: GPL-2.0
/*
 * guard.bpf.c - the policy in the kernel, for every process of a cgroup:
 * cgroup/bind4 and bind6 decide each bind() (reservation, deny, the
 * options at bind), cgroup/setsockopt and getsockopt hold the options a
 * rule chose once the socket is bound. The rules come compiled from the
 * policy by compile.c; each decision goes to a ring buffer that stream.c
 * turns into the library's log lines. docs/design-guard.md says what each
 * directive does here and what is not enforced.
 *
 * The first rule in file order that matches decides, as the library's
 * matcher (src/core/policy_match.c) does; a rule with several port ranges
 * is several consecutive entries, so the order is kept.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "guard/guard_abi.h"

/* <sys/socket.h> is not for this target: the few numbers needed. */
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define SOL_SOCKET 1
#define SO_REUSEADDR 2
#define SO_REUSEPORT 15
#define AF_INET 2
#define AF_INET6 10
#define EPERM 1
#define EACCES 13
#define EADDRINUSE 98
#define IPPROTO_MPTCP_ 262

#define P_TCP 1
#define P_UDP 2
#define ACT_KEEP 0
#define ACT_FORCE 1
#define ACT_STRIP 2
#define ACT_REFUSE 3
#define NONE 0xffffffffu

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GUARD_MAX_RULES);
	__type(key, __u32);
	__type(value, struct guard_rule);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GUARD_MAX_RULES);
	__type(key, __u32);
	__type(value, struct guard_glob);
} globs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct guard_config);
} config SEC(".maps");

/* Events the ring buffer had no room for: the streamer reports them. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} dropped SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* A bound socket whose rule holds an option: the entry, and what the
 * program asked (getsockopt answers it, as the library does). */
struct held {
	__u32 entry;
	__s8 asked_ra, asked_rp;
	__u16 port;              /* the socket's, to tell it from a later one */
};

/* Keyed by the socket's kernel address (the sockopt hooks get no cookie),
 * checked against its bound port: an LRU hash, preallocated, so a bind
 * pays no allocation (socket-local storage cost 0.7 us more a bind here,
 * bench/guard.sh). An entry of a closed socket ages out; past GUARD_HELD
 * held sockets the oldest lose their hold (docs/design-guard.md). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GUARD_HELD);
	__type(key, __u64);
	__type(value, struct held);
} held SEC(".maps");

/*
 * Exclusive sockets, by protocol and port: who bound them (post_bind4/6),
 * so that another process's overlapping bind is refused in the bind hook
 * even where the kernel would let it join (a TCP program's own
 * SO_REUSEPORT, kept as the library keeps it). sock_release forgets them.
 */
struct owner_key {
	__u16 port;
	__u8 proto;
	__u8 pad;
};

struct owner_slot {
	__u64 sk;                /* the socket (0: a free slot) */
	__u32 tgid;
	__u32 entry;
	__u32 addr[4];
	__u8 family, wild, v6any, pad;
};

struct owners_val {
	struct owner_slot slot[GUARD_OWNER_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct owner_key);
	__type(value, struct owners_val);
} owners SEC(".maps");

/* An exclusive socket's own note of its owners entry: sock_release may
 * not read the socket's port. Only exclusive sockets carry one. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct owner_key);
} owned SEC(".maps");

/* One bind() being decided, walked over every entry by bpf_loop. */
struct scan {
	__u32 addr[4];
	__u32 uid;
	__u16 port;
	__u8 proto, family;
	__u8 wild;               /* the unspecified address of its family */
	__u8 v6any;              /* "::": overlaps IPv4 too (dual stack) */
	__u8 owner;              /* an overlapping reservation names it */
	__u8 pad;
	char comm[GUARD_COMM_LEN];
	__u32 first;             /* the first entry that matches, or NONE */
	__u32 reserved_by;       /* an overlapping reservation not naming it */
};

/* program=: the automaton of entry i (guard_abi.h, guard_glob_match). */
static __always_inline int glob_ok(const struct guard_rule *r, const char *comm, __u32 i)
{
	const struct guard_glob *g = bpf_map_lookup_elem(&globs, &i);

	return g && guard_glob_match(g->m, r->star, r->glob_n, comm);
}

/* program= and uid=: the rule names this process. */
static __always_inline int names(const struct guard_rule *r, const struct scan *s, __u32 i)
{
	if ((r->flags & GR_UID) && r->uid != s->uid)
		return 0;
	return !(r->flags & GR_PROGRAM) || glob_ok(r, s->comm, i);
}

static __always_inline int host_match(const struct guard_rule *r, const struct scan *s)
{
	if (!r->family)
		return 1;
	if (r->family != s->family)
		return 0;
	return ((s->addr[0] & r->mask[0]) == r->net[0]) &
	       ((s->addr[1] & r->mask[1]) == r->net[1]) &
	       ((s->addr[2] & r->mask[2]) == r->net[2]) &
	       ((s->addr[3] & r->mask[3]) == r->net[3]);
}

/* Could the bind and the rule's addresses ever hold the same traffic? */
static __always_inline int overlaps(const struct guard_rule *r, const struct scan *s)
{
	if (!r->family)
		return 1;
	if (s->wild)
		return r->family == s->family || (s->v6any && r->family == 4);
	if (!(r->net[0] | r->net[1] | r->net[2] | r->net[3]) && r->family == s->family)
		return 1;        /* the rule holds its family's unspecified address */
	return host_match(r, s);
}

/* Do two bound addresses meet (same family and one wildcard or equal, or
 * "::" against IPv4)? */
static __always_inline int slot_overlaps(const struct owner_slot *o, const struct scan *s)
{
	if (!o->sk)
		return 0;
	if (o->family != s->family)
		return (o->v6any && s->family == 4) || (s->v6any && o->family == 4);
	if (o->wild || s->wild)
		return 1;
	return o->addr[0] == s->addr[0] && o->addr[1] == s->addr[1] &&
	       o->addr[2] == s->addr[2] && o->addr[3] == s->addr[3];
}

/* The slot of another process's exclusive socket this bind overlaps, or -1. */
static __always_inline int held_by_other(const struct scan *s, __u32 tgid,
					 const struct owners_val **vp)
{
	struct owner_key k = { .port = s->port, .proto = s->proto };
	const struct owners_val *v = bpf_map_lookup_elem(&owners, &k);

	if (!v)
		return -1;
	*vp = v;
#pragma unroll
	for (int i = 0; i < GUARD_OWNER_SLOTS; i++)
		if (v->slot[i].tgid != tgid && slot_overlaps(&v->slot[i], s))
			return i;
	return -1;
}

static long scan_one(__u32 i, struct scan *s)
{
	const struct guard_rule *r = bpf_map_lookup_elem(&rules, &i);

	if (!r)
		return 1;
	if (!(r->proto & s->proto) || s->port < r->port_lo || s->port > r->port_hi)
		return 0;
	if (r->flags & GR_RESERVE) {
		if (s->port && overlaps(r, s)) {
			if (names(r, s, i))
				s->owner = 1;
			else if (s->reserved_by == NONE)
				s->reserved_by = i;
		}
	}
	if (s->first == NONE && host_match(r, s) && names(r, s, i))
		s->first = i;
	return 0;
}

static __always_inline void drop_count(void)
{
	__u32 z = 0;
	__u64 *n = bpf_map_lookup_elem(&dropped, &z);

	if (n)
		*n += 1;
}

static __always_inline struct guard_event *event_new(__u8 call)
{
	__u32 z = 0;
	const struct guard_config *cfg = bpf_map_lookup_elem(&config, &z);
	struct guard_event *e;

	if (!cfg || !cfg->events)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof *e, 0);
	if (!e) {
		drop_count();
		return 0;
	}
	__builtin_memset(e, 0, sizeof *e);
	e->call = call;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(e->comm, sizeof e->comm);
	return e;
}

/* SOL_SOCKET int option as the kernel holds it now; -1 unknown. */
static __always_inline int opt_get(struct bpf_sock_addr *ctx, int name)
{
	int v = 0;

	if (bpf_getsockopt(ctx, SOL_SOCKET, name, &v, sizeof v))
		return -1;
	return v != 0;
}

static __always_inline void opt_set(struct bpf_sock_addr *ctx, int name, int want)
{
	int v = want;

	if (want >= 0)
		bpf_setsockopt(ctx, SOL_SOCKET, name, &v, sizeof v);
}

/* One option at bind: the value it must have (-1 leave), *err for refuse. */
static __always_inline int at_bind(__u8 act, int asked, int *err)
{
	if (act == ACT_FORCE)
		return 1;
	if (act == ACT_STRIP)
		return 0;
	if (act == ACT_REFUSE && asked == 1)
		*err = EPERM;
	return -1;
}

static __always_inline int on_bind(struct bpf_sock_addr *ctx, int v6)
{
	__u32 z = 0, entry, n;
	const struct guard_config *cfg = bpf_map_lookup_elem(&config, &z);
	const struct guard_rule *r;
	struct scan s = {};
	struct guard_event *e;
	const struct owners_val *ov = 0;
	int err = 0, want_ra = -1, want_rp = -1, asked_ra, asked_rp, dry, slot;
	__u32 tgid, owner_pid = 0;
	__u8 action = GA_RULE;

	if (!cfg || !cfg->nrules)
		return 1;
	if (ctx->type == SOCK_STREAM &&
	    (ctx->protocol == IPPROTO_TCP || ctx->protocol == IPPROTO_MPTCP_))
		s.proto = P_TCP;
	else if (ctx->type == SOCK_DGRAM && ctx->protocol == IPPROTO_UDP)
		s.proto = P_UDP;
	else
		return 1;
	s.port = bpf_ntohs((__u16)ctx->user_port);
	if (!v6) {
		s.family = 4;
		s.addr[0] = ctx->user_ip4;
		s.wild = !s.addr[0];
	} else {
		s.addr[0] = ctx->user_ip6[0];
		s.addr[1] = ctx->user_ip6[1];
		s.addr[2] = ctx->user_ip6[2];
		s.addr[3] = ctx->user_ip6[3];
		if (!s.addr[0] && !s.addr[1] && s.addr[2] == bpf_htonl(0xffff)) {
			s.family = 4;        /* v4-mapped: the policy's IPv4 */
			s.addr[0] = s.addr[3];
			s.addr[2] = s.addr[3] = 0;
			s.wild = !s.addr[0];
		} else {
			s.family = 6;
			s.wild = !(s.addr[0] | s.addr[1] | s.addr[2] | s.addr[3]);
			s.v6any = s.wild;
		}
	}
	s.uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(s.comm, sizeof s.comm);
	s.first = s.reserved_by = NONE;
	n = cfg->nrules < GUARD_MAX_RULES ? cfg->nrules : GUARD_MAX_RULES;
	bpf_loop(n, scan_one, &s, 0);

	tgid = bpf_get_current_pid_tgid() >> 32;
	if (s.reserved_by != NONE && !s.owner) {
		entry = s.reserved_by;
		action = GA_RESERVED;
	} else if (cfg->exclusive && s.port && (slot = held_by_other(&s, tgid, &ov)) >= 0 && ov) {
		entry = ov->slot[slot & (GUARD_OWNER_SLOTS - 1)].entry;
		owner_pid = ov->slot[slot & (GUARD_OWNER_SLOTS - 1)].tgid;
		action = GA_EXCLUSIVE;
	} else if (s.first != NONE) {
		entry = s.first;
	} else {
		return 1;
	}
	r = bpf_map_lookup_elem(&rules, &entry);
	if (!r)
		return 1;
	dry = r->flags & GR_DRY;
	asked_ra = opt_get(ctx, SO_REUSEADDR);
	asked_rp = opt_get(ctx, SO_REUSEPORT);
	if (action != GA_RULE) {
		err = EADDRINUSE;
	} else if (r->flags & GR_DENY) {
		err = EACCES;
	} else if (r->flags & GR_EXCLUSIVE) {
		/* neither option: the kernel refuses every overlapping bind;
		 * a TCP program's own SO_REUSEPORT stays (the library's plan
		 * for a socket it cannot key, src/core/decide.c) */
		want_ra = 0;
		want_rp = asked_rp == 1 && s.proto == P_TCP ? -1 : 0;
	} else {
		want_ra = at_bind(r->ra, asked_ra, &err);
		want_rp = at_bind(r->rp, asked_rp, &err);
	}
	if (!dry && !err) {
		opt_set(ctx, SO_REUSEADDR, want_ra);
		opt_set(ctx, SO_REUSEPORT, want_rp);
		if ((want_ra >= 0 || want_rp >= 0 || r->ra == ACT_REFUSE ||
		     r->rp == ACT_REFUSE) && ctx->sk) {
			struct held h = { .entry = entry, .asked_ra = (__s8)asked_ra,
					  .asked_rp = (__s8)asked_rp };
			__u64 key = (__u64)ctx->sk;

			h.port = s.port;
			bpf_map_update_elem(&held, &key, &h, BPF_ANY);
		}
	}
	if (r->log && (e = event_new(GE_BIND))) {
		e->family = v6 ? 6 : 4;
		e->addr[0] = v6 ? ctx->user_ip6[0] : ctx->user_ip4;
		if (v6) {
			e->addr[1] = ctx->user_ip6[1];
			e->addr[2] = ctx->user_ip6[2];
			e->addr[3] = ctx->user_ip6[3];
		}
		e->port = s.port;
		e->proto = s.proto;
		e->entry = entry;
		e->action = action;
		e->value = owner_pid;
		e->result = err;
		e->asked_ra = (__s8)asked_ra;
		e->asked_rp = (__s8)asked_rp;
		e->now_ra = (__s8)opt_get(ctx, SO_REUSEADDR);
		e->now_rp = (__s8)opt_get(ctx, SO_REUSEPORT);
		bpf_ringbuf_submit(e, 0);
	}
	if (err && !dry) {
		bpf_set_retval(-err);
		return 0;
	}
	return 1;
}

SEC("cgroup/bind4")
int guard_bind4(struct bpf_sock_addr *ctx)
{
	return on_bind(ctx, 0);
}

SEC("cgroup/bind6")
int guard_bind6(struct bpf_sock_addr *ctx)
{
	return on_bind(ctx, 1);
}

/* A bound socket's address as the scan holds one (v4-mapped as IPv4);
 * v6 a constant: post_bind4 may not read the IPv6 fields, nor 6 the 4. */
static __always_inline void sock_addr_of(struct bpf_sock *sk, struct owner_slot *o, int v6)
{
	if (v6) {
		__u32 a0 = *(volatile __u32 *)&sk->src_ip6[0];
		__u32 a1 = *(volatile __u32 *)&sk->src_ip6[1];
		__u32 a2 = *(volatile __u32 *)&sk->src_ip6[2];
		__u32 a3 = *(volatile __u32 *)&sk->src_ip6[3];

		if (!a0 && !a1 && a2 == bpf_htonl(0xffff)) {
			o->family = 4;
			o->addr[0] = a3;
			o->wild = !a3;
		} else {
			o->family = 6;
			o->addr[0] = a0;
			o->addr[1] = a1;
			o->addr[2] = a2;
			o->addr[3] = a3;
			o->wild = !(a0 | a1 | a2 | a3);
			o->v6any = o->wild;
		}
	} else {
		o->family = 4;
		o->addr[0] = sk->src_ip4;
		o->wild = !o->addr[0];
	}
}

static __always_inline __u8 sock_proto(struct bpf_sock *sk)
{
	if (sk->type == SOCK_STREAM && (sk->protocol == IPPROTO_TCP ||
					sk->protocol == IPPROTO_MPTCP_))
		return P_TCP;
	if (sk->type == SOCK_DGRAM && sk->protocol == IPPROTO_UDP)
		return P_UDP;
	return 0;
}

/* After a bind: an exclusive rule's socket is remembered as its port's owner. */
static __always_inline int on_post_bind(struct bpf_sock *sk, int v6)
{
	__u64 key = (__u64)sk;
	const struct held *h = bpf_map_lookup_elem(&held, &key);
	const struct guard_rule *r;
	struct owner_slot o = {};
	struct owner_key k = {}, *note;
	struct owners_val *v, fresh = {};

	if (!h || h->port != (__u16)sk->src_port)
		return 1;
	r = bpf_map_lookup_elem(&rules, &h->entry);
	if (!r || !(r->flags & GR_EXCLUSIVE) || (r->flags & GR_DRY))
		return 1;
	k.port = (__u16)sk->src_port;
	k.proto = sock_proto(sk);
	o.sk = key;
	o.tgid = bpf_get_current_pid_tgid() >> 32;
	o.entry = h->entry;
	sock_addr_of(sk, &o, v6);
	note = bpf_sk_storage_get(&owned, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!note)
		return 1;
	*note = k;
	v = bpf_map_lookup_elem(&owners, &k);
	if (!v) {
		fresh.slot[0] = o;
		bpf_map_update_elem(&owners, &k, &fresh, BPF_NOEXIST);
		return 1;
	}
#pragma unroll
	for (int i = 0; i < GUARD_OWNER_SLOTS; i++) {
		if (!v->slot[i].sk) {
			v->slot[i] = o;
			break;
		}
	}
	return 1;                /* more exclusive sockets on one port: the kernel's
				    own refusal (no options) still stands */
}

SEC("cgroup/post_bind4")
int guard_post_bind4(struct bpf_sock *sk)
{
	return on_post_bind(sk, 0);
}

SEC("cgroup/post_bind6")
int guard_post_bind6(struct bpf_sock *sk)
{
	return on_post_bind(sk, 1);
}

/* A socket closes: it owns its port no more. */
SEC("cgroup/sock_release")
int guard_release(struct bpf_sock *sk)
{
	struct owner_key *k = bpf_sk_storage_get(&owned, sk, 0, 0);
	struct owners_val *v;
	__u64 key = (__u64)sk;

	if (!k)
		return 1;
	v = bpf_map_lookup_elem(&owners, k);
	if (!v)
		return 1;
#pragma unroll
	for (int i = 0; i < GUARD_OWNER_SLOTS; i++)
		if (v->slot[i].sk == key)
			v->slot[i].sk = 0;
	return 1;
}

/* The socket's side of a sockopt event: its bound address. */
static __always_inline void sock_side(struct guard_event *e, struct bpf_sock *sk)
{
	e->family = sk->family == AF_INET6 ? 6 : 4;
	e->proto = sk->type == SOCK_STREAM ? P_TCP : P_UDP;
	e->port = (__u16)sk->src_port;
	if (sk->family == AF_INET6) {
		/* volatile: one load per field, at the offsets the verifier
		 * allows (no arithmetic on the socket pointer) */
		e->addr[0] = *(volatile __u32 *)&sk->src_ip6[0];
		e->addr[1] = *(volatile __u32 *)&sk->src_ip6[1];
		e->addr[2] = *(volatile __u32 *)&sk->src_ip6[2];
		e->addr[3] = *(volatile __u32 *)&sk->src_ip6[3];
	} else {
		e->addr[0] = sk->src_ip4;
	}
}

/* The held record and rule of a socket for SO_REUSEADDR/SO_REUSEPORT. */
static __always_inline const struct guard_rule *held_rule(struct bpf_sockopt *ctx,
							  struct held **hp)
{
	struct held *h;

	if (ctx->level != SOL_SOCKET ||
	    (ctx->optname != SO_REUSEADDR && ctx->optname != SO_REUSEPORT) || !ctx->sk)
		return 0;
	__u64 key = (__u64)ctx->sk;

	h = bpf_map_lookup_elem(&held, &key);
	if (!h || h->port != (__u16)ctx->sk->src_port)
		return 0;                /* none, or a socket since freed */
	*hp = h;
	return bpf_map_lookup_elem(&rules, &h->entry);
}

/*
 * After bind(): force, strip and exclusive hold the kernel's value and tell
 * the program it worked; refuse says EPERM to turning the option on
 * (reuse_decide_setopt in src/core/decide.c).
 */
SEC("cgroup/setsockopt")
int guard_setsockopt(struct bpf_sockopt *ctx)
{
	struct held *h = 0;
	const struct guard_rule *r = held_rule(ctx, &h);
	struct guard_event *e;
	int *p = ctx->optval, is_rp, v, err = 0, hold;
	__u8 act;

	if (!r || !h || ctx->optlen < (int)sizeof(int) || (void *)(p + 1) > ctx->optval_end)
		return 1;
	is_rp = ctx->optname == SO_REUSEPORT;
	v = *p != 0;
	act = is_rp ? r->rp : r->ra;
	hold = (r->flags & GR_EXCLUSIVE) || act == ACT_FORCE || act == ACT_STRIP;
	if (!hold && act == ACT_REFUSE && v)
		err = EPERM;
	if (!hold && !err)
		return 1;
	if (is_rp)
		h->asked_rp = (__s8)v;
	else
		h->asked_ra = (__s8)v;
	if (r->log && (e = event_new(GE_SETSOCKOPT))) {
		sock_side(e, ctx->sk);
		e->entry = h->entry;
		e->optname_rp = (__u8)is_rp;
		e->value = (__u32)v;
		e->result = err;
		e->asked_ra = e->now_ra = -1;
		e->asked_rp = e->now_rp = -1;
		bpf_ringbuf_submit(e, 0);
	}
	if (r->flags & GR_DRY)
		return 1;
	if (err) {
		bpf_set_retval(-err);
		return 0;
	}
	ctx->optlen = -1;            /* success, and the kernel is not reached */
	return 1;
}

/* A held option reads back as what the program asked. */
SEC("cgroup/getsockopt")
int guard_getsockopt(struct bpf_sockopt *ctx)
{
	struct held *h = 0;
	const struct guard_rule *r = held_rule(ctx, &h);
	int *p = ctx->optval, asked;
	__u8 act;

	if (!r || !h || ctx->retval || ctx->optlen < (int)sizeof(int) ||
	    (void *)(p + 1) > ctx->optval_end || (r->flags & GR_DRY))
		return 1;
	act = ctx->optname == SO_REUSEPORT ? r->rp : r->ra;
	if (!(r->flags & GR_EXCLUSIVE) && act != ACT_FORCE && act != ACT_STRIP)
		return 1;
	asked = ctx->optname == SO_REUSEPORT ? h->asked_rp : h->asked_ra;
	if (asked >= 0)
		*p = asked;
	return 1;
}
