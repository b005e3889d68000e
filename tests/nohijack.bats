#!/usr/bin/env bats
# No-hijack: every attack is first shown to work without the shim (the
# control), then blocked under it. Victims are real Debian daemons (dnsmasq,
# nc.traditional) or tests/daemons/ownbinds.py; the attacker is
# tests/daemons/attacker.py, run WITHOUT the shim (an attacker needs none),
# as user nobody (another uid) or as root (the victim's own uid).
# Loopback only. Each case prints a "# case ..." line (bats -T shows them
# with --verbose-run); the matrix is counted in the closing note.
# shellcheck disable=SC2153,SC2154  # helpers.bash sets LIB/PROBES; bats sets $output

load helpers

ATTACKER="$BATS_TEST_DIRNAME/daemons/attacker.py"
OWNBINDS="$BATS_TEST_DIRNAME/daemons/ownbinds.py"
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)

setup() {
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL LD_PRELOAD
  command -v dnsmasq >/dev/null || skip "dnsmasq not installed"
  command -v dig >/dev/null || skip "dig not installed"
  # a directory user nobody can read (BATS_TEST_TMPDIR sits under a 0700 one)
  T=$(mktemp -d /tmp/libreuse-nohijack.XXXXXX)
  chmod 755 "$T"
  PIDS=()
  FAILS=""
  CASES=0
}

teardown() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -n ${T:-} && -d $T ]]; then rm -rf "$T"; fi
}

# policy_file LINE... : as helpers.bash, but readable by user nobody.
policy_file() {
  printf '%s\n' "$@" >"$T/policy"
  chmod 644 "$T/policy"
  echo "$T/policy"
}

# note DESC : record a failed expectation (the test fails at the end, listing all).
note() { FAILS+="  $1"$'\n'; }
done_cases() {
  [[ $CASES -gt 0 ]] || fail "no case ran"
  [[ -z $FAILS ]] || fail "$(printf 'failed (of %d cases):\n%s' "$CASES" "$FAILS")"
}

# who UID : the command prefix that runs as UID (0 or 65534).
who() { if [[ $1 == 0 ]]; then echo env; else echo "${NOBODY[*]}"; fi; }

# ---- dnsmasq ------------------------------------------------------------------------

# start_dnsmasq MODE PORT [POLICY] : dnsmasq as root (sockets owned by root),
# answering libreuse.test with 192.0.2.7, under the shim when POLICY is given.
# MODE lo: 127.0.0.1 only; lo6: ::1 only; wild: 0.0.0.0 and [::] (v6only).
start_dnsmasq() {
  local mode=$1 port=$2 pol=${3:-} args=()
  case $mode in
    lo) args=(--bind-interfaces --listen-address=127.0.0.1) ;;
    lo6) args=(--bind-interfaces --listen-address=::1) ;;
    wild) args=() ;;
  esac
  : >"$T/dnsmasq.log"
  if [[ -n $pol ]]; then
    REUSE_POLICY=$pol REUSE_LOG=$T/dnsmasq.log LD_PRELOAD=$LIB dnsmasq -k --no-resolv \
      --no-hosts -p "$port" -u root --pid-file= --address=/libreuse.test/192.0.2.7 \
      "${args[@]}" 2>>"$T/dnsmasq.err" &
  else
    dnsmasq -k --no-resolv --no-hosts -p "$port" -u root --pid-file= \
      --address=/libreuse.test/192.0.2.7 "${args[@]}" 2>>"$T/dnsmasq.err" &
  fi
  DNSMASQ=$!
  PIDS+=("$DNSMASQ")
  wait_udp "$port" || fail "dnsmasq did not bind $port: $(cat "$T/dnsmasq.err")"
  wait_listen "$port" || fail "dnsmasq did not listen on $port"
}

stop_dnsmasq() {
  kill "$DNSMASQ" 2>/dev/null || true
  wait "$DNSMASQ" 2>/dev/null || true
}

# ask SERVER PORT [+tcp] : the A record dnsmasq gives, or nothing (1 s, 1 try).
ask() {
  dig "@$1" -p "$2" libreuse.test A +short +time=1 +tries=1 ${3:+"$3"} 2>/dev/null | grep -x '192.0.2.7' || true
}

