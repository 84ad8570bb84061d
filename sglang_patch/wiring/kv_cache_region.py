"""Patch ``kv_cache_region``: every KV pool 0.4.6.post5 allocates is under the tag ``kv_cache``.

That is ReqToTokenPool (its own region at memory_pool.py:71) and the MHA, MLA and DoubleSparse
token-to-KV pools (:278, :539, :674). Each constructor runs with ``kv_cache`` as the default
region tag. The req-to-token table belongs with the KV cache because it indexes into it and is
rebuilt by a cache flush; upstream 0.4.8 tags it the same way (sgl-project/sglang#7099).
"""

from sglang_patch._core import Patch, mark_wrapper
from sglang_patch.wiring.memory_saver import default_region_tag
from sglang_patch.memory_occupation.tags import KV_CACHE

_POOLS = "sglang.srt.mem_cache.memory_pool."


class KVCacheRegionPatch(Patch):
    name = "kv_cache_region"
    targets = tuple(
        _POOLS + cls + ".__init__"
        for cls in ("ReqToTokenPool", "MHATokenToKVPool", "MLATokenToKVPool", "DoubleSparseTokenToKVPool")
    )
    process = "scheduler"
    requires = ("memory_saver",)
    summary = "ReqToTokenPool and the MHA/MLA/DoubleSparse KV pools allocate under tag 'kv_cache'"

    def replacements(self):
        return {target: self._tagged_init(self.original(target)) for target in self.targets}

    def _tagged_init(self, stock):
        def __init__(pool, *args, **kwargs):
            with default_region_tag(KV_CACHE):
                stock(pool, *args, **kwargs)

        return mark_wrapper(__init__, stock, self.name)
