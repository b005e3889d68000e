/*
 * cli.h - the rooms of the `reuse` command-line tool.
 *
 *   main.c        dispatch, messages
 *   commands.c    each command's options, usage and --help, in one table
 *   run.c         reuse run: environment, LD_PRELOAD, exec
 *   target.c      where execvp() will find CMD, and why the shim may miss it
 *   elf.c         what the dynamic loader will make of a program file
 *   check.c       reuse check
 *   policy_cmd.c  reuse policy
 *   source.c      which policy the library would load; load + report
 *   seccomp.c     reuse run --seccomp: the filter, the child, the loop
 *   supervise.c   reuse run --seccomp: deciding for the child's calls
 *   takeover.c    reuse run --supervise: SIGHUP = zero-downtime restart
 *   who.c, audit.c reuse who, reuse audit
 *   guard.c       reuse guard (its rooms: src/guard/guard.h)
 *
 * The CLI links the core's policy parser (build/libcore.a), never the shim.
 */
#ifndef REUSE_CLI_H
#define REUSE_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "libreuse.h"

/* Where an installed libreuse.so lives; packaging overrides it. */
#ifndef REUSE_LIBDIR
#define REUSE_LIBDIR "/usr/lib/x86_64-linux-gnu/libreuse"
#endif
/* The same, relative to the prefix (bin/..), for relocated installs. */
#ifndef REUSE_LIBDIR_REL
#define REUSE_LIBDIR_REL "lib/x86_64-linux-gnu/libreuse"
#endif

/* Exit statuses besides 0 and 1; 126/127 as env(1) and the shell use them. */
enum {
	EXIT_USAGE = 2,
	EXIT_CANNOT_RUN = 126,
	EXIT_NOT_FOUND = 127,
};

/* ---- commands.c: each command's one table ----------------------------- */
/* An option: getopt_long's entry and its --help line. key is what
 * cli_getopt returns: a letter that is also the short option (-h), or a
 * letter | CLI_LONG_ONLY for a long option alone. */
#define CLI_LONG_ONLY 0x100
#define CLI_OPTS_MAX 16
struct cli_opt {
	const char *name;            /* long name, without "--"; NULL ends a table */
	int key;
	const char *arg;             /* its argument's name in --help; NULL: none */
	const char *help;            /* lines joined by \n */
};

struct cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *synopsis;        /* after "reuse NAME " */
	const char *summary;         /* its line in `reuse --help` */
	const char *text;            /* its --help before the options */
	const struct cli_opt *opts;  /* every option it takes, --help included */
	const char *tail;            /* its --help after the options, or NULL */
	bool in_order;               /* options end at the first operand */
};

extern const struct cli_cmd cli_cmds[];   /* ends with a NULL name */
const struct cli_cmd *cli_cmd_find(const char *name);
/* Usage of one command (NULL or unknown: the whole tool) to f. */
void cli_usage(FILE *f, const char *cmd);
/* getopt_long over command name's table, one option per call (argv as the
 * command got it, argv[0] its name). Returns the option's key, -1 after the
 * last (optind: the first operand), or CLI_STOP with *status set: --help
 * printed (0) or a usage error reported (EXIT_USAGE). */
#define CLI_STOP (-2)
int cli_getopt(const char *name, int argc, char **argv, int *status);

/* ---- main.c ---------------------------------------------------------- */
/* "reuse: MESSAGE" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "reuse: warning: MESSAGE" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "reuse: MESSAGE" and cmd's usage on stderr; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* path made absolute against the working directory (not resolved), malloc'd;
 * NULL with errno set on failure. */
char *cli_absolute(const char *path);

/* ---- commands: argv[0] is the command name; return the exit status ---- */
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_who(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_systemd_dropin(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_guard(int argc, char **argv);

/* ---- run.c ---------------------------------------------------------- */
/* The library `reuse run` would preload, into out: 0, or -1 after a message. */
int cli_library_path(char *out, size_t len);

/* ---- takeover.c ------------------------------------------------------ */
/* reuse run --supervise: CMD as a child, SIGHUP = handoff restart; returns
 * the exit status of the last instance. */
int cli_supervise(char **cmd, double takeover_timeout, int stop_signal,
		  const char *pid_file);

/* ---- who.c ----------------------------------------------------------- */
/* A JSON string value, quotes included, to f. */
void cli_json_str(FILE *f, const char *s);
/* s for a terminal, non-printable bytes as \xHH, into out (len bytes). */
const char *cli_text_str(const char *s, char *out, size_t len);
/* Room for a process name (15 bytes) with every byte escaped. */
#define CLI_NAME_MAX (15 * 4 + 1)

/* ---- source.c -------------------------------------------------------- */
/* The file the library would load now, or NULL for the embedded default. */
const char *policy_in_force(void);
/* Parse path (NULL: the embedded default) into *out, printing every
 * problem on stderr. Returns 0 if it parsed cleanly, -1 otherwise. */
int policy_load_report(const char *path, struct reuse_policy *out);
int policy_text_report(const char *name, const char *text, size_t len,
		       struct reuse_policy *out);
/* How the policy at path (NULL: default) is named in messages. */
const char *policy_name(const char *path);

/* ---- elf.c ----------------------------------------------------------- */
enum elf_kind {
	ELF_NONE,        /* not ELF: a script, text, anything else */
	ELF_BROKEN,      /* ELF magic, but the headers do not make sense */
	ELF_DYNAMIC,     /* PT_INTERP: ld.so starts it, LD_PRELOAD applies */
	ELF_STATIC,      /* neither PT_INTERP nor PT_DYNAMIC */
	ELF_STATIC_PIE,  /* no PT_INTERP; PT_DYNAMIC marked DF_1_PIE */
	ELF_NO_INTERP,   /* no PT_INTERP, PT_DYNAMIC: ld.so itself or a library */
};

struct elf_info {
	enum elf_kind kind;
	unsigned char bits;          /* 32 or 64; 0 if not ELF */
	uint16_t machine;            /* e_machine */
};

/* Inspect the ELF file open at fd (read with pread, offset untouched). */
void elf_inspect(int fd, struct elf_info *out);
/* "x86-64", "i386", ... for messages. */
const char *elf_machine_name(uint16_t machine);

/* ---- target.c -------------------------------------------------------- */
/* Resolve cmd the way execvp() will and warn on stderr when the library
 * at lib_path (ELF identity lib) cannot reach the program found. */
void target_warn(const char *cmd, const char *lib_path,
		 const struct elf_info *lib);

/* ---- seccomp.c, supervise.c ----------------------------------------- */
struct seccomp_notif;
struct seccomp_notif_resp;
/* Run cmdv[0] as a supervised child; returns the status to exit with. */
int seccomp_run(char **cmdv);
/* Read the configuration and policy the library would (REUSE_*). */
void supervise_init(void);
/* Whether the policy needs close(), close_range(), dup2(), dup3() stopped. */
bool supervise_stops_close(void);
/* Answer one notification read from the listener nfd. */
void supervise_one(int nfd, const struct seccomp_notif *req,
		   struct seccomp_notif_resp *resp);

#endif
