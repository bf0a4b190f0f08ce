#!/usr/bin/env bash
# Builds and runs the whole test suite (installs packages and fetches models first when missing).
#   ./scripts/test.sh [ctest args...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
./scripts/setup.sh --no-demo
cd build
ctest --output-on-failure --timeout 900 "$@"
