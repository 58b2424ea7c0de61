# Sourced by the entry scripts: each ensure_* installs only what is missing.
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export POCKETCODER_CACHE="${POCKETCODER_CACHE:-$repo_root/.cache}"
# Native addons build against the headers of the running node, never downloaded ones.
export npm_config_nodedir="${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}"

ensure_npm_deps() {
  local stamp="$repo_root/node_modules/.pocketcoder-lock-hash"
  local want
  want="$(sha256sum "$repo_root/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing npm dependencies"
    (cd "$repo_root" && npm ci --no-audit --no-fund)
    echo "$want" > "$stamp"
  fi
}

ensure_system_tools() {
  local missing=()
  command -v tmux >/dev/null || missing+=(tmux)
  command -v bwrap >/dev/null || missing+=(bubblewrap)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "==> installing ${missing[*]} with apt-get"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
        || echo "warning: could not install ${missing[*]}" >&2
    else
      echo "warning: ${missing[*]} not installed and cannot install it here" >&2
    fi
  fi
}

ensure_synapse() {
  bash "$repo_root/scripts/install-homeserver.sh"
}
