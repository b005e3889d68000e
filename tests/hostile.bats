#!/usr/bin/env bats
# Hostile and broken inputs: the host program must run on, exactly as it
# would without the library, whatever the policy file, the REUSE_* variables
# or the program itself do to the shim. Each case is a real probe under the
# library; what the program sees is compared with the truth the kernel holds.
# (/dev/full as REUSE_LOG is in errno.bats; the parser's messages in detail
# are in tests/unit/test_policy.c.)
# shellcheck disable=SC2153,SC2154  # helpers.bash sets LIB/PROBES/REUSE; bats sets $output

load helpers

setup() {
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL LD_PRELOAD
  # readable by nobody, for the cross-uid cases
  W=$(mktemp -d /tmp/libreuse-hostile.XXXXXX)
  chmod 755 "$W"
  LOGF=$W/log
}

teardown() {
  if [[ -n ${W:-} && -d $W ]]; then rm -rf "$W"; fi
}

# shim POLICY [ENV=VAL...] -- PROBE ARGS : run a probe under the library with
# REUSE_POLICY=POLICY and REUSE_LOG=$LOGF (unless ENV says otherwise); sets
# $output (stdout and stderr) and $status.
shim() {
  local pol=$1
  shift
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  run timeout 20 env REUSE_POLICY="$pol" REUSE_LOG="$LOGF" "${envs[@]}" \
    LD_PRELOAD="$LIB" "$@"
}

# A policy that would force SO_REUSEADDR, so "kernel_ra=1" proves a rule applied.
force_policy() {
  printf '%s\n' 'tcp *:* reuseaddr=force' >"$W/force"
  echo "$W/force"
}

# ---- policy files ---------------------------------------------------------

# bats test_tags=quick
@test "missing policy: the program runs untouched; the log says why, once, and that it fails open" {
  shim "$W/nope" -- "$PROBES/bindprobe" 127.0.0.1 0
  [ "$status" -eq 0 ]
  assert_output --partial 'bind=ok seen_ra=0 seen_rp=0 kernel_ra=0'
  run cat "$LOGF"
  assert_line --partial "$W/nope:1:1: error: cannot read policy: No such file or directory"
  assert_line --partial 'has 1 error: no rule applies (fail open)'
  [ "$(grep -c 'cannot read policy' "$LOGF")" -eq 1 ]
  run "$REUSE" check "$W/nope"
  [ "$status" -eq 1 ]
  assert_output "$W/nope:1:1: error: cannot read policy: No such file or directory"
}

@test "unreadable policy (nobody cannot read root's 0600 file): fails open, says Permission denied" {
  pol=$(force_policy)
  chmod 600 "$pol"
  : >"$LOGF"; chmod 666 "$LOGF"
  run timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups env REUSE_POLICY="$pol" \
    REUSE_LOG="$LOGF" LD_PRELOAD="$LIB" "$PROBES/bindprobe" 127.0.0.1 0
  [ "$status" -eq 0 ]
  assert_output --partial 'bind=ok seen_ra=0 seen_rp=0 kernel_ra=0'
  grep -q "$pol:1:1: error: cannot read policy: Permission denied" "$LOGF"
  grep -q 'fail open' "$LOGF"
}

@test "empty policy: no rule, no error, nothing logged; check says 0 rules" {
  : >"$W/empty"
  shim "$W/empty" -- "$PROBES/bindprobe" -r 127.0.0.1 0
  [ "$status" -eq 0 ]
  assert_output --partial 'bind=ok seen_ra=1 seen_rp=0 kernel_ra=1 kernel_rp=0'
  [ ! -s "$LOGF" ]
  run "$REUSE" check "$W/empty"
  assert_success
  assert_output "$W/empty: ok (0 rules)"
}

