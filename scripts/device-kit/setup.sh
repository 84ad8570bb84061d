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
export PYTHONUNBUFFERED=1
python3 -c "import sglang, sgl_kernel, torch_memory_saver, torch; print('device kit ready: sglang', sglang.__version__, '| torch', torch.__version__, '| GPUs', torch.cuda.device_count())"
