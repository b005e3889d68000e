/*
 * envpath.h - relative paths in the library's environment made absolute.
 */
#ifndef REUSE_ENVPATH_H
#define REUSE_ENVPATH_H

#include "core/core.h"

void config_absolutize_env(void) HIDDEN;

#endif