@test "a policy FIFO no writer opens: start-up waits at most 5 s, then fails open and says why" {
  # opening a FIFO for reading blocks until a writer comes: the program
  # must start anyway (before this was bounded, it hung for good)
  mkfifo "$W/fifo"
  start=$(date +%s%N)
  shim "$W/fifo" -- "$PROBES/bindprobe" -r 127.0.0.1 0
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  [ "$status" -eq 0 ]
  assert_output --partial 'bind=ok seen_ra=1 seen_rp=0 kernel_ra=1'
  [ "$ms" -ge 4500 ] && [ "$ms" -lt 15000 ]
  grep -q "$W/fifo:1:1: error: cannot read policy: its writer did not finish in time (5 s without data, 30 s in all" "$LOGF"
  grep -q 'fail open' "$LOGF"
}

@test "a policy FIFO whose writer comes late, and a pipe (<(...)) written slowly: the rule applies" {
  mkfifo "$W/fifo"
  (sleep 1; printf 'tcp 127.0.0.1:* reuseaddr=force\n' >"$W/fifo") &
  shim "$W/fifo" -- "$PROBES/bindprobe" 127.0.0.1 0
  wait
  [ "$status" -eq 0 ]
  assert_output --partial 'bind=ok seen_ra=0 seen_rp=0 kernel_ra=1'
  run timeout 20 env REUSE_LOG="$LOGF" LD_PRELOAD="$LIB" \
    REUSE_POLICY=<(printf 'tcp 127.0.0.1:* '; sleep 1; printf 'reuseaddr=force\n') \
    "$PROBES/bindprobe" 127.0.0.1 0
  [ "$status" -eq 0 ]
  assert_output --partial 'bind=ok seen_ra=0 seen_rp=0 kernel_ra=1'
  run grep -c 'error' "$LOGF"
  assert_output 0
}

@test "a pipe policy read by a parent is empty for its children: they fail open and say why" {
  # sh reads <(...) first; the probe it starts inherits the drained pipe
  run timeout 20 env REUSE_LOG="$LOGF" LD_PRELOAD="$LIB" \
    REUSE_POLICY=<(printf 'tcp 127.0.0.1:* reuseaddr=force\n') \
    sh -c "\"$PROBES/bindprobe\" 127.0.0.1 0"
  [ "$status" -eq 0 ]
  assert_output --partial 'bind=ok seen_ra=0 seen_rp=0 kernel_ra=0'
  grep -q ":1:1: error: cannot read policy: the pipe or FIFO was empty (a pipe is read once" "$LOGF"
  grep -q 'fail open' "$LOGF"
}

@test "binary policy (100 KB of random bytes): errors capped at 100, the program runs untouched" {
  head -c 100000 /dev/urandom >"$W/bin"
  run "$REUSE" check "$W/bin"
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -le 101 ]
  for l in "${lines[@]}"; do [[ $l == "$W/bin:"[0-9]*:[0-9]*": error: "* ]] || { echo "bad: $l"; false; }; done
  shim "$W/bin" -- "$PROBES/bindprobe" 127.0.0.1 0
  [ "$status" -eq 0 ]
  assert_output --partial 'bind=ok seen_ra=0 seen_rp=0 kernel_ra=0'
  [ "$(wc -l <"$LOGF")" -le 103 ]
  grep -q 'fail open' "$LOGF"
  # every line of the log is whole and bounded, whatever bytes it quotes
  run awk 'length($0) > 2100 || $0 !~ /^libreuse\[/' "$LOGF"
  assert_output ''
}

@test "10 MB policies: comments with the rule last, and 300,000 rules with the match last" {
  python3 -c "
import sys
with open('$W/big', 'w') as f:
    f.write(('# ' + 'x' * 100 + '\n') * 100000 + 'tcp *:* reuseaddr=force\n')
with open('$W/many', 'w') as f:
    f.write('tcp 127.0.0.2:1-65535 reuseport=force\n' * 300000 + 'tcp 127.0.0.1:* reuseaddr=force\n')
"
  [ "$(stat -c %s "$W/big")" -gt 10000000 ]
  [ "$(stat -c %s "$W/many")" -gt 10000000 ]
  run "$REUSE" check "$W/big" "$W/many"
  assert_success
  assert_line "$W/many: ok (300001 rules)"
  for p in big many; do
    shim "$W/$p" -- "$PROBES/bindprobe" 127.0.0.1 0
    [ "$status" -eq 0 ]
    assert_output --partial 'bind=ok seen_ra=0 seen_rp=0 kernel_ra=1 kernel_rp=0'
  done
  grep -q "rule=$W/many:300001 " "$LOGF"
}

