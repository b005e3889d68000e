/*
 * fakehost.h - a fake engine host (core/host.h) for the engine's unit
 * tests (test_engine.c, test_engine_calls.c): real loopback sockets the
 * test opens, a bind() and listen() that note the kernel's options at the
 * moment the engine asks the host for the call, canned failures.
 */
#ifndef REUSE_UNIT_FAKEHOST_H
#define REUSE_UNIT_FAKEHOST_H

#include <errno.h>

#include "core/engine.h"

/* errno as the program had it before each call: a success must leave it. */
#define SENTINEL ENOTRECOVERABLE

struct fake {
	int binds, listens, getsockopts, notes, owns;
	int ra_at_bind, rp_at_bind;       /* the kernel's, when bind was asked */
	int ra_at_listen, rp_at_listen;
	uint32_t owner_at_bind;
	socklen_t bind_len;
	int bind_err;                     /* 0: the real call; else fail so */
	bool fault;                       /* copy_in fails (a bad pointer) */
	int own_fd;                       /* own_sockets' one answer, or -1 */
	struct reuse_sock *own_k;
};

int flag(int fd, int name);
int open_sock(int family, unsigned proto, bool ra, bool rp);
void close_sock(int fd);
void call_init(struct reuse_call *c, struct fake *f, int fd);
socklen_t loop_addr(int family, uint16_t port, struct sockaddr_storage *ss);
int do_bind(struct reuse_call *c, int family, uint16_t port);
const char *onoff(int v);
const char *pname(unsigned proto);
const char *where(int family);
bool line_is(const char *want, const char *what);

extern char pol[64];                      /* the policy file in force */
extern const int fams[2];
extern const unsigned protos[2];

void test_engine_calls(void);

#endif
