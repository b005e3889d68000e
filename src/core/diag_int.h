/*
 * diag_int.h - what diag.c and diag_lookup.c share: sending one netlink
 * request to the kernel.
 */
#ifndef REUSE_DIAG_INT_H
#define REUSE_DIAG_INT_H

#include <stddef.h>

#include "core.h"

/* Send msg to the kernel on a sock_diag socket: 0 or -errno. */
int diag_nl_send(int fd, const void *msg, size_t len) HIDDEN;

#endif
