#!/usr/bin/env bats
# Every directive and action of the policy language, observed from outside:
# build/probes/bindprobe prints what the program sees (seen_*, through the
# shim's getsockopt) and what the kernel holds (kernel_*, a raw syscall),
# and the shim's log line says what was decided.
# shellcheck disable=SC2153,SC2154  # helpers.bash sets LIB/PROBES; bats sets $output

load helpers

setup() {
  untraced
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL LD_PRELOAD
  # A directory user nobody can read (BATS_TEST_TMPDIR sits under a 0700 one).
  W=$(mktemp -d /tmp/libreuse-directives.XXXXXX)
  chmod 755 "$W"
  POL=$W/policy
  LOGF=$W/log
  # created once with their modes; later writes truncate and keep them
  : >"$POL"
  : >"$LOGF"
  chmod 644 "$POL"
  chmod 666 "$LOGF"
  AS=()
  CASES=0
  FAILS=""
}

teardown() {
  if [[ -n ${W:-} && -d $W ]]; then rm -rf "$W"; fi
}

# The helpers below fork nothing but the probe itself: a case costs the
# probe's run, not a dozen tr/sed/grep processes reading its output.

# pol LINE... : the policy every following probe runs under (mode 644, set
# in setup: user nobody reads it).
pol() {
  printf '%s\n' "$@" >"$POL"
}

# read_log : LOG = the log file, each line's first " fd=N " made " " so lines
# can be compared as fixed strings.
read_log() {
  local line lines
  LOG=""
  mapfile -t lines <"$LOGF"
  for line in "${lines[@]}"; do
    [[ $line =~ \ fd=[0-9]+\  ]] && line=${line/"${BASH_REMATCH[0]}"/ }
    LOG+=${LOG:+$'\n'}$line
  done
}

# probe ARG... : bindprobe under the shim (as the user in AS, if set).
# Sets OUT (its stdout), RC, and LOG (see read_log).
probe() {
  : >"$LOGF"
  OUT=$(timeout 10 "${AS[@]}" env REUSE_POLICY="$POL" REUSE_LOG="$LOGF" \
    ${LEVEL:+REUSE_LOG_LEVEL=$LEVEL} "${BACKEND[@]}" "$PROBES/bindprobe" "$@" 2>&1) && RC=0 || RC=$?
  read_log
}

# val KEY : VAL = the value of the first KEY=... word in OUT (words split at
# spaces and newlines), or "" if there is none.
val() {
  VAL=""
  if [[ $OUT =~ (^|[$' \n'])$1=([^$' \n']*) ]]; then VAL=${BASH_REMATCH[2]}; fi
}

# note DESC : record a failed expectation of the current case.
note() {
  FAILS+="  case [$CASE]: $1"$'\n'"    probe: $OUT"$'\n'"    log: ${LOG//$'\n'/$'\n'         }"$'\n'
}

# want KEY=VALUE... : every field of OUT as expected (recorded, not fatal).
want() {
  local kv got
  CASES=$((CASES + 1))
  for kv in "$@"; do
    # under --seccomp the probe's raw getsockopt is the supervisor's too:
    # the kernel's truth is the log line's now= (want_log checks it)
    [[ ${REUSE_TEST_BACKEND:-library} == seccomp && $kv == kernel_* ]] && continue
    val "${kv%%=*}"
    got=$VAL
    [[ $got == "${kv#*=}" ]] || note "${kv%%=*}=$got, expected ${kv#*=}"
  done
}

# want_log TEXT : a log line contains TEXT (fixed string; TEXT has no newline).
want_log() {
  [[ $LOG == *"$1"* ]] || note "no log line containing: $1"
}

# want_no_log : nothing was logged.
want_no_log() {
  [[ -z $LOG ]] || note "expected an empty log"
}

# done_cases : fail the test with every recorded mismatch.
done_cases() {
  [[ $CASES -gt 0 ]] || fail "no case ran"
  [[ -z $FAILS ]] || fail "$(printf 'mismatches (of %d cases):\n%s' "$CASES" "$FAILS")"
}

# ${ONOFF[V]}: the log's word for an option value V (0 or 1).
ONOFF=(off on)

# hostport ADDR PORT : HP = the log's text for a bind address: 127.0.0.1:0, [::1]:0.
hostport() {
  if [[ $1 == *:* ]]; then HP="[$1]:$2"; else HP="$1:$2"; fi
}

# ---- reuseaddr= / reuseport= at bind ---------------------------------------

