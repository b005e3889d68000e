/*
 * handoff_int.h - what handoff.c (the serving side, supervision events)
 * and handoff_take.c (the new instance's side, socket activation) share.
 */
#ifndef REUSE_HANDOFF_INT_H
#define REUSE_HANDOFF_INT_H

#include <sys/un.h>

#include "core/core.h"

#define HO_MAGIC 0x6c726830u          /* "lrh0" */
#define HO_VERSION 1
#define HO_TIMEOUT_S 2
#define HO_SCAN_MAX 32                /* other servers a new instance asks */

/* One request or reply on the handoff socket. */
struct ho_msg {
	uint32_t magic;
	uint16_t version;
	uint8_t proto;                /* REUSE_P_TCP / REUSE_P_UDP */
	uint8_t pad;
	int32_t pid;                  /* the sender */
	int32_t status;               /* reply: 0, or an errno */
	struct sockaddr_storage ss;   /* the address asked for / handed over */
};

uint64_t ho_ino_of(int fd) HIDDEN;
bool ho_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b) HIDDEN;
void ho_endpoint_name(unsigned proto, const struct sockaddr_storage *ss,
		      char *out, size_t len) HIDDEN;
bool ho_unix_path(struct sockaddr_un *sun, const char *dir, const char *name) HIDDEN;
void ho_report(const char *what, unsigned proto, const struct sockaddr_storage *ss,
	       int from) HIDDEN;
int ho_pid_of_sock(const char *name) HIDDEN;
void ho_read_activation(void) HIDDEN;

#endif
