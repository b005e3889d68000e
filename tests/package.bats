#!/usr/bin/env bats
# Installing libreuse: make install (PREFIX, DESTDIR) and the Debian package
# (built from this tree, installed, used by a daemon, removed, purged).
# shellcheck disable=SC2153,SC2154  # helpers.bash sets ROOT, LIB; bats sets $output

load helpers

bats_require_minimum_version 1.5.0

setup() {
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL REUSE_LIBRARY REUSE_DRY_RUN LD_PRELOAD
  T=$BATS_TEST_TMPDIR
  MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
  DAEMON=""
  OURS=""
}

teardown() {
  if [ -n "$DAEMON" ]; then kill "$DAEMON" 2>/dev/null; wait "$DAEMON" 2>/dev/null; fi
  if [ -n "$OURS" ]; then dpkg_retry --purge libreuse >/dev/null 2>&1; fi
  return 0
}

# dpkg, retried (bounded: 2 min) while another dpkg/apt holds the lock.
dpkg_retry() {
  local i out
  for ((i = 0; i < 120; i++)); do
    if out=$(dpkg "$@" 2>&1); then echo "$out"; return 0; fi
    grep -qi 'lock' <<<"$out" || { echo "$out"; return 1; }
    sleep 1
  done
  echo "$out"; return 1
}

@test "make install honours DESTDIR and PREFIX; the installed reuse finds its library; uninstall removes it all" {
  run make -s -C "$ROOT" install DESTDIR="$T/root"
  assert_success
  r=$T/root/usr/local
  [ -x "$r/bin/reuse" ]
  [ -f "$r/lib/$MA/libreuse/libreuse.so" ]
  [ -f "$r/share/man/man1/reuse.1" ] && [ -f "$r/share/man/man5/reuse.policy.5" ] && [ -f "$r/share/man/man7/libreuse.7" ]
  [ -f "$T/root/etc/libreuse/policy.example" ]
  [ ! -e "$T/root/etc/libreuse/policy" ]
  [ -f "$r/share/bash-completion/completions/reuse" ]
  "$r/bin/reuse" check "$T/root/etc/libreuse/policy.example"
  # run from its prefix it preloads the library of that prefix, not the build tree's
  run "$r/bin/reuse" systemd-dropin demo
  assert_line "Environment=LD_PRELOAD=$r/bin/../lib/$MA/libreuse/libreuse.so"
  p=$(free_port)
  run --separate-stderr "$r/bin/reuse" run -- "$PROBES/bindprobe" -l 127.0.0.1 "$p"
  assert_output --partial 'kernel_ra=1'
  [[ $stderr == *"bindprobe bind fd="*" tcp 127.0.0.1:$p rule=default:"*"action=force result=ok"* ]]
  run make -s -C "$ROOT" uninstall DESTDIR="$T/root"
  assert_success
  [ -z "$(find "$T/root" -type f)" ]
}

@test "the Debian package builds from the tree, installs, runs a daemon under the installed library and CLI, and is removed" {
  if dpkg-query -W -f='${Status}' libreuse 2>/dev/null | grep -q 'installed'; then
    skip "a libreuse package is already installed on this machine"
  fi
  run make -s -C "$ROOT" deb
  assert_success
  deb=$(ls "$ROOT"/build/deb/libreuse_*_*.deb)
  [ -f "$deb" ]
  # lintian-clean: no error, warning or informational tag on the package or the upload
  run --separate-stderr lintian --fail-on error,warning,info -I "$deb" "$ROOT"/build/deb/libreuse_*.changes
  assert_success
  assert_output ''
  run dpkg-deb -c "$deb"
  assert_output --partial "./usr/lib/$MA/libreuse/libreuse.so"
  assert_output --partial './usr/bin/reuse'
  assert_output --partial './etc/libreuse/policy.example'
  assert_output --partial './usr/share/man/man5/reuse.policy.5.gz'
  assert_output --partial './usr/share/bash-completion/completions/reuse'
  refute_output --regexp '\./etc/libreuse/policy$'

  OURS=1
  run dpkg_retry -i "$deb"
  assert_success
  [ -x /usr/bin/reuse ]
  [ -f "/usr/lib/$MA/libreuse/libreuse.so" ]
  [ -f /etc/libreuse/policy.example ]
  [ "$(man -w reuse)" = /usr/share/man/man1/reuse.1.gz ]

  # a real daemon, started by the installed CLI, under the installed library
  p=$(free_port)
  cd "$T" || return 1
  /usr/bin/reuse run --log "$T/log" -- /usr/bin/python3 -m http.server --bind 127.0.0.1 "$p" >/dev/null 2>&1 &
  DAEMON=$!
  wait_listen "$p"
  grep -q " /usr/lib/$MA/libreuse/libreuse.so\$" "/proc/$DAEMON/maps"
  grep -q "python3 bind fd=[0-9]* tcp 127.0.0.1:$p rule=default:[0-9]* .*result=ok now=reuseaddr:on" "$T/log"
  run /usr/bin/reuse who --tcp "127.0.0.1:$p"
  assert_line --regexp "^  LISTEN +127\\.0\\.0\\.1:$p +uid 0 +pid $DAEMON python3 "
  kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true
  DAEMON=""

  run dpkg_retry -r libreuse
  assert_success
  [ ! -e /usr/bin/reuse ]
  [ ! -e "/usr/lib/$MA/libreuse/libreuse.so" ]
  [ -f /etc/libreuse/policy.example ]          # a conffile: kept until purge
  run dpkg_retry --purge libreuse
  assert_success
  OURS=""
  [ ! -e /etc/libreuse/policy.example ]
}

