"""The patch set for SGLang 0.4.7.post1 (no native tags): 0.4.6.post5's patches, and one more pool.

Every target 0.4.6.post5's patches replace is byte-identical in 0.4.7.post1, or changed only where
the patches do not depend on it (docs/research/sglang-0.4.7-0.4.8.md, target by target), so the
same patch classes serve. What 0.4.7.post1 adds:
- ``DecodeReqToTokenPool`` (PD-disaggregation decode) opens its own region: ``kv_cache_region``
  here tags it too;
- ``/v1/rerank`` and ``/v1/score`` reach ``generate_request``: the one refusal path covers them
  (the 503 middleware and the generate wrapper need no list of routes);
- ``--sleep-on-idle``: the idle scheduler polls its sockets for up to 1 s, so a ``wait`` release
  that was deferred can answer up to ~1 s later; nothing else changes.
"""

from sglang_patch import v0_4_6_post5
from sglang_patch._core import derive_patch_set
from sglang_patch.wiring import kv_cache_region


class KVCacheRegionPatch0471(kv_cache_region.KVCacheRegionPatch):
    """0.4.6.post5's pools and the PD-decode ``DecodeReqToTokenPool`` (upstream 0.4.8 tags it too)."""

    targets = kv_cache_region.POOLS + (kv_cache_region.DECODE_POOL,)
    summary = kv_cache_region.KVCacheRegionPatch.summary + ", and the PD-decode DecodeReqToTokenPool"


# 0.4.6.post5's patches in the same order, with this release's kv_cache_region in place of that one.
PATCHES = derive_patch_set(v0_4_6_post5.PATCHES, "0.4.7.post1", replace={"kv_cache_region": KVCacheRegionPatch0471})