# option_table OPT ACTION : walk tcp/udp x 127.0.0.1/::1 x asked or not x the
# other option asked or not, with the rule "any *:* OPT=ACTION".
option_table() {
  local opt=$1 act=$2 proto addr asked other flags k_opt bind name
  local seen_ra seen_rp kern_ra kern_rp now
  pol "any *:* $opt=$act"
  for proto in tcp udp; do
    for addr in 127.0.0.1 ::1; do
      for asked in 0 1; do
        for other in 0 1; do
          CASE="$opt=$act $proto $addr asked=$asked other=$other"
          flags=()
          [[ $proto == udp ]] && flags+=(-u)
          if [[ $opt == reuseaddr ]]; then
            [[ $asked == 1 ]] && flags+=(-r)
            [[ $other == 1 ]] && flags+=(-p)
          else
            [[ $asked == 1 ]] && flags+=(-p)
            [[ $other == 1 ]] && flags+=(-r)
          fi
          case $act in
            keep) k_opt=$asked ;;
            force) k_opt=1 ;;
            strip) k_opt=0 ;;
            refuse) k_opt=$asked ;;
          esac
          bind=ok
          [[ $act == refuse && $asked == 1 ]] && bind=EPERM
          if [[ $opt == reuseaddr ]]; then
            seen_ra=$asked seen_rp=$other kern_ra=$k_opt kern_rp=$other
            name=SO_REUSEADDR
          else
            seen_ra=$other seen_rp=$asked kern_ra=$other kern_rp=$k_opt
            name=SO_REUSEPORT
            # a keyed UDP group (root here) drops the program's
            # SO_REUSEADDR: it would admit every uid beside the group
            [[ $act == force && $proto == udp ]] && kern_ra=0
          fi
          probe "${flags[@]}" "$addr" 0
          want bind="$bind" seen_ra="$seen_ra" seen_rp="$seen_rp" \
            kernel_ra="$kern_ra" kernel_rp="$kern_rp"
          now="now=reuseaddr:${ONOFF[kern_ra]},reuseport:${ONOFF[kern_rp]}"
          hostport "$addr" 0
          if [[ $act == force && $opt == reuseport && $proto == udp ]]; then
            want_log "bindprobe bind $proto $HP rule=$POL:1 option=$name asked=${ONOFF[asked]} action=$act result=$bind $now -- SO_REUSEPORT forced, keyed"
          elif [[ $act == keep ]]; then
            # a keep-only rule names both options
            want_log "bindprobe bind $proto $HP rule=$POL:1 option=SO_REUSEADDR,SO_REUSEPORT asked=${ONOFF[seen_ra]},${ONOFF[seen_rp]} action=keep,keep result=$bind $now"
          else
            want_log "bindprobe bind $proto $HP rule=$POL:1 option=$name asked=${ONOFF[asked]} action=$act result=$bind $now"
          fi
        done
      done
    done
  done
  done_cases
}

@test "reuseaddr=keep: the kernel holds what the program asked (tcp/udp, v4/v6)" {
  option_table reuseaddr keep
}

# bats test_tags=quick
@test "reuseaddr=force: on at bind whether asked or not; the program still sees its own value" {
  option_table reuseaddr force
}

@test "reuseaddr=strip: off at bind, setsockopt succeeded, getsockopt shows the program's 1" {
  option_table reuseaddr strip
}

@test "reuseaddr=refuse: bind fails EPERM when asked before bind, binds when not asked" {
  option_table reuseaddr refuse
}

@test "reuseport=keep: the kernel holds what the program asked (tcp/udp, v4/v6)" {
  option_table reuseport keep
}

@test "reuseport=force: on at bind whether asked or not; the program still sees its own value" {
  option_table reuseport force
}

@test "reuseport=strip: off at bind, setsockopt succeeded, getsockopt shows the program's 1" {
  option_table reuseport strip
}

@test "reuseport=refuse: bind fails EPERM when asked before bind, binds when not asked" {
  option_table reuseport refuse
}

@test "refuse: a refused bind leaves the socket unbound; setsockopt before bind was not refused" {
  pol 'tcp *:* reuseaddr=refuse'
  CASE="refuse -r"
  probe -r 127.0.0.1 0
  want bind=EPERM port=0
  [[ $RC == 1 ]] || note "exit status $RC, expected 1"
  done_cases
}

# ---- after bind: held, refused, passed ----------------------------------------