@test "a policy over 64 MiB is refused unread (sparse file), the program runs untouched" {
  truncate -s 65M "$W/huge"
  run "$REUSE" check "$W/huge"
  [ "$status" -eq 1 ]
  assert_output "$W/huge:1:1: error: cannot read policy: larger than 64 MiB"
  shim "$W/huge" -- "$PROBES/bindprobe" 127.0.0.1 0
  [ "$status" -eq 0 ]
  assert_output --partial 'bind=ok'
  grep -q 'larger than 64 MiB' "$LOGF"
}

@test "lines longer than any buffer (5 MB): a bad token is quoted cut; a long comment is fine" {
  python3 -c "
with open('$W/long', 'w') as f: f.write('tcp *:' + '1' * 5000000 + ' deny\n')
with open('$W/longc', 'w') as f: f.write('#' + 'y' * 5000000 + '\ntcp *:* reuseaddr=force\n')
"
  run "$REUSE" check "$W/long"
  [ "$status" -eq 1 ]
  [ "${#output}" -lt 300 ]
  assert_output --regexp "^$W/long:1:7: error: port 1{40}\.\.\. out of range"
  shim "$W/long" -- "$PROBES/bindprobe" 127.0.0.1 0
  assert_output --partial 'bind=ok seen_ra=0 seen_rp=0 kernel_ra=0'
  shim "$W/longc" -- "$PROBES/bindprobe" 127.0.0.1 0
  assert_output --partial 'bind=ok seen_ra=0 seen_rp=0 kernel_ra=1'
}

@test "NUL bytes and invalid UTF-8 in a rule are errors at their column; in a comment they are fine" {
  printf 'tcp *:80\0 deny\n' >"$W/nul"
  printf 'tcp *:* program=\377\376 deny\n' >"$W/utf"
  printf '# caf\303\251 \377\0 comment\ntcp *:* reuseaddr=force # \376\n' >"$W/okc"
  run "$REUSE" check "$W/nul"
  assert_output "$W/nul:1:9: error: unexpected byte 0x00"
  run "$REUSE" check "$W/utf"
  assert_output "$W/utf:1:17: error: unexpected byte 0xff"
  run "$REUSE" check "$W/okc"
  assert_output "$W/okc: ok (1 rule)"
  shim "$W/nul" -- "$PROBES/bindprobe" 127.0.0.1 0
  assert_output --partial 'bind=ok seen_ra=0 seen_rp=0 kernel_ra=0'
  shim "$W/okc" -- "$PROBES/bindprobe" 127.0.0.1 0
  assert_output --partial 'bind=ok seen_ra=0 seen_rp=0 kernel_ra=1'
}

@test "CRLF line ends: every rule applies" {
  printf '# made on Windows\r\nudp *:* deny\r\ntcp *:* reuseaddr=force\r\n' >"$W/crlf"
  run "$REUSE" check "$W/crlf"
  assert_output "$W/crlf: ok (2 rules)"
  shim "$W/crlf" -- "$PROBES/bindprobe" 127.0.0.1 0
  assert_output --partial 'bind=ok seen_ra=0 seen_rp=0 kernel_ra=1'
  shim "$W/crlf" -- "$PROBES/bindprobe" -u 127.0.0.1 0
  assert_output --partial 'bind=EACCES'
}

# ---- fail open or closed (reuse.policy(5), "A policy that does not parse") --