# attack UID PROTO HOST PORT FLAGS SECS : attacker.py in the background,
# output in $T/att; returns once it has bound (or failed to).
attack() {
  local i
  : >"$T/att"
  # shellcheck disable=SC2046  # who() is a word list
  timeout 10 $(who "$1") "$ATTACKER" "$2" "$3" "$4" "$5" "$6" >>"$T/att" 2>&1 &
  ATT=$!
  for ((i = 0; i < 300; i++)); do
    grep -q '^bind=' "$T/att" && return 0
    sleep 0.05
  done
  return 1
}
att_wait() { wait "$ATT" 2>/dev/null || true; }
# att_end : the traffic was sent; the attacker counts what it queued and exits
att_end() { kill "$ATT" 2>/dev/null || true; att_wait; }
att() { sed -n "s/^$1=//p" "$T/att" | head -n 1; }

# dns_matrix MODE CASE... : attacks on one dnsmasq, each CASE "UID HOST FLAGS
# SERVER RECEIVES": every attack first against a bare dnsmasq (the control:
# the attacker binds, and with RECEIVES=1 it takes the query and dig gets no
# answer), then against one under `any *:PORT exclusive` (EADDRINUSE, and
# dnsmasq answers over UDP and TCP).
dns_matrix() {
  local mode=$1 port pol c uid host flags server receives name hold
  shift
  port=$(free_port)
  start_dnsmasq "$mode" "$port"
  for c in "$@"; do
    read -r uid host flags server receives <<<"$c"
    name="dnsmasq $mode uid=$uid $host $flags"
    CASES=$((CASES + 1))
    # the attacker holds the port only while dig asks (binding is checked either way)
    hold=0
    [[ $receives == 1 ]] && hold=1.2
    attack "$uid" udp "$host" "$port" "$flags" "$hold" || note "$name control: attacker hung"
    if [[ $receives == 1 ]]; then
      [[ -z $(ask "$server" "$port") ]] || note "$name control: dig still answered"
    fi
    att_end
    [[ $(att bind) == ok ]] || note "$name control: attacker could not bind ($(cat "$T/att"))"
    if [[ $receives == 1 && $(att got) -lt 1 ]]; then
      note "$name control: attacker received nothing"
    fi
  done
  stop_dnsmasq
  pol=$(policy_file "any *:$port exclusive")
  start_dnsmasq "$mode" "$port" "$pol"
  for c in "$@"; do
    read -r uid host flags server receives <<<"$c"
    name="dnsmasq $mode uid=$uid $host $flags"
    attack "$uid" udp "$host" "$port" "$flags" 0 || note "$name shim: attacker hung"
    att_wait
    [[ $(att bind) == EADDRINUSE ]] || note "$name shim: attacker got bind=$(att bind)"
    [[ -n $(ask "$server" "$port") ]] || note "$name shim: dig got no answer"
    echo "# case $name: control attack worked; under exclusive bind=$(att bind)" >&3
  done
  [[ -n $(ask "$server" "$port" +tcp) ]] || note "dnsmasq $mode shim: dig +tcp got no answer"
  grep -q "dnsmasq bind fd=[0-9]* udp .*:$port rule=$pol:1 .*action=exclusive result=ok now=reuseaddr:off,reuseport:off" \
    "$T/dnsmasq.log" || note "dnsmasq $mode shim: no exclusive bind line in the log"
  grep -q "dnsmasq bind fd=[0-9]* tcp .*:$port rule=$pol:1 .*action=exclusive result=ok" \
    "$T/dnsmasq.log" || note "dnsmasq $mode shim: no exclusive TCP bind line in the log"
  stop_dnsmasq
}

# every uid x flags combination of the attacks given as "HOST SERVER RECEIVES"
all_attackers() {
  local uid flags a
  for uid in 65534 0; do
    for flags in ra rarp; do
      for a in "$@"; do
        read -r host server receives <<<"$a"
        # IPv6 puts SO_REUSEPORT sockets at the tail of the port's list: an
        # RA+RP attacker on the very same v6 address binds but the victim,
        # found first, keeps the traffic (measured). Binding is the attack.
        if [[ $flags == rarp && $host == "$server" && $host == *:* ]]; then receives=0; fi
        echo "$uid $host $flags $server $receives"
      done
    done
  done
}

@test "dnsmasq --listen-address=127.0.0.1: RA and RA+RP attackers of both uids take its queries; exclusive blocks them" {
  local cases
  mapfile -t cases < <(all_attackers '127.0.0.1 127.0.0.1 1' '0.0.0.0 127.0.0.1 0')
  dns_matrix lo "${cases[@]}"
  done_cases
}

