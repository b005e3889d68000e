#!/usr/bin/env bats
# Operator insight: explained EADDRINUSE, reuse who (against the kernel),
# reuse audit (dnsmasq), dry runs, syslog lines, systemd drop-in, completion.
# shellcheck disable=SC2016,SC2030,SC2031,SC2153,SC2154  # bats: $output/$status; helpers set REUSE

load helpers

bats_require_minimum_version 1.5.0

PY=/usr/bin/python3          # the distribution's: readable by uid 65534
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)

setup() {
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL REUSE_LIBRARY REUSE_DRY_RUN LD_PRELOAD
  T=$BATS_TEST_TMPDIR
  chmod 755 "$T"
  PIDS=()
}

teardown() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  return 0
}

# A holder in the background: hold [setpriv...] CMD ARG... (a bindprobe
# holds 60 s at most; killed in teardown). Sets HPID; its stdout is $T/held.
hold() {
  # emptied here, not by the background job's redirection: wait_held must
  # never read the previous holder's line
  : >"$T/held"
  "$@" >>"$T/held" 2>&1 &
  HPID=$!
  PIDS+=("$HPID")
}

# Wait (bounded) until a held bindprobe says it bound (also TCP sockets that
# are bound but not listening, which ss does not list).
wait_held() {
  local i
  for ((i = 0; i < 100; i++)); do
    grep -q '^bind=ok' "$T/held" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# ---- result= is what the program got ------------------------------------------

# logged POLICYLINE PROBEARGS... : bindprobe under the backend and the one-rule
# policy; OUT its stdout, LOG its log lines with the prefix and " fd=N" cut.
logged() {
  printf '%s\n' "$1" >"$T/policy"
  shift
  : >"$T/log"
  OUT=$(env REUSE_POLICY="$T/policy" REUSE_LOG="$T/log" "${BACKEND[@]}" "$PROBES/bindprobe" "$@" 2>&1) || true
  LOG=$(sed -E 's/^libreuse\[[0-9]+\]: [^ ]+ //; s/ fd=[0-9]+ / /' "$T/log")
}

# Every line about a refusal (refuse, deny, an exclusive port, a held or
# refused setsockopt) says in result= what the call returned to the
# program: the errno name, or ok when it was told it worked (both backends:
# tests/backends.bats). Whole lines are compared.
@test "refusal lines: result= is what the program got (refuse, deny, held, exclusive, a denied socket met bound)" {
  local p r
  p=$(free_port)
  r="rule=$T/policy:1"
  logged "tcp 127.0.0.1:$p reuseaddr=refuse" -r 127.0.0.1 "$p"
  [[ $OUT == bind=EPERM* ]] || fail "$OUT"
  assert_equal "$LOG" "bindprobe bind tcp 127.0.0.1:$p $r option=SO_REUSEADDR asked=on action=refuse result=EPERM now=reuseaddr:on,reuseport:off"
  logged "tcp 127.0.0.1:$p reuseaddr=refuse" -R 127.0.0.1 "$p"
  [[ $OUT == *set_after=EPERM* ]] || fail "$OUT"
  [[ $LOG == *$'\n'"bindprobe setsockopt tcp 127.0.0.1:$p $r option=SO_REUSEADDR asked=off action=refuse result=EPERM now=reuseaddr:off,reuseport:off -- program set SO_REUSEADDR=1 after bind(): refused" ]] || fail "$LOG"
  logged "tcp 127.0.0.1:$p reuseport=strip" -P 127.0.0.1 "$p"
  [[ $OUT == *set_after=ok* ]] || fail "$OUT"
  [[ $LOG == *$'\n'"bindprobe setsockopt tcp 127.0.0.1:$p $r option=SO_REUSEPORT asked=on action=strip result=ok now=reuseaddr:off,reuseport:off -- program set SO_REUSEPORT=1 after bind(): held by the rule" ]] || fail "$LOG"
  logged "tcp 127.0.0.1:$p deny" -r 127.0.0.1 "$p"
  [[ $OUT == bind=EACCES* ]] || fail "$OUT"
  assert_equal "$LOG" "bindprobe bind tcp 127.0.0.1:$p $r option=SO_REUSEADDR,SO_REUSEPORT asked=on,off action=deny result=EACCES now=reuseaddr:on,reuseport:off"
  # exclusive: a second process under the same policy asks both options
  printf 'tcp 127.0.0.1:%s exclusive\n' "$p" >"$T/policy"
  hold env REUSE_POLICY="$T/policy" REUSE_LOG=off "${BACKEND[@]}" "$PROBES/bindprobe" -l -h 20 127.0.0.1 "$p"
  wait_listen "$p" || fail "the first instance did not listen"
  logged "tcp 127.0.0.1:$p exclusive" -r -p -l 127.0.0.1 "$p"
  [[ $OUT == bind=EADDRINUSE* ]] || fail "$OUT"
  [[ $LOG == "bindprobe bind tcp 127.0.0.1:$p $r option=SO_REUSEADDR,SO_REUSEPORT asked=on,on action=exclusive result=EADDRINUSE now=reuseaddr:on,reuseport:on -- "* ]] || fail "$LOG"
  kill "$HPID"; wait "$HPID" 2>/dev/null || true
  # a socket bound before the library saw it (inherited): deny cannot undo
  # that bind; the program's call is not refused, and the line says so
  printf 'tcp 127.0.0.1:%s deny\n' "$p" >"$T/policy"
  : >"$T/log"
  OUT=$(timeout 10 "$PY" -c 'import os, socket, sys
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))
os.dup2(s.fileno(), 9); os.set_inheritable(9, True)
os.execvp(sys.argv[2], sys.argv[2:])' "$p" env REUSE_POLICY="$T/policy" REUSE_LOG="$T/log" "${BACKEND[@]}" \
    "$PY" -c 'import socket
socket.socket(fileno=9).setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); print("set_after=ok")' 2>&1)
  assert_equal "$OUT" "set_after=ok"
  LOG=$(sed -E 's/^libreuse\[[0-9]+\]: [^ ]+ //; s/ fd=[0-9]+ / /' "$T/log")
  assert_equal "$LOG" "python3 adopt tcp 127.0.0.1:$p $r option=SO_REUSEADDR,SO_REUSEPORT asked=off,off action=deny result=ok now=reuseaddr:off,reuseport:off -- met already bound (passed, inherited or made before libreuse): the rule refuses a bind() here (EACCES), but this socket holds its address already and its calls go on; close it"
}

