#!/usr/bin/env bats
# The behavioural suites against the second host of the engine: every test
# of directives.bats, errno.bats and insight.bats again under `reuse run
# --seccomp`
# (REUSE_TEST_BACKEND=seccomp: tests/helpers.bash's BACKEND). Where the
# backends differ by design the test says so and skips that one check:
# --seccomp does not stop connect() (every connect would be), and the
# probe's raw getsockopt is the supervisor's too (the log's now= carries
# the kernel's truth).
# shellcheck disable=SC2153  # helpers.bash sets ROOT

load helpers

@test "directives.bats under --seccomp: every test passes" {
  REUSE_TEST_BACKEND=seccomp nested_suite "directives.bats under --seccomp" \
    timeout 600 bats --tap "$ROOT/tests/directives.bats"
}

@test "errno.bats under --seccomp: every test passes" {
  REUSE_TEST_BACKEND=seccomp nested_suite "errno.bats under --seccomp" \
    timeout 600 bats --tap "$ROOT/tests/errno.bats"
}

# A takeover under --seccomp: the supervisor of the new instance asks the
# one serving the old instance's socket (through a pidfd), installs it at
# the new target's fd number (SECCOMP_IOCTL_NOTIF_ADDFD), and both answer
# until the old one stops; the handoff tests of the library are in
# tests/handoff.bats.
@test "handoff under --seccomp: a new instance takes the running one's socket, both answer, then the new one alone" {
  local port pol t a b pa pb i got
  t=$BATS_TEST_TMPDIR
  port=$(free_port)
  pol="$t/policy"
  printf 'tcp 127.0.0.1:%s handoff\n' "$port" >"$pol"
  mkdir -m 700 "$t/ho"
  export REUSE_HANDOFF_DIR="$t/ho"
  "$REUSE" run --seccomp --policy "$pol" --log "$t/a.log" -- \
    python3 "$ROOT/tests/daemons/echo_tcp.py" 127.0.0.1 "$port" >"$t/a.out" 2>&1 &
  a=$!
  wait_listen "$port" || fail "A did not listen: $(cat "$t/a.out")"
  pa=$(head -c 20 </dev/tcp/127.0.0.1/"$port")
  "$REUSE" run --seccomp --policy "$pol" --log "$t/b.log" -- \
    python3 "$ROOT/tests/daemons/echo_tcp.py" 127.0.0.1 "$port" >"$t/b.out" 2>&1 &
  b=$!
  for ((i = 0; i < 100; i++)); do grep -q '^listening' "$t/b.out" && break; sleep 0.05; done
  grep -q '^listening' "$t/b.out" || fail "B did not bind: $(cat "$t/b.out" "$t/b.log")"
  grep -q "handoff: took over tcp4-127.0.0.1-$port from pid" "$t/b.log" || fail "no takeover: $(cat "$t/b.log")"
  grep -q "handed tcp4-127.0.0.1-$port to pid" "$t/a.log" || fail "A's side did not log: $(cat "$t/a.log")"
  kill "$a"; wait "$a" 2>/dev/null || true
  # the old instance gone, the new one alone serves the port
  for ((i = 0; i < 20; i++)); do
    got=$(head -c 20 </dev/tcp/127.0.0.1/"$port") || fail "refused after A stopped"
    pb=$got
  done
  [[ -n $pa && -n $pb && $pa != "$pb" ]] || fail "A answered $pa, then $pb"
  kill "$b"; wait "$b" 2>/dev/null || true
}

@test "insight.bats under --seccomp: every test passes" {
  REUSE_TEST_BACKEND=seccomp nested_suite "insight.bats under --seccomp" \
    timeout 600 bats --tap "$ROOT/tests/insight.bats"
}
