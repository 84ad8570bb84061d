# Source this on the device machine, from the project root:
#   source .device-kit-<version>/setup.sh
# Installs the kit's wheels into /tmp/site (kept while the machine stays warm; a kit for another
# SGLang version found there is wiped first) and puts the project root, /tmp/site and the kit's
# startup compat on PYTHONPATH. Built by scripts/device-kit.sh.
KIT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KIT_VERSION=$(cat "$KIT_DIR/sglang-version")
if [ "$(cat /tmp/site/.kit-installed 2>/dev/null)" != "$KIT_VERSION" ]; then
  rm -rf /tmp/site
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$KIT_DIR"/wheels/*.whl 2>&1 | grep -v "already exists" || true
  cp -r "$KIT_DIR"/site/* /tmp/site/
  echo "$KIT_VERSION" > /tmp/site/.kit-installed
fi
export PYTHONPATH="$PWD:/tmp/site:$KIT_DIR/startup${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
python3 -c "import sglang, sgl_kernel, torch_memory_saver, torch; print('device kit ready: sglang', sglang.__version__, '| torch', torch.__version__, '| GPUs', torch.cuda.device_count())"
