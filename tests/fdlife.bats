#!/usr/bin/env bats
# The record follows the socket, not the fd number (tests/probes/fdlife.c):
# duplicates inherit it, a number closed behind the shim's back and reused
# starts afresh, a duplicate onto a number whose old record lingers takes
# the whole record. seen_* is what getsockopt() tells the program,
# kernel_* the truth read with a raw system call.
# shellcheck disable=SC2153,SC2154  # helpers.bash sets LIB/PROBES; bats sets $output

load helpers

setup() {
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL LD_PRELOAD
  LOGF="$BATS_TEST_TMPDIR/log"
}

# story POLICY-LINE... -- ARGS : the probe under the library with that policy
story() {
  local lines=()
  while [ "$1" != -- ]; do lines+=("$1"); shift; done
  shift
  POL=$(policy_file "${lines[@]}")
  run timeout 20 env REUSE_POLICY="$POL" REUSE_LOG="$LOGF" LD_PRELOAD="$LIB" "$PROBES/fdlife" "$@"
}

# bats test_tags=quick
@test "a duplicate (dup, dup2, dup3, F_DUPFD_CLOEXEC) inherits what was asked on the original, and its rule applies" {
  for m in dup dup2 dup3 fcntl; do
    story 'tcp 127.0.0.1:* reuseaddr=strip' -- dup "$m" 1 0
    assert_success
    # asked on the original, bound and listened through the duplicate:
    # stripped in the kernel, still "on" for the program
    assert_output --regexp "bind=ok listen=ok dup_seen_ra=1 dup_kernel_ra=0 "
  done
  # dup3(O_CLOEXEC) and F_DUPFD_CLOEXEC keep their flag
  story 'tcp 127.0.0.1:* reuseaddr=strip' -- dup dup3 1 0
  assert_output --partial 'cloexec=1'
  story 'tcp 127.0.0.1:* reuseaddr=force' -- dup dup2 0 0
  assert_output --regexp "dup_seen_ra=0 dup_kernel_ra=1 "
}

@test "an option set through a duplicate counts when the original binds" {
  for m in dup fcntl; do
    story 'tcp 127.0.0.1:* reuseaddr=refuse' -- dupset "$m" 0
    # refuse: asked through the duplicate before bind, so the bind is refused
    assert_output --regexp "bind=EPERM"
  done
  story 'tcp 127.0.0.1:* reuseaddr=keep' -- dupset dup 0
  assert_output --regexp "bind=ok listen=ok dup_seen_ra=1 dup_kernel_ra=1 "
}

@test "a number closed behind the shim's back and reused starts a fresh record" {
  for c in close close_range closefrom raw; do
    for s in libc raw udp rawudp; do
      story 'any 127.0.0.1:* reuseaddr=strip' -- reuse "$c" "$s" 0
      assert_success
      # B never asked: the old socket's asked=on must not show through
      assert_output --regexp "same=1 pre_seen_ra=0 bind=ok seen_ra=0 kernel_ra=0$"
    done
  done
}

@test "a socket made before fork() is decided in the child" {
  story 'tcp 127.0.0.1:* reuseaddr=force' -- fork 0
  assert_success
  assert_output --regexp "child_bind=ok"
  run cat "$LOGF"
  assert_line --regexp "fdlife bind fd=[0-9]+ tcp 127\.0\.0\.1:0 .*action=force result=ok now=reuseaddr:on"
}

@test "dup2 onto a number whose old record lingers: listen() applies the new socket's rule, not the old plan" {
  # A (stripped) leaves its record's plan in slot N; B (forced) is dup2()ed
  # onto N and listens there. Before the whole record was copied, listen()
  # "re-applied" A's plan: SO_REUSEADDR off under a force rule, logged as
  # changed behind libreuse.
  p1=$(free_port) p2=$(free_port)
  story "tcp 127.0.0.1:$p1 reuseaddr=strip" 'tcp 127.0.0.1:* reuseaddr=force' -- stale "$p1" "$p2"
  assert_success
  assert_output --regexp "listen=ok kernel_ra=1$"
  run cat "$LOGF"
  refute_output --partial 'options changed behind libreuse'
}

@test "threads making, binding and closing sockets: every bind succeeds" {
  story 'tcp 127.0.0.1:* reuseaddr=force' -- threads 8 200
  assert_success
  assert_output 'binds=1600 failures=0'
}
