#!/usr/bin/env bash
# npm test: install what is missing, type-check, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure-deps.sh
ensure_npm_deps
ensure_system_tools
ensure_synapse
echo "==> type check"
npx tsc -p tsconfig.json
echo "==> tests"
npx vitest run "$@"
