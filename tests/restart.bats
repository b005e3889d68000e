#!/usr/bin/env bats
# The restart story: a legacy TCP daemon (tests/daemons/legacy_tcp.py, no
# SO_REUSEADDR, closes every connection first) cannot restart while its old
# connections sit in TIME_WAIT. Each fix is shown against its control.
# shellcheck disable=SC2153,SC2154  # helpers.bash sets LIB/REUSE; bats sets $output

load helpers

LEGACY="$BATS_TEST_DIRNAME/daemons/legacy_tcp.py"
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)

setup() {
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL LD_PRELOAD
  [[ -e /etc/libreuse/policy ]] && skip "a system policy is installed; these tests need the default"
  T=$(mktemp -d /tmp/libreuse-restart.XXXXXX)
  chmod 755 "$T"
  P=$(free_port)
  DAEMON=
}

teardown() {
  [[ -n $DAEMON ]] && { kill "$DAEMON" 2>/dev/null; wait "$DAEMON" 2>/dev/null; }
  if [[ -n ${T:-} && -d $T ]]; then rm -rf "$T"; fi
}

# start AS... -- PREFIX... : run the daemon on 127.0.0.1:$P with the command
# prefix given (env LD_PRELOAD=..., reuse run --, nothing); as root unless
# the first words are NOBODY's. Sets RC=0 and DAEMON when it listens, else
# RC=1 and ERR to its stderr.
start() {
  : >"$T/out"
  "$@" "$LEGACY" 127.0.0.1 "$P" >"$T/out" 2>"$T/err" &
  DAEMON=$!
  local i
  for ((i = 0; i < 200; i++)); do
    grep -q '^listening' "$T/out" && { RC=0; return 0; }
    kill -0 "$DAEMON" 2>/dev/null || break
    sleep 0.05
  done
  wait "$DAEMON" 2>/dev/null || true
  DAEMON=
  RC=1
  ERR=$(cat "$T/err")
}

# serve N : N clients, each reading the greeting to EOF (the daemon closes first).
serve() {
  local i
  for ((i = 0; i < $1; i++)); do
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"; cat <&3' "$P" >/dev/null
  done
}

stop() {
  kill "$DAEMON"
  wait "$DAEMON" 2>/dev/null || true
  DAEMON=
}

timewait() { ss -Htan state time-wait "sport = :$P" | wc -l; }

shim() { echo env REUSE_LOG="$T/log" LD_PRELOAD="$LIB"; }

@test "control: a plain restart fails while the old connections sit in TIME_WAIT" {
  start env
  assert_equal "$RC" 0
  serve 3
  stop
  [[ $(timewait) -ge 3 ]]
  start env
  assert_equal "$RC" 1
  [[ $ERR == *"Address already in use"* ]]
}

# bats test_tags=quick
@test "as root after a plain run: libreuse clears exactly the stale entries and the daemon starts (reuse run and LD_PRELOAD)" {
  local way
  for way in run preload; do
    P=$(free_port)
    start env
    serve 3
    stop
    [[ $(timewait) -ge 3 ]]
    : >"$T/log"
    if [[ $way == run ]]; then
      start "$REUSE" run --log "$T/log" --
    else
      # shellcheck disable=SC2046
      start $(shim)
    fi
    assert_equal "$RC" 0
    run cat "$T/log"
    assert_output --regexp "python3 bind fd=[0-9]+ tcp 127\.0\.0\.1:$P rule=default:[0-9]+ option=SO_REUSEADDR asked=off action=force result=ok now=reuseaddr:on,reuseport:off -- cleared [0-9]+ TIME_WAIT entr(y|ies) on 127\.0\.0\.1:$P"
    serve 2
    stop
  done
}

