#!/usr/bin/env bash
# Build the device kit for one SGLang release: everything the lent H200 machine lacks for running
# the real SGLang server there (its image has torch 2.11.0+cu130 and triton 3.6 on Python 3.12 and
# cannot reach any package index). Run it here, from anywhere in the project:
#
#   SGLANG_VERSION=0.4.7.post1 bash scripts/device-kit.sh    # default: the primary release
#
# writes ./.device-kit-<version>/ (about 51 MiB; git-ignored). On the device:
#   run(command="source .device-kit-<version>/setup.sh && ...", carry=[".device-kit-<version>", ".whl"])
# What is in it and why: ../shared/device/README.md and the comments below.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
HERE=scripts/device-kit
VERSION=$(bash scripts/sglang-version.sh)   # $SGLANG_VERSION, checked against sglang_patch/versions.py
WHEELS="$HERE/wheels-$VERSION.txt"
[ -f "$WHEELS" ] || { echo "no wheel list $WHEELS for SGLang $VERSION" >&2; exit 1; }
KIT=".device-kit-$VERSION"
PLAT="--only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_26_x86_64 \
  --platform manylinux1_x86_64 --platform manylinux_2_5_x86_64 --platform any"

rm -rf "$KIT"; mkdir -p "$KIT/wheels" "$KIT/site" "$KIT/startup"

# 1. SGLang itself and the pure-Python and small binary wheels it imports on its server path that
#    the device image lacks (torch, triton, numpy, requests, psutil, aiohttp... are there).
python3 -m pip download -q --no-deps $PLAT -d "$KIT/wheels" -r "$WHEELS"

# 2. sgl-kernel: the builds that SGLang pins (0.1.4 for 0.4.6.post5, 0.1.9 for 0.4.7.post1) are
#    compiled for torch 2.6 / 2.7 and cannot load into torch 2.11. sglang-kernel 0.4.5 is built
#    for torch 2.11; keep only its Python files and the Hopper (sm90) ops library, not the 1.1 GB
#    FA3 library, then append the compat for the names the pinned builds had and 0.4.5 dropped.
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
python3 -m pip download -q --no-deps $PLAT -d "$TMP" sglang-kernel==0.4.5
(cd "$TMP" && unzip -q sglang_kernel-*.whl -x 'sgl_kernel/flash_ops.abi3.so' 'sgl_kernel/sm100/*' \
   'sgl_kernel/flashmla_ops.abi3.so' 'sgl_kernel/infllm_ops*' 'sglang_kernel-*.dist-info/*')
cp -r "$TMP/sgl_kernel" "$KIT/site/"
if [ -d "$TMP/triton_kernels" ]; then cp -r "$TMP/triton_kernels" "$KIT/site/"; fi
cat "$HERE/sgl_kernel_compat.py" >> "$KIT/site/sgl_kernel/__init__.py"
# SGLang asserts `sgl-kernel>=<pinned>` through package metadata at launch.
mkdir -p "$KIT/site/sgl_kernel-0.4.5.dist-info"
printf 'Metadata-Version: 2.1\nName: sgl-kernel\nVersion: 0.4.5\n' > "$KIT/site/sgl_kernel-0.4.5.dist-info/METADATA"
: > "$KIT/site/sgl_kernel-0.4.5.dist-info/RECORD"

# 3. Startup compat for triton 3.6, and the script that the device command sources.
cp "$HERE/sitecustomize.py" "$KIT/startup/"
cp "$HERE/setup.sh" "$KIT/setup.sh"
echo "$VERSION" > "$KIT/sglang-version"
du -sh "$KIT"
