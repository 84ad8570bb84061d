#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the tests. On a machine without a GPU the end-to-end tests run
# the real SGLang server on the CPU with the torch_memory_saver stand-in; tests/gpu skips itself.
# SGLANG_VERSION=<release> runs them against another supported release (its own venv). The
# examples' end-to-end runs have their own step (scripts/test-examples.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(bash scripts/setup.sh)
# tests/test_smoke.py is what the other releases run in CI (scripts/test-release.sh --smoke); the
# whole suite covers it, so a run that names no test leaves it out (a server start less).
named=0
for arg in "$@"; do [[ $arg != -* && -e ${arg%%::*} ]] && named=1; done
[ "$named" = 1 ] || set -- --ignore=tests/test_smoke.py "$@"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider -m "not example" "$@"
