# Source this on the device machine, from the project root:
#   source .device-kit-<version>/setup.sh
# Unpacks the kit's installed tree (site.tar.xz: the wheels installed for Python 3.12, and the
# kernel) into /tmp/site (kept while the machine stays warm; a kit for another SGLang version found
# there is wiped first) and puts the project root, /tmp/site and the kit's startup compat on
# PYTHONPATH. Built by scripts/device-kit.sh.
KIT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KIT_VERSION=$(cat "$KIT_DIR/sglang-version")
if [ "$(cat /tmp/site/.kit-installed 2>/dev/null)" != "$KIT_VERSION" ]; then
  rm -rf /tmp/site
  tar -C /tmp -xJf "$KIT_DIR/site.tar.xz"
  echo "$KIT_VERSION" > /tmp/site/.kit-installed
fi
export PYTHONPATH="$PWD:/tmp/site:$KIT_DIR/startup${PYTHONPATH:+:$PYTHONPATH}"
# The switch (SGLANG_TAGGED_MEMORY=1) works through sglang_tagged_memory.pth, which Python reads only
# in a site directory, not on PYTHONPATH: into the image's (a throwaway machine; inert without the
# variable). The GPU commands in docs/testing.md copied it by hand; one forgot (2026-12-02).
cp "$PWD/sglang_tagged_memory.pth" "$(python3 -c 'import site; print(site.getsitepackages()[0])')/"
export PYTHONUNBUFFERED=1
# A kit that carries the flashinfer stand-in (0.5.15.post1, 0.5.17, 0.5.23): SGLang's feature checks
# (is_flashinfer_available) must choose nothing of it.
if grep -qs '^STANDIN = True' /tmp/site/flashinfer/__init__.py; then export SGLANG_IS_FLASHINFER_AVAILABLE=false; fi
# A kit whose sglang-kernel is not the release's pin (0.5.23, device-kit.sh): SGLang would refuse it.
# Such a kit also runs the release on a torch that its bundled Rust radix-tree core was not built
# for: 0.5.23's (built for torch 2.14.1) loads into 2.11, then apparently misreads tensors ("insert value must
# be an int64 tensor, got Float" at the first prefill, H200 2026-12-02), so SGLang's own switch
# picks the Python TreeCore (with it 0.5.23 served on the H200, 2026-12-02: docs/testing.md).
if [ -f "$KIT_DIR/kernel-not-pinned" ]; then
  export SGLANG_SKIP_SGL_KERNEL_VERSION_CHECK=1 SGLANG_UNIFIED_RADIX_TREE_CORE_BACKEND=python
  sed 's/^/device kit: /' "$KIT_DIR/kernel-not-pinned"
fi
python3 -c "import sglang, sgl_kernel, torch_memory_saver, torch; print('device kit ready: sglang', sglang.__version__, '| torch', torch.__version__, '| GPUs', torch.cuda.device_count())"