@test "dnsmasq wildcard (0.0.0.0 and [::]): same, more specific and IPv6 attackers; exclusive blocks them" {
  local cases
  mapfile -t cases < <(all_attackers '0.0.0.0 127.0.0.1 1' '127.0.0.1 127.0.0.1 1' '::1 ::1 1')
  dns_matrix wild "${cases[@]}"
  done_cases
}

@test "dnsmasq --listen-address=::1: same and dual-stack covering attackers; exclusive blocks them" {
  local cases
  mapfile -t cases < <(all_attackers '::1 ::1 1' ':: ::1 0')
  dns_matrix lo6 "${cases[@]}"
  done_cases
}

# ---- nc.traditional: SO_REUSEADDR+SO_REUSEPORT on its listener ----------------------

# start_nc UID PORT [POLICY] [-u] : nc.traditional -l as UID, output in $T/nc.out.
start_nc() {
  local uid=$1 port=$2 pol=${3:-} udp=${4:-} env=()
  [[ -n $pol ]] && env=(REUSE_POLICY="$pol" REUSE_LOG="$T/nc.log" LD_PRELOAD="$LIB")
  : >"$T/nc.log"
  chmod 666 "$T/nc.log"
  # shellcheck disable=SC2046
  timeout 20 $(who "$uid") env "${env[@]}" nc.traditional $udp -l -p "$port" \
    >"$T/nc.out" </dev/null 2>"$T/nc.err" &
  NC=$!
  PIDS+=("$NC")
  if [[ -n $udp ]]; then wait_udp "$port"; else wait_listen "$port"; fi ||
    fail "nc.traditional did not bind $port: $(cat "$T/nc.err")"
}

# nc_case UID POLICY-LINE EXPECT : a same-uid joiner with SO_REUSEPORT against
# nc.traditional -l; EXPECT is what the joiner gets under the policy.
nc_case() {
  local uid=$1 rule=$2 expect=$3 port pol i
  local name="nc.traditional uid=$uid '$rule'"
  CASES=$((CASES + 1))
  port=$(free_port)
  # control: the joiner listens too and takes connections meant for nc
  start_nc "$uid" "$port"
  attack "$uid" tcp 127.0.0.1 "$port" rp 1.5 || note "$name control: joiner hung"
  [[ $(att listen) == ok ]] || note "$name control: joiner could not join ($(cat "$T/att"))"
  for ((i = 0; i < 10; i++)); do
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$port" 2>/dev/null || true
  done
  att_end
  [[ $(att got) -ge 1 ]] || note "$name control: joiner took no connection"
  kill "$NC" 2>/dev/null; wait "$NC" 2>/dev/null || true
  # under the policy: refused, and nc still accepts and reads (on a fresh
  # port: the joiner's TIME_WAIT entries hold the old one)
  port=$(free_port)
  pol=$(policy_file "$rule")
  start_nc "$uid" "$port" "$pol"
  attack "$uid" tcp 127.0.0.1 "$port" rp 0 || note "$name shim: joiner hung"
  att_wait
  [[ $(att bind) == "$expect" ]] || note "$name shim: joiner got $(cat "$T/att"), expected bind=$expect"
  echo "hello from the client" | timeout 5 nc.traditional -q 1 127.0.0.1 "$port" || true
  wait "$NC" 2>/dev/null || true
  grep -q 'hello from the client' "$T/nc.out" || note "$name shim: nc did not receive (out: $(cat "$T/nc.out"))"
  echo "# case $name: control join worked, shim: bind=$(att bind)" >&3
}

@test "nc.traditional: a same-uid SO_REUSEPORT joiner takes connections; exclusive (root, keyed) and reuseport=strip block it" {
  command -v nc.traditional >/dev/null || skip "nc.traditional not installed"
  nc_case 0 'tcp *:* exclusive' EADDRINUSE
  grep -q 'keyed (owner uid 2147483646)' "$T/nc.log" || note "no 'keyed' in the log: $(cat "$T/nc.log")"
  nc_case 0 'tcp *:* reuseport=strip' EADDRINUSE
  nc_case 65534 'tcp *:* reuseport=strip' EADDRINUSE
  done_cases
}

