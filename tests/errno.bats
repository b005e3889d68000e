#!/usr/bin/env bats
# errno under the shim is the kernel's: build/probes/errnoprobe makes failing
# (and succeeding) calls, one line each; bare and shimmed outputs must be
# identical except for the lines a policy is meant to change (deny: EACCES,
# refuse: EPERM), nothing may crash, and no call that succeeds may change
# errno ("errno changed on success").
# shellcheck disable=SC2153,SC2154  # helpers.bash sets LIB/PROBES; bats sets $output

load helpers

setup() {
  untraced
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL LD_PRELOAD
  T=$BATS_TEST_TMPDIR
  export REUSE_HANDOFF_DIR=$T   # the handoff rule's directory: not /run/libreuse
  NOPORT=$(free_port)       # nothing listens here (connect: ECONNREFUSED)
  Q=$(free_port)            # the port the pol-* cases and the policies target
  while [[ $Q == "$NOPORT" ]]; do Q=$(free_port); done
  # Bare run, the reference every shimmed run is diffed against.
  run_probe bare
  assert_equal "$RC" 0
  BARE=$OUT
  # the reference itself must show what the cases are about
  grep -qE '^pol-bind-tcp4 +rc=0 errno=-$' <<<"$BARE"
  grep -qE '^bind-inuse +rc=-1 errno=EADDRINUSE$' <<<"$BARE"
  grep -qE '^pol-listen-udp4 +rc=-1 errno=EOPNOTSUPP$' <<<"$BARE"
  grep -qE '^pol-listen-udp4-after +bound=no$' <<<"$BARE"
}

# run_probe bare|shim [VAR=VALUE...] : errnoprobe, with the shim and the
# given environment unless bare. Sets OUT (stdout), ERR (stderr), RC.
run_probe() {
  local mode=$1
  shift
  if [[ $mode == bare ]]; then
    timeout 20 "$PROBES/errnoprobe" "$NOPORT" "$Q" >"$T/out" 2>"$T/err" && RC=0 || RC=$?
  else
    timeout 20 env "$@" "${BACKEND[@]}" "$PROBES/errnoprobe" "$NOPORT" "$Q" \
      >"$T/out" 2>"$T/err" && RC=0 || RC=$?
  fi
  OUT=$(cat "$T/out")
  ERR=$(cat "$T/err")
  # for bats-assert's assert_line/refute_output, as `run` would set them
  output=$OUT
  mapfile -t lines <<<"$OUT"
}

