#!/usr/bin/env bats
# Every fix a log line or `reuse who` suggests must be one that works. Each
# test makes the failure that prints a kind of advice, takes the advice out
# of the text (the rule, the command), follows it as an operator would, and
# checks the result is what the advice promised. Where the old advice did
# not work, the control shows it still does not.
# shellcheck disable=SC2153,SC2154  # helpers.bash sets LIB/REUSE/PROBES; bats sets $output

load helpers

bats_require_minimum_version 1.5.0

LEGACY="$BATS_TEST_DIRNAME/daemons/legacy_tcp.py"
PY=/usr/bin/python3
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
# the same user with CAP_NET_ADMIN only (ambient: kept across exec)
NOBODY_NET_ADMIN=(setpriv --reuid=65534 --regid=65534 --clear-groups
  --inh-caps=+net_admin --ambient-caps=+net_admin)
# the rule the default policy puts every TCP socket under
DEFAULT_RULE='tcp *:* reuseaddr=force'

# leave_timewait PORT [PREFIX...]: the legacy daemon (no SO_REUSEADDR of its
# own) run under PREFIX serves 3 clients and stops: its closed connections
# sit in TIME_WAIT on 127.0.0.1:PORT.
leave_timewait() {
  local port=$1 pid i n
  shift
  "$@" "$LEGACY" 127.0.0.1 "$port" >/dev/null 2>&1 &
  pid=$!
  wait_listen "$port" || { kill "$pid"; return 1; }
  for ((i = 0; i < 3; i++)); do
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"; cat <&3' "$port" >/dev/null
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  n=$(ss -Htan state time-wait "sport = :$port" | wc -l)
  [ "$n" -ge 3 ]
}

