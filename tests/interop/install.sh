#!/usr/bin/env bash
# Installs the pinned third-party MCP peers the end-to-end tests run against:
#   target/interop/venv                      Python venv with requirements.txt (+ constraints.txt)
#   target/interop/node/node_modules         npm packages from package.json + package-lock.json
#                                            (server-everything; oidc-provider for oauth/server.mjs)
# Idempotent: a stamp file per part records a hash of its pins and toolchain; matching stamp = skip.
# Any failure is fatal (the tests would only fail later, less clearly).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/target/interop"
mkdir -p "$out"

die() { echo "interop install: $*" >&2; exit 1; }
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

command -v python3 >/dev/null || die "python3 not found"
command -v node >/dev/null || die "node not found"
command -v npm >/dev/null || die "npm not found"

# --- Python: the official MCP SDK -----------------------------------------------------------
venv="$out/venv"
py_stamp="$out/venv.stamp"
py_want="$(hash_of "$here/requirements.txt" "$here/constraints.txt") $(python3 --version 2>&1)"
if [[ -x "$venv/bin/python" && -f "$py_stamp" && "$(cat "$py_stamp")" == "$py_want" ]]; then
  echo "interop install: python venv up to date ($venv)"
else
  echo "interop install: creating python venv in $venv"
  rm -rf "$venv" "$py_stamp"
  python3 -m venv "$venv" || die "python3 -m venv failed"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$here/requirements.txt" -c "$here/constraints.txt" || die "pip install failed"
  "$venv/bin/python" -c 'import mcp, openai' || die "the venv cannot import mcp and openai"
  printf '%s' "$py_want" >"$py_stamp"
fi

# --- Node: @modelcontextprotocol/server-everything, oidc-provider ----------------------------
node_dir="$out/node"
node_stamp="$out/node.stamp"
node_want="$(hash_of "$here/package.json" "$here/package-lock.json") $(node --version) $(npm --version)"
if [[ -d "$node_dir/node_modules" && -f "$node_stamp" && "$(cat "$node_stamp")" == "$node_want" ]]; then
  echo "interop install: node packages up to date ($node_dir)"
else
  echo "interop install: installing node packages in $node_dir"
  rm -rf "$node_dir" "$node_stamp"
  mkdir -p "$node_dir"
  cp "$here/package.json" "$here/package-lock.json" "$node_dir/"
  npm ci --prefix "$node_dir" --no-audit --no-fund --loglevel=error || die "npm ci failed"
  printf '%s' "$node_want" >"$node_stamp"
fi

entry="$node_dir/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
[[ -f "$entry" ]] || die "server-everything entry point missing: $entry"
entry="$node_dir/node_modules/oidc-provider/lib/index.js"
[[ -f "$entry" ]] || die "oidc-provider entry point missing: $entry"
echo "interop install: ok"
