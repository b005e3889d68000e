#!/usr/bin/env bats
# The `reuse` command-line tool: exit statuses, check, policy, run.
# shellcheck disable=SC2016,SC2153,SC2154  # child shells expand $$; helpers.bash and bats set LIB, $stderr

load helpers

bats_require_minimum_version 1.5.0

setup() {
  # What the caller's shell may have set must not leak into the checks.
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL REUSE_LIBRARY LD_PRELOAD
  T=$BATS_TEST_TMPDIR
  cd "$T" || return 1
  # The library reuse finds next to itself, as /proc/self/exe names it.
  PLIB=$(realpath "$LIB")
  printf '%s\n' '# two rules' 'tcp  *:*  reuseaddr=force' \
    'udp  127.0.0.1:53  program=dnsmasq  exclusive' >good.policy
  printf '%s\n' '# three errors' 'sctp *:* reuseaddr=force' 'tcp *:80 reuseaddr=force' \
    'tcp nowhere:80 reuseaddr=force' 'tcp *:80 reuseaddr=sometimes' >bad.policy
}

# A program from C source: build_c NAME SOURCE [GCC FLAGS...]
build_c() {
  printf '%s\n' "$2" >"$T/$1.c"
  gcc "${@:3}" -o "$T/$1" "$T/$1.c" 2>/dev/null
}

# ---- the front door ------------------------------------------------------

# bats test_tags=quick
@test "--help and -h print the usage on stdout and exit 0" {
  run --separate-stderr "$REUSE" --help
  assert_success
  assert_line --index 0 'Usage: reuse COMMAND [ARG...]'
  assert_line --partial 'run [OPTION...] [--] CMD [ARG...]'
  assert_equal "$stderr" ''
  run --separate-stderr "$REUSE" -h
  assert_success
  assert_line --index 0 'Usage: reuse COMMAND [ARG...]'
}

@test "--version prints the version of libreuse.h" {
  version=$(sed -n 's/^#define LIBREUSE_VERSION "\(.*\)"$/\1/p' "$ROOT/include/libreuse.h")
  run --separate-stderr "$REUSE" --version
  assert_success
  assert_output "reuse $version"
}

@test "help COMMAND and COMMAND --help print that command's usage" {
  run "$REUSE" help run
  assert_success
  assert_line --index 0 --partial 'Usage: reuse run'
  run "$REUSE" run --help
  assert_success
  assert_line --index 0 --partial 'Usage: reuse run'
  run "$REUSE" check --help
  assert_success
  assert_line --index 0 'Usage: reuse check [--guard] [FILE...]'
}

@test "an unknown command, an unknown option, no command: usage on stderr, exit 2" {
  run -2 --separate-stderr "$REUSE" frobnicate
  assert_output ''
  assert_regex "$stderr" "^reuse: unknown command 'frobnicate'"
  assert_regex "$stderr" 'Usage: reuse COMMAND'
  run -2 --separate-stderr "$REUSE" --frobnicate
  assert_output ''
  assert_regex "$stderr" "unknown option '--frobnicate'"
  run -2 --separate-stderr "$REUSE"
  assert_regex "$stderr" 'Usage: reuse COMMAND'
  run -2 --separate-stderr "$REUSE" check --frobnicate
  assert_regex "$stderr" 'Usage: reuse check'
  run -2 --separate-stderr "$REUSE" policy --frobnicate
  assert_regex "$stderr" 'Usage: reuse policy'
}

@test "a write error on stdout is an error" {
  [ -w /dev/full ] || skip "no /dev/full"
  run bash -c '"$1" policy --default >/dev/full' _ "$REUSE"
  assert_failure 1
  assert_output --partial 'reuse: write error'
}

# ---- check ---------------------------------------------------------------

@test "check: a good policy is ok with its rule count" {
  run --separate-stderr "$REUSE" check good.policy
  assert_success
  assert_output 'good.policy: ok (2 rules)'
  assert_equal "$stderr" ''
}

# bats test_tags=quick
@test "check: every error of a bad policy as FILE:LINE:COLUMN, exit 1" {
  run -1 --separate-stderr "$REUSE" check bad.policy
  assert_output ''
  assert_equal "${#stderr_lines[@]}" 3
  assert_regex "${stderr_lines[0]}" "^bad\.policy:2:1: error: .*'sctp'"
  assert_regex "${stderr_lines[1]}" "^bad\.policy:4:5: error: .*'nowhere'"
  assert_regex "${stderr_lines[2]}" "^bad\.policy:5:20: error: .*'sometimes'"
}