# ---- explained EADDRINUSE ---------------------------------------------------

# bats test_tags=quick
@test "a live daemon of another uid is named in the EADDRINUSE line: state, address, uid, pid, program, flags" {
  p=$(free_port)
  hold "${NOBODY[@]}" "$PY" -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
time.sleep(60)' "$p"
  wait_listen "$p"
  run --separate-stderr env "${BACKEND[@]}" "$PROBES/bindprobe" -p -l 127.0.0.1 "$p"
  assert_output --partial 'bind=EADDRINUSE'
  [[ $stderr == *"result=EADDRINUSE"* ]]
  [[ $stderr == *"holders: tcp LISTEN 127.0.0.1:$p uid=65534 pid=$HPID(python3) reuseaddr=off reuseport=on"* ]]
  # root may chown: under reuseport=force its socket would be keyed, and the key is compared
  [[ $stderr == *"as uid 0 (keyed uid 2147483646 with SO_REUSEPORT): none=EADDRINUSE reuseaddr=EADDRINUSE reuseport=EADDRINUSE both=EADDRINUSE"* ]]
  [[ $stderr == *"no option is known to bind now: a TCP listener admits only SO_REUSEPORT sockets of its own uid"* ]]
  # its own uid would share it: the same explanation names the rule
  run --separate-stderr "${NOBODY[@]}" env "${BACKEND[@]}" "$PROBES/bindprobe" -l 127.0.0.1 "$p"
  assert_output --partial 'bind=EADDRINUSE'
  [[ $stderr == *"as uid 65534: none=EADDRINUSE reuseaddr=EADDRINUSE reuseport=shares both=shares"* ]]
  [[ $stderr == *"fix: rule 'tcp 127.0.0.1:$p reuseport=force'"* ]]
}

