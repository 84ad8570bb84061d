#!/usr/bin/env bash
# The examples end to end (tests marked `example`: examples/colocated_rl.py for a few RL steps).
# CI runs it after scripts/test.sh, which leaves them out to stay fast.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(bash scripts/setup.sh)
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider -m example "$@"
