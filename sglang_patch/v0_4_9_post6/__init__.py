"""The patch set for SGLang 0.4.9.post6 (native tags): 0.4.8's, unchanged.

Every target of 0.4.8's set is where it was, with the same signature (docs/research/
sglang-0.4.9-0.4.10.md, target by target). What changed around them, none of which the patches
depend on: release treats ``tags == []`` as all and puts a TP barrier around the weights' pause
and resume; ``generate_request`` first waits on ``pause_generation``; ``_wait_and_warmup`` takes
one argument fewer (the wrapper passes whatever it is given). Still no ``cuda_graph`` tag, no idle
check on a release, nothing in the replies: the safety layer is what 0.4.8's set adds.
"""

from sglang_patch import v0_4_8
from sglang_patch._core import derive_patch_set

PATCHES = derive_patch_set(v0_4_8.PATCHES, "0.4.9.post6")