# restart [PREFIX...]: the legacy daemon again on 127.0.0.1:$P; RC=0 when it
# listens (then stopped again), else 1. Its log goes to $T/log.
restart() {
  local pid i
  : >"$T/out"
  "$@" "$LEGACY" 127.0.0.1 "$P" >"$T/out" 2>&1 &
  pid=$!
  RC=1
  for ((i = 0; i < 100; i++)); do
    grep -q '^listening' "$T/out" && { RC=0; break; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

shim() { echo env REUSE_LOG="$T/log" LD_PRELOAD="$LIB"; }
shim_policy() { echo env REUSE_POLICY="$1" REUSE_LOG="$T/log" LD_PRELOAD="$LIB"; }

# The advice in a log or output: the rule a `fix: rule '...'` names, the
# `ss -K` command an `as root, ...` names.
advised_rule() { sed -n "s/.*fix: rule '\([^']*\)'.*/\1/p" "$1" | head -1; }
advised_ss() { grep -o 'ss -K state time-wait sport = :[0-9]*' "$1" | head -1; }

setup_file() {
  # the "wait up to 66 s" advice is followed by the last test; its entries
  # are made first, so the other tests use most of the wait
  local d
  d=$(mktemp -d /tmp/libreuse-advice-wait.XXXXXX)
  echo "$d" >"$BATS_FILE_TMPDIR/wait.dir"
  W=$(free_port)
  leave_timewait "$W" env
  echo "$EPOCHREALTIME" >"$d/wait.t0"
  echo "$W" >"$d/wait.port"
  chmod 755 "$d"
  : >"$d/wait.log"
  chmod 666 "$d/wait.log"
  "${NOBODY[@]}" env REUSE_LOG="$d/wait.log" LD_PRELOAD="$LIB" "$LEGACY" 127.0.0.1 "$W" \
    >/dev/null 2>&1 || true
}

setup() {
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL LD_PRELOAD
  [[ -e /etc/libreuse/policy ]] && skip "a system policy is installed; these tests need the default"
  # readable by uid 65534 (the bats temporary directory's parents are not)
  T=$(mktemp -d /tmp/libreuse-advice.XXXXXX)
  chmod 755 "$T"
  : >"$T/log"
  chmod 666 "$T/log"
  P=$(free_port)
  PIDS=()
}

teardown() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if [[ -n ${T:-} && -d $T ]]; then rm -rf "$T"; fi
  return 0
}

teardown_file() {
  local d
  d=$(cat "$BATS_FILE_TMPDIR/wait.dir" 2>/dev/null) || return 0
  if [[ $d == /tmp/libreuse-advice-wait.* && -d $d ]]; then rm -rf "$d"; fi
}

# hold CMD...: a holder in the background, killed in teardown.
hold() {
  "$@" >"$T/held" 2>&1 &
  PIDS+=("$!")
}

# A policy file: the advised rule first, then the rule that was in force.
follow_rule() {
  local rule=$1 was=$2 f
  f=$(mktemp "$T/policy.XXXXXX")
  printf '%s\n%s\n' "$rule" "$was" >"$f"
  chmod 644 "$f"
  echo "$f"
}

# ---- TIME_WAIT a plain run left ----------------------------------------------

@test "plain run left TIME_WAIT, unprivileged restart: no rule is offered on a guess (control: reuseport=force still fails)" {
  leave_timewait "$P" env
  # shellcheck disable=SC2046
  restart "${NOBODY[@]}" $(shim)
  assert_equal "$RC" 1
  run cat "$T/log"
  assert_output --partial "TIME_WAIT entries hold 127.0.0.1:$P and lack SO_REUSEADDR"
  assert_output --partial "fix: start once with CAP_NET_ADMIN (libreuse clears them), or as root, ss -K state time-wait sport = :$P, or wait up to 66 s"
  refute_output --partial "perhaps"
  refute_output --partial "fix: rule"
  refute_output --partial "left by"
  # control: the advice the line used to end with does not bind
  pol=$(follow_rule "tcp 127.0.0.1:$P reuseport=force" "$DEFAULT_RULE")
  # shellcheck disable=SC2046
  restart "${NOBODY[@]}" $(shim_policy "$pol")
  assert_equal "$RC" 1
  grep -q "result=EADDRINUSE" "$T/log"
}

@test "follow 'start once with CAP_NET_ADMIN': the same user with that capability clears them and listens; the next run passes what it leaves" {
  leave_timewait "$P" env
  # shellcheck disable=SC2046
  restart "${NOBODY[@]}" $(shim)
  assert_equal "$RC" 1
  grep -q 'fix: start once with CAP_NET_ADMIN' "$T/log"
  # shellcheck disable=SC2046
  restart "${NOBODY_NET_ADMIN[@]}" $(shim)
  assert_equal "$RC" 0
  grep -Eq "cleared [0-9]+ TIME_WAIT entr(y|ies) on 127\.0\.0\.1:$P, which lack SO_REUSEADDR" "$T/log"
  # "a run under reuseaddr=force leaves entries the next one passes": that
  # run's own entries, then a restart without the capability
  leave_timewait "$P" "${NOBODY_NET_ADMIN[@]}" env REUSE_LOG="$T/log" LD_PRELOAD="$LIB"
  # shellcheck disable=SC2046
  restart "${NOBODY[@]}" $(shim)
  assert_equal "$RC" 0
}

@test "follow the ss -K command the log and reuse who give: run as root, the unprivileged restart listens" {
  leave_timewait "$P" env
  # shellcheck disable=SC2046
  restart "${NOBODY[@]}" $(shim)
  assert_equal "$RC" 1
  cmd=$(advised_ss "$T/log")
  [ -n "$cmd" ]
  # reuse who, asked about the same address, gives the same command
  "$REUSE" who --tcp "127.0.0.1:$P" >"$T/who"
  grep -q "TIME-WAIT on 127.0.0.1:$P" "$T/who"
  assert_equal "$(advised_ss "$T/who")" "$cmd"
  "$REUSE" who --json --tcp "127.0.0.1:$P" >"$T/who.json"
  assert_equal "$(advised_ss "$T/who.json")" "$cmd"
  # follow it, as root
  read -ra argv <<<"$cmd"
  "${argv[@]}" >/dev/null
  run ss -Htan state time-wait "sport = :$P"
  assert_output ""
  # shellcheck disable=SC2046
  restart "${NOBODY[@]}" $(shim)
  assert_equal "$RC" 0
  run "$REUSE" who --tcp "127.0.0.1:$P"
  assert_output --partial "free: no socket holds an overlapping address"
}

# ---- this socket lacks SO_REUSEADDR ------------------------------------------

@test "a rule strips SO_REUSEADDR: the rule offered passes entries that hold it (left by a run under the default policy)" {
  leave_timewait "$P" "${NOBODY[@]}" env REUSE_LOG="$T/log" LD_PRELOAD="$LIB"
  strip="tcp 127.0.0.1:$P reuseaddr=strip"
  pol=$(follow_rule "$strip" "")
  # shellcheck disable=SC2046
  restart "${NOBODY[@]}" $(shim_policy "$pol")
  assert_equal "$RC" 1
  grep -q "this socket lacks SO_REUSEADDR; fix: rule 'tcp 127.0.0.1:$P reuseaddr=force' ahead of the rule in force" "$T/log"
  rule=$(advised_rule "$T/log")
  assert_equal "$rule" "tcp 127.0.0.1:$P reuseaddr=force"
  # shellcheck disable=SC2046
  restart "${NOBODY[@]}" $(shim_policy "$(follow_rule "$rule" "$strip")")
  assert_equal "$RC" 0
}

@test "a rule strips SO_REUSEADDR over a plain run's TIME_WAIT: the offered rule with CAP_NET_ADMIN clears them, as it says" {
  leave_timewait "$P" env
  strip="tcp 127.0.0.1:$P reuseaddr=strip"
  pol=$(follow_rule "$strip" "")
  # shellcheck disable=SC2046
  restart "${NOBODY[@]}" $(shim_policy "$pol")
  assert_equal "$RC" 1
  grep -q "given CAP_NET_ADMIN, clears the others" "$T/log"
  rule=$(advised_rule "$T/log")
  [ -n "$rule" ]
  pol=$(follow_rule "$rule" "$strip")
  # without the capability these entries stay (the text says they need it)
  # shellcheck disable=SC2046
  restart "${NOBODY[@]}" $(shim_policy "$pol")
  assert_equal "$RC" 1
  # shellcheck disable=SC2046
  restart "${NOBODY_NET_ADMIN[@]}" $(shim_policy "$pol")
  assert_equal "$RC" 0
  grep -q "cleared" "$T/log"
}

@test "entries passed with SO_REUSEADDR lent are said to hold it, not to come from an exclusive run (they came from a plain one)" {
  # a plain server that sets SO_REUSEADDR itself, no libreuse
  "$PY" -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
for _ in range(3):
    c, _ = s.accept(); c.sendall(b"hi\n"); c.close()' "$P" &
  srv=$!
  wait_listen "$P"
  for _ in 1 2 3; do timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"; cat <&3' "$P" >/dev/null; done
  wait "$srv"
  pol=$(follow_rule "tcp 127.0.0.1:$P exclusive" "")
  # shellcheck disable=SC2046
  restart "${NOBODY[@]}" $(shim_policy "$pol")
  assert_equal "$RC" 0
  run cat "$T/log"
  assert_output --regexp "passed [0-9]+ TIME_WAIT entr(y|ies) on 127\.0\.0\.1:$P, which hold SO_REUSEADDR"
  refute_output --partial "left by an exclusive run"
}

# ---- live holders -------------------------------------------------------------

@test "a same-uid listener with SO_REUSEPORT: the offered rule, followed, shares the port" {
  hold "${NOBODY[@]}" "$PY" -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
time.sleep(30)' "$P"
  wait_listen "$P"
  run --separate-stderr "${NOBODY[@]}" env LD_PRELOAD="$LIB" "$PROBES/bindprobe" -l 127.0.0.1 "$P"
  assert_output --partial 'bind=EADDRINUSE'
  echo "$stderr" >"$T/err"
  rule=$(advised_rule "$T/err")
  assert_equal "$rule" "tcp 127.0.0.1:$P reuseport=force"
  grep -q "(it joins the holder's SO_REUSEPORT group)" "$T/err"
  pol=$(follow_rule "$rule" "$DEFAULT_RULE")
  run "${NOBODY[@]}" env REUSE_POLICY="$pol" REUSE_LOG=off LD_PRELOAD="$LIB" "$PROBES/bindprobe" -l 127.0.0.1 "$P"
  assert_output --partial 'bind=ok listen=ok'
  assert_output --partial 'kernel_rp=1'
}

@test "a process that may key (root): reuseport=force is not offered beside an unkeyed group, and indeed fails (control)" {
  hold "$PY" -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
time.sleep(30)' "$P"
  wait_listen "$P"
  run --separate-stderr env LD_PRELOAD="$LIB" "$PROBES/bindprobe" -l 127.0.0.1 "$P"
  assert_output --partial 'bind=EADDRINUSE'
  [[ $stderr == *"as uid 0 (keyed uid "*" with SO_REUSEPORT): none=EADDRINUSE reuseaddr=EADDRINUSE reuseport=EADDRINUSE"* ]]
  [[ $stderr != *"fix:"* ]]
  # control: the rule the line used to offer is refused by the kernel
  pol=$(follow_rule "tcp 127.0.0.1:$P reuseport=force" "$DEFAULT_RULE")
  run env REUSE_POLICY="$pol" REUSE_LOG=off LD_PRELOAD="$LIB" "$PROBES/bindprobe" -l 127.0.0.1 "$P"
  assert_output --partial 'bind=EADDRINUSE'
}

@test "a UDP holder of another uid with SO_REUSEADDR: the offered rule binds and takes its datagrams, as it warns" {
  hold "${NOBODY[@]}" "$PY" -c '
import socket, sys, time
s = socket.socket(type=socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
time.sleep(30)' "$P"
  wait_udp "$P"
  keep="udp *:$P reuseaddr=keep"
  pol=$(follow_rule "$keep" "")
  run --separate-stderr env REUSE_POLICY="$pol" LD_PRELOAD="$LIB" "$PROBES/bindprobe" -u 127.0.0.1 "$P"
  assert_output --partial 'bind=EADDRINUSE'
  echo "$stderr" >"$T/err"
  rule=$(advised_rule "$T/err")
  assert_equal "$rule" "udp 127.0.0.1:$P reuseaddr=force"
  grep -q "(it would take the holder's datagrams)" "$T/err"
  pol=$(follow_rule "$rule" "$keep")
  env REUSE_POLICY="$pol" REUSE_LOG=off LD_PRELOAD="$LIB" "$PROBES/bindprobe" -u -h 1.5 -a 127.0.0.1 "$P" >"$T/probe" &
  probe=$!
  for _ in $(seq 1 20); do grep -q '^bind=' "$T/probe" && break; sleep 0.05; done
  grep -q 'bind=ok' "$T/probe"
  for _ in 1 2 3 4 5; do echo x >"/dev/udp/127.0.0.1/$P"; done
  wait "$probe"
  run grep -o 'got=[0-9]*' "$T/probe"
  assert_output 'got=5'
}

@test "a holder's flags unreadable here: the line names reuse who as root, and as root it reads them" {
  # same uid, but not dumpable: no /proc fd links, no pidfd_getfd for its peers
  hold "${NOBODY[@]}" "$PY" -c '
import ctypes, socket, sys, time
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)   # PR_SET_DUMPABLE 0
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
time.sleep(30)' "$P"
  wait_listen "$P"
  run --separate-stderr "${NOBODY[@]}" env LD_PRELOAD="$LIB" "$PROBES/bindprobe" -l 127.0.0.1 "$P"
  assert_output --partial 'bind=EADDRINUSE'
  [[ $stderr == *"reuseaddr=? reuseport=?"* ]]
  [[ $stderr == *"as root, reuse who --tcp 127.0.0.1:$P reads them"* ]]
  [[ $stderr != *"fix:"* && $stderr != *"perhaps"* ]]
  # reuse who as that user says the same
  run "${NOBODY[@]}" "$REUSE" who --tcp "127.0.0.1:$P"
  assert_output --partial "reuseaddr=? reuseport=?"
  assert_output --partial "as root, reuse who reads them"
  # follow it: as root the flags are read and no verdict is unknown
  run "$REUSE" who --tcp "127.0.0.1:$P"
  assert_output --partial "uid 65534"
  assert_output --partial "reuseaddr=off reuseport=on"
  refute_output --partial "unknown"
  assert_output --regexp "as uid 65534 +holder +none: EADDRINUSE;  reuseaddr: EADDRINUSE;  reuseport: shares"
}

# ---- notes on a successful bind, and reuse audit -----------------------------

@test "SO_REUSEPORT forced without CAP_CHOWN: 'start the program as that user with CAP_CHOWN', followed, keys it and refuses a same-uid joiner" {
  pol=$(follow_rule "tcp 127.0.0.1:$P reuseport=force" "")
  run --separate-stderr "${NOBODY[@]}" env REUSE_POLICY="$pol" LD_PRELOAD="$LIB" "$PROBES/bindprobe" -l 127.0.0.1 "$P"
  assert_output --partial 'bind=ok listen=ok'
  [[ $stderr == *"fix: start the program as that user with CAP_CHOWN (setpriv --inh-caps=+chown --ambient-caps=+chown"* ]]
  # followed: the same uid, CAP_CHOWN only, made the socket (no user switch in between)
  hold "${NOBODY[@]}" --inh-caps=+chown --ambient-caps=+chown \
    env REUSE_POLICY="$pol" REUSE_LOG="$T/log" LD_PRELOAD="$LIB" "$PROBES/bindprobe" -l -h 20 127.0.0.1 "$P"
  wait_listen "$P"
  grep -q "SO_REUSEPORT forced, keyed (owner uid [0-9]*): instances of uid 65534 under libreuse with CAP_CHOWN share the port, no other process can join" "$T/log"
  # a same-uid stranger asking SO_REUSEPORT is refused; an instance keyed alike shares
  run "${NOBODY[@]}" "$PROBES/bindprobe" -p -l 127.0.0.1 "$P"
  assert_output --partial 'bind=EADDRINUSE'
  run "${NOBODY[@]}" --inh-caps=+chown --ambient-caps=+chown \
    env REUSE_POLICY="$pol" REUSE_LOG=off LD_PRELOAD="$LIB" "$PROBES/bindprobe" -l 127.0.0.1 "$P"
  assert_output --partial 'bind=ok listen=ok'
}

@test "a daemon that switches user itself: 'run as root under reuse run --seccomp', followed, keys its group; under the library a same-uid joiner gets in" {
  local py=/usr/bin/python3 pol drop
  pol=$(follow_rule "tcp 127.0.0.1:$P exclusive" "")
  # the daemon drops to uid 65534 before it makes its socket (as named -u does)
  drop="import os, socket, time
os.setgid(65534); os.setuid(65534)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(('127.0.0.1', $P)); s.listen(); print('listening', flush=True); time.sleep(20)"
  hold env REUSE_POLICY="$pol" REUSE_LOG="$T/lib.log" LD_PRELOAD="$LIB" "$py" -c "$drop"
  wait_listen "$P"
  grep -q "same-uid processes (uid 65534) can join: keying the group needs CAP_CHOWN when the socket is made; fix: .*reuse run --seccomp" "$T/lib.log"
  # control: under the library a same-uid joiner gets in, as the line says
  run "${NOBODY[@]}" "$PROBES/bindprobe" -p -l 127.0.0.1 "$P"
  assert_output --partial 'bind=ok listen=ok'
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
  # followed: as root under --seccomp, the supervisor keys the group
  hold "$REUSE" run --seccomp --policy "$pol" --log "$T/sec.log" -- "$py" -c "$drop"
  wait_listen "$P"
  ss -Htlne "sport = :$P" | grep -q "uid:$((2147483646 - 65534))" || fail "not keyed: $(ss -Htlne "sport = :$P")"
  run "${NOBODY[@]}" "$PROBES/bindprobe" -p -l 127.0.0.1 "$P"
  assert_output --partial 'bind=EADDRINUSE'
}

# A program that binds two overlapping TCP sockets of its own with
# SO_REUSEADDR before either listens (as a wildcard and a specific one).
OWN_TCP='import errno, socket, sys
keep = []
for host in ("0.0.0.0", "127.0.0.1"):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, int(sys.argv[1]))); print(host, "bind=ok", flush=True)
    except OSError as e:
        print(host, "bind=" + errno.errorcode[e.errno], flush=True)
    keep.append(s)
