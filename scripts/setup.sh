#!/usr/bin/env bash
# Create .venv with the pinned SGLang 0.4.6.post5 stack and this package (editable) in it.
# A machine with an NVIDIA GPU gets the `sglang` extra, any other the `cpu` extra. Re-running is
# cheap: nothing is installed again unless pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# GNU patch applies the source series in patches/ (tests/test_source_series.py); Debian has it.
if ! command -v patch >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    if command -v apt-get >/dev/null 2>&1 && { [ -z "$SUDO" ] || command -v sudo >/dev/null 2>&1; }; then
        echo "installing GNU patch (the source series in patches/ is applied with it)..."
        $SUDO apt-get update -qq && $SUDO apt-get install -y -qq patch >/dev/null
    else
        echo "warning: GNU patch is missing and apt-get is not usable here; install 'patch' for tests/test_source_series.py" >&2
    fi
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then EXTRA=sglang; else EXTRA=cpu; fi
STAMP=".venv/.installed-$EXTRA-$(sha256sum pyproject.toml | cut -c1-12)"
if [ -f "$STAMP" ]; then exit 0; fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
echo "installing the $EXTRA stack into .venv (a few minutes the first time)..."
.venv/bin/python -m pip install -q -e ".[$EXTRA,test]"
rm -f .venv/.installed-*
touch "$STAMP"