@test "a UDP daemon of another uid with SO_REUSEADDR: named, and the line says a bind would take its datagrams" {
  p=$(free_port)
  hold "${NOBODY[@]}" "$PY" -c '
import socket, sys, time
s = socket.socket(type=socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
time.sleep(60)' "$p"
  wait_udp "$p"
  # the default policy leaves UDP alone (and silent): a rule that logs it
  pol=$(policy_file "udp *:$p reuseaddr=keep")
  run --separate-stderr env REUSE_POLICY="$pol" "${BACKEND[@]}" "$PROBES/bindprobe" -u 127.0.0.1 "$p"
  assert_output --partial 'bind=EADDRINUSE'
  [[ $stderr == *"holders: udp UNCONN 0.0.0.0:$p uid=65534 pid=$HPID(python3) reuseaddr=on reuseport=off"* ]]
  [[ $stderr == *"reuseaddr=takes traffic"* ]]
  [[ $stderr == *"(it would take the holder's datagrams)"* ]]
}

@test "TIME_WAIT entries are counted and a listener there now is named (none / still running)" {
  p=$(free_port)
  # a plain server that closes first: its connections stay in TIME_WAIT
  "$PROBES/bindprobe" -l -h 1.5 -a 127.0.0.1 "$p" >/dev/null &
  srv=$!
  wait_listen "$p"
  for _ in 1 2 3; do "$PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
while s.recv(64): pass   # all of it: unread data would close with RST, no TIME_WAIT' "$p"; done
  wait "$srv"
  n=$(ss -Htan state time-wait "sport = :$p" | wc -l)
  [ "$n" -ge 3 ]
  # unprivileged: nothing can be cleared, the line explains
  run --separate-stderr "${NOBODY[@]}" env "${BACKEND[@]}" "$PROBES/bindprobe" -l 127.0.0.1 "$p"
  assert_output --partial 'bind=EADDRINUSE'
  # which socket left them is not known: only whether a listener is there now
  [[ $stderr == *"holders: $n TIME-WAIT on 127.0.0.1:$p (no listener there now)"* ]]
  [[ $stderr != *"left by"* ]]
  [[ $stderr == *"reuseaddr=EADDRINUSE"* ]]
  # a listener that is still running and left TIME_WAIT entries: named
  q=$(free_port)
  hold "$PROBES/bindprobe" -l -h 60 -a 127.0.0.1 "$q"
  wait_listen "$q"
  for _ in 1 2; do "$PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
while s.recv(64): pass' "$q"; done
  run --separate-stderr env "${BACKEND[@]}" "$PROBES/bindprobe" -l 127.0.0.1 "$q"
  [[ $stderr == *"holders: tcp LISTEN 127.0.0.1:$q uid=0 pid=$HPID(bindprobe) reuseaddr=off reuseport=off; 2 TIME-WAIT on 127.0.0.1:$q (listening there now: pid $HPID bindprobe)"* ]]
}

# ---- reuse who ------------------------------------------------------------

# Kernel truth, one line per option choice: "RA RP ok|EADDRINUSE|..." for a
# socket of this process binding (TCP: and listening on) ADDR PORT.
KERNEL_SAYS='
import errno, socket, sys
tcp, addr, port = sys.argv[1] == "tcp", sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
for ra in (False, True):
    for rp in (False, True):
        s = socket.socket(fam, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(ra))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(rp))
        try:
            s.bind((addr, port))
            if tcp:
                s.listen()
            r = "ok"
        except OSError as e:
            r = errno.errorcode.get(e.errno, str(e.errno))
        s.close()
        print(str(ra).lower(), str(rp).lower(), r)
