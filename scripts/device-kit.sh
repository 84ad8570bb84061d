#!/usr/bin/env bash
# Build the device kit for one SGLang release: everything the lent H200 machine lacks for running
# the real SGLang server there (its image has torch 2.11.0+cu130 and triton 3.6 on Python 3.12 and
# cannot reach any package index). Run it here, from anywhere in the project:
#
#   SGLANG_VERSION=0.4.7.post1 bash scripts/device-kit.sh    # default: the primary release
#
# writes ./.device-kit-<version>/ (about 30-45 MiB: one xz archive; git-ignored). On the device:
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
  --platform manylinux1_x86_64 --platform manylinux_2_5_x86_64 --platform any \
  --platform manylinux_2_34_x86_64"   # last: the lowest priority; sglang 0.5.17 ships only that (image: glibc 2.39)

rm -rf "$KIT"; mkdir -p "$KIT/wheels" "$KIT/site" "$KIT/startup"

# 1. SGLang itself and the pure-Python and small binary wheels it imports on its server path that
#    the device image lacks (torch, triton, numpy, requests, psutil, aiohttp... are there).
python3 -m pip download -q --no-deps $PLAT -d "$KIT/wheels" -r "$WHEELS"
#    trim-<version>.txt (0.5.17): files deleted from those wheels, that the server path never loads.
if [ -f "$HERE/trim-$VERSION.txt" ]; then
  grep -v '^#' "$HERE/trim-$VERSION.txt" | while read -r whl member; do
    [ -n "$whl" ] || continue
    for w in "$KIT"/wheels/$whl; do zip -q -d "$w" "$member"; done
  done
fi

# 2. sgl-kernel: the builds that SGLang pins (0.1.4 for 0.4.6.post5, 0.1.9 for 0.4.7.post1) are
#    compiled for torch 2.6 / 2.7 and cannot load into torch 2.11. sglang-kernel 0.4.5 is built
#    for torch 2.11; keep only its Python files and the Hopper (sm90) ops library, not the 1.1 GB
#    FA3 library, then append the compat for the names the pinned builds had and 0.4.5 dropped.
#    A release that pins torch 2.11.0 (the image's) pins an sglang-kernel built for it (0.5.17:
#    0.4.5, 0.5.15.post1: 0.4.4): the kit carries that one, trimmed the same way.
SGLANG_META=$(unzip -p "$KIT"/wheels/sglang-*.whl '*.dist-info/METADATA')
KERNEL=0.4.5
if grep -qx 'Requires-Dist: torch==2.11.0' <<<"$SGLANG_META"; then
  KERNEL=$(sed -n 's/^Requires-Dist: sglang-kernel==\([^ ;]*\)$/\1/p' <<<"$SGLANG_META" | head -1)
  KERNEL=${KERNEL:-0.4.5}
fi
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
python3 -m pip download -q --no-deps $PLAT -d "$TMP" "sglang-kernel==$KERNEL"
(cd "$TMP" && unzip -q sglang_kernel-*.whl -x 'sgl_kernel/flash_ops.abi3.so' 'sgl_kernel/sm100/*' \
   'sgl_kernel/flashmla_ops.abi3.so' 'sgl_kernel/infllm_ops*' 'sglang_kernel-*.dist-info/*')
