/*
 * log_dest.h - what log.c (the lines) and log_dest.c (where they go)
 * share.
 */
#ifndef REUSE_LOG_DEST_H
#define REUSE_LOG_DEST_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

#define LINE_MAX_BYTES 2048

enum log_dest { DEST_NONE, DEST_STDERR, DEST_FILE, DEST_SYSLOG };
extern enum log_dest log_dest HIDDEN;
extern bool log_json HIDDEN;        /* REUSE_LOG_FORMAT=json */

/* Whether a line would go anywhere now. */
bool log_open(void) HIDDEN;
/* One whole line, one write(2), to the destination log_init() chose. */
void log_emit(const char *buf, size_t len) HIDDEN;

#endif