@test "check: several files are all checked; one bad file fails the run" {
  run -1 --separate-stderr "$REUSE" check bad.policy good.policy missing.policy
  assert_output 'good.policy: ok (2 rules)'
  assert_regex "$stderr" '(^|'$'\n'')bad\.policy:2:1: error: '
  assert_regex "$stderr" '(^|'$'\n'')missing\.policy:1:1: error: .*No such file'
}

@test "check without a file checks REUSE_POLICY" {
  REUSE_POLICY=$T/good.policy run --separate-stderr "$REUSE" check
  assert_success
  assert_output "$T/good.policy: ok (2 rules)"
  REUSE_POLICY=$T/bad.policy run -1 --separate-stderr "$REUSE" check
  assert_regex "$stderr" "^$T/bad\\.policy:2:1: error: "
}

@test "check without a file or REUSE_POLICY checks the embedded default" {
  [ ! -e /etc/libreuse/policy ] || skip "/etc/libreuse/policy exists here"
  run --separate-stderr "$REUSE" check
  assert_success
  assert_output --regexp '^default: ok \([1-9][0-9]* rules?\)$'
}

# ---- policy --------------------------------------------------------------

@test "policy --default prints policy/default.policy byte for byte" {
  "$REUSE" policy --default >out
  cmp out "$ROOT/policy/default.policy"
}

@test "policy names REUSE_POLICY, then prints it byte for byte" {
  REUSE_POLICY=$T/good.policy "$REUSE" policy >out
  { printf '# source: %s\n' "$T/good.policy"; cat good.policy; } >want
  cmp out want
}

@test "policy without REUSE_POLICY shows the embedded default" {
  [ ! -e /etc/libreuse/policy ] || skip "/etc/libreuse/policy exists here"
  "$REUSE" policy >out
  { echo '# source: default'; cat "$ROOT/policy/default.policy"; } >want
  cmp out want
}

@test "policy shows a broken policy, with its errors on stderr and exit 1" {
  REUSE_POLICY=$T/bad.policy run -1 --separate-stderr "$REUSE" policy
  assert_line --index 0 "# source: $T/bad.policy"
  assert_line --index 2 'sctp *:* reuseaddr=force'
  assert_regex "$stderr" "^$T/bad\\.policy:2:1: error: "
}

@test "policy takes no argument but --default" {
  run -2 --separate-stderr "$REUSE" policy good.policy
  assert_output ''
  assert_regex "$stderr" 'Usage: reuse policy'
}

# ---- run: environment ----------------------------------------------------

# bats test_tags=quick
@test "run sets LD_PRELOAD to the library next to reuse" {
  run --separate-stderr "$REUSE" run -- sh -c 'printf "%s\n" "$LD_PRELOAD"'
  assert_success
  assert_output "$PLIB"
}

@test "run appends the library to an existing LD_PRELOAD" {
  build_c pre 'int reuse_test_preload;' -shared -fPIC
  LD_PRELOAD=$T/pre run --separate-stderr "$REUSE" run -- sh -c 'printf "%s\n" "$LD_PRELOAD"'
  assert_success
  assert_output "$T/pre $PLIB"
}

@test "run does not add the library twice, however it is spelled" {
  build_c pre 'int reuse_test_preload;' -shared -fPIC
  LD_PRELOAD="$PLIB $T/pre" run --separate-stderr "$REUSE" run -- sh -c 'printf "%s\n" "$LD_PRELOAD"'
  assert_output "$PLIB $T/pre"
  ln -s "$PLIB" "$T/alias.so"
  LD_PRELOAD="$T/pre:$T/alias.so" run --separate-stderr "$REUSE" run -- sh -c 'printf "%s\n" "$LD_PRELOAD"'
  assert_output "$T/pre:$T/alias.so"
}

@test "run preloads REUSE_LIBRARY when set, made absolute" {
  cp "$LIB" "$T/copy.so"
  REUSE_LIBRARY=copy.so run --separate-stderr "$REUSE" run -- sh -c 'printf "%s\n" "$LD_PRELOAD"'
  assert_success
  assert_output "$(pwd -P)/copy.so"
}