# bats test_tags=quick
@test "nc.traditional as nobody under exclusive: its own SO_REUSEPORT is kept and the log says same-uid can join" {
  command -v nc.traditional >/dev/null || skip "nc.traditional not installed"
  local port pol
  port=$(free_port)
  pol=$(policy_file 'tcp *:* exclusive')
  start_nc 65534 "$port" "$pol"
  # other uids are still refused (no SO_REUSEADDR on the listener's bind, RP uid differs)
  attack 0 tcp 127.0.0.1 "$port" rarp 0
  att_wait
  assert_equal "$(att bind)" EADDRINUSE
  run cat "$T/nc.log"
  assert_output --partial 'same-uid processes (uid 65534) can join: keying the group needs CAP_CHOWN'
}

@test "nc.traditional -u: another uid with RA+RP takes its datagrams; exclusive blocks it and nc still receives" {
  command -v nc.traditional >/dev/null || skip "nc.traditional not installed"
  local port pol i
  CASES=1
  port=$(free_port)
  start_nc 0 "$port" '' -u
  attack 65534 udp 127.0.0.1 "$port" rarp 1.5
  for ((i = 0; i < 5; i++)); do echo "dgram $i" >"/dev/udp/127.0.0.1/$port"; sleep 0.05; done
  att_end
  [[ $(att bind) == ok && $(att got) -ge 1 ]] || note "control: attacker got $(cat "$T/att")"
  kill "$NC"; wait "$NC" 2>/dev/null || true
  pol=$(policy_file "udp *:$port exclusive")
  start_nc 0 "$port" "$pol" -u
  attack 65534 udp 127.0.0.1 "$port" rarp 0
  att_wait
  [[ $(att bind) == EADDRINUSE ]] || note "shim: attacker got $(cat "$T/att")"
  echo "dgram for nc" >"/dev/udp/127.0.0.1/$port"
  for ((i = 0; i < 40; i++)); do grep -q 'dgram for nc' "$T/nc.out" && break; sleep 0.05; done
  grep -q 'dgram for nc' "$T/nc.out" || note "shim: nc did not receive"
  done_cases
}

# ---- the program's own overlapping sockets -----------------------------------------

# own_case UID ATTACK-UID ATTACK-HOST ATTACK-FLAGS SPEC... : ownbinds.py binds
# SPECs (PORT in them is replaced); bare every bind works and the attacker
# joins; under `any *:PORT exclusive` every bind still works, the attacker
# gets EADDRINUSE. Sets OWNLOG to the shim's log.
own_case() {
  local uid=$1 auid=$2 ahost=$3 aflags=$4 port pol mode i
  shift 4
  local name="own uid=$uid $* vs uid=$auid $ahost $aflags"
  CASES=$((CASES + 1))
  port=$(free_port)
  pol=$(policy_file "any *:$port exclusive")
  OWNLOG=$T/own.log
  for mode in bare shim; do
    local env=() specs=()
    port=$(free_port)   # a fresh port: nothing the control left behind
    pol=$(policy_file "any *:$port exclusive")
    : >"$OWNLOG"
    chmod 666 "$OWNLOG"
    [[ $mode == shim ]] && env=(REUSE_POLICY="$pol" REUSE_LOG="$OWNLOG" LD_PRELOAD="$LIB")
    for s in "$@"; do specs+=("${s//PORT/$port}"); done
    : >"$T/own.out"   # emptied here: the child's own truncation may come late
    # shellcheck disable=SC2046
    timeout 20 $(who "$uid") env "${env[@]}" "$OWNBINDS" 1.5 "${specs[@]}" >>"$T/own.out" 2>&1 &
    PIDS+=("$!")
    for ((i = 0; i < 300; i++)); do grep -q '^ready' "$T/own.out" && break; sleep 0.05; done
    grep -q '^ready' "$T/own.out" || note "$name $mode: ownbinds not ready: $(cat "$T/own.out")"
    [[ $(grep -c 'bind=ok' "$T/own.out") == "$#" ]] || note "$name $mode: own binds failed: $(cat "$T/own.out")"
    attack "$auid" "${specs[0]%%,*}" "$ahost" "$port" "$aflags" 0
    att_wait
    if [[ $mode == bare ]]; then
      [[ $(att bind) == ok ]] || note "$name control: attacker got bind=$(att bind)"
    else
      [[ $(att bind) == EADDRINUSE ]] || note "$name shim: attacker got bind=$(att bind)"
    fi
    # the attack is over: end ownbinds' hold rather than wait it out
    kill "${PIDS[-1]}" 2>/dev/null || true
    wait "${PIDS[-1]}" 2>/dev/null || true
  done
  echo "# case $name: own binds kept, control attack worked, blocked under exclusive" >&3
}