# bats test_tags=quick
@test "a broken policy fails open: every socket as the program made it, errors logged once" {
  printf 'tcp *:* reuseaddr=force\ntcp *:80 bogus\n' >"$W/broken"
  for args in "127.0.0.1 0" "-r 127.0.0.1 0" "-u ::1 0" "-n -l 127.0.0.1 0"; do
    # shellcheck disable=SC2086
    shim "$W/broken" -- "$PROBES/bindprobe" $args
    [ "$status" -eq 0 ]
    refute_output --partial EACCES
    if [[ $args == -r* ]]; then
      assert_output --partial 'kernel_ra=1'
    else
      assert_output --partial 'kernel_ra=0'     # the force rule did not apply
    fi
  done
  [ "$(grep -c "$W/broken:2:10: error: unknown directive 'bogus'" "$LOGF")" -eq 4 ]   # once per run
  [ "$(grep -c 'fail open' "$LOGF")" -eq 4 ]
  [ "$(grep -c ' bind fd=' "$LOGF")" -eq 0 ]
}

@test "on-error closed: every bind() and implicit bind at listen() is refused EACCES and logged" {
  printf 'on-error closed\ntcp *:* reuseaddr=force\nudp *:53 bogus\n' >"$W/closed"
  for args in "127.0.0.1 0" "-u 127.0.0.1 0" "::1 0" "-u ::1 0"; do
    # shellcheck disable=SC2086
    shim "$W/closed" -- "$PROBES/bindprobe" $args
    assert_output --partial 'bind=EACCES'
    assert_output --partial 'port=0'
  done
  shim "$W/closed" -- "$PROBES/bindprobe" -n -l 127.0.0.1 0
  assert_output --partial 'listen=EACCES'
  [ "$(grep -c 'result=EACCES' "$LOGF")" -eq 5 ]
  grep -q 'on-error closed: every bind() is refused with EACCES' "$LOGF"
  # `on-error open` says the default out loud
  printf 'on-error open\ntcp *:* bogus\n' >"$W/open"
  shim "$W/open" -- "$PROBES/bindprobe" 127.0.0.1 0
  assert_output --partial 'bind=ok'
}

# ---- StrictModes: a policy another user can change, in a root process -----

@test "as root, a policy writable by group or others, or owned by another user, is refused" {
  [ "$(id -u)" -eq 0 ] || skip "needs root"
  mkdir -m 755 "$W/d"
  pol=$W/d/p
  printf 'tcp *:* reuseaddr=force\n' >"$pol"
  chmod 644 "$pol"
  run "$REUSE" check "$pol"
  assert_success
  for how in g+w o+w owner dir dirgroup; do
    chmod 644 "$pol"; chown 0:0 "$pol"; chmod 755 "$W/d"
    case $how in
      g+w) chmod g+w "$pol"; why="writable by its group (mode 0664)" ;;
      o+w) chmod o+w "$pol"; why="writable by others (mode 0646)" ;;
      owner) chown 65534 "$pol"; why="owned by uid 65534, not root" ;;
      dir) chmod 777 "$W/d"; why="directory $W/d is writable by others (mode 0777)" ;;
      dirgroup) chmod 775 "$W/d"; why="directory $W/d is writable by its group (mode 0775)" ;;
    esac
    run "$REUSE" check "$pol"
    [ "$status" -eq 1 ] || { echo "$how: accepted"; false; }
    assert_output "$pol:1:1: error: refusing policy: $why, and the process runs as root (only root may be able to change it: chown root, chmod go-w)"
    shim "$pol" -- "$PROBES/bindprobe" 127.0.0.1 0
    assert_output --partial 'bind=ok seen_ra=0 seen_rp=0 kernel_ra=0'
    grep -qF "refusing policy: $why" "$LOGF"
    grep -q 'fail open' "$LOGF"
  done
  # a sticky world-writable directory (like /tmp) cannot have root's file replaced
  chmod 644 "$pol"; chown 0:0 "$pol"; chmod 1777 "$W/d"
  shim "$pol" -- "$PROBES/bindprobe" 127.0.0.1 0
  assert_output --partial 'kernel_ra=1'
  # not root: the same nobody-owned policy is that user's own business
  chmod 755 "$W/d"; chown 65534 "$pol"; : >"$LOGF"; chmod 666 "$LOGF"
  run timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups env REUSE_POLICY="$pol" \
    REUSE_LOG="$LOGF" LD_PRELOAD="$LIB" "$PROBES/bindprobe" 127.0.0.1 0
  assert_output --partial 'kernel_ra=1'
}