if len(sys.argv) > 2:
    import time; time.sleep(float(sys.argv[2]))'

@test "exclusive TCP, own sockets not listening yet: 'no option was lent ... run the program with CAP_CHOWN', followed, binds both with a keyed SO_REUSEPORT nobody else matches" {
  pol=$(follow_rule "tcp *:$P exclusive" "")
  # control: bare, the program's own two binds work
  run "${NOBODY[@]}" "$PY" -c "$OWN_TCP" "$P"
  assert_output $'0.0.0.0 bind=ok\n127.0.0.1 bind=ok'
  # exclusive, without CAP_CHOWN: the second fails and the line says why and the fix
  run "${NOBODY[@]}" env REUSE_POLICY="$pol" REUSE_LOG="$T/log" LD_PRELOAD="$LIB" "$PY" -c "$OWN_TCP" "$P"
  assert_line '127.0.0.1 bind=EADDRINUSE'
  grep -q "tcp 127.0.0.1:$P .*result=EADDRINUSE .*no option was lent: SO_REUSEADDR on a TCP socket that does not listen yet lets anyone bind beside it; fix: run the program with CAP_CHOWN (libreuse then lends a keyed SO_REUSEPORT only its own sockets match)" "$T/log" ||
    fail "no advice: $(cat "$T/log")"
  # followed: the same uid with CAP_CHOWN; both bind, through a keyed lend
  : >"$T/log"
  hold "${NOBODY[@]}" --inh-caps=+chown --ambient-caps=+chown \
    env REUSE_POLICY="$pol" REUSE_LOG="$T/log" LD_PRELOAD="$LIB" "$PY" -c "$OWN_TCP" "$P" 20
  for ((i = 0; i < 100; i++)); do grep -q '^127.0.0.1 ' "$T/held" && break; sleep 0.05; done
  run cat "$T/held"
  assert_output $'0.0.0.0 bind=ok\n127.0.0.1 bind=ok'
  grep -q "tcp 127.0.0.1:$P .*result=ok .*lent SO_REUSEPORT to [0-9]* sockets\? for this bind() only, [0-9]* us (keyed: only this program's sockets match it)" "$T/log" ||
    fail "no keyed lend: $(cat "$T/log")"
  # only its own sockets match: the same uid, with either option or both, is refused
  for f in -r -p '-r -p'; do
    # shellcheck disable=SC2086
    run "${NOBODY[@]}" "$PROBES/bindprobe" $f 127.0.0.1 "$P"
    assert_output --partial 'bind=EADDRINUSE'
  done
}

