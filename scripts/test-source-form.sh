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
# Tests named as arguments (scripts/test-release.sh), else every end-to-end module; other
# arguments (-x, -k ...) go to pytest either way.
named=0
for arg in "$@"; do [[ $arg != -* && -e ${arg%%::*} ]] && named=1; done
[ "$named" = 1 ] || set -- tests/test_e2e_http.py tests/test_staged_update.py tests/test_engine.py \
    tests/test_server_options.py tests/test_scheduler_edges.py tests/test_startup.py "$@"
# shellcheck disable=SC2046  # the workers' arguments are words (scripts/pytest-workers.sh)
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider $(bash scripts/pytest-workers.sh) "$@"
