#!/usr/bin/env bash
# The SGLang release the scripts work on: $SGLANG_VERSION, else the primary one of
# sglang_patch/versions.py. With --venv: its virtual environment ($SGLANG_VENV if set, else .venv
# for the primary release and .venv-<version> for the others; CI sets SGLANG_VENV to share one
# venv between releases of the same torch, which setup.sh then switches from one release to the
# next); with --extra-suffix: the version as pyproject's extras spell it (0-4-7-post1); with
# --cpu-no-deps: "sglang==<version>" when a machine without a GPU installs it with --no-deps
# (versions.py's cpu_sglang_no_deps), else nothing. Fails, listing the supported releases, for
# any other version.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" - "$@" <<'PY'
import os, runpy, sys
table = runpy.run_path("sglang_patch/versions.py")  # stdlib only: no venv needed yet
supported = [r.version for r in table["RELEASES"]]
version = os.environ.get("SGLANG_VERSION") or supported[0]
if version not in supported:
    sys.exit(f"SGLANG_VERSION={version} is not supported; supported releases: {', '.join(supported)}")
if "--venv" in sys.argv[1:]:
    print(os.environ.get("SGLANG_VENV") or (".venv" if version == supported[0] else f".venv-{version}"))
elif "--extra-suffix" in sys.argv[1:]:  # pyproject's spelling of the version in extra names
    print(next(r for r in table["RELEASES"] if r.version == version).extra_suffix)
elif "--cpu-no-deps" in sys.argv[1:]:
    if next(r for r in table["RELEASES"] if r.version == version).cpu_sglang_no_deps:
        print(f"sglang=={version}")
else:
    print(version)
PY
