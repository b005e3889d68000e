#!/usr/bin/env bats
# The behavioural suites against the second host of the engine: every test
# of directives.bats and errno.bats again under `reuse run --seccomp`
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
