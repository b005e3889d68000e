#!/usr/bin/env bats
# NOT RUN BY `make check` (scripts/run-tests leaves this file out): issue 14's
# attacks that still get through, each with its control. Run by hand:
#   scripts/run-tests tests/attack/open.bats
# A test that passes here moves to tests/attack/items.bats.
# shellcheck disable=SC2153,SC2154  # common.bash sets the paths; bats sets $output

load common

# ---- 8. a listener closed while a connection drains ----------------------------
# --seccomp: close() is not stopped (every close would be); the library's
# case is in tests/attack/closed.bats.

@test "8 (open) --seccomp: an exclusive TCP listener closed while a connection drains: uid 65534 cannot bind over it" { drain seccomp; }
