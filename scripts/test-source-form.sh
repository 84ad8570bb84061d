#!/usr/bin/env bash
# The end-to-end tests again, against SGLang patched from source with patches/<version>/series
# and runtime patching off (SGLANG_PATCH_RUNTIME=off): the source form must behave as the runtime
# form does. CI runs it after scripts/test.sh, for each release with a series (SGLANG_VERSION).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(bash scripts/setup.sh)
VERSION=$(bash scripts/sglang-version.sh)
TREE=build/sglang-source-patched/$VERSION
"$VENV/bin/python" -m sglang_patch_dev.series build --dest "$TREE" --if-changed
export SGLANG_PATCH_RUNTIME=off
export PYTHONPATH="$PWD/$TREE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
# Without arguments: every end-to-end module; with arguments: those tests (scripts/test-release.sh).
[ $# -gt 0 ] || set -- tests/test_e2e_http.py tests/test_staged_update.py tests/test_engine.py \
    tests/test_server_options.py tests/test_scheduler_edges.py tests/test_startup.py
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
