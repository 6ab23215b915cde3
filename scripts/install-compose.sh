#!/usr/bin/env bash
# Makes `docker compose` (Compose v2, the CLI plugin) available on a Debian bookworm machine.
#
# Bookworm only packages Compose v1 (`docker-compose` 1.29, Python). Debian trixie's `docker-compose` 2.x
# package carries v2 as one static binary, usr/libexec/docker/cli-plugins/docker-compose, so we download that
# one .deb with apt and unpack it into the user's CLI plugin folder. The trixie suite is only ever seen by a
# private apt configuration in a temporary directory (its own source list, list and cache folders): the system's
# sources and package lists are never touched, so nothing can be upgraded from trixie by accident.
# The docker CLI itself comes from bookworm's docker.io when missing. `docker compose config` needs no engine.
#
# Usage: scripts/install-compose.sh [--dry-run]
#   --dry-run  print what would be done, change nothing
# Env: DOCKER_CONFIG (plugin goes to $DOCKER_CONFIG/cli-plugins, default ~/.docker/cli-plugins),
#      DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

dry_run=false
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=true ;;
    -h | --help)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "install-compose: unknown argument $arg" >&2
      exit 2
      ;;
  esac
done

say() { printf 'install-compose: %s\n' "$*" >&2; }
run() {
  if $dry_run; then
    printf '+ %s\n' "$*"
  else
    "$@"
  fi
}

if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  say "already available: $(docker compose version)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
  if ! command -v sudo >/dev/null 2>&1 && ! $dry_run; then
    say "not root and no sudo: install Docker Compose v2 yourself (https://docs.docker.com/compose/install/)"
    exit 1
  fi
else
  sudo=
fi
if ! command -v apt-get >/dev/null 2>&1; then
  say "apt-get not found (this script knows Debian only): install Docker Compose v2 yourself"
  exit 1
fi

if ! command -v docker >/dev/null 2>&1; then
  say "docker CLI missing: apt-get install docker.io"
  run $sudo apt-get update -qq
  run $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io
fi

mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
plugin_dir="${DOCKER_CONFIG:-${HOME:-/root}/.docker}/cli-plugins"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/sourceparts" "$work/deb"
# apt drops privileges to _apt for downloads: let it write there.
chmod 0755 "$work" "$work/deb"
cat >"$work/trixie.sources" <<EOF
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_private=(
  -o "Dir::Etc::SourceList=$work/trixie.sources"
  -o "Dir::Etc::SourceParts=$work/sourceparts"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache"
  -o "APT::Get::List-Cleanup=false"
)

say "fetching Debian trixie's docker-compose (Compose v2) with a private apt configuration in $work"
run apt-get "${apt_private[@]}" update -qq
(cd "$work/deb" && run apt-get "${apt_private[@]}" download docker-compose/trixie)
if $dry_run; then
  printf '+ dpkg-deb -x %s/deb/docker-compose_*.deb %s/x\n' "$work" "$work"
  printf '+ install -m 0755 %s/x/usr/libexec/docker/cli-plugins/docker-compose %s/docker-compose\n' "$work" "$plugin_dir"
  exit 0
fi

deb=$(ls "$work"/deb/docker-compose_*.deb)
dpkg-deb -x "$deb" "$work/x"
binary="$work/x/usr/libexec/docker/cli-plugins/docker-compose"
if [ ! -x "$binary" ]; then
  say "the trixie package has no usr/libexec/docker/cli-plugins/docker-compose (layout changed?)"
  exit 1
fi
mkdir -p "$plugin_dir"
install -m 0755 "$binary" "$plugin_dir/docker-compose"
say "installed $plugin_dir/docker-compose"
docker compose version
