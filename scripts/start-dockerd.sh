#!/usr/bin/env bash
# Makes a Docker engine answer on this machine: installs Debian's docker.io when dockerd is missing, then starts
# dockerd in the background (logging to a file) unless an engine already answers, and waits for `docker info`.
# Idempotent: a second run with the engine up only prints its version. Meant for CI boxes and dev containers
# without systemd; on a desktop with Docker already running it does nothing.
#
# Usage: scripts/start-dockerd.sh [--dry-run] [--no-install]
#   --dry-run     print what would be done, change nothing
#   --no-install  start dockerd only if it is installed (never apt-get); `make test-stack` uses this
# Env: DOCKERD_LOG (default /var/log/dockerd.log), DOCKERD_WAIT_SECONDS (default 60),
#      DOCKERD_ARGS (extra dockerd flags, e.g. "--iptables=false").
set -euo pipefail

dry_run=false
install=true
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=true ;;
    --no-install) install=false ;;
    -h | --help)
      awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
      exit 0
      ;;
    *)
      echo "start-dockerd: unknown argument $arg" >&2
      exit 2
      ;;
  esac
done

say() { printf 'start-dockerd: %s\n' "$*" >&2; }
run() {
  if $dry_run; then
    printf '+ %s\n' "$*"
  else
    "$@"
  fi
}

log="${DOCKERD_LOG:-/var/log/dockerd.log}"
wait_seconds="${DOCKERD_WAIT_SECONDS:-60}"

engine_answers() { command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; }

if engine_answers; then
  say "engine already running: $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
  if ! command -v sudo >/dev/null 2>&1 && ! $dry_run; then
    say "not root and no sudo: start Docker yourself (https://docs.docker.com/engine/install/)"
    exit 1
  fi
else
  sudo=
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if ! $install; then
    say "dockerd is not installed (run scripts/start-dockerd.sh without --no-install to apt-get docker.io)"
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "dockerd missing and apt-get not found: install Docker yourself (https://docs.docker.com/engine/install/)"
    exit 1
  fi
  say "dockerd missing: apt-get install docker.io"
  run $sudo apt-get update -qq
  run $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    docker.io ca-certificates iptables
fi

# A dockerd whose socket does not answer yet (still starting) is waited for, not started twice.
if pgrep -x dockerd >/dev/null 2>&1; then
  say "dockerd is running (pid $(pgrep -x dockerd | head -n 1)) but not answering yet: waiting"
else
  say "starting dockerd in the background, log in $log"
  # shellcheck disable=SC2086 # DOCKERD_ARGS is a list of flags
  if $dry_run; then
    printf '+ %s\n' "${sudo:+$sudo }setsid nohup dockerd ${DOCKERD_ARGS:-} >>$log 2>&1 &"
  else
    $sudo mkdir -p "$(dirname "$log")"
    # setsid: dockerd must outlive this shell and not receive its terminal's signals.
    $sudo setsid nohup dockerd ${DOCKERD_ARGS:-} >>"$log" 2>&1 </dev/null &
  fi
fi

if $dry_run; then
  printf '+ wait up to %ss for docker info\n' "$wait_seconds"
  exit 0
fi

for _ in $(seq 1 "$wait_seconds"); do
  if engine_answers; then
    say "engine up: $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
    exit 0
  fi
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    say "dockerd exited; last lines of $log:"
    tail -n 20 "$log" >&2 || true
    exit 1
  fi
  sleep 1
done
say "dockerd did not answer within ${wait_seconds}s; last lines of $log:"
tail -n 20 "$log" >&2 || true
exit 1