'

@test "reuse who agrees with the kernel on a matrix of holders, options and uids" {
  # holder: proto flags uid holder-addr query/candidate-addr
  cases=(
    "tcp - 0 127.0.0.1 127.0.0.1"
    "tcp r 65534 127.0.0.1 127.0.0.1"
    "tcp p 65534 127.0.0.1 127.0.0.1"
    "tcp p 0 0.0.0.0 127.0.0.1"
    "tcp rp 65534 127.0.0.1 127.0.0.1"
    "tcp rp 0 :: 127.0.0.1"
    "tcp rb 65534 127.0.0.1 127.0.0.1"
    "udp - 65534 127.0.0.1 127.0.0.1"
    "udp r 65534 0.0.0.0 127.0.0.1"
    "udp r 0 127.0.0.1 127.0.0.1"
    "udp p 65534 127.0.0.1 127.0.0.1"
    "udp p 0 127.0.0.1 127.0.0.1"
    "udp rp 65534 127.0.0.1 127.0.0.1"
  )
  checked=0
  for c in "${cases[@]}"; do
    read -r proto fl huid haddr qaddr <<<"$c"
    p=$(free_port)
    hf=(-h 60)
    [[ $fl == *r* ]] && hf+=(-r)
    [[ $fl == *p* ]] && hf+=(-p)
    u=""; [ "$proto" = udp ] && u=-u
    [ -n "$u" ] && hf+=(-u)
    [ "$proto" = tcp ] && [[ $fl != *b* ]] && hf+=(-l)
    if [ "$huid" = 0 ]; then hold "$PROBES/bindprobe" "${hf[@]}" "$haddr" "$p"
    else hold "${NOBODY[@]}" "$PROBES/bindprobe" "${hf[@]}" "$haddr" "$p"; fi
    wait_held || { echo "holder of case '$c' did not bind"; return 1; }
    json=$("$REUSE" who --json "--$proto" "$qaddr:$p")
    declare -A pred=()
    while read -r uid ra rp verdict; do
      pred["$uid $ra $rp"]=$verdict
    done < <(jq -r '.binds[] | "\(.uid) \(.reuseaddr) \(.reuseport) \(.verdict)"' <<<"$json")
    for uid in 0 65534; do
      if [ "$uid" = 0 ]; then k=$("$PY" -c "$KERNEL_SAYS" "$proto" "$qaddr" "$p")
      else k=$("${NOBODY[@]}" "$PY" -c "$KERNEL_SAYS" "$proto" "$qaddr" "$p"); fi
      while read -r ra rp got; do
        want=${pred["$uid $ra $rp"]-missing}
        case $want in
          ok|shares|takes*|beside) want_k=ok ;;
          *) want_k=$want ;;
        esac
        if [ "$want_k" != "$got" ]; then
          echo "case '$c' uid=$uid ra=$ra rp=$rp: who says '$want', kernel says '$got'"
          echo "$json"
          return 1
        fi
        checked=$((checked + 1))
      done <<<"$k"
    done
    kill "$HPID"; wait "$HPID" 2>/dev/null || true
  done
  echo "# $checked predictions checked" >&3
  [ "$checked" -eq $(( ${#cases[@]} * 8 )) ]
}

# bats test_tags=quick
@test "reuse who names holders with pid, program and flags; a free port says so; bad input is a usage error" {
  p=$(free_port)
  hold "${NOBODY[@]}" "$PROBES/bindprobe" -u -r -p -h 60 127.0.0.1 "$p"
  wait_udp "$p"
  run "$REUSE" who --udp "127.0.0.1:$p"
  assert_success
  assert_line --regexp "^  UNCONN +127\\.0\\.0\\.1:$p +uid 65534 +pid $HPID bindprobe +reuseaddr=on reuseport=on\$"
  assert_line --regexp "^    as uid 65533 +other +none: EADDRINUSE;  reuseaddr: takes traffic;"
  run "$REUSE" who --json "*:$p"
  assert_success
  [ "$(jq -s 'length' <<<"$output")" = 2 ]
  [ "$(jq -s -r '.[] | select(.proto=="udp") | .holders[0].pid' <<<"$output")" = "$HPID" ]
  [ "$(jq -s -r '.[] | select(.proto=="tcp") | .holders | length' <<<"$output")" = 0 ]
  q=$(free_port)
  run "$REUSE" who --tcp "127.0.0.1:$q"
  assert_line '  free: no socket holds an overlapping address'
  run "$REUSE" who nowhere:80
  assert_failure 2
  run "$REUSE" who 127.0.0.1:70000
  assert_failure 2
}

# ---- reuse audit ----------------------------------------------------------

dnsmasq_on() {  # port [reuse run args...]
  local p=$1; shift
  hold "$@" dnsmasq -k --no-resolv --no-hosts --conf-file=/dev/null --pid-file= \
    --listen-address=127.0.0.1 --bind-interfaces --port="$p" --user=nobody --group=nogroup
  wait_udp "$p"
}

@test "reuse audit lists a normal dnsmasq (UDP SO_REUSEADDR) and not one under 'udp *:PORT exclusive'" {
  p=$(free_port)
  dnsmasq_on "$p"
  run -3 "$REUSE" audit --json
  row=$(jq -c --argjson p "$p" '.[] | select(.port == $p and .proto == "udp")' <<<"$output")
  [ -n "$row" ]
  [ "$(jq -r .program <<<"$row")" = dnsmasq ]
  [ "$(jq -r .pid <<<"$row")" = "$HPID" ]
  [ "$(jq -r .uid <<<"$row")" = 0 ]
  [ "$(jq -r .reuseaddr <<<"$row")" = true ]
  [ "$(jq -r .open_to <<<"$row")" = any-uid ]
  [ "$(jq -r .rule <<<"$row")" = "udp 127.0.0.1:$p program=dnsmasq exclusive" ]
  # its TCP listener (SO_REUSEADDR only) is not open to anyone
  [ -z "$(jq -c --argjson p "$p" '.[] | select(.port == $p and .proto == "tcp")' <<<"$output")" ]
  run -3 "$REUSE" audit
  assert_line --regexp "^udp +127\\.0\\.0\\.1:$p +0 +$HPID +dnsmasq +RA +any-uid +udp 127\\.0\\.0\\.1:$p program=dnsmasq exclusive\$"
  kill "$HPID"; wait "$HPID" 2>/dev/null || true

  pol=$(policy_file "udp *:$p exclusive")
  dnsmasq_on "$p" "$REUSE" run --policy "$pol" --log "$T/log" --
  run "$REUSE" audit --json
  [ "$status" -eq 0 ] || [ "$status" -eq 3 ]
  [ -z "$(jq -c --argjson p "$p" '.[] | select(.port == $p)' <<<"$output")" ]
  grep -q "dnsmasq bind fd=.* udp 127.0.0.1:$p rule=$pol:1 .*action=exclusive result=ok now=reuseaddr:off,reuseport:off" "$T/log"
}

@test "reuse audit needs root and says so" {
  run "${NOBODY[@]}" "$REUSE" audit
  assert_failure 1
  assert_output --partial 'audit: needs root'
}

# ---- dry run ----------------------------------------------------------------

# bats test_tags=quick
@test "reuse run --dry-run decides and logs everything and changes nothing" {
  p=$(free_port)
  pol=$(policy_file "udp 127.0.0.1:$p deny" "tcp 127.0.0.1:$p reuseaddr=force reuseport=strip")
  run --separate-stderr "$REUSE" run --dry-run --policy "$pol" -- "$PROBES/bindprobe" -p -l 127.0.0.1 "$p"
  assert_output --partial 'bind=ok listen=ok seen_ra=0 seen_rp=1 kernel_ra=0 kernel_rp=1'
  [[ $stderr == *"rule=$pol:2 option=SO_REUSEADDR,SO_REUSEPORT asked=off,on action=force,strip dry-run result=ok now=reuseaddr:off,reuseport:on"* ]]
  run --separate-stderr "$REUSE" run --dry-run --json --policy "$pol" -- "$PROBES/bindprobe" -u 127.0.0.1 "$p"
  assert_output --partial 'bind=ok'
  [ "$(jq -r '.action + " " + (.dry_run|tostring) + " " + .result' <<<"$stderr")" = "deny true ok" ]
  # without --dry-run the same policy acts
  run --separate-stderr "$REUSE" run --policy "$pol" -- "$PROBES/bindprobe" -u 127.0.0.1 "$p"
  assert_output --partial 'bind=EACCES'
}

@test "the dry-run rule modifier tries one rule while the others act" {
  p=$(free_port)
  pol=$(policy_file "tcp 127.0.0.1:$p reuseport=force dry-run" "tcp *:* reuseaddr=force")
  run "$REUSE" check "$pol"
  assert_success
  run --separate-stderr "$REUSE" run --policy "$pol" -- "$PROBES/bindprobe" -l 127.0.0.1 "$p"
  assert_output --partial 'kernel_ra=0 kernel_rp=0'
  [[ $stderr == *"action=force dry-run result=ok"* ]]
  q=$(free_port)
  run --separate-stderr "$REUSE" run --policy "$pol" -- "$PROBES/bindprobe" -l 127.0.0.1 "$q"
  assert_output --partial 'kernel_ra=1'
  [[ $stderr != *"dry-run"* ]]
  # alone it is not a directive
  run "$REUSE" check "$(policy_file 'tcp *:1 dry-run')"
  assert_failure 1
  assert_output --partial 'rule has no directive'
}

# ---- syslog, systemd, completion ------------------------------------------

@test "syslog lines read well in journald: <daemon.pri>libreuse[PID]: no timestamp of ours, no newline" {
  command -v unshare >/dev/null || skip "no unshare"
  mkdir -p "$T/dev"
  "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(20)
with open(sys.argv[2], "wb") as f:
    for _ in range(2):
        f.write(s.recv(4096) + b"\n--\n"); f.flush()' "$T/dev/log" "$T/got" &
  rcv=$!
  PIDS+=("$rcv")
  for _ in $(seq 100); do [ -S "$T/dev/log" ] && break; sleep 0.05; done
  p=$(free_port)
  # a private mount namespace where /dev is our directory: /dev/log is the receiver
  hold "$PROBES/bindprobe" -l -h 60 127.0.0.1 "$p"
  wait_listen "$p"
  run unshare -m --propagation private sh -c 'mount --bind "$1" /dev && exec env REUSE_LOG=syslog LD_PRELOAD="$2" "$3" -r -l 127.0.0.1 "$4"' \
    sh "$T/dev" "$LIB" "$PROBES/bindprobe" "$p"
  p2=$(free_port)
  run unshare -m --propagation private sh -c 'mount --bind "$1" /dev && exec env REUSE_LOG=syslog LD_PRELOAD="$2" "$3" -l 127.0.0.1 "$4"' \
    sh "$T/dev" "$LIB" "$PROBES/bindprobe" "$p2"
  wait "$rcv"
  run cat "$T/got"
  assert_line --index 0 --regexp '^<28>libreuse\[[0-9]+\]: bindprobe bind fd=[0-9]+ tcp 127\.0\.0\.1:[0-9]+ rule=default:[0-9]+ .*result=EADDRINUSE'
  assert_line --index 2 --regexp '^<30>libreuse\[[0-9]+\]: bindprobe bind fd=[0-9]+ tcp 127\.0\.0\.1:[0-9]+ .*result=ok now=reuseaddr:on,reuseport:off$'
  refute_output --regexp 'libreuse\[[0-9]+\]: [0-9]{4}-[0-9]{2}-[0-9]{2}T'
}

@test "reuse systemd-dropin prints an Environment= drop-in naming the library reuse run would preload" {
  run "$REUSE" systemd-dropin dnsmasq
  assert_success
  assert_line --index 0 '# /etc/systemd/system/dnsmasq.service.d/libreuse.conf'
  assert_line '[Service]'
  assert_line "Environment=LD_PRELOAD=$(realpath "$LIB")"
  assert_line 'Environment=REUSE_LOG=syslog'
  run "$REUSE" systemd-dropin nginx.service --policy /etc/libreuse/web.policy
  assert_line --index 0 '# /etc/systemd/system/nginx.service.d/libreuse.conf'
  assert_line 'Environment=REUSE_POLICY=/etc/libreuse/web.policy'
  run "$REUSE" systemd-dropin ../evil
  assert_failure 2
}

@test "bash completion offers the commands and each command's options" {
  run bash -c 'source "$1"; COMP_WORDS=(reuse ""); COMP_CWORD=1; _reuse; printf "%s\n" "${COMPREPLY[@]}"' sh "$ROOT/completion/reuse.bash"
  assert_line who
  assert_line audit
  assert_line systemd-dropin
  run bash -c 'source "$1"; COMP_WORDS=(reuse run --d); COMP_CWORD=2; _reuse; printf "%s\n" "${COMPREPLY[@]}"' sh "$ROOT/completion/reuse.bash"
  assert_output '--dry-run'
  run bash -c 'source "$1"; COMP_WORDS=(reuse who --j); COMP_CWORD=2; _reuse; printf "%s\n" "${COMPREPLY[@]}"' sh "$ROOT/completion/reuse.bash"
  assert_output '--json'
}

# A process name is chosen by its owner: one with terminal escapes must be
# shown escaped (text) or JSON-escaped, never written raw to the terminal.
@test "reuse who and reuse audit escape another uid's process name that holds terminal escapes" {
  p=$(free_port)
  hold "${NOBODY[@]}" "$PY" -c '
import ctypes, socket, sys, time
ctypes.CDLL(None).prctl(15, b"\x1b[2K\x1b[1Aevil\\x", 0, 0, 0)   # PR_SET_NAME
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("bind=ok", flush=True)
time.sleep(60)' "$p"
  wait_held
  [ "$(cat "/proc/$HPID/comm")" = $'\e[2K\e[1Aevil\\x' ]
  esc='\\x1b\[2K\\x1b\[1Aevil\\\\x'
  run "$REUSE" who --udp "127.0.0.1:$p"
  assert_success
  [[ $output != *$'\e'* ]]
  assert_line --regexp "^  UNCONN +127\\.0\\.0\\.1:$p +uid 65534 +pid $HPID $esc +reuseaddr=on reuseport=off\$"
  run "$REUSE" who --json --udp "127.0.0.1:$p"
  [[ $output != *$'\e'* ]]
  [ "$(jq -r '.holders[0].program' <<<"$output")" = $'\e[2K\e[1Aevil\\x' ]
  run -3 "$REUSE" audit
  [[ $output != *$'\e'* ]]
  assert_line --regexp "^udp +127\\.0\\.0\\.1:$p +65534 +$HPID +$esc +RA +any-uid +udp 127\\.0\\.0\\.1:$p program=\\?\\?2K\\?\\?1Aevil\\?x exclusive\$"
  run -3 "$REUSE" audit --json
  [[ $output != *$'\e'* ]]
  row=$(jq -c --argjson p "$p" '.[] | select(.port == $p and .proto == "udp")' <<<"$output")
  [ "$(jq -r .program <<<"$row")" = $'\e[2K\e[1Aevil\\x' ]
  # the suggested rule is a valid policy line whose glob matches the name
  rule=$(jq -r .rule <<<"$row")
  "$REUSE" check "$(policy_file "$rule")"
}
