#!/usr/bin/env bats
# CPython's own socket suites, case for case as bare (tests/tools/cpython-suites;
# `make check-cpython` runs every suite under every shipped policy through
# both hosts, about 25 minutes). Here, within the suite's budget: test_socket,
# test_socketserver and test_selectors, bare and under no-hijack (every UDP
# socket and TCP listener exclusive: the policy that changes the most state)
# through the library and through --seccomp, the three runs at once, in about
# three minutes. Bare runs in the same invocation, so nothing is hard-coded:
# a case that passes bare and fails under libreuse, twice more when run
# again, fails the test. The control shows that a policy which does change
# outcomes is caught.
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

@test "test_socket, test_socketserver, test_selectors under no-hijack: library and --seccomp as bare" {
  local out=$BATS_TEST_TMPDIR/s b
  run timeout 900 "$SUITES" --suites "test_socket test_socketserver test_selectors" \
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
