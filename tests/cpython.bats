#!/usr/bin/env bats
# CPython's own socket suites, case for case as bare (tests/tools/cpython-suites;
# `make check-cpython` runs 23 suites under every shipped policy through both
# hosts, about 10 minutes). Here, within the suite's budget: test_socket,
# test_socketserver, test_selectors and test_asyncio (3,210 cases), bare and
# under no-hijack (every UDP socket and TCP listener exclusive: the policy
# that changes the most state) through the library and through --seccomp,
# the three runs at once, in about 100 s. Bare runs in the same invocation,
# so nothing is hard-coded: a case whose outcome differs from bare's, and
# differs again each time it is run again, fails the test. The controls
# show that a policy which changes outcomes is caught, and that the
# differences a policy intends (tests/tools/cpython-allow) are found.
# shellcheck disable=SC2153,SC2154  # helpers.bash sets ROOT; bats sets $output

load helpers

SUITES="$ROOT/tests/tools/cpython-suites"

# a run's row of summary.txt: run cases ok skip fail xfail diff allow flaky CONF secs logged
row() { awk -v r="$1" '$1 == r' "$2/summary.txt"; }

@test "control: a policy that refuses every TCP bind is caught, case by case, through both hosts" {
  local out=$BATS_TEST_TMPDIR/c pol
  pol=$(policy_file 'tcp *:* deny')
  run timeout 300 "$SUITES" --suites test_socketserver --policies "$pol" --reruns 1 --out "$out"
  echo "$output" | head -40
  assert_failure 1
  # both hosts: the servers' cases confirmed different from bare (ok -> error/skipped)
  assert_line --regexp '^\* test\.test_socketserver\.SocketServerTest\.test_TCPServer ok (error|skipped)$'
  for b in library seccomp; do
    read -r _ cases _ _ _ _ diff _ _ conf _ logged < <(row "policy.$b" "$out")
    [ "$diff" -gt 0 ] && [ "$conf" -gt 0 ] && [ "$logged" -gt 0 ] ||
      fail "policy.$b: diff=$diff confirmed=$conf logged=$logged"
  done
}

@test "control: share's intended differences (a second bind succeeds) are found, and explained by cpython-allow" {
  local out=$BATS_TEST_TMPDIR/a
  run timeout 300 "$SUITES" --suites test_asyncore --policies share --backends library --out "$out"
  echo "$output" | head -40
  assert_success
  read -r _ _ _ _ _ _ diff allow _ conf _ < <(row share.library "$out")
  # the four test_bind cases and their file
  [ "$diff" -ge 5 ] && [ "$allow" -eq "$diff" ] && [ "$conf" -eq 0 ] ||
    fail "share.library: diff=$diff allowed=$allow confirmed=$conf"
}

@test "test_socket, test_socketserver, test_selectors, test_asyncio under no-hijack: library and --seccomp as bare" {
  local out=$BATS_TEST_TMPDIR/s b
  run timeout 900 "$SUITES" --suites "test_socket test_socketserver test_selectors test_asyncio" \
    --policies no-hijack --out "$out"
  echo "$output"
  assert_success
  read -r _ bcases bok _ < <(row bare "$out")
  [ "$bok" -gt 0 ] || fail "bare passed nothing"
  for b in library seccomp; do
    read -r _ cases _ _ _ _ diff allow flaky conf secs logged < <(row "no-hijack.$b" "$out")
    [ "$cases" -eq "$bcases" ] || fail "no-hijack.$b ran $cases cases, bare $bcases"
    # libreuse was there: it decided and logged the suites' binds
    [ "$logged" -gt 0 ] || fail "no-hijack.$b logged nothing"
    echo "# no-hijack.$b: $cases cases as bare ($diff differed: $allow allowed, $flaky not again), ${secs}s" >&3
  done
}
