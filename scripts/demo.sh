#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the demo: a tiny model built offline, the patched server,
# and the staged release/resume sequence over HTTP, printed step by step.
set -euo pipefail
cd "$(dirname "$0")/.."
# Cache compiled bytecode as a normal Python does (some images set PYTHONDONTWRITEBYTECODE; then
# every process compiles torch and SGLang again: 3x the CPU of a server start, bench/README.md).
unset PYTHONDONTWRITEBYTECODE
VENV=$(bash scripts/setup.sh)
exec "$VENV/bin/python" examples/demo.py "$@"
