#!/usr/bin/env bats
# Stress: threads, both families, dup, bind, close, fork and signals at once.
# The probe (tests/probes/stress.c) counts every bind() call in shared memory,
# children's too; the log must hold exactly that many bind lines, each one
# whole. Bounded: the probe ends itself with alarm() on a deadlock, and
# timeout(1) backs that up. scripts/sanitize tsan runs this file against
# the ThreadSanitizer build (tests/sanitizers.bats).
# shellcheck disable=SC2153,SC2154  # helpers.bash sets LIB/PROBES; bats sets $output

load helpers

setup() {
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL LD_PRELOAD
  POL=$(policy_file 'any *:* reuseaddr=force')
  LOGF="$BATS_TEST_TMPDIR/log"
}

# run_stress FORMAT SECONDS THREADS [probe flags] : sets $output, $BINDS
run_stress() {
  local fmt=$1 secs=$2 threads=$3
  shift 3
  run timeout -s KILL $((secs + 60)) env REUSE_POLICY="$POL" REUSE_LOG="$LOGF" \
    REUSE_LOG_FORMAT="$fmt" LD_PRELOAD="$LIB${PRE:+ $PRE}" \
    "$PROBES/stress" "$@" "$secs" "$threads"
  echo "# $output" >&3
  [ "$status" -eq 0 ]
  [[ "$output" =~ binds=([0-9]+)\ forks=([0-9]+)\ handler_closes=([0-9]+) ]]
  BINDS=${BASH_REMATCH[1]}
  FORKS=${BASH_REMATCH[2]}
  CLOSES=${BASH_REMATCH[3]}
}

@test "stress (JSON log): no deadlock; every line parses; one bind line per bind(), children's too" {
  run_stress json 5 8
  [ "$BINDS" -gt 100 ]
  [ "$FORKS" -gt 0 ]
  [ "$CLOSES" -gt 0 ]
  # every line is one whole JSON object with the spec's keys
  run jq -e -c 'select(has("ts") and has("pid") and has("call") and has("result") | not)' "$LOGF"
  [ "$status" -ne 0 ] || { echo "a line lacks keys: $output"; false; }
  run jq -s 'length' "$LOGF"
  [ "$status" -eq 0 ]
  nlines=$(wc -l <"$LOGF")
  [ "$output" -eq "$nlines" ]
  binds=$(jq -r 'select(.call == "bind") | .call' "$LOGF" | wc -l)
  echo "# log: $nlines lines, $binds bind lines; probe: $BINDS binds" >&3
  [ "$binds" -eq "$BINDS" ]
  # the children (one bind each) logged under their own pids
  pids=$(jq -r '.pid' "$LOGF" | sort -u | wc -l)
  [ "$pids" -gt 1 ]
}

@test "stress (text log): every line whole, one bind line per bind()" {
  run_stress text 3 6
  [ "$BINDS" -gt 100 ]
  bad=$(grep -cvE '^libreuse\[[0-9]+\]: [0-9T:.-]+Z stress (bind|init) .* result=[A-Za-z]+( |$)' "$LOGF" || true)
  [ "$bad" -eq 0 ] || { grep -vE '^libreuse\[[0-9]+\]: ' "$LOGF" | head -5; false; }
  binds=$(grep -c ' stress bind fd=' "$LOGF")
  echo "# log: $binds bind lines; probe: $BINDS binds" >&3
  [ "$binds" -eq "$BINDS" ]
}

@test "fork while another thread holds the shim's lock (log reopened slowly): no deadlock" {
  # Workers close the log fd behind the shim's back, so the next line
  # reopens it under the lock; a slow open() keeps the lock held while the
  # main thread forks, and each child logs a bind and must not hang.
  gcc -shared -fPIC -O1 -o "$BATS_TEST_TMPDIR/slowopen.so" "$ROOT/tests/fixtures/slowopen.c" -ldl
  PRE="$BATS_TEST_TMPDIR/slowopen.so"
  LOGF="$BATS_TEST_TMPDIR/log.slow"
  run_stress json 4 4 -l
  [ "$FORKS" -gt 10 ]
  # the log was reopened (so the lock was taken) and children logged
  pids=$(jq -r '.pid' "$LOGF" | sort -u | wc -l)
  [ "$pids" -gt 5 ]
  run jq -s 'length' "$LOGF"
  [ "$status" -eq 0 ]
}

@test "fork while another thread runs the library's start-up: the child finishes it, no 5 s waits" {
  # tests/fixtures/initfork.c: preloaded after the library, its constructor
  # starts a thread whose socket() runs libreuse's init (slowed 500 ms) and
  # forks meanwhile. The child's calls must be decided at once, by an init
  # of its own: without that each call waited 5 s and passed undecided.
  gcc -shared -fPIC -O1 -o "$BATS_TEST_TMPDIR/initfork.so" "$ROOT/tests/fixtures/initfork.c" -ldl -lpthread
  POL=$(policy_file 'tcp 127.0.0.1:* reuseaddr=force')
  run timeout -s KILL 60 env REUSE_POLICY="$POL" REUSE_LOG="$LOGF" REUSE_LOG_LEVEL=all \
    LD_PRELOAD="$LIB $BATS_TEST_TMPDIR/initfork.so" /bin/true
  echo "# $output" >&3
  [ "$status" -eq 0 ]
  [[ "$output" =~ child\ pid=([0-9]+)\ ms=([0-9]+)\ bind=ok ]]
  child=${BASH_REMATCH[1]} ms=${BASH_REMATCH[2]}
  [ "$ms" -lt 2000 ]
  # the child ran init itself (the parent's thread finished its own too)
  run cat "$LOGF"
  assert_line --regexp "^libreuse\[$child\]: .* init .* ready: policy $POL, 1 rule"
  assert_line --regexp "^libreuse\[$child\]: .* bind fd=[0-9]+ tcp 127\.0\.0\.1:0 .*action=force result=ok"
  [ "$(grep -c 'ready: policy' "$LOGF")" -eq 2 ]
}

@test "vfork while another thread runs the library's start-up: the child waits for it, init runs once" {
  # a vfork()ed child shares the parent's memory: it must not start init
  # over there while the parent's thread is inside it
  [[ $LIB == *libtsan* ]] && skip "ThreadSanitizer runs vfork() as fork()"
  gcc -shared -fPIC -O1 -o "$BATS_TEST_TMPDIR/initfork.so" "$ROOT/tests/fixtures/initfork.c" -ldl -lpthread
  POL=$(policy_file 'tcp 127.0.0.1:* reuseaddr=force')
  run timeout -s KILL 60 env INITFORK_VFORK=1 REUSE_POLICY="$POL" REUSE_LOG="$LOGF" \
    REUSE_LOG_LEVEL=all LD_PRELOAD="$LIB $BATS_TEST_TMPDIR/initfork.so" /bin/true
  echo "# $output" >&3
  [ "$status" -eq 0 ]
  [[ "$output" =~ vfork\ child\ pid=([0-9]+)\ ms=([0-9]+)\ fd=ok ]]
  child=${BASH_REMATCH[1]}
  run cat "$LOGF"
  [ "$(grep -c 'ready: policy' "$LOGF")" -eq 1 ]
  refute_line --regexp "^libreuse\[$child\]: .* ready: policy"
}