# ---- REUSE_LOG destinations ------------------------------------------------

@test "REUSE_LOG naming a directory: one warning, the decisions go to stderr" {
  shim "$(force_policy)" REUSE_LOG="$W" -- "$PROBES/bindprobe" 127.0.0.1 0
  [ "$status" -eq 0 ]
  assert_line --partial "cannot log to REUSE_LOG='$W' (Is a directory); logging to stderr"
  assert_line --regexp ' bindprobe bind fd=[0-9]+ tcp 127\.0\.0\.1:0 .*result=ok'
}

@test "REUSE_LOG naming a FIFO with no reader: no blocking, falls back to stderr" {
  mkfifo "$W/fifo"
  shim "$(force_policy)" REUSE_LOG="$W/fifo" -- "$PROBES/bindprobe" 127.0.0.1 0
  [ "$status" -eq 0 ]
  assert_line --partial "cannot log to REUSE_LOG='$W/fifo' (No such device or address)"
  assert_output --partial 'kernel_ra=1'
}

@test "REUSE_LOG naming a FIFO whose reader never reads: the pipe fills, the program never blocks" {
  mkfifo "$W/fifo"
  exec {reader}<>"$W/fifo"   # a reader that never reads
  shim "$(force_policy)" REUSE_LOG="$W/fifo" REUSE_LOG_LEVEL=all -- "$PROBES/stress" 2 4
  exec {reader}>&-
  [ "$status" -eq 0 ]
  [[ $output =~ binds=([0-9]+) ]]
  # far more lines than a pipe holds (64 KiB / ~250 bytes) were attempted
  [ "${BASH_REMATCH[1]}" -gt 1000 ]
}

@test "REUSE_LOG naming a symlink: lines land in its target, created if dangling" {
  : >"$W/target"
  ln -s "$W/target" "$W/link"
  ln -s "$W/new" "$W/dangling"
  shim "$(force_policy)" REUSE_LOG="$W/link" -- "$PROBES/bindprobe" 127.0.0.1 0
  grep -q ' bindprobe bind fd=' "$W/target"
  shim "$(force_policy)" REUSE_LOG="$W/dangling" -- "$PROBES/bindprobe" 127.0.0.1 0
  grep -q ' bindprobe bind fd=' "$W/new"
}

@test "garbage in every REUSE_* variable: the program runs as without the library, warnings bounded" {
  run "$PROBES/bindprobe" -r 127.0.0.1 0
  bare=$(sed 's/port=[0-9]*//' <<<"$output")
  long=$(printf 'A%.0s' $(seq 1 100000))
  # a relative REUSE_LOG is a file in the working directory (made absolute at init)
  cd "$W" || fail "no $W"
  for var in REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL; do
    for val in $'\001\377\376' "$long" relative/path '-' ' ' '%s%n%s%n' '/' '"}{\'; do
      run timeout 20 env "$var=$val" LD_PRELOAD="$LIB" "$PROBES/bindprobe" -r 127.0.0.1 0
      [ "$status" -eq 0 ] || { echo "$var: exit $status"; false; }
      got=$(grep -v '^libreuse\[' <<<"$output" | sed 's/port=[0-9]*//')
      [ "$got" = "$bare" ] || { echo "$var=${val:0:20}: $got"; false; }
      # every line the library wrote is whole and bounded
      while IFS= read -r l; do
        [ "${#l}" -lt 2100 ] || { echo "$var: a ${#l}-byte line"; false; }
      done <<<"$output"
    done
  done
}

