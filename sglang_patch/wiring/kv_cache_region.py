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
# The constructors of every pool 0.4.6.post5 allocates.
POOLS = tuple(_POOLS + cls + ".__init__"
              for cls in ("ReqToTokenPool", "MHATokenToKVPool", "MLATokenToKVPool", "DoubleSparseTokenToKVPool"))
# 0.4.7.post1's PD-decode pool: ``disaggregation.decode.DecodeReqToTokenPool`` (decode.py:65, used
# with ``--disaggregation-mode decode``) is not a ReqToTokenPool subclass and opens its own untagged
# region (decode.py:93); upstream 0.4.8 tags it ``kv_cache`` (decode.py:90).
DECODE_POOL = "sglang.srt.disaggregation.decode.DecodeReqToTokenPool.__init__"


class KVCacheRegionPatch(Patch):
    """Each pool's constructor runs with ``kv_cache`` as the default region tag.

    Hooks (class attributes):
    - ``targets``: the pool constructors (``POOLS``; 0.4.7.post1 adds ``DECODE_POOL``).
    """

    name = "kv_cache_region"
    targets = POOLS
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
