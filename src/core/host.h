/*
 * host.h - what the engine needs from the process it serves.
 *
 * The engine (engine*.c) decides and applies the policy for one call. It
 * runs in two hosts: the preloaded library, inside the program (src/shim/
 * host.c), and the seccomp supervisor, outside it (src/cli/seccomp_host.c).
 * A host hands the engine one struct reuse_call per call, and a table of
 * the few things that differ between them: reading and writing the
 * program's memory, making the program's own call, finding the program's
 * other sockets, and putting a socket at one of the program's fd numbers.
 * Everything else - the record, the decision, the options, the remedies,
 * the explanation and the log line - is the engine's, the same in both.
 */
#ifndef REUSE_HOST_H
#define REUSE_HOST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

struct reuse_sock;
struct reuse_call;

/* The engine's answer when the host should make the program's call
 * itself, untouched (the library: the real call with the program's own
 * arguments; the supervisor: let the call continue in the target). */
#define REUSE_PASS (-2)

/* One of the program's other sockets, lent an option for one bind(). */
struct reuse_own {
	int fd;                      /* a duplicate in this process; the engine closes it */
	struct reuse_sock *k;        /* its record */
};

struct engine_host {
	/* Copy len bytes of the program's memory; false where the kernel's own
	 * copy would fail with EFAULT. */
	bool (*copy_in)(const struct reuse_call *c, void *dst, uint64_t src, size_t len);
	bool (*copy_out)(const struct reuse_call *c, uint64_t dst, const void *src,
			 size_t len);
	/* The program's call, made on c->sock: 0, or -1 and errno. */
	int (*bind)(const struct reuse_call *c, const struct sockaddr *a, socklen_t len);
	int (*listen)(const struct reuse_call *c, int backlog);
	/* getsockopt() into the program's val and *lenp, as the kernel would. */
	int (*getsockopt)(const struct reuse_call *c, int level, int name, uint64_t val,
			  uint64_t lenp);
	/* Duplicates of the program's exclusive sockets of proto on port,
	 * other than c's own; how many (at most max). */
	int (*own_sockets)(const struct reuse_call *c, unsigned proto, uint16_t port,
			   struct reuse_own *out, int max);
	/* Put socket fd (this process's, consumed) at the program's number
	 * c->fd, keeping that number's close-on-exec and O_NONBLOCK; the new
	 * record (c->k and c->sock updated), or NULL and errno. note says what
	 * changed on the shared open file. */
	struct reuse_sock *(*install)(struct reuse_call *c, int fd, char *note,
				      size_t nlen);
	/* c->k's record of what the program asked changed: other records of
	 * the same socket (other fds) follow (may be NULL: one per socket). */
	void (*asked_changed)(const struct reuse_call *c);
	/* The record of the program's listening TCP socket on port, if any
	 * (may be NULL): a connection accepted from it takes its view. */
	const struct reuse_sock *(*listener)(const struct reuse_call *c, uint16_t port);
	/* Fill c->prog, c->exe (basenames program= matches) when still NULL. */
	void (*names)(struct reuse_call *c);
	/* The host does not see the program's sends (the supervisor: every
	 * send would stop), so an unbound UDP socket's first send binds it
	 * where the engine cannot decide (engine_opts.c holds its options). */
	bool sends_unseen;
};

struct reuse_call {
	const struct engine_host *host;
	void *ctx;                   /* the host's own */
	int fd;                      /* the fd number the program uses (the log's) */
	int sock;                    /* an fd on the same socket in this process */
	int pidfd;                   /* the program's pidfd, or -1 (this process) */
	struct reuse_sock *k;        /* the socket's record */
	bool can_call_here;          /* false: a call made here could be judged
				      * otherwise than the program's own */
	const char *why_not_here;    /* then why, for the log (NULL: unsaid) */
	long euid;                   /* the program's effective uid; -1 until
				      * call_euid() asks */
	long pid;                    /* 0: this process; else the program's */
	const char *prog, *exe;      /* NULL until host->names */
	int entry_errno;             /* errno as the program had it */
};

/* The program's effective uid (the library asks the kernel only when a
 * decision needs it). */
static inline long call_euid(struct reuse_call *c)
{
	if (c->euid < 0)
		c->euid = (long)geteuid();
	return c->euid;
}

#endif