# expected CASE=ERRNO... : the bare output with those cases' lines changed
# to "rc=-1 errno=ERRNO" (what the policy is meant to do to them).
expected() {
  local kv sedargs=()
  for kv in "$@"; do
    sedargs+=(-e "s/^\(${kv%%=*} \+\)rc=.*\$/\1rc=-1 errno=${kv#*=}/")
  done
  if [[ ${#sedargs[@]} -eq 0 ]]; then
    printf '%s\n' "$BARE"
  else
    sed "${sedargs[@]}" <<<"$BARE"
  fi
}

# Lines left out of the general diffs: listen() on an unbound UDP socket
# has its own test below (one known problem should fail one test).
general() {
  grep -vE '^pol-listen-udp[46](-after)? '
}

# same_as CASE=ERRNO... : the shimmed run exited 0, never changed errno on
# success, and equals the bare run but for the named cases.
same_as() {
  [[ $RC == 0 ]] || fail "$(printf 'errnoprobe exited %s under the shim\nstdout:\n%s\nstderr:\n%s' "$RC" "$OUT" "$ERR")"
  if grep -q 'errno changed on success' <<<"$OUT"; then
    fail "$(grep 'errno changed on success' <<<"$OUT")"
  fi
  run diff <(expected "$@" | general) <(general <<<"$OUT")
  [[ $status == 0 ]] || fail "$(printf 'shimmed output differs from the expected one (< expected, > shimmed):\n%s' "$output")"
}

# The policies -------------------------------------------------------------------------

# every action but keep, on the pol-* address and on everything else
nonkeep_policy() {
  policy_file \
    "tcp 127.0.0.1:$Q reuseaddr=refuse reuseport=refuse" \
    "udp 127.0.0.1:$Q reuseaddr=strip reuseport=force" \
    "tcp [::1]:$Q exclusive" \
    "udp [::1]:$Q reuseaddr=force reuseport=refuse" \
    'tcp *:* reuseaddr=force reuseport=strip' \
    'udp *:* reuseaddr=strip reuseport=force handoff'
}
# what it changes: refuse says EPERM to asking
NONKEEP_CHANGES=(pol-bind-tcp4-ra=EPERM pol-bind-tcp4-rp=EPERM pol-bind-udp6-rp=EPERM
  pol-set-ra-after-tcp=EPERM pol-set-rp-after-tcp=EPERM)

@test "bare run: exit 0, every case present, no errno changed on success" {
  run_probe bare
  assert_equal "$RC" 0
  refute_output --partial 'errno changed on success'
  # one line per CASE in the probe: none skipped, none crashed before its turn
  assert_equal "$(grep -c " rc=" <<<"$OUT")" "$(grep -c '^\s*CASE("' "$ROOT/tests/probes/errnoprobe.c")"
}

@test "default policy: identical to bare" {
  run_probe shim REUSE_LOG="$T/log"
  same_as
  # the shim was really there: the default policy logs its decisions
  [[ -e /etc/libreuse/policy ]] || grep -q 'rule=default:' "$T/log"
}

# bats test_tags=quick
@test "a policy with every action non-keep: identical but for the refusals it asks for" {
  pol=$(nonkeep_policy)
  run_probe shim REUSE_POLICY="$pol" REUSE_LOG="$T/log"
  same_as "${NONKEEP_CHANGES[@]}"
  grep -q "rule=$pol:5 " "$T/log"
}

@test "a policy that matches nothing: identical, nothing logged" {
  pol=$(policy_file 'tcp 10.255.255.1:1 deny' 'udp [fe80::1]:1 deny' 'any *:* program=nosuchprogram deny')
  run_probe shim REUSE_POLICY="$pol" REUSE_LOG="$T/log"
  same_as
  assert_equal "$(cat "$T/log")" ''
}

@test "log=all in the rules and REUSE_LOG_LEVEL=all: identical, and it did log" {
  pol=$(policy_file "tcp 127.0.0.1:$Q reuseaddr=refuse log=all" 'any *:* reuseaddr=force log=all')
  run_probe shim REUSE_POLICY="$pol" REUSE_LOG_LEVEL=all REUSE_LOG="$T/log"
  same_as pol-bind-tcp4-ra=EPERM pol-set-ra-after-tcp=EPERM
  grep -q ' getsockopt ' "$T/log"
  # connect() is not stopped by --seccomp (every connect would be)
  [[ ${REUSE_TEST_BACKEND:-library} == seccomp ]] || grep -q ' connect ' "$T/log"
}

@test "JSON log to a file: identical; every line is a JSON object with the spec's keys" {
  command -v jq >/dev/null || skip "jq not installed"
  pol=$(nonkeep_policy)
  run_probe shim REUSE_POLICY="$pol" REUSE_LOG="$T/log.json" REUSE_LOG_FORMAT=json REUSE_LOG_LEVEL=all
  same_as "${NONKEEP_CHANGES[@]}"
  [[ -s $T/log.json ]]
  run jq -c 'select((["ts","pid","prog","call","fd","proto","family","addr","port","rule","option","asked","action","result","errno"] - keys) != [])' "$T/log.json"
  assert_success
  # every line parsed (jq exits non-zero on a bad line) and none lacks a key
  refute_output
  # a refusal is logged with its errno by name and number
  run jq -c 'select(.result == "EPERM")' "$T/log.json"
  assert_output --partial '"errno":1'
}

@test "log to stderr (the default): the program's stdout is identical" {
  pol=$(nonkeep_policy)
  run_probe shim REUSE_POLICY="$pol"
  same_as "${NONKEEP_CHANGES[@]}"
  [[ $ERR == *"rule=$pol:"* ]]
}

@test "deny: the policy's binds fail EACCES, every other call as bare" {
  pol=$(policy_file "any 127.0.0.1:$Q deny" "any [::1]:$Q deny")
  run_probe shim REUSE_POLICY="$pol" REUSE_LOG="$T/log"
  # the set-after cases cannot bind first: their setup says so, three times
  assert_equal "$(grep -c '^setup: bind for set-after failed: EACCES$' <<<"$OUT")" 3
  OUT=$(grep -v '^setup: ' <<<"$OUT")
  # ... and their setsockopt on the unbound socket succeeds as bare.
  # pol-bind-huge-len/-len-129 have their own test below.
  OUT=$(grep -vE '^pol-bind-(huge-len|len-129) ' <<<"$OUT")
  BARE=$(grep -vE '^pol-bind-(huge-len|len-129) ' <<<"$BARE")
  same_as pol-bind-tcp4=EACCES pol-bind-tcp4-ra=EACCES pol-bind-tcp4-rp=EACCES \
    pol-bind-udp4=EACCES pol-bind-udp4-ra=EACCES pol-bind-udp4-rp=EACCES \
    pol-bind-tcp6=EACCES pol-bind-tcp6-ra=EACCES pol-bind-udp6-rp=EACCES \
    pol-bind-mapped=EACCES pol-bind-refusable=EACCES
  grep -q 'action=deny result=EACCES' "$T/log"
}

@test "refuse: asking before bind gives EPERM at bind, after bind EPERM at setsockopt" {
  pol=$(policy_file "any *:$Q reuseaddr=refuse reuseport=refuse")
  run_probe shim REUSE_POLICY="$pol" REUSE_LOG="$T/log"
  same_as pol-bind-tcp4-ra=EPERM pol-bind-tcp4-rp=EPERM pol-bind-udp4-ra=EPERM \
    pol-bind-udp4-rp=EPERM pol-bind-tcp6-ra=EPERM pol-bind-udp6-rp=EPERM \
    pol-set-ra-after-tcp=EPERM pol-set-rp-after-tcp=EPERM pol-set-ra-after-udp=EPERM
}

@test "deny: a malformed bind gets the kernel's EINVAL, not the policy's EACCES" {
  pol=$(policy_file "any 127.0.0.1:$Q deny")
  run_probe shim REUSE_POLICY="$pol" REUSE_LOG="$T/log"
  assert_equal "$RC" 0
  # short, wrong-family: the shim already defers to the kernel
  assert_line --regexp '^pol-bind-short +rc=-1 errno=EINVAL$'
  assert_line --regexp '^pol-bind6-on-inet +rc=-1 errno=EAFNOSUPPORT$'
  # an address length over sizeof(struct sockaddr_storage): EINVAL bare
  grep -qE '^pol-bind-huge-len +rc=-1 errno=EINVAL$' <<<"$BARE"
  assert_line --regexp '^pol-bind-huge-len +rc=-1 errno=EINVAL$'
  assert_line --regexp '^pol-bind-len-129 +rc=-1 errno=EINVAL$'
}

@test "listen() on an unbound UDP socket: EOPNOTSUPP and the socket stays unbound" {
  local pol
  for pol in "$(policy_file 'tcp 10.255.255.1:1 deny')" \
    "$(policy_file 'udp *:* reuseaddr=force')" \
    "$(policy_file 'udp *:* deny')"; do
    run_probe shim REUSE_POLICY="$pol" REUSE_LOG="$T/log"
    assert_equal "$RC" 0
    assert_line --regexp '^pol-listen-udp4 +rc=-1 errno=EOPNOTSUPP$'
    assert_line --regexp '^pol-listen-udp6 +rc=-1 errno=EOPNOTSUPP$'
    # bare leaves it unbound; a datagram socket bound to 0.0.0.0 receives
    assert_line --regexp '^pol-listen-udp4-after +bound=no$'
    assert_line --regexp '^pol-listen-udp6-after +bound=no$'
  done
}

@test "a log destination that cannot be written (/dev/full) changes no errno" {
  [[ -w /dev/full ]] || skip "no /dev/full"
  pol=$(nonkeep_policy)
  run_probe shim REUSE_POLICY="$pol" REUSE_LOG=/dev/full REUSE_LOG_LEVEL=all
  same_as "${NONKEEP_CHANGES[@]}"
}