# after_table: RULE | PROBE FLAGS | expected fields | log note (or -)
AFTER_TABLE=(
  'reuseaddr=force|-x|set_after=ok seen_ra=0 kernel_ra=1|program set SO_REUSEADDR=0 after bind(): held by the rule'
  'reuseaddr=force|-r -x|set_after=ok seen_ra=0 kernel_ra=1|program set SO_REUSEADDR=0 after bind(): held by the rule'
  'reuseaddr=force|-R|set_after=ok seen_ra=1 kernel_ra=1|program set SO_REUSEADDR=1 after bind(): held by the rule'
  'reuseaddr=strip|-R|set_after=ok seen_ra=1 kernel_ra=0|program set SO_REUSEADDR=1 after bind(): held by the rule'
  'reuseaddr=strip|-r -x|set_after=ok seen_ra=0 kernel_ra=0|program set SO_REUSEADDR=0 after bind(): held by the rule'
  'reuseaddr=refuse|-R|set_after=EPERM seen_ra=0 kernel_ra=0|program set SO_REUSEADDR=1 after bind(): refused'
  'reuseaddr=refuse|-x|set_after=ok seen_ra=0 kernel_ra=0|-'
  'reuseaddr=keep|-R|set_after=ok seen_ra=1 kernel_ra=1|-'
  'reuseaddr=keep|-r -x|set_after=ok seen_ra=0 kernel_ra=0|-'
  'reuseport=force|-P|set_after=ok seen_rp=1 kernel_rp=1|program set SO_REUSEPORT=1 after bind(): held by the rule'
  'reuseport=strip|-P|set_after=ok seen_rp=1 kernel_rp=0|program set SO_REUSEPORT=1 after bind(): held by the rule'
  'reuseport=strip|-p -P|set_after=ok seen_rp=1 kernel_rp=0|program set SO_REUSEPORT=1 after bind(): held by the rule'
  'reuseport=refuse|-P|set_after=EPERM seen_rp=0 kernel_rp=0|program set SO_REUSEPORT=1 after bind(): refused'
  'reuseport=keep|-P|set_after=ok seen_rp=1 kernel_rp=1|-'
  'reuseport=force|-x|set_after=ok seen_ra=0 kernel_ra=0 kernel_rp=1|-'
  'reuseaddr=strip|-P|set_after=ok seen_rp=1 kernel_rp=1 kernel_ra=0|-'
  'exclusive|-R -P|set_after=ok seen_ra=1 seen_rp=1 kernel_ra=0 kernel_rp=0|program set SO_REUSEPORT=1 after bind(): held by the rule'
  'exclusive|-r -x|set_after=ok seen_ra=0 seen_rp=0 kernel_ra=0 kernel_rp=0|program set SO_REUSEADDR=0 after bind(): held by the rule'
)

@test "after bind: force/strip/exclusive hold the kernel value and report success; refuse says EPERM; keep passes" {
  local row rule flags fields msg proto addr pf
  for row in "${AFTER_TABLE[@]}"; do
    IFS='|' read -r rule flags fields msg <<<"$row"
    pol "any *:* $rule"
    for proto in tcp udp; do
      for addr in 127.0.0.1 ::1; do
        CASE="$rule $flags $proto $addr"
        pf=()
        [[ $proto == udp ]] && pf+=(-u)
        # shellcheck disable=SC2086  # flags and fields are word lists
        probe "${pf[@]}" $flags "$addr" 0
        # shellcheck disable=SC2086
        want bind=ok $fields
        if [[ $msg != - ]]; then
          want_log "bindprobe setsockopt $proto"
          want_log "rule=$POL:1"
          want_log "-- $msg"
          # result= is what the program got (set_after: ok, or the errno)
          val set_after
          [[ $LOG == *" result=$VAL now="*"-- $msg"* ]] || note "the setsockopt line's result= is not set_after=$VAL"
        elif [[ $LOG == *' setsockopt '* ]]; then
          # passed to the kernel: logged only at log=all
          note "a setsockopt line at log=decisions"
        fi
      done
    done
  done
  done_cases
}

@test "after bind: a held option stays held through listen()" {
  pol 'tcp *:* reuseaddr=strip reuseport=strip'
  CASE="strip -R -P -l"
  probe -R -P -l 127.0.0.1 0
  want bind=ok set_after=ok listen=ok seen_ra=1 seen_rp=1 kernel_ra=0 kernel_rp=0
  pol 'tcp *:* reuseaddr=force reuseport=force'
  CASE="force -x -l"
  probe -x -l ::1 0
  want bind=ok set_after=ok listen=ok seen_ra=0 seen_rp=0 kernel_ra=1 kernel_rp=1
  done_cases
}

# ---- deny, exclusive, handoff ---------------------------------------------------

