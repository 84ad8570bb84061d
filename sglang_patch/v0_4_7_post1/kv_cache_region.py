"""Patch ``kv_cache_region`` for 0.4.7.post1: 0.4.6.post5's, plus the pool 0.4.7.post1 added.

``disaggregation.decode.DecodeReqToTokenPool`` (decode.py:65, used with ``--disaggregation-mode
decode``) is not a ReqToTokenPool subclass and opens its own untagged region (decode.py:93);
upstream 0.4.8 tags it ``kv_cache`` (decode.py:90). The four pools of 0.4.6.post5 are unchanged
(docs/research/sglang-0.4.7-0.4.8.md).
"""

from sglang_patch.wiring import kv_cache_region

DECODE_POOL = "sglang.srt.disaggregation.decode.DecodeReqToTokenPool.__init__"


class KVCacheRegionPatch(kv_cache_region.KVCacheRegionPatch):
    targets = kv_cache_region.KVCacheRegionPatch.targets + (DECODE_POOL,)
    summary = kv_cache_region.KVCacheRegionPatch.summary + ", and the PD-decode DecodeReqToTokenPool"