@test "socket activation with SO_REUSEPORT: 'drop ReusePort= from the .socket unit', followed (systemd-socket-activate), and a joiner of the activator's uid is refused" {
  command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate not installed"
  pol=$(follow_rule "tcp 127.0.0.1:$P exclusive" "")
  # a unit with ReusePort=yes (tests/daemons/activate.py: systemd-socket-activate has no such option)
  hold "$PY" "$BATS_TEST_DIRNAME/daemons/activate.py" --reuseport 127.0.0.1 "$P" \
    env REUSE_POLICY="$pol" REUSE_LOG="$T/log" LD_PRELOAD="$LIB" "$PROBES/bindprobe" -l -h 20 127.0.0.1 "$P"
  for ((i = 0; i < 100; i++)); do grep -q 'socket activation' "$T/log" && break; sleep 0.05; done
  grep -q "tcp 127.0.0.1:$P .*result=ok .*socket activation: adopted the passed socket .*warning: the activator's socket listens with SO_REUSEPORT, which cannot be taken back now: processes of uid 0 (its owner) can still join; fix: drop ReusePort= from the .socket unit" "$T/log" ||
    fail "no advice: $(cat "$T/log")"
  # control: as the line warns, a process of uid 0 without the library joins
  run "$PROBES/bindprobe" -p -l 127.0.0.1 "$P"
  assert_output --partial 'bind=ok listen=ok'
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
  # followed: the activator without ReusePort= (systemd-socket-activate sets
  # SO_REUSEADDR only); it starts the service at the first connection
  : >"$T/log"
  hold systemd-socket-activate -l "127.0.0.1:$P" -- \
    env REUSE_POLICY="$pol" REUSE_LOG="$T/log" LD_PRELOAD="$LIB" "$PROBES/bindprobe" -l -h 20 127.0.0.1 "$P"
  wait_listen "$P"
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$P" || true
  for ((i = 0; i < 100; i++)); do grep -q 'socket activation' "$T/log" && break; sleep 0.05; done
  grep -q "tcp 127.0.0.1:$P .*result=ok .*socket activation: adopted the passed socket .*; the rule's options set on it$" "$T/log" ||
    fail "not adopted as promised: $(cat "$T/log")"
  for f in -p '-r -p'; do
    # shellcheck disable=SC2086
    run "$PROBES/bindprobe" $f -l 127.0.0.1 "$P"
    assert_output --partial 'bind=EADDRINUSE'
  done
}

