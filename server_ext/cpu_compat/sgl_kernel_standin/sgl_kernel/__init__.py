"""NOT sgl_kernel. A CPU-only stand-in that SGLang 0.4.9.post6 / 0.4.10.post2 / 0.5.6 import under ``--device cpu``.

sgl-kernel has no CPU wheel on PyPI, yet SGLang >= 0.4.9 imports it at module level on every
device (``mem_cache/memory_pool.py``: ``from sgl_kernel.kvcacheio import ...``; ``utils.py`` tries
``import sgl_kernel`` to detect the Intel AMX backend). Every name here exists and raises if it is
called: the CPU path (torch_native attention, no AMX) must never call one. With this stand-in
``sglang.srt.utils`` sees ``torch.ops.sgl_kernel`` without ``convert_weight_packed``, so the AMX
backend stays off.

It also gives triton a stand-in driver (``_triton_cpu_driver``): SGLang's quantization modules
run ``@triton.autotune`` at import, and triton 3.3 resolves its active driver right then
(``Autotuner.__init__`` -> ``driver.active.get_benchmarker()``), which raises "0 active drivers"
on a host with no GPU. ``sglang.srt.utils`` imports this package before any of those modules.
Put on PYTHONPATH only for ``--device cpu`` runs on a host without a GPU.
"""

from server_ext.cpu_compat import missing_ops

from . import _triton_cpu_driver

_triton_cpu_driver.install()

__version__ = "0.0.0+cpu-stand-in"


__getattr__ = missing_ops(__name__)
