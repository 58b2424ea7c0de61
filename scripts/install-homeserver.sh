#!/usr/bin/env bash
# Installs Synapse (pip, into a virtualenv under the cache folder) only when it is missing or broken.
# Quiet when already installed, so `npm start` and `npm test` can call it every time.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${POCKETCODER_CACHE:-$repo_root/.cache}"
venv="$cache/synapse-venv"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import synapse' >/dev/null 2>&1; then
  exit 0
fi

python="$(command -v python3 || true)"
if [ -z "$python" ]; then
  echo "error: python3 not found; Synapse needs Python 3.10 or newer (apt-get install python3 python3-venv)" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  echo "error: $("$python" --version) is too old; Synapse needs Python 3.10 or newer" >&2
  exit 1
fi

echo "==> installing Synapse into $venv (pip install matrix-synapse)"
mkdir -p "$cache"
# A half-made venv (interrupted install) is rebuilt from scratch rather than patched.
rm -rf "$venv"
if ! "$python" -m venv "$venv"; then
  echo "error: could not create a virtualenv; install python3-venv (apt-get install python3-venv)" >&2
  exit 1
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/pip" install --quiet --disable-pip-version-check matrix-synapse
"$venv/bin/python" -c 'import synapse; print("==> Synapse " + synapse.__version__ + " installed")'