# bats test_tags=quick
@test "deny: bind fails EACCES, socket left unbound, logged (tcp/udp, v4/v6, asked or not)" {
  local proto addr flags pf
  pol 'any *:* deny'
  for proto in tcp udp; do
    for addr in 127.0.0.1 ::1; do
      for flags in '' '-r' '-p' '-r -p'; do
        CASE="deny $proto $addr $flags"
        pf=()
        [[ $proto == udp ]] && pf+=(-u)
        # shellcheck disable=SC2086
        probe "${pf[@]}" $flags "$addr" 0
        want bind=EACCES port=0
        hostport "$addr" 0
        want_log "bindprobe bind $proto $HP rule=$POL:1 option=SO_REUSEADDR,SO_REUSEPORT"
        want_log "action=deny result=EACCES"
      done
    done
  done
  done_cases
}

@test "deny: listen() on an unbound TCP socket is refused with EACCES" {
  pol 'tcp *:* deny'
  CASE="deny -n -l"
  probe -n -l 127.0.0.1 0
  want bind=- listen=EACCES
  want_log "bindprobe listen tcp 0.0.0.0:"
  want_log "action=deny result=EACCES"
  done_cases
}

# bats test_tags=quick
@test "exclusive: both options off at bind even when asked, the program sees its own view" {
  local proto addr flags pf sra srp
  pol 'any *:* exclusive'
  for proto in tcp udp; do
    for addr in 127.0.0.1 ::1; do
      for flags in '' '-r'; do
        CASE="exclusive $proto $addr $flags"
        pf=()
        [[ $proto == udp ]] && pf+=(-u)
        sra=0
        [[ $flags == *-r* ]] && sra=1
        # shellcheck disable=SC2086
        probe "${pf[@]}" $flags "$addr" 0
        want bind=ok seen_ra=$sra seen_rp=0 kernel_ra=0 kernel_rp=0 owner=0
        hostport "$addr" 0
        want_log "bindprobe bind $proto $HP rule=$POL:1 option=SO_REUSEADDR,SO_REUSEPORT asked=${ONOFF[sra]},off action=exclusive result=ok now=reuseaddr:off,reuseport:off"
      done
    done
  done
  done_cases
}

# A program that asked SO_REUSEPORT shares the port among its own sockets:
# with CAP_CHOWN (root) the socket keeps it, keyed to a uid no account has;
# unprivileged, UDP drops it (own binds borrow it) and TCP keeps it, said
# to be joinable by the same uid.
@test "exclusive with SO_REUSEPORT asked: keyed as root; unprivileged UDP drops it, TCP says joinable" {
  local proto addr flags pf sra
  pol 'any *:* exclusive'
  for proto in tcp udp; do
    for addr in 127.0.0.1 ::1; do
      for flags in '-p' '-r -p'; do
        pf=()
        [[ $proto == udp ]] && pf+=(-u)
        sra=0
        [[ $flags == *-r* ]] && sra=1
        CASE="exclusive $proto $addr $flags as root"
        AS=()
        # shellcheck disable=SC2086
        probe "${pf[@]}" $flags "$addr" 0
        want bind=ok seen_ra=$sra seen_rp=1 kernel_ra=0 kernel_rp=1 owner=2147483646
        want_log "asked=${ONOFF[sra]},on action=exclusive result=ok now=reuseaddr:off,reuseport:on -- exclusive; SO_REUSEPORT kept for the program's own sockets, keyed"
        CASE="exclusive $proto $addr $flags as nobody"
        AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
        # shellcheck disable=SC2086
        probe "${pf[@]}" $flags "$addr" 0
        if [[ $proto == tcp ]]; then
          want bind=ok seen_ra=$sra seen_rp=1 kernel_ra=0 kernel_rp=1 owner=65534
          want_log "now=reuseaddr:off,reuseport:on -- exclusive, but the program shares this port through SO_REUSEPORT: same-uid processes (uid 65534) can join"
        else
          want bind=ok seen_ra=$sra seen_rp=1 kernel_ra=0 kernel_rp=0 owner=65534
          want_log "now=reuseaddr:off,reuseport:off -- exclusive: the SO_REUSEPORT the program asked was dropped"
        fi
      done
    done
  done
  done_cases
}

@test "handoff: with no instance to take over, the bind works as the program asked" {
  local flags sra srp
  pol 'tcp *:* handoff'
  # the handoff directory of this test, not the system's /run/libreuse
  mkdir -p "$BATS_TEST_TMPDIR/ho"
  export REUSE_HANDOFF_DIR=$BATS_TEST_TMPDIR/ho
  for flags in '' '-r -p'; do
    CASE="handoff $flags"
    sra=0 srp=0
    [[ -n $flags ]] && sra=1 srp=1
    # shellcheck disable=SC2086
    probe $flags -l 127.0.0.1 0
    want bind=ok listen=ok seen_ra=$sra seen_rp=$srp kernel_ra=$sra kernel_rp=$srp
    want_log "bindprobe bind tcp 127.0.0.1:0 rule=$POL:1"
    want_log "result=ok"
  done
  done_cases
}

