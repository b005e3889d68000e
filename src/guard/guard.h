/*
 * guard.h - the rooms of `reuse guard` (the policy enforced by cgroup BPF
 * programs; docs/design-guard.md):
 *
 *   guard.bpf.c   the programs: bind4/bind6, setsockopt, getsockopt
 *   compile.c     the policy -> the programs' rule entries; what the
 *                 kernel cannot honour, as FILE:LINE:COL: warnings
 *   load.c        load, attach to a cgroup, pin, list, remove (libbpf)
 *   stream.c      the ring buffer -> the library's log lines (log.c)
 *   src/cli/guard.c  the command: options, the checks, the foreground run
 *
 * Only the CLI links this (and libbpf); the preloaded library never does.
 */
#ifndef REUSE_GUARD_H
#define REUSE_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "libreuse.h"
#include "guard/guard_abi.h"

/* ---- compile.c ------------------------------------------------------- */
struct guard_image {
	struct guard_rule rules[GUARD_MAX_RULES];
	struct guard_glob globs[GUARD_MAX_RULES];
	size_t n;                    /* entries in use */
	unsigned skipped;            /* rules (or parts) the kernel cannot honour */
};

/*
 * Compile p into img. Every rule, or part of one, the guard cannot honour
 * is added to diag as "NAME:LINE:COL: warning: ..." (text: the policy's
 * text, for the columns; NULL: columns 1). Returns the number of such
 * warnings; -1 (with an error in diag) when the policy needs more entries
 * than the programs hold.
 */
int guard_compile(const struct reuse_policy *p, const char *name,
		  const char *text, size_t len, struct guard_image *img,
		  struct reuse_diag *diag);
/* What `reuse check` says of a rule the library and --seccomp accept but
 * do not enforce (reserve): warnings added to diag, their number. */
int guard_library_notes(const struct reuse_policy *p, const char *name,
			const char *text, size_t len, struct reuse_diag *diag);

/* ---- load.c ---------------------------------------------------------- */
struct guard_bpf;
struct bpf_link;
struct ring_buffer;

#define GUARD_PROGS 7                /* bind4, bind6, setsockopt, getsockopt,
					post_bind4, post_bind6, sock_release */
#define GUARD_PIN_ROOT "/sys/fs/bpf/libreuse"

struct guard_run {
	struct guard_bpf *skel;
	struct bpf_link *links[GUARD_PROGS];
};

/* Load the programs with img's rules; events: decisions go to the ring
 * buffer. 0, or -1 after a message on stderr. */
int guard_load(struct guard_run *g, const struct guard_image *img, bool events);
/* Attach every program to the cgroup open at cgfd (multi: other programs
 * there keep running). 0, or -1 after a message. */
int guard_attach(struct guard_run *g, int cgfd);
/* Pin the links (and the config map) in dir; 0 or -1 after a message. */
int guard_pin(struct guard_run *g, const char *dir);
/* Detach (unless pinned) and free. */
void guard_close(struct guard_run *g);
/* The ring buffer's and the drop counter's fds. */
int guard_events_fd(const struct guard_run *g);
int guard_dropped_fd(const struct guard_run *g);
/* The pin directory for a target: GUARD_PIN_ROOT/host or /cg-INODE. */
void guard_pin_dir(bool host, unsigned long long ino, char *out, size_t len);
/* `--list`: every pinned guard on stdout; `--remove`: unpin dir (NULL:
 * all). 0, or 1 after a message. */
int guard_list(const char *cgroot);
int guard_unpin(const char *dir);

/* ---- stream.c -------------------------------------------------------- */
/* Decisions from the ring buffer as log lines until *stop is set. The
 * rules of img index into p. 0, or -1 after a message. */
int guard_stream(const struct guard_run *g, const struct reuse_policy *p,
		 const struct guard_image *img, volatile int *stop);

#endif