@test "a newline or escape sequence in argv[0], REUSE_* or a path cannot forge a log line" {
  evil=$'x\nlibreuse[1]: forged\e[31m'
  pol=$(force_policy)
  for fmt in text json; do
    : >"$LOGF"
    run timeout 20 env REUSE_POLICY="$pol" REUSE_LOG="$LOGF" REUSE_LOG_FORMAT=$fmt \
      REUSE_LOG_LEVEL="$evil" LD_PRELOAD="$LIB" bash -c 'exec -a "$1" "$2" 127.0.0.1 0' \
      - "$evil" "$PROBES/bindprobe"
    [ "$status" -eq 0 ]
    run timeout 20 env REUSE_POLICY="$W/no$evil" REUSE_LOG="$LOGF" REUSE_LOG_FORMAT=$fmt \
      LD_PRELOAD="$LIB" "$PROBES/bindprobe" 127.0.0.1 0
    [ "$status" -eq 0 ]
    [ "$(grep -c 'forged' "$LOGF")" -ge 3 ]          # the name, the level, the path
    [ "$(grep -c $'\e' "$LOGF")" -eq 0 ]
    if [ $fmt = text ]; then
      # every line is the library's own, none starts with the forged prefix
      run grep -cvE '^libreuse\[[0-9]{2,}\]: [0-9]{4}-' "$LOGF"
      assert_output 0
    else
      run jq -c . "$LOGF"
      assert_success
    fi
  done
  # text shows control bytes as '?', JSON escapes them and keeps them
  jq -e -s 'map(select(.call == "bind")) | .[0].prog == "x\nlibreuse[1]: forged\u001b[31m"' "$LOGF"
}

@test "JSON lines stay whole objects when a value is cut (600 non-ASCII bytes, each escaped to 6)" {
  long=$(printf '\377%.0s' $(seq 1 600))
  run timeout 20 env REUSE_POLICY="/tmp/$long" REUSE_LOG="$LOGF" REUSE_LOG_FORMAT=json \
    LD_PRELOAD="$LIB" "$PROBES/bindprobe" 127.0.0.1 0
  [ "$status" -eq 0 ]
  [ "$(wc -l <"$LOGF")" -eq 2 ]
  run jq -r '.msg | length' "$LOGF"
  assert_success
  [ "${lines[0]}" -gt 200 ]            # cut, but there
  [ "$(awk 'length($0) >= 2048' "$LOGF")" = "" ]
}

# ---- the program against the shim's own fds ---------------------------------

@test "a program that closes every fd (0..1023, then close_range(3, ~0)) keeps the shim's log" {
  shim "$(force_policy)" -- "$PROBES/closeall"
  [ "$status" -eq 0 ]
  run grep -c ' closeall bind fd=.* result=ok now=reuseaddr:on' "$LOGF"
  assert_output 1
  # logging to stderr: the program closed its stderr, so the shim has none
  # either (it holds no copy of it: the next test), and the bind still works
  shim "$(force_policy)" REUSE_LOG=stderr -- "$PROBES/closeall"
  [ "$status" -eq 0 ]
  refute_output --partial ' closeall bind '
}

@test "REUSE_LOG=stderr holds no copy of the caller's pipe: out=\$(daemon 2>&1) returns when the daemon detaches" {
  local how t0 t1 pid
  for how in close null; do
    rm -f "$W/pid"
    t0=$(date +%s%N)
    # the daemon sleeps 5 s after detaching; the capture must not wait for it
    out=$(timeout 10 env REUSE_POLICY="$(force_policy)" REUSE_LOG=stderr LD_PRELOAD="$LIB" \
      "$PROBES/detach" "$how" "$W/pid" 5 2>&1)
    t1=$(date +%s%N)
    pid=$(cat "$W/pid" 2>/dev/null || true)
    [[ -n $pid ]] && kill -0 "$pid" || fail "$how: the daemon is not running"
    kill "$pid"
    echo "$how: $(((t1 - t0) / 1000000)) ms: $out"
    # the line of the bind before detaching reached the caller
    grep -qE ' detach bind fd=[0-9]+ tcp 127\.0\.0\.1:0 .*result=ok' <<<"$out" || fail "$how: no bind line"
    [[ $(grep -c ' detach bind ' <<<"$out") -eq 1 ]] || fail "$how: a line after the daemon let go of stderr"
    [[ $(((t1 - t0) / 1000000)) -lt 2500 ]] || fail "$how: the capture waited for the daemon"
  done
}