@test "reuse audit's PROTECT WITH rule, followed: the daemon restarted under it is no longer open, and another uid is refused" {
  command -v dnsmasq >/dev/null || skip "dnsmasq is not installed (scripts/setup installs it)"
  dns=(dnsmasq -k --no-resolv --no-hosts --conf-file=/dev/null --pid-file=
    --listen-address=127.0.0.1 --bind-interfaces --port="$P" --user=nobody --group=nogroup)
  hold "${dns[@]}"
  wait_udp "$P"
  run -3 "$REUSE" audit --json
  rule=$(jq -r --argjson p "$P" '.[] | select(.port == $p and .proto == "udp") | .rule' <<<"$output")
  assert_equal "$rule" "udp 127.0.0.1:$P program=dnsmasq exclusive"
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
  # control: while open, uid 65534 binds beside it with SO_REUSEADDR
  hold "${dns[@]}"
  wait_udp "$P"
  run "${NOBODY[@]}" "$PROBES/bindprobe" -u -r 127.0.0.1 "$P"
  assert_output --partial 'bind=ok'
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
  pol=$(follow_rule "$rule" "")
  hold "$REUSE" run --policy "$pol" --log "$T/log" -- "${dns[@]}"
  wait_udp "$P"
  run "$REUSE" audit --json
  [ "$status" -eq 0 ] || [ "$status" -eq 3 ]
  [ -z "$(jq -c --argjson p "$P" '.[] | select(.port == $p)' <<<"$output")" ]
  run "${NOBODY[@]}" "$PROBES/bindprobe" -u -r 127.0.0.1 "$P"
  assert_output --partial 'bind=EADDRINUSE'
}

# ---- last: the wait (entries made in setup_file) ----------------------------

@test "follow 'wait up to 66 s': that long after a plain run's last close, the unprivileged restart listens" {
  d=$(cat "$BATS_FILE_TMPDIR/wait.dir")
  W=$(cat "$d/wait.port")
  t0=$(cat "$d/wait.t0")
  grep -q "or wait up to 66 s" "$d/wait.log"
  left=$(awk -v t0="$t0" -v now="$EPOCHREALTIME" 'BEGIN { l = t0 + 66 - now; print (l > 0 ? l : 0) }')
  sleep "$left"
  # control: they were there until the advice said (not gone at once)
  grep -q "TIME_WAIT entries hold 127.0.0.1:$W" "$d/wait.log"
  P=$W
  # shellcheck disable=SC2046
  restart "${NOBODY[@]}" $(shim)
  assert_equal "$RC" 0
}