cp -r "$TMP/sgl_kernel" "$KIT/site/"
if [ -d "$TMP/triton_kernels" ]; then cp -r "$TMP/triton_kernels" "$KIT/site/"; fi
# A release that pins the kernel carried (0.5.17: 0.4.5, 0.5.15.post1: 0.4.4) takes it as it is:
# no compat (its `try: from sgl_kernel import X` feature probes must see what the kernel really
# has) and the metadata under the name it asserts. The others pin an older sgl-kernel: compat,
# `sgl-kernel` metadata.
# A release that pins a newer sglang-kernel built for a newer torch (0.5.23: 0.4.10 for torch
# 2.14.1, whose ops library needs libtorch symbols that torch 2.11 lacks) gets 0.4.5 as it is, no
# compat (of the names 0.5.23 imports from sgl_kernel, 0.4.10 has none that 0.4.5 lacks but two
# host-cache ops, sgl_kernel.kvcacheio, off the tested path; its op schemas are 0.4.5's or new),
# and the marker `kernel-not-pinned`: setup.sh then skips SGLang's kernel version check. Such a kit
# runs the release on a stack that is not its own (torch 2.11, triton 3.6): docs/testing.md.
if grep -q "^Requires-Dist: sglang-kernel==" <<<"$SGLANG_META"; then
  DIST=sglang_kernel; NAME=sglang-kernel
  if ! grep -qx "Requires-Dist: sglang-kernel==$KERNEL" <<<"$SGLANG_META"; then
    grep "^Requires-Dist: \(torch\|sglang-kernel\)==" <<<"$SGLANG_META" \
      | sed "s/^Requires-Dist: /pinned: /; \$a carried: sglang-kernel==$KERNEL on the image's torch 2.11.0" > "$KIT/kernel-not-pinned"
  fi
else
  DIST=sgl_kernel; NAME=sgl-kernel
  cat "$HERE/sgl_kernel_compat.py" >> "$KIT/site/sgl_kernel/__init__.py"
  # Names that only this release imports (sgl_kernel_compat-0.5.6.py: what 0.3.18 had, 0.4.5 lacks).
  if [ -f "$HERE/sgl_kernel_compat-$VERSION.py" ]; then
    cat "$HERE/sgl_kernel_compat-$VERSION.py" >> "$KIT/site/sgl_kernel/__init__.py"
  fi
fi
# SGLang asserts `sgl-kernel>=<pinned>` (0.5.17: `sglang-kernel>=0.4.5`) through package metadata at launch.
mkdir -p "$KIT/site/$DIST-$KERNEL.dist-info"
printf 'Metadata-Version: 2.1\nName: %s\nVersion: %s\n' "$NAME" "$KERNEL" > "$KIT/site/$DIST-$KERNEL.dist-info/METADATA"
: > "$KIT/site/$DIST-$KERNEL.dist-info/RECORD"
# A release that imports flashinfer at module level on CUDA (0.5.15.post1, 0.5.17, 0.5.23) gets the stand-in that
# flashinfer_standin-<version>.py describes: importable, every name raising when called, no
# flashinfer.norm (so sglang-kernel runs its own RMSNorm kernels). setup.sh sees it and tells
# SGLang that flashinfer is not available.
if [ -f "$HERE/flashinfer_standin-$VERSION.py" ]; then
  mkdir -p "$KIT/site/flashinfer"
  cp "$HERE/flashinfer_standin-$VERSION.py" "$KIT/site/flashinfer/__init__.py"
fi
# Likewise the CUTLASS DSL (0.5.23: layers/dual_gemm.py imports a Blackwell-only CuTe DSL kernel
# module for every Llama MLP on CUDA): cutlass_standin-<version>.py says what it does.
if [ -f "$HERE/cutlass_standin-$VERSION.py" ]; then
  mkdir -p "$KIT/site/cutlass"
  cp "$HERE/cutlass_standin-$VERSION.py" "$KIT/site/cutlass/__init__.py"
fi

# 3. One xz archive of the installed tree: the wheels installed here for the device's Python
#    (pip --target, as setup.sh did there before), then the kernel. Wheels are zip-deflated; the
#    installed files under xz take about 40% less, and a device call carries 64 MiB with the tree
#    (0.5.17's kit: 68 MiB as wheels, ~42 MiB as this archive).
python3 -m pip install -q --no-deps --no-index --no-compile $PLAT --target "$TMP/installed/site" "$KIT"/wheels/*.whl
cp -r "$KIT/site/." "$TMP/installed/site/"
tar -C "$TMP/installed" -cf - site | xz -T0 -6 > "$KIT/site.tar.xz"
rm -rf "$KIT/wheels" "$KIT/site"

# 4. Startup compat for triton 3.6, and the script that the device command sources.
cp "$HERE/sitecustomize.py" "$KIT/startup/"
cp "$HERE/setup.sh" "$KIT/setup.sh"
echo "$VERSION" > "$KIT/sglang-version"
du -sh "$KIT"