@test "run: a missing library is an error and CMD does not run" {
  REUSE_LIBRARY=$T/nope.so run -1 --separate-stderr "$REUSE" run -- touch ran
  assert_regex "$stderr" "^reuse: REUSE_LIBRARY=$T/nope\\.so: No such file"
  [ ! -e ran ]
  [ ! -e /usr/lib/x86_64-linux-gnu/libreuse/libreuse.so ] || skip "an installed library exists"
  cp "$REUSE" "$T/lonely-reuse"
  run -1 --separate-stderr "$T/lonely-reuse" run -- touch ran
  assert_regex "$stderr" '^reuse: libreuse\.so not found'
  [ ! -e ran ]
}

@test "run --log, --json, --log-level set the library's variables" {
  show='printf "%s|%s|%s\n" "$REUSE_LOG" "$REUSE_LOG_FORMAT" "$REUSE_LOG_LEVEL"'
  run --separate-stderr "$REUSE" run --log out.log --json --log-level all -- sh -c "$show"
  assert_success
  assert_output "$(pwd -P)/out.log|json|all"
  run --separate-stderr "$REUSE" run --log=stderr --log-level off sh -c "$show"
  assert_output 'stderr||off'
  run --separate-stderr "$REUSE" run --log syslog sh -c "$show"
  assert_output 'syslog||'
}

@test "run leaves variables whose option is not given as they were" {
  REUSE_LOG=stderr REUSE_LOG_FORMAT=text REUSE_POLICY=$T/good.policy \
    run --separate-stderr "$REUSE" run sh -c 'printf "%s|%s|%s\n" "$REUSE_LOG" "$REUSE_LOG_FORMAT" "$REUSE_POLICY"'
  assert_output "stderr|text|$T/good.policy"
}

@test "run --log-level takes only off, decisions or all" {
  run -2 --separate-stderr "$REUSE" run --log-level verbose -- touch ran
  assert_regex "$stderr" "off, decisions or all, not 'verbose'"
  [ ! -e ran ]
}

@test "run --policy with a good file sets REUSE_POLICY to its absolute path" {
  run --separate-stderr "$REUSE" run --policy good.policy -- sh -c 'printf "%s\n" "$REUSE_POLICY"'
  assert_success
  assert_output "$(pwd -P)/good.policy"
}

@test "run --policy with a broken file prints its errors, exits 1, runs nothing" {
  run -1 --separate-stderr "$REUSE" run --policy bad.policy -- touch ran
  assert_output ''
  assert_regex "${stderr_lines[0]}" '^bad\.policy:2:1: error: '
  assert_equal "${#stderr_lines[@]}" 3
  [ ! -e ran ]
}

@test "run --policy <(...): the program and the processes it starts all get the piped rules" {
  # reuse run reads the pipe to check it; it keeps a copy named by the text's
  # hash in the uid's private directory and points REUSE_POLICY there
  # (before, the program found the pipe drained and ran with no rule)
  run --separate-stderr "$REUSE" run --log "$T/log" \
    --policy <(printf 'tcp 127.0.0.1:* reuseaddr=force\n') -- \
    sh -c '"$1" 127.0.0.1 0; "$1" 127.0.0.1 0; printf "%s\n" "$REUSE_POLICY"' sh "$PROBES/bindprobe"
  assert_success
  assert_equal "$(grep -c 'bind=ok seen_ra=0 seen_rp=0 kernel_ra=1' <<<"$output")" 2
  copy=${lines[2]}
  [[ $copy == */policy-[0-9a-f]* ]]
  run cat "$copy"
  assert_output 'tcp 127.0.0.1:* reuseaddr=force'
  [ "$(stat -c %a "$copy")" = 400 ]
  [ "$(stat -c %a "$(dirname "$copy")")" = 700 ]
  [ "$(grep -c "action=force result=ok" "$T/log")" -eq 2 ]
  run grep -c error "$T/log"
  assert_output 0
  # a broken piped policy is reported under the name given, and not kept
  run -1 --separate-stderr "$REUSE" run --policy <(printf 'tcp *:* bogus\n') -- touch ran
  assert_regex "${stderr_lines[0]}" '^/dev/fd/[0-9]+:1:9: error: unknown directive'
  [ ! -e ran ]
  # an empty pipe, and a FIFO no writer opens (bounded: 5 s), are errors too
  run -1 --separate-stderr "$REUSE" run --policy <(:) -- touch ran
  assert_regex "${stderr_lines[0]}" '^/dev/fd/[0-9]+:1:1: error: cannot read policy: the pipe or FIFO was empty'
  mkfifo "$T/fifo"
  run -1 --separate-stderr timeout 20 "$REUSE" run --policy "$T/fifo" -- touch ran
  assert_regex "${stderr_lines[0]}" 'fifo:1:1: error: cannot read policy: its writer did not finish in time'
  [ ! -e ran ]
}

