#!/usr/bin/env bash
# npm run bench: install what is missing, then run the benchmarks (see scripts/bench/run.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure-deps.sh
ensure_npm_deps >&2
ensure_system_tools >&2
ensure_synapse >&2
exec npx tsx --import ./bot/src/polyfill.ts scripts/bench/run.ts "$@"