# A clean build room holds build-essential, the Build-Depends and what they
# depend on. tests/tools/check-builddeps.py builds the package under strace and asks
# dpkg-checkbuilddeps, against a dpkg database cut down to that room, for every
# package whose programs, headers or libraries the build used.
@test "Build-Depends name every package the build uses, and dropping any one of them is noticed" {
  run dpkg-checkbuilddeps "$ROOT/debian/control"
  assert_success
  run "$ROOT/tests/tools/check-builddeps.py" -v --keep-trace "$T/trace"
  assert_success
  assert_line 'check-builddeps: ok'
  # what the build used is seen: the seccomp and uthash headers, the linker, dh
  assert_line --regexp '^  libseccomp-dev +/'
  assert_line --regexp '^  uthash-dev +/usr/include/uthash\.h$'
  assert_line --regexp '^  binutils +/'
  assert_line --regexp '^  debhelper +/usr/bin/dh'
  mapfile -t deps < <(sed -n '/^Build-Depends:/,/^[^ ]/{/^ /p}' "$ROOT/debian/control")
  [ "${#deps[@]}" -ge 3 ]
  for d in "${deps[@]}"; do
    grep -vxF "$d" "$ROOT/debian/control" >"$T/control"
    run "$ROOT/tests/tools/check-builddeps.py" --trace "$T/trace" --control "$T/control"
    assert_failure 1
    assert_output --partial 'Unmet build dependencies:'
    echo "# without$d: noticed" >&3
  done
}

# Every shell script of the repository (by its #! line or its ending)
# passes ShellCheck at warning level; a script in another language has an
# ending that says so (ShellCheck run over scripts/* meets no Python).
@test "every shell script is shellcheck-clean, and no script in another language poses as one" {
  cd "$ROOT" || return 1
  local f scripts=() other=()
  while IFS= read -r f; do
    case $f in
      *.bats | *.bash | *.sh) scripts+=("$f") ;;
      *.*) ;;
      *) if head -c 64 "$f" | grep -qE '^#!.*\b(ba)?sh\b'; then scripts+=("$f")
         elif head -c 64 "$f" | grep -qE '^#!.*\b(python|perl|ruby|node)'; then other+=("$f"); fi ;;
    esac
  done < <(git ls-files)
  echo "scripts without a language ending: ${other[*]}"
  [ "${#other[@]}" -eq 0 ]
  [ "${#scripts[@]}" -gt 20 ]
  run shellcheck -S warning "${scripts[@]}"
  assert_success
}

# What a newcomer reads must point somewhere: every *.md or *.bats a file of
# the repository names exists (by its path, or by its name in tests/,
# tests/attack/, bench/ or docs/, whose pages link each other by name), and
# the manual pages carry one date.
@test "the files comments and docs name exist; the manual pages agree on their date" {
  cd "$ROOT" || return 1
  missing=()
  while IFS= read -r ref; do
    case $ref in *'$'* | /* | build/* | tests/FILE.bats) continue ;; esac
    [ -e "$ref" ] || [ -e "tests/$ref" ] || [ -e "tests/attack/$ref" ] || [ -e "bench/$ref" ] ||
      [ -e "docs/$ref" ] || missing+=("$ref")
  done < <(git ls-files | xargs cat | sed 's/\\-/-/g' |   # groff writes '-' as '\-'
             grep -aoE '[A-Za-z0-9_./${}-]*[A-Za-z0-9_-]\.(md|bats)\b' | sort -u)
  echo "named but missing: ${missing[*]}"
  [ "${#missing[@]}" -eq 0 ]
  # the named files seen include the test suites and the bench notes
  git ls-files | xargs grep -qhE 'tests/insight\.bats'
  run bash -c "sed -n 's/^\\.TH [^ ]* [0-9] \"\\{0,1\\}\\([0-9-]*\\).*/\\1/p' man/*.[1-8] | sort -u"
  [ "${#lines[@]}" -eq 1 ]
  [[ ${lines[0]} =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]]
}

# make: one definition of each entry point, and each object rebuilt when a
# header it includes changes, and only then (-MMD -MP).
@test "the Makefile defines all, check and clean once each and tracks each object's headers" {
  cd "$ROOT" || return 1
  for t in all check clean; do
    [ "$(grep -c "^$t:" Makefile)" -eq 1 ] || fail "'$t:' defined $(grep -c "^$t:" Makefile) times"
  done
  run ! grep -niE 'issue [0-9]' Makefile
  make -s all
  # cli.h: the CLI's objects and build/reuse, nothing of the library or the core
  run make -n -W src/cli/cli.h all
  assert_success
  assert_line --partial ' -o build/obj/src/cli/who.o '
  assert_line --partial ' -o build/reuse '
  refute_line --partial 'build/obj/src/core/'
  refute_line --partial 'build/obj/src/shim/'
  refute_line --partial ' -o build/libreuse.so '
  # rules.h: rules.c and its users, not the shim's socket() wrapper
  run make -n -W src/core/rules.h all
  assert_line --partial ' -o build/obj/src/core/rules.o '
  refute_line --partial ' -o build/obj/src/shim/socket.o '
  # up to date: nothing compiled, nothing linked
  run make all
  assert_success
  [[ $output != *' -o build/'* ]]
}
