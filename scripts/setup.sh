#!/usr/bin/env bash
# Create the virtual environment with a pinned SGLang stack and this package (editable) in it.
#   bash scripts/setup.sh                               # the primary release, in .venv
#   SGLANG_VERSION=0.4.7.post1 bash scripts/setup.sh    # another supported release, in .venv-0.4.7.post1
# A machine with an NVIDIA GPU gets the release's `sglang-*` extra, any other its `cpu-*` extra
# (pyproject.toml; `sglang`/`cpu` are the primary release's). Prints the venv's path last.
# Re-running is cheap: nothing is installed again unless pyproject.toml changed.
# Installs go through uv (a cold install of a release's stack ~25-30 s where pip took minutes;
# a venv switched to another release is rebuilt from the cache in seconds; one cache, ~/.cache/uv,
# serves every release); where uv cannot be had, pip does the same.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VERSION=$(bash scripts/sglang-version.sh)
VENV=$(bash scripts/sglang-version.sh --venv)
# GNU patch applies the source series in patches/ (tests/test_source_series.py); Debian has it.
if ! command -v patch >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    if command -v apt-get >/dev/null 2>&1 && { [ -z "$SUDO" ] || command -v sudo >/dev/null 2>&1; }; then
        echo "installing GNU patch (the source series in patches/ is applied with it)..." >&2
        $SUDO apt-get update -qq && $SUDO apt-get install -y -qq patch >/dev/null
    else
        echo "warning: GNU patch is missing and apt-get is not usable here; install 'patch' for tests/test_source_series.py" >&2
    fi
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then KIND=sglang; else KIND=cpu; fi
EXTRA="$KIND-$(bash scripts/sglang-version.sh --extra-suffix)"
STAMP="$VENV/.installed-$EXTRA-$(sha256sum pyproject.toml | cut -c1-12)"
if [ ! -f "$STAMP" ]; then
    # One install at a time in this checkout (CI's lanes): `pip install -e .` writes the same
    # egg-info here whichever venv it installs into.
    mkdir -p build
    exec 9>build/.setup.lock
    command -v flock >/dev/null 2>&1 && flock 9
    command -v uv >/dev/null 2>&1 || "$PY" -m pip install -q uv >&2 || true
    # A venv switched from another release starts empty: installing over the other stack leaves
    # its extra packages behind (CI, 0.5.23 -> 0.5.2: 0.5.23's `kernels` broke 0.5.2's
    # transformers through the older huggingface_hub). With uv's cache a fresh venv costs seconds.
    if ls "$VENV"/.installed-* >/dev/null 2>&1 && ! ls "$VENV/.installed-$EXTRA-"* >/dev/null 2>&1; then
        echo "$VENV held another release's stack: starting it afresh" >&2
        rm -rf "$VENV"
    fi
    if command -v uv >/dev/null 2>&1; then
        [ -x "$VENV/bin/python" ] || uv venv -q --seed --python "$PY" "$VENV" >&2  # --seed: pip too (the series tool's downloads)
        install() { uv pip install -q --python "$VENV/bin/python" "$@" >&2; }
    else
        [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
        "$VENV/bin/python" -m pip install -q --upgrade pip >&2
        install() { "$VENV/bin/python" -m pip install -q "$@" >&2; }
    fi
    rm -f "$VENV"/.installed-*  # a switch that fails halfway must not leave the old release's stamp
    echo "installing the sglang $VERSION stack ($EXTRA) into $VENV..." >&2
    NO_DEPS=$(bash scripts/sglang-version.sh --cpu-no-deps)
    if [ "$KIND" = cpu ] && [ -n "$NO_DEPS" ]; then
        # No CPU extra on PyPI: sglang alone, its other requirements come with the cpu-<v> extra.
        install --no-deps "$NO_DEPS"
    fi
    install -e ".[$EXTRA,test]"
    touch "$STAMP"
    exec 9>&-
fi
# The venv holds the release asked for (a shared venv switched from another one, CI's lanes).
"$VENV/bin/python" -c 'import importlib.metadata as m, sys
found = m.version("sglang")
sys.exit(None if found == sys.argv[1] else f"{sys.argv[2]} holds sglang {found}, not {sys.argv[1]}: remove {sys.argv[2]}/.installed-* and run again")' "$VERSION" "$VENV"
echo "$VENV"
