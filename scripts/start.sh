#!/usr/bin/env bash
# npm start: install what is missing (npm packages, Synapse), then run scripts/start.ts, which starts
# the homeserver and the bot and prints how to sign in from Element.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure-deps.sh
ensure_npm_deps
ensure_system_tools
ensure_synapse
exec node --import tsx scripts/start.ts "$@"