# ---- log= --------------------------------------------------------------------------

@test "log=off: the rule applies and nothing is logged" {
  pol 'tcp *:* reuseaddr=force log=off'
  CASE="log=off"
  probe -R 127.0.0.1 0
  want bind=ok kernel_ra=1
  want_no_log
  done_cases
}

@test "log=decisions (the default): bind and held setsockopt logged, getsockopt not" {
  pol 'tcp *:* reuseaddr=strip'
  CASE="log default"
  probe -R 127.0.0.1 0
  want bind=ok seen_ra=1 kernel_ra=0
  want_log "bindprobe bind tcp 127.0.0.1:0 rule=$POL:1"
  want_log "bindprobe setsockopt tcp"
  if [[ $LOG == *' getsockopt '* ]]; then note "getsockopt logged at decisions"; fi
  pol 'tcp *:* reuseaddr=strip log=decisions'
  CASE="log=decisions"
  probe -r 127.0.0.1 0
  want_log "bindprobe bind tcp 127.0.0.1:0 rule=$POL:1"
  if [[ $LOG == *' getsockopt '* ]]; then note "getsockopt logged at decisions"; fi
  done_cases
}

@test "log=all: getsockopt answers and passed-through setsockopt are logged too" {
  pol 'tcp *:* reuseaddr=strip log=all'
  CASE="log=all"
  probe -r -P 127.0.0.1 0
  want bind=ok seen_ra=1 kernel_ra=0 kernel_rp=1
  want_log "bindprobe bind tcp 127.0.0.1:0 rule=$POL:1"
  want_log "-- answered SO_REUSEADDR as the program asked"
  want_log "-- program set SO_REUSEPORT=1 after bind(): passed to the kernel"
  done_cases
}

# ---- addresses ---------------------------------------------------------------------

# RULE HOST | BIND ADDRESS | deny (matched) or ok (not matched)
ADDR_TABLE=(
  '*|127.0.0.1|deny'
  '*|::1|deny'
  '*|0.0.0.0|deny'
  '*|::|deny'
  '*|127.0.0.2|deny'
  '0.0.0.0|0.0.0.0|deny'
  '0.0.0.0|127.0.0.1|ok'
  '0.0.0.0|::1|ok'
  '127.0.0.1|127.0.0.1|deny'
  '127.0.0.1|127.0.0.2|ok'
  '127.0.0.1|0.0.0.0|ok'
  '127.0.0.1|::1|ok'
  '127.0.0.0/8|127.0.0.2|deny'
  '127.0.0.0/8|127.0.0.1|deny'
  '127.0.0.0/8|0.0.0.0|ok'
  '127.0.0.0/8|::1|ok'
  '127.0.0.0/31|127.0.0.1|deny'
  '127.0.0.0/31|127.0.0.2|ok'
  '[::]|::|deny'
  '[::]|::1|ok'
  '[::]|0.0.0.0|ok'
  '[::1]|::1|deny'
  '[::1]|::|ok'
  '[::1]|127.0.0.1|ok'
  '[::]/0|::1|deny'
  '[::]/0|::|deny'
  '[::]/0|127.0.0.1|ok'
  '[::1]/128|::1|deny'
  '127.0.0.1|::ffff:127.0.0.1|deny'
  '127.0.0.0/8|::ffff:127.0.0.2|deny'
  '127.0.0.1|::ffff:127.0.0.2|ok'
  '[::ffff:127.0.0.1]|127.0.0.1|deny'
  '[::ffff:127.0.0.1]|127.0.0.2|ok'
)

@test "addresses: *, 0.0.0.0, 127.0.0.1, CIDR, [::], [::1], [::]/0, IPv4-mapped (tcp and udp)" {
  local row host addr exp proto pf
  for row in "${ADDR_TABLE[@]}"; do
    IFS='|' read -r host addr exp <<<"$row"
    pol "any $host:* deny"
    for proto in tcp udp; do
      CASE="rule $host, bind $addr ($proto)"
      pf=()
      [[ $proto == udp ]] && pf+=(-u)
      probe "${pf[@]}" "$addr" 0
      if [[ $exp == deny ]]; then
        want bind=EACCES
        want_log "rule=$POL:1"
      else
        want bind=ok
        want_no_log
      fi
    done
  done
  done_cases
}

# ---- ports --------------------------------------------------------------------------

