#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the tests. On a machine without a GPU the end-to-end tests run
# the real SGLang server on the CPU with the torch_memory_saver stand-in; tests/gpu skips itself.
# SGLANG_VERSION=<release> runs them against another supported release (its own venv). The
# examples' end-to-end runs have their own step (scripts/test-examples.sh).
# Two pytest workers unless TEST_WORKERS=1 (scripts/pytest-workers.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(bash scripts/setup.sh)
# shellcheck disable=SC2046  # the workers' arguments are words
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider -m "not example" $(bash scripts/pytest-workers.sh) "$@"