@test "run: options after CMD are CMD's" {
  run --separate-stderr "$REUSE" run sh -c 'printf "%s %s\n" "${REUSE_LOG_FORMAT:-unset}" "$1"' _ --json
  assert_success
  assert_output 'unset --json'
}

@test "run: unknown option or no CMD is a usage error" {
  run -2 --separate-stderr "$REUSE" run --frobnicate touch ran
  assert_regex "$stderr" "unknown option '--frobnicate'"
  assert_regex "$stderr" 'Usage: reuse run'
  run -2 --separate-stderr "$REUSE" run --json
  assert_regex "$stderr" 'no command given'
  [ ! -e ran ]
}

# ---- run: exec -----------------------------------------------------------

@test "run: the exit status is CMD's" {
  run -7 "$REUSE" run -- sh -c 'exit 7'
  run -3 "$REUSE" run sh -c 'exit 3'
  run -0 "$REUSE" run true
}

@test "run: CMD keeps reuse's PID (exec, no child process)" {
  run --separate-stderr bash -c 'echo $$; exec "$1" run -- sh -c "echo \$\$"' _ "$REUSE"
  assert_success
  assert_equal "${#lines[@]}" 2
  assert_equal "${lines[1]}" "${lines[0]}"
}

@test "run: CMD not found exits 127" {
  run -127 --separate-stderr "$REUSE" run no-such-command-for-reuse
  assert_equal "$stderr" 'reuse: no-such-command-for-reuse: command not found'
  run -127 --separate-stderr "$REUSE" run "$T/no/such/file"
  assert_regex "$stderr" '^reuse: cannot run .*: No such file or directory$'
}

@test "run: CMD found but not executable exits 126" {
  printf 'echo hi\n' >plain
  chmod 644 plain
  run -126 --separate-stderr "$REUSE" run ./plain
  assert_regex "$stderr" "^reuse: cannot run './plain': Permission denied$"
  mkdir adir
  run -126 --separate-stderr "$REUSE" run ./adir
}

# ---- run: programs the library cannot reach -----------------------------

@test "run: a dynamic program from PATH draws no warning" {
  run --separate-stderr "$REUSE" run true
  assert_success
  refute_regex "$stderr" 'warning'
}

@test "run warns about a static program (found along PATH) and still runs it" {
  build_c static 'int main(void) { return 5; }' -static || skip "gcc -static does not work here"
  PATH="$T:$PATH" run -5 --separate-stderr "$REUSE" run static
  assert_regex "$stderr" "^reuse: warning: $T/static is statically linked"
}

@test "run warns about a static-pie program" {
  build_c spie 'int main(void) { return 4; }' -static-pie || skip "gcc -static-pie does not work here"
  run -4 --separate-stderr "$REUSE" run ./spie
  assert_regex "$stderr" '^reuse: warning: \./spie is statically linked \(static-pie\)'
}

@test "run warns about a set-user-ID program and still runs it" {
  cp /bin/true suid-true
  chmod u+s suid-true
  run -0 --separate-stderr "$REUSE" run ./suid-true
  assert_regex "$stderr" '^reuse: warning: \./suid-true is set-user-ID'
  refute_regex "$stderr" 'statically'
}

@test "run warns about a set-group-ID program" {
  cp /bin/true sgid-true
  chmod g+s sgid-true
  run -0 --separate-stderr "$REUSE" run ./sgid-true
  assert_regex "$stderr" '^reuse: warning: \./sgid-true is set-group-ID'
}

@test "run warns about a program with file capabilities" {
  command -v setcap >/dev/null || skip "no setcap"
  cp /bin/true cap-true
  setcap cap_net_bind_service+ep cap-true 2>/dev/null || skip "cannot set file capabilities here"
  run -0 --separate-stderr "$REUSE" run ./cap-true
  assert_regex "$stderr" '^reuse: warning: \./cap-true carries file capabilities'
}

@test "run does not look inside a #! script, even a set-user-ID one" {
  printf '#!/bin/sh\nexit 6\n' >script
  chmod 4755 script
  run -6 --separate-stderr "$REUSE" run ./script
  assert_equal "$stderr" ''
}