@test "ports: single, range, comma list, * and their misses" {
  local p q row ports exp
  p=$(free_port)
  q=$(free_port)
  while [[ $q == "$p" ]]; do q=$(free_port); done
  local table=(
    "$p|deny"
    "$((p + 1))|ok"
    "$((p - 3))-$((p + 3))|deny"
    "$p-$p|deny"
    "$((p + 1))-$((p + 9))|ok"
    "$((p - 9))-$((p - 1))|ok"
    "1,$p,65000|deny"
    "1,$((p - 5))-$((p + 5)),65000|deny"
    "1,2,$((p + 1))|ok"
    "*|deny"
  )
  for row in "${table[@]}"; do
    IFS='|' read -r ports exp <<<"$row"
    pol "tcp 127.0.0.1:$ports deny"
    CASE="rule port $ports, bind $p"
    probe 127.0.0.1 "$p"
    if [[ $exp == deny ]]; then
      want bind=EACCES
      want_log "bindprobe bind tcp 127.0.0.1:$p rule=$POL:1"
    else
      want bind=ok port="$p"
      want_no_log
    fi
  done
  # a rule for another port leaves this one alone, a list element matches exactly
  pol "udp 127.0.0.1:$q deny" "udp 127.0.0.1:$p reuseaddr=force"
  CASE="two single-port rules, bind $p"
  probe -u 127.0.0.1 "$p"
  want bind=ok kernel_ra=1
  want_log "bindprobe bind udp 127.0.0.1:$p rule=$POL:2"
  done_cases
}

@test "ports: an ephemeral bind (port 0) is matched as port 0" {
  local p
  p=$(free_port)
  pol 'tcp 127.0.0.1:0 deny'
  CASE="rule :0, bind 0"
  probe 127.0.0.1 0
  want bind=EACCES
  want_log "bindprobe bind tcp 127.0.0.1:0 rule=$POL:1"
  CASE="rule :0, bind $p"
  probe 127.0.0.1 "$p"
  want bind=ok port="$p"
  want_no_log
  # a range from 1 does not cover an ephemeral bind, whatever port it gets
  pol 'tcp 127.0.0.1:1-65535 deny'
  CASE="rule :1-65535, bind 0"
  probe 127.0.0.1 0
  want bind=ok
  want_no_log
  pol 'udp [::1]:0,7 reuseaddr=force'
  CASE="rule [::1]:0,7 udp, bind 0"
  probe -u ::1 0
  want bind=ok kernel_ra=1
  want_log "bindprobe bind udp [::1]:0 rule=$POL:1"
  done_cases
}

# ---- proto ---------------------------------------------------------------------------

@test "proto: tcp rules leave udp alone and the reverse; any covers both" {
  local row rp sp exp pf
  local table=('tcp|tcp|deny' 'tcp|udp|ok' 'udp|udp|deny' 'udp|tcp|ok' 'any|tcp|deny' 'any|udp|deny')
  for row in "${table[@]}"; do
    IFS='|' read -r rp sp exp <<<"$row"
    pol "$rp 127.0.0.1:* deny"
    CASE="rule $rp, socket $sp"
    pf=()
    [[ $sp == udp ]] && pf+=(-u)
    probe "${pf[@]}" -r 127.0.0.1 0
    if [[ $exp == deny ]]; then
      want bind=EACCES
    else
      want bind=ok kernel_ra=1
      want_no_log
    fi
  done
  done_cases
}

# ---- program= and uid= ----------------------------------------------------------------

@test "program=GLOB: the name, a glob, a miss; the executable's name counts even under another argv[0]" {
  local row glob exp
  local table=('bindprobe|deny' 'bind*|deny' '*probe|deny' 'b?ndprobe|deny' '[ab]indprobe|deny'
    'nginx|ok' 'bindprobe2|ok' 'bind|ok' 'BINDPROBE|ok')
  for row in "${table[@]}"; do
    IFS='|' read -r glob exp <<<"$row"
    pol "tcp *:* program=$glob deny"
    CASE="program=$glob"
    probe 127.0.0.1 0
    if [[ $exp == deny ]]; then
      want bind=EACCES
      want_log "bindprobe bind tcp 127.0.0.1:0 rule=$POL:1"
    else
      want bind=ok
      want_no_log
    fi
  done
  # argv[0] = "frobnicator": the running executable is still bindprobe
  pol 'tcp *:* program=bindprobe deny'
  CASE="program=bindprobe, argv0 frobnicator"
  : >"$LOGF"
  OUT=$(timeout 10 env REUSE_POLICY="$POL" REUSE_LOG="$LOGF" "${BACKEND[@]}" \
    bash -c 'exec -a frobnicator "$0" 127.0.0.1 0' "$PROBES/bindprobe") || true
  LOG=$(cat "$LOGF")
  want bind=EACCES
  done_cases
}