@test "exclusive: the program's own wildcard, specific and dual-stack UDP sockets coexist (options lent for the bind); others are refused" {
  own_case 0 65534 127.0.0.1 ra udp,0.0.0.0,PORT,ra udp,127.0.0.1,PORT,ra udp,::,PORT,ra
  # root: the lend is a keyed SO_REUSEPORT (only the program's sockets match)
  grep -q 'lent SO_REUSEPORT to 2 sockets for this bind() only, [0-9]* us (keyed' "$OWNLOG" ||
    note "no lending line: $(cat "$OWNLOG")"
  # the window, for the record (closing notes quote it)
  echo "# lending windows (us): $(grep -o 'only, [0-9]* us' "$OWNLOG" | tr -dc '0-9 \n' | xargs)" >&3
  done_cases
}

@test "exclusive, unprivileged: UDP SO_REUSEADDR is never lent (it would let every uid bind): the own bind fails and the log says why; its fix, CAP_CHOWN, followed, lends a keyed SO_REUSEPORT" {
  local port pol
  port=$(free_port)
  pol=$(policy_file "any *:$port exclusive")
  : >"$T/own.log"
  chmod 666 "$T/own.log"
  run timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups \
    env REUSE_POLICY="$pol" REUSE_LOG="$T/own.log" LD_PRELOAD="$LIB" \
    "$OWNBINDS" 0.2 "udp,127.0.0.2,$port,ra" "udp,0.0.0.0,$port,ra"
  assert_line "1 bind=EADDRINUSE"
  grep -q "no option was lent: on UDP SO_REUSEADDR lets every uid bind for that time; fix: run the program with CAP_CHOWN" "$T/own.log" ||
    fail "no reason in the log: $(cat "$T/own.log")"
  # followed: the same uid with CAP_CHOWN; both binds work, the lend is keyed
  : >"$T/own.log"
  port=$(free_port)
  pol=$(policy_file "any *:$port exclusive")
  run timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups \
    --inh-caps=+chown --ambient-caps=+chown \
    env REUSE_POLICY="$pol" REUSE_LOG="$T/own.log" LD_PRELOAD="$LIB" \
    "$OWNBINDS" 0.2 "udp,127.0.0.2,$port,ra" "udp,0.0.0.0,$port,ra"
  refute_output --partial "EADDRINUSE"
  grep -q "lent SO_REUSEPORT to 2 sockets for this bind() only, [0-9]* us (keyed" "$T/own.log" ||
    fail "no keyed lend: $(cat "$T/own.log")"
}

@test "exclusive: the program's own SO_REUSEPORT sockets share (root: keyed; nobody, UDP: lent); same-uid joiners are refused" {
  own_case 0 0 127.0.0.1 rp udp,127.0.0.1,PORT,rp udp,127.0.0.1,PORT,rp udp,127.0.0.1,PORT,rp
  grep -q 'keyed (owner uid 2147483646)' "$OWNLOG" || note "udp root: not keyed: $(cat "$OWNLOG")"
  own_case 0 0 127.0.0.1 rp tcp,127.0.0.1,PORT,rp tcp,127.0.0.1,PORT,rp
  own_case 0 0 127.0.0.1 rarp tcp,127.0.0.1,PORT,rp tcp,127.0.0.1,PORT,rp
  own_case 65534 65534 127.0.0.1 rp udp,127.0.0.1,PORT,rp udp,127.0.0.1,PORT,rp
  grep -q 'lent SO_REUSEPORT' "$OWNLOG" || note "udp nobody: nothing lent: $(cat "$OWNLOG")"
  done_cases
}

