/*
 * seccomp_int.h - what the parts of `reuse run --seccomp` share:
 * seccomp_target.c (who made a stopped call, its memory and fds) for
 * seccomp_host.c (the supervisor as the engine's host).
 */
#ifndef REUSE_SECCOMP_INT_H
#define REUSE_SECCOMP_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The task that made the call, from /proc. */
struct target {
	pid_t tid, tgid;             /* tgid 0 until target_tgid() */
	long euid;
	bool same_creds;             /* a call made here is judged as its own */
	const char *why_not_here;    /* when not: why (the log's text) */
	char prog[64], exe[64];
};

/* Our own credentials, read once (supervise_init). */
void target_init(void);
/* A supervised task called landlock_restrict_self(). */
void target_landlock_seen(void);
bool read_target(pid_t tid, struct target *t);
pid_t target_tgid(struct target *t);
void target_names(struct target *t);
bool mem_read(pid_t tid, uint64_t addr, void *dst, size_t len);
bool mem_write(pid_t tid, uint64_t addr, const void *src, size_t len);
/* Our duplicate of the task's fd (its pidfd in *pidfd), or -1. */
int take_fd(struct target *t, int fd, int *pidfd);
ssize_t read_small(const char *path, char *buf, size_t len);
bool status_field(const char *text, const char *key, char *out, size_t len);

#endif