@test "uid=N: applies to that effective uid only (root vs nobody via setpriv)" {
  local who
  command -v setpriv >/dev/null || skip "setpriv not installed"
  [[ $(id -u) == 0 ]] || skip "needs root to switch to uid 65534"
  for who in root nobody; do
    if [[ $who == nobody ]]; then
      AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    else
      AS=()
    fi
    pol 'tcp *:* uid=65534 deny' 'tcp *:* uid=0 reuseaddr=force'
    CASE="$who, rules uid=65534 deny / uid=0 force"
    probe 127.0.0.1 0
    if [[ $who == nobody ]]; then
      want bind=EACCES
      want_log "bindprobe bind tcp 127.0.0.1:0 rule=$POL:1"
    else
      want bind=ok kernel_ra=1
      want_log "bindprobe bind tcp 127.0.0.1:0 rule=$POL:2"
    fi
    pol 'udp [::1]:* uid=65534 reuseport=force'
    CASE="$who, rule uid=65534 reuseport=force"
    probe -u ::1 0
    if [[ $who == nobody ]]; then
      want bind=ok kernel_rp=1 seen_rp=0
    else
      want bind=ok kernel_rp=0
      want_no_log
    fi
  done
  done_cases
}

@test "uid= and program= together: both must hold" {
  pol 'tcp *:* program=bindprobe uid=65534 deny' 'tcp *:* program=nginx uid=0 deny'
  CASE="root: neither rule holds"
  probe 127.0.0.1 0
  want bind=ok
  want_no_log
  pol 'tcp *:* program=bind* uid=0 deny'
  CASE="root: both hold"
  probe 127.0.0.1 0
  want bind=EACCES
  done_cases
}

# ---- first match, unmatched sockets -------------------------------------------------------

@test "first match wins: the earlier of two overlapping rules decides, the log names its line" {
  local p
  p=$(free_port)
  pol '# comment' '' "tcp 127.0.0.1:$p reuseaddr=strip" 'tcp *:* deny'
  CASE="specific strip first"
  probe -r 127.0.0.1 "$p"
  want bind=ok seen_ra=1 kernel_ra=0
  want_log "bindprobe bind tcp 127.0.0.1:$p rule=$POL:3 option=SO_REUSEADDR asked=on action=strip"
  pol 'tcp *:* deny' "tcp 127.0.0.1:$p reuseaddr=strip"
  CASE="wildcard deny first"
  probe -r 127.0.0.1 "$p"
  want bind=EACCES
  want_log "rule=$POL:1"
  # a *-port rule before a rule with explicit ports, and the reverse
  pol 'tcp 127.0.0.1:* reuseaddr=force' "tcp *:$p deny"
  CASE="*-port rule first"
  probe 127.0.0.1 "$p"
  want bind=ok kernel_ra=1
  want_log "rule=$POL:1"
  pol "tcp *:$((p - 5))-$((p + 5)) reuseaddr=force" "tcp 127.0.0.1:$p deny" 'tcp *:* reuseport=force'
  CASE="range rule first"
  probe 127.0.0.1 "$p"
  want bind=ok kernel_ra=1 kernel_rp=0
  want_log "rule=$POL:1"
  # a first rule that does not match (program) passes to the next
  pol 'tcp *:* program=nginx deny' "any 127.0.0.1:1,$p reuseaddr=force" 'tcp *:* deny'
  CASE="non-matching first rule"
  probe 127.0.0.1 "$p"
  want bind=ok kernel_ra=1
  want_log "rule=$POL:2"
  done_cases
}

@test "unmatched sockets are untouched and not logged by default; REUSE_LOG_LEVEL=all logs rule=none" {
  local flags sra srp
  pol 'udp *:* deny'
  for flags in '' '-r' '-p' '-r -p'; do
    CASE="unmatched tcp $flags"
    sra=0 srp=0
    [[ $flags == *-r* ]] && sra=1
    [[ $flags == *-p* ]] && srp=1
    # shellcheck disable=SC2086
    probe $flags 127.0.0.1 0
    want bind=ok seen_ra=$sra seen_rp=$srp kernel_ra=$sra kernel_rp=$srp
    want_no_log
  done
  LEVEL=all
  CASE="unmatched tcp, level all"
  probe -r ::1 0
  want bind=ok kernel_ra=1
  want_log "bindprobe bind tcp [::1]:0 rule=none"
  done_cases
}

# ---- listen() and connect() on an unbound socket --------------------------------------------

