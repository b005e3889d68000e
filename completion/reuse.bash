# bash completion for reuse(1)                                 -*- shell-script -*-
# shellcheck shell=bash
# The commands and options are those of `reuse COMMAND --help` (src/cli/commands.c);
# tests/cli.bats fails when the two differ.

_reuse() {
  local cur prev cmd opts argopts i
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD-1]}
  cmd=${COMP_WORDS[1]}

  if [ "$COMP_CWORD" -eq 1 ]; then
    mapfile -t COMPREPLY < <(compgen -W 'run check policy who audit systemd-dropin guard help --help --version' -- "$cur")
    return
  fi
  # each command's options, and those of them that take an argument
  case $cmd in
    run)
      opts='--policy --log --json --log-level --dry-run --seccomp --supervise --takeover-timeout --stop-signal --pid-file --help'
      argopts='--policy --log --log-level --takeover-timeout --stop-signal --pid-file' ;;
    check) opts='--guard --help' argopts='' ;;
    policy) opts='--default --help' argopts='' ;;
    who) opts='--tcp --udp --json --help' argopts='' ;;
    audit) opts='--json --help' argopts='' ;;
    systemd-dropin) opts='--policy --help' argopts='--policy' ;;
    guard)
      opts='--policy --log --json --cgroup --host --pin --force --list --remove --all --help'
      argopts='--policy --log --cgroup' ;;
    help) opts='--help' argopts='' ;;
    *) return ;;
  esac
  # the argument of an option
  if [[ " $argopts " == *" $prev "* ]]; then
    case $prev in
      --policy|--pid-file) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
      --cgroup) mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
      --log) mapfile -t COMPREPLY < <(compgen -W 'stderr syslog off' -f -- "$cur") ;;
      --log-level) mapfile -t COMPREPLY < <(compgen -W 'off decisions all' -- "$cur") ;;
      --stop-signal) mapfile -t COMPREPLY < <(compgen -W 'TERM INT QUIT HUP USR1 USR2' -- "$cur") ;;
    esac
    return
  fi
  if [ "$cmd" = run ]; then
    # run's options end at CMD (or --); after it, CMD's arguments are files
    for ((i = 2; i < COMP_CWORD; i++)); do
      case ${COMP_WORDS[i]} in
        --) mapfile -t COMPREPLY < <(compgen -c -- "$cur"); return ;;
        -*) [[ " $argopts " == *" ${COMP_WORDS[i]} "* ]] && ((i++)) ;;
        *) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
      esac
    done
    opts="$opts --"
  fi
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
    return
  fi
  case $cmd in
    run) mapfile -t COMPREPLY < <(compgen -c -- "$cur") ;;
    check) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    help) mapfile -t COMPREPLY < <(compgen -W 'run check policy who audit systemd-dropin guard help' -- "$cur") ;;
  esac
}
complete -F _reuse reuse
