# Device kit: sglang 0.4.6.post5 and 0.4.7.post1 import three triton 3.2 cache helpers that triton 3.6 dropped.
import os

try:
    import triton.runtime.cache as _cache

    for _name, _sub in (("default_cache_dir", "cache"), ("default_dump_dir", "dump"), ("default_override_dir", "override")):
        if not hasattr(_cache, _name):
            setattr(_cache, _name, lambda sub=_sub: os.path.join(os.path.expanduser("~"), ".triton", sub))
except ImportError:
    pass

# Device kit: sglang 0.4.8 asks torch._C._cpu._is_amx_tile_supported() at import (custom_op.py),
# which torch 2.11 no longer has; the CUDA path never uses the CPU AMX backend.
try:
    import torch._C

    if hasattr(torch._C, "_cpu") and not hasattr(torch._C._cpu, "_is_amx_tile_supported"):
        torch._C._cpu._is_amx_tile_supported = lambda: False
except ImportError:
    pass