@test "a program that dup2()s / dup3()s / raw-dup3s over the log fd: its file stays its own" {
  for how in "" -3 -r; do
    : >"$LOGF"
    # shellcheck disable=SC2086
    shim "$(force_policy)" -- "$PROBES/dup2log" $how "$W/own"
    [ "$status" -eq 0 ] || { echo "$how: $output"; false; }
    assert_output --regexp 'logfd=[0-9]+ bind=ok'
    run cat "$W/own"
    assert_output 'program line'
    grep -q ' dup2log bind fd=.* result=ok' "$LOGF" || { echo "$how: no bind line"; cat "$LOGF"; false; }
  done
}

@test "fds at the top of the table (ulimit -n as high as allowed): decided, closed, decided again" {
  ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  top=$(($(ulimit -n) - 1))
  port=$(free_port)
  printf 'tcp 127.0.0.1:%s reuseaddr=force\n' "$port" >"$W/p"
  shim "$W/p" -- "$PROBES/highfd" "$port"
  [ "$status" -eq 0 ]
  assert_output "fd=$top bind=ok kernel_ra=1 fd2=$top bind2=ok kernel_ra2=1 range=ok after=EBADF"
  [ "$(grep -c " highfd bind fd=$top tcp 127.0.0.1:$port .*action=force result=ok" "$LOGF")" -eq 2 ]
}

# ---- secure execution --------------------------------------------------------

@test "set-user-ID probe under a system-wide preload ignores REUSE_* (private mount namespace)" {
  [ "$(id -u)" -eq 0 ] || skip "needs root"
  command -v unshare >/dev/null || skip "no unshare"
  # the overlay makes /etc/ld.so.preload exist in this namespace only
  mkdir -p "$W/up" "$W/work"
  # every library of $LIB (a sanitizer runtime first, under scripts/sanitize)
  tr ':' '\n' <<<"$LIB" | xargs -n1 realpath >"$W/up/ld.so.preload"
  cp "$PROBES/bindprobe" "$W/suid"
  cp "$PROBES/bindprobe" "$W/plain"
  chown 0:0 "$W/suid" "$W/plain"
  chmod 4755 "$W/suid"
  chmod 755 "$W/plain"
  printf 'tcp *:* deny\n' >"$W/deny"
  : >"$LOGF"; chmod 666 "$LOGF"
  cat >"$W/inside" <<EOS
set -e
mount -t overlay overlay -o lowerdir=/etc,upperdir=$W/up,workdir=$W/work /etc
for p in suid plain; do
  echo "\$p: \$(setpriv --reuid=65534 --regid=65534 --clear-groups \
    env REUSE_POLICY=$W/deny REUSE_LOG=$LOGF REUSE_LOG_LEVEL=all $W/\$p 127.0.0.1 0)"
done
EOS
  run timeout 30 unshare -m --propagation private sh "$W/inside"
  echo "$output"
  [ "$status" -eq 0 ] || skip "overlay mount not possible here: $output"
  # set-user-ID: the library is loaded (the embedded default forced
  # SO_REUSEADDR) but REUSE_POLICY's deny and REUSE_LOG were ignored
  assert_line --regexp '^suid: bind=ok seen_ra=0 seen_rp=0 kernel_ra=1 '
  # the same program, not set-user-ID: REUSE_POLICY applies
  assert_line --regexp '^plain: bind=EACCES '
  run grep -c ' bind fd=' "$LOGF"
  assert_output 1            # only the plain run logged there
  [ "$(grep -c ' suid ' "$LOGF")" -eq 0 ]
  # the host never saw the preload file
  [ ! -e /etc/ld.so.preload ] || ! grep -q "$W" /etc/ld.so.preload
}
