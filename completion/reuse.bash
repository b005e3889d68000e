# bash completion for reuse(1)                                 -*- shell-script -*-
# shellcheck shell=bash

_reuse() {
  local cur prev cmd
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD-1]}
  cmd=${COMP_WORDS[1]}

  if [ "$COMP_CWORD" -eq 1 ]; then
    mapfile -t COMPREPLY < <(compgen -W 'run check policy who audit systemd-dropin help --help --version' -- "$cur")
    return
  fi
  case $cmd in
    run)
      case $prev in
        --policy) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
        --log) mapfile -t COMPREPLY < <(compgen -W 'stderr syslog off' -f -- "$cur"); return ;;
        --log-level) mapfile -t COMPREPLY < <(compgen -W 'off decisions all' -- "$cur"); return ;;
        --stop-signal) mapfile -t COMPREPLY < <(compgen -W 'TERM INT QUIT HUP USR1 USR2' -- "$cur"); return ;;
        --takeover-timeout) return ;;
      esac
      local i
      for ((i = 2; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
          --policy|--log|--log-level|--stop-signal|--takeover-timeout|--pid-file) ((i++)) ;;
          --) mapfile -t COMPREPLY < <(compgen -c -- "$cur"); return ;;
          -*) ;;
          *) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
        esac
      done
      if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W '--policy --log --json --log-level --dry-run --supervise --takeover-timeout --stop-signal --pid-file --help --' -- "$cur")
      else
        mapfile -t COMPREPLY < <(compgen -c -- "$cur")
      fi ;;
    check) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    policy) mapfile -t COMPREPLY < <(compgen -W '--default --help' -- "$cur") ;;
    who)
      if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W '--tcp --udp --json --help' -- "$cur")
      fi ;;
    audit) mapfile -t COMPREPLY < <(compgen -W '--json --help' -- "$cur") ;;
    systemd-dropin)
      if [ "$prev" = --policy ]; then
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      elif [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W '--policy --help' -- "$cur")
      fi ;;
    help) mapfile -t COMPREPLY < <(compgen -W 'run check policy who audit systemd-dropin help' -- "$cur") ;;
  esac
}
complete -F _reuse reuse