@test "run warns about a 32-bit program when the library is 64-bit" {
  [ "$(getconf LONG_BIT)" = 64 ] || skip "not a 64-bit system"
  # An ELF32 i386 header with one PT_INTERP program header, nothing more.
  {
    printf '\177ELF\001\001\001\000\000\000\000\000\000\000\000\000'
    printf '\002\000\003\000\001\000\000\000\000\000\000\000\064\000\000\000'
    printf '\000\000\000\000\000\000\000\000\064\000\040\000\001\000\000\000\000\000\000\000'
    printf '\003\000\000\000'
    printf '\000%.0s' {1..28}
  } >elf32
  chmod 755 elf32
  run ! --separate-stderr "$REUSE" run ./elf32  # not runnable here: only the warning counts
  assert_regex "$stderr" '^reuse: warning: \./elf32 is a 32-bit i386 program but .* is 64-bit'
}

# ---- one table per command: getopt, --help and the completion agree --------

# What the bash completion offers for `reuse WORD... CUR`, one per line.
complete_words() {
  bash -c 'source "$1"; shift; COMP_WORDS=(reuse "$@"); COMP_CWORD=$#; _reuse; printf "%s\n" "${COMPREPLY[@]}"' \
    sh "$ROOT/completion/reuse.bash" "$@"
}

@test "every command's --help, the bash completion and reuse(1)'s synopsis offer the same commands and options" {
  mapfile -t cmds < <("$REUSE" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z-]*\) .*/\1/p')
  [ "${#cmds[@]}" -ge 7 ]
  syn=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' "$ROOT/man/reuse.1" | sed 's/\\-/-/g')
  assert_equal "$(complete_words '' | grep -v '^-' | sort)" "$(printf '%s\n' "${cmds[@]}" | sort)"
  for c in "${cmds[@]}"; do
    help=$("$REUSE" "$c" --help)
    want=$(grep -oE '^  (-[a-z], )?--[a-z-]+' <<<"$help" | grep -oE -- '--[a-z-]+' | sort)
    got=$(complete_words "$c" -- | grep -vx -- '--' | sort)
    [ -n "$want" ]
    [ "$want" = "$got" ] || fail "$c: --help has [$(echo $want)], the completion [$(echo $got)]"
    man=$(awk -v c="$c" '$0 == ".B reuse " c {on = 1; next} /^\.br/ {on = 0} on' <<<"$syn" |
      grep -oE -- '--[a-z-]+' | sort -u)
    [ "$(grep -vx -- --help <<<"$want")" = "$man" ] ||
      fail "$c: --help has [$(echo $want)], reuse(1) SYNOPSIS [$(echo $man)]"
    # an option with an argument ('--opt ARG' in --help) is followed by that
    # argument, any other by more options
    while read -r o arg; do
      out=$(complete_words "$c" "$o" --)
      if [ -n "$arg" ]; then
        ! grep -q '^--[a-z]' <<<"$out" || fail "$c $o: completes options, not its $arg"
      else
        grep -qx -- --help <<<"$out" || fail "$c $o: no options complete after it"
      fi
    done < <(grep -oE '^  (-[a-z], )?--[a-z-]+( [A-Z]+)?' <<<"$help" | sed 's/^ *\(-[a-z], \)\{0,1\}//')
  done
}

@test "every command reports an unknown option or a missing argument the same way, with its usage" {
  mapfile -t cmds < <("$REUSE" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z-]*\) .*/\1/p')
  for c in "${cmds[@]}"; do
    run -2 --separate-stderr "$REUSE" "$c" --frobnicate
    assert_output ''
    assert_regex "$stderr" "^reuse: $c: unknown option '--frobnicate'"$'\n'"Usage: reuse $c "
  done
  for c in "run --policy" "run --log" "systemd-dropin unit --policy"; do
    # shellcheck disable=SC2086  # the words of one command line
    run -2 --separate-stderr "$REUSE" $c
    assert_regex "$stderr" "^reuse: ${c%% *}: option '${c##* }' needs an argument"
  done
}

@test "a CMD killed by signal N: reuse exits 128+N under --supervise and under --seccomp" {
  # python3 tells a death by a signal (negative) from an exit status
  for mode in --supervise --seccomp; do
    run --separate-stderr python3 -c 'import subprocess, sys; print(subprocess.run(sys.argv[1:]).returncode)' \
      "$REUSE" run "$mode" -- sh -c 'kill -KILL $$'
    assert_output 137
    run --separate-stderr python3 -c 'import subprocess, sys; print(subprocess.run(sys.argv[1:]).returncode)' \
      "$REUSE" run "$mode" -- sh -c 'kill -TERM $$'
    assert_output 143
    run "$REUSE" run "$mode" -- sh -c 'exit 7'
    assert_failure 7
  done
}