# bats test_tags=quick
@test "unprivileged after a run under libreuse: starts at once (control: not without libreuse)" {
  start "$REUSE" run --log "$T/log" --
  assert_equal "$RC" 0
  serve 3
  stop
  [[ $(timewait) -ge 3 ]]
  # control: the same user, no libreuse
  start "${NOBODY[@]}"
  assert_equal "$RC" 1
  # plain LD_PRELOAD, then reuse run, as nobody
  : >"$T/log"
  chmod 666 "$T/log"
  # shellcheck disable=SC2046
  start "${NOBODY[@]}" $(shim)
  assert_equal "$RC" 0
  grep -q "action=force result=ok" "$T/log"
  run grep -c 'cleared' "$T/log"
  assert_output 0
  serve 2
  stop
  start "${NOBODY[@]}" "$REUSE" run --log "$T/log" --
  assert_equal "$RC" 0
}

@test "unprivileged after a plain run: bind fails as the kernel says and the log line says why and what fixes it" {
  start env
  serve 3
  stop
  : >"$T/log"
  chmod 666 "$T/log"
  # shellcheck disable=SC2046
  start "${NOBODY[@]}" $(shim)
  assert_equal "$RC" 1
  [[ $ERR == *"Address already in use"* ]]
  run cat "$T/log"
  assert_output --partial "result=EADDRINUSE"
  assert_output --regexp "[0-9]+ TIME_WAIT entr(y|ies) hold 127\.0\.0\.1:$P and lack SO_REUSEADDR"
  assert_output --partial "fix: start once with CAP_NET_ADMIN"
}

# exclusive_restart HOW : an exclusive TCP listener restarted over its own
# TIME_WAIT, unprivileged, under the library (HOW=lib) or reuse run
# --seccomp (HOW=seccomp): SO_REUSEADDR on from listen() on, the entries
# passed with SO_REUSEADDR lent, joiners still refused; the control fails.
exclusive_restart() {
  local pol under
  pol=$T/policy
  echo "tcp 127.0.0.1:$P exclusive" >"$pol"
  chmod 644 "$pol"
  : >"$T/log"
  chmod 666 "$T/log"
  if [[ $1 == lib ]]; then
    under=(env REUSE_POLICY="$pol" REUSE_LOG="$T/log" LD_PRELOAD="$LIB")
  else
    under=("$REUSE" run --seccomp --policy "$pol" --log "$T/log" --)
  fi
  start "${NOBODY[@]}" "${under[@]}"
  assert_equal "$RC" 0
  serve 3
  stop
  [[ $(timewait) -ge 3 ]]
  grep -q 'exclusive: SO_REUSEADDR on from listen() on' "$T/log"
  # control: without libreuse the same user cannot bind over those entries
  start "${NOBODY[@]}"
  assert_equal "$RC" 1
  start "${NOBODY[@]}" "${under[@]}"
  assert_equal "$RC" 0
  run cat "$T/log"
  assert_output --regexp "passed [0-9]+ TIME_WAIT entr(y|ies) on 127\.0\.0\.1:$P, which hold SO_REUSEADDR, with SO_REUSEADDR lent to this bind\(\) only"
  assert_output --regexp "SO_REUSEADDR lent for listen\(\) past TIME_WAIT \([0-9]+ us\)"
  # and it is still exclusive: another uid and the same uid are refused
  run "$BATS_TEST_DIRNAME/daemons/attacker.py" tcp 127.0.0.1 "$P" rarp 0
  assert_output --partial 'EADDRINUSE'
  run "${NOBODY[@]}" "$BATS_TEST_DIRNAME/daemons/attacker.py" tcp 0.0.0.0 "$P" ra 0
  assert_output --partial 'EADDRINUSE'
  serve 1
}

@test "exclusive TCP: the next exclusive run passes its own TIME_WAIT entries, unprivileged, and still refuses joiners" {
  exclusive_restart lib
}

@test "exclusive TCP under reuse run --seccomp: the same restart over its own TIME_WAIT, unprivileged" {
  # the seccomp supervisor makes listen() itself: it turns SO_REUSEADDR on
  # after it, and lends it past the entries at the next run, as the library
  exclusive_restart seccomp
}
