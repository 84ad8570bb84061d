#!/usr/bin/env bash
# What CI runs for one supported release ($SGLANG_VERSION) other than the primary one.
#
#   SGLANG_VERSION=0.5.6 bash scripts/test-release.sh           # full: both forms
#   SGLANG_VERSION=0.4.8 bash scripts/test-release.sh --smoke   # smoke: runtime form, one server
#
# Full (CI: the primary release's neighbours that matter most, verl's pin and the newest): the smoke
# (below); the end-to-end behaviour every supported release must show — tagged release/resume,
# every bad input a 4xx JSON, a release during 16 streaming requests in each mode, 503 while
# released, the status route (tests/test_e2e_http.py); the staged update token-identical and the
# stale-weights guard (tests/test_staged_update.py); the trainer's Engine API (tests/test_engine.py);
# 507 for a resume that does not fit and the api key on the memory routes
# (tests/test_server_options.py); the replays of the frameworks that pin it
# (tests/test_frameworks.py); then the source form's own wiring (the routes, the scheduler's
# handlers, the weight updates) against patches/<version>/series.
#
# Smoke (every other release): one server started as the frameworks start SGLang (stock
# launch_server, only SGLANG_TAGGED_MEMORY=1, a stand-in third-party patch inside SGLang's own
# release/resume) through the staged cycle with a real tensor update, 503 while released and a
# release under load (tests/test_smoke.py); the replays of the frameworks that pin this release
# (tests/test_frameworks.py).
#
# Neither runs tests/test_patches.py (apply, re-apply, revert exactly, in fresh interpreters) or
# tests/test_source_series.py (the series against the runtime form's fields): four SGLang imports,
# 4-8 minutes of a CI lane per 0.5.x release (measured 2026-12-02). What they check of a release's
# layout, CI's range check checks statically for every tested release (each target and its shape
# in the pristine wheel, the series applying with no fuzz); they run in full on the primary release.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(bash scripts/sglang-version.sh)
if [ "${1:-}" = --smoke ]; then
    shift
    echo "== sglang $VERSION: smoke (runtime patches)"
    exec bash scripts/test.sh tests/test_smoke.py tests/test_frameworks.py "$@"
fi
E2E=(tests/test_smoke.py tests/test_e2e_http.py tests/test_staged_update.py tests/test_engine.py tests/test_server_options.py tests/test_frameworks.py)
echo "== sglang $VERSION: runtime patches"
bash scripts/test.sh "${E2E[@]}" "$@"
if [ -f "patches/$VERSION/series" ]; then
    echo "== sglang $VERSION: source series patches/$VERSION"
    bash scripts/test-source-form.sh tests/test_e2e_http.py tests/test_staged_update.py "$@"
fi