@test "listen() on an unbound TCP socket: decided on the port the kernel chose, and logged" {
  local lo hi port fam addr
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
  for fam in 4 6; do
    if [[ $fam == 4 ]]; then addr=127.0.0.1; else addr=::1; fi
    # a rule for port 0 does not match: the kernel chose a real port
    pol 'tcp *:0 deny' "tcp *:$lo-$hi reuseaddr=force reuseport=strip"
    CASE="-n -l IPv$fam"
    probe -n -p -l "$addr" 0
    want bind=- listen=ok seen_ra=0 seen_rp=1 kernel_ra=1 kernel_rp=0
    val port
    port=$VAL
    [[ $port -ge $lo && $port -le $hi ]] || note "port $port outside $lo-$hi"
    if [[ $fam == 4 ]]; then
      want_log "bindprobe listen tcp 0.0.0.0:$port rule=$POL:2"
    else
      want_log "bindprobe listen tcp [::]:$port rule=$POL:2"
    fi
    want_log "action=force,strip result=ok now=reuseaddr:on,reuseport:off"
  done
  done_cases
}

@test "connect() on an unbound socket: matched on the kernel's address, logged at log=all only" {
  local p pid
  p=$(free_port)
  "$PROBES/bindprobe" -l -a -h 10 127.0.0.1 "$p" >"$W/server" &
  pid=$!
  wait_listen "$p" || { kill "$pid"; fail "server did not listen"; }
  # connect() is not stopped by --seccomp (every connect would be)
  [[ ${REUSE_TEST_BACKEND:-library} == library ]] || { kill "$pid"; skip "library only"; }
  # a client connection is no decision: nothing at the default level
  pol 'tcp 127.0.0.1:* reuseaddr=force'
  : >"$LOGF"
  REUSE_POLICY=$POL REUSE_LOG=$LOGF LD_PRELOAD=$LIB timeout 10 \
    bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && echo connected' "$p"
  run cat "$LOGF"
  refute_output --partial "connect"
  pol 'tcp 127.0.0.1:* reuseaddr=force log=all'
  REUSE_POLICY=$POL REUSE_LOG=$LOGF LD_PRELOAD=$LIB timeout 10 \
    bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && echo connected' "$p"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  run cat "$LOGF"
  assert_output --regexp "bash connect fd=[0-9]+ tcp 127\.0\.0\.1:[0-9]+ rule=$POL:1 .* result=ok .*implicit bind by connect"
}

# ---- a failing call must not undo the rule ---------------------------------------------------

@test "a failing second bind() (EINVAL, already bound) keeps the rule's options and holds" {
  local row rule flags fields proto addr pf
  local table=(
    'reuseaddr=strip|-r|seen_ra=1 kernel_ra=0'
    'reuseaddr=strip|-R|set_after=ok seen_ra=1 kernel_ra=0'
    'reuseaddr=force|-x|set_after=ok seen_ra=0 kernel_ra=1'
    'reuseport=strip|-p|seen_rp=1 kernel_rp=0'
    'exclusive|-r -p|seen_ra=1 seen_rp=1 kernel_ra=0 kernel_rp=1'   # root: RP kept, keyed
    'exclusive|-R -P|set_after=ok seen_ra=1 seen_rp=1 kernel_ra=0 kernel_rp=0'
  )
  for row in "${table[@]}"; do
    IFS='|' read -r rule flags fields <<<"$row"
    pol "any *:* $rule"
    for proto in udp tcp; do
      for addr in 127.0.0.1 ::1; do
        CASE="$rule $flags $proto $addr, bind twice"
        pf=()
        [[ $proto == udp ]] && pf+=(-u)
        : >"$LOGF"
        # shellcheck disable=SC2086
        OUT=$(timeout 10 env REUSE_POLICY="$POL" REUSE_LOG="$LOGF" "${BACKEND[@]}" \
          "$PROBES/rebindprobe" "${pf[@]}" $flags "$addr" 2>&1) || true
        read_log
        # shellcheck disable=SC2086
        want bind=ok rebind=EINVAL $fields
      done
    done
  done
  done_cases
}

@test "deny at listen() of an unbound socket: EACCES, logged, and the socket never listens" {
  # The port is known only once the kernel binds it, and Linux cannot unbind
  # a TCP socket: the socket keeps its ephemeral wildcard port but the real
  # listen() is never called (reuse.policy(5), "When a socket is matched").
  local addr
  pol 'tcp *:* deny'
  for addr in 127.0.0.1 ::1; do
    CASE="deny -n -l $addr"
    probe -n -l "$addr" 0
    want bind=- listen=EACCES
    want_log "action=deny result=EACCES"
  done
  done_cases
}
