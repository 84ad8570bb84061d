#!/usr/bin/env bash
# The end-to-end behaviour every supported release must show (issue 10's list), on one release
# ($SGLANG_VERSION), in both forms: tagged release/resume, every bad input a 4xx JSON, a release
# during 16 streaming requests in each mode, 503 while released, the status route
# (tests/test_e2e_http.py); the staged update token-identical and the stale-weights guard
# (tests/test_staged_update.py); the trainer's Engine API (tests/test_engine.py); 507 for a resume
# that does not fit and the api key on the memory routes (tests/test_server_options.py); and the
# patch set applying and reverting exactly (tests/test_patches.py).
# The source form runs the first two modules. CI runs it for every release but the primary one, which gets the whole
# suite (scripts/test.sh and scripts/test-source-form.sh): the full suite per release would take
# CI past its time budget (docs/testing.md has the figures).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(bash scripts/sglang-version.sh)
E2E=(tests/test_e2e_http.py tests/test_staged_update.py tests/test_engine.py tests/test_server_options.py)
echo "== sglang $VERSION: runtime patches"
bash scripts/test.sh "${E2E[@]}" tests/test_patches.py "$@"
if [ -f "patches/$VERSION/series" ]; then
    # The source form's own wiring: the routes, the scheduler's handlers and the weight updates
    # (the Engine and the 507 call the same shared code the runtime form just ran).
    echo "== sglang $VERSION: source series patches/$VERSION"
    bash scripts/test-source-form.sh tests/test_e2e_http.py tests/test_staged_update.py "$@"
fi