# bats test_tags=quick
@test "exclusive: after the program's own lent bind, the door is closed again (SO_REUSEADDR attacker, UDP)" {
  local port pol i
  port=$(free_port)
  pol=$(policy_file "udp *:$port exclusive")
  REUSE_POLICY=$pol REUSE_LOG=$T/own.log LD_PRELOAD=$LIB timeout 10 "$OWNBINDS" 3 \
    "udp,0.0.0.0,$port,ra" "udp,127.0.0.1,$port,ra" >>"$T/own.out" 2>&1 &
  PIDS+=("$!")
  for ((i = 0; i < 300; i++)); do grep -q '^ready' "$T/own.out" && break; sleep 0.05; done
  for host in 0.0.0.0 127.0.0.1 ::; do
    attack 65534 udp "$host" "$port" ra 0
    att_wait
    assert_equal "$(att bind)" EADDRINUSE
  done
  grep -q 'lent SO_REUSEPORT.*(keyed' "$T/own.log"
}

# ---- strip and refuse ----------------------------------------------------------------

@test "reuseport=refuse: a program setting SO_REUSEPORT after bind gets EPERM, keeps serving, and nobody joins" {
  local port pol out
  port=$(free_port)
  pol=$(policy_file "tcp *:$port reuseport=refuse")
  # control: bare, the option set after bind opens the port to same-uid joiners
  "$PROBES/bindprobe" -l -P -h 2 127.0.0.1 "$port" >"$T/probe" 2>&1 &
  PIDS+=("$!")
  wait_listen "$port"
  attack 0 tcp 127.0.0.1 "$port" rp 0
  att_wait
  assert_equal "$(att listen)" ok
  # the join is shown: end the control's hold rather than wait it out
  kill "${PIDS[-1]}" 2>/dev/null || true
  wait "${PIDS[-1]}" 2>/dev/null || true
  REUSE_POLICY=$pol REUSE_LOG=$T/log LD_PRELOAD=$LIB "$PROBES/bindprobe" -l -P -h 2 127.0.0.1 "$port" >"$T/probe" 2>&1 &
  PIDS+=("$!")
  wait_listen "$port"
  attack 0 tcp 127.0.0.1 "$port" rp 0
  att_wait
  assert_equal "$(att bind)" EADDRINUSE
  out=$(cat "$T/probe")
  [[ $out == *"set_after=EPERM"* && $out == *"listen=ok"* && $out == *"kernel_rp=0"* ]] || fail "probe: $out"
  run cat "$T/log"
  assert_output --partial 'program set SO_REUSEPORT=1 after bind(): refused'
}

# ---- policy/no-hijack.policy as shipped --------------------------------------------

@test "no-hijack.policy: checks clean; dnsmasq under it keeps its queries, multicast receivers still share" {
  local port mport i
  run "$REUSE" check "$ROOT/policy/no-hijack.policy"
  assert_success
  # every rule line sits under a comment: none follows a blank line (or starts the file)
  run awk 'NF && $1 !~ /^#/ && prev == "" { print NR": "$0 } { prev = $0 }' \
    "$ROOT/policy/no-hijack.policy"
  refute_output
  port=$(free_port)
  start_dnsmasq wild "$port" "$ROOT/policy/no-hijack.policy"
  attack 65534 udp 127.0.0.1 "$port" ra 0
  att_wait
  assert_equal "$(att bind)" EADDRINUSE
  attack 0 tcp 0.0.0.0 "$port" rarp 0
  att_wait
  assert_equal "$(att bind)" EADDRINUSE
  [[ -n $(ask 127.0.0.1 "$port") ]] || fail "dig got no answer"
  [[ -n $(ask 127.0.0.1 "$port" +tcp) ]] || fail "dig +tcp got no answer"
  stop_dnsmasq
  # two receivers of one multicast group, both under the policy, share it
  mport=$(free_port)
  REUSE_POLICY=$ROOT/policy/no-hijack.policy REUSE_LOG=$T/mc.log LD_PRELOAD=$LIB \
    timeout 10 "$OWNBINDS" 2 "udp,239.255.77.1,$mport,ra" >"$T/own.out" 2>&1 &
  PIDS+=("$!")
  for ((i = 0; i < 300; i++)); do grep -q '^ready' "$T/own.out" && break; sleep 0.05; done
  run env REUSE_POLICY="$ROOT/policy/no-hijack.policy" REUSE_LOG="$T/mc.log" LD_PRELOAD="$LIB" \
    timeout 10 "$ATTACKER" udp 239.255.77.1 "$mport" ra 0
  assert_line 'bind=ok'
  grep -q "udp 239.255.77.1:$mport rule=$ROOT/policy/no-hijack.policy:9 .*action=keep" "$T/mc.log" ||
    fail "$(cat "$T/mc.log")"
}
