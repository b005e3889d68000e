#!/usr/bin/env bats
# Relative paths in the library's environment survive a chdir and re-exec
# (sshd re-executes itself after chdir("/"), nginx's binary upgrade too):
# REUSE_POLICY, REUSE_LOG and LD_PRELOAD given relative to the working
# directory are made absolute where they enter (the library's init, and
# `reuse run`). The probe (tests/daemons/reexec.py) binds under a policy
# that forces SO_REUSEPORT, which the embedded default never does; the
# re-executed image's bind line says which policy decided. Loopback only.
# shellcheck disable=SC2153,SC2154  # helpers.bash sets LIB/REUSE; bats sets $output

load helpers

PY=/usr/bin/python3

setup() {
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL LD_PRELOAD
  T=$(mktemp -d /tmp/libreuse-paths.XXXXXX)
  mkdir "$T/conf"
  P1=$(free_port)
  P2=$(free_port)
  printf 'tcp 127.0.0.1:%s,%s reuseport=force\n' "$P1" "$P2" >"$T/conf/rp.policy"
  cp "$LIB" "$T/conf/libreuse.so"
  cp "$ROOT/tests/daemons/reexec.py" "$T/conf/"
}

teardown() {
  if [[ -n ${T:-} && -d $T ]]; then rm -rf "$T"; fi
}

# second_image_bind LOG : the re-executed image's bind line must be the policy's
second_image_bind() {
  local pid2
  pid2=$(sed -n 's/^image=2 pid=//p' <<<"$output")
  [[ -n $pid2 ]] || fail "no second image"
  run grep "libreuse\[$pid2\]" "$1"
  echo "$output"
  refute_output --partial "cannot read policy"
  assert_output --regexp "bind fd=[0-9]+ tcp 127.0.0.1:$P2 rule=$T/conf/rp.policy:1 option=SO_REUSEPORT .*action=force result=ok"
}

@test "LD_PRELOAD, REUSE_POLICY and REUSE_LOG relative: the re-executed image (cwd /) keeps all three" {
  cd "$T/conf" || fail "no $T/conf"
  run env LD_PRELOAD=./libreuse.so REUSE_POLICY=rp.policy REUSE_LOG=rp.log \
    "$PY" reexec.py 1 "$P1" "$P2"
  echo "$output"
  assert_success
  # the first image logged to the file too, naming the policy by its absolute path
  grep -E "bind fd=[0-9]+ tcp 127.0.0.1:$P1 rule=$T/conf/rp.policy:1 " "$T/conf/rp.log"
  second_image_bind "$T/conf/rp.log"
}

@test "reuse run with REUSE_POLICY relative in the environment: kept across chdir and re-exec" {
  cd "$T/conf" || fail "no $T/conf"
  run env REUSE_POLICY=rp.policy REUSE_LOG="$T/log" "$REUSE" run -- "$PY" reexec.py 1 "$P1" "$P2"
  echo "$output"
  assert_success
  second_image_bind "$T/log"
}

@test "control: a relative REUSE_POLICY the re-executed image's cwd cannot resolve is lost" {
  # set only after init (so nothing made it absolute): the new image, in /, finds no rp.policy
  cd "$T/conf" || fail "no $T/conf"
  [[ ! -e /rp.policy ]]
  run env LD_PRELOAD="$LIB" REUSE_LOG="$T/log" "$PY" -c '
import os, sys
os.chdir("/")
os.execve(sys.executable, [sys.executable, sys.argv[1], "2", "0", sys.argv[2]],
          dict(os.environ, REUSE_POLICY="rp.policy"))' "$T/conf/reexec.py" "$P2"
  echo "$output"
  assert_success
  run cat "$T/log"
  echo "$output"
  assert_output --partial "rp.policy"
  refute_output --partial "rule=$T/conf/rp.policy:1"
}
