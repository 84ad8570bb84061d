"""The patch set for SGLang 0.5.5 (native tags; verl v0.6.1 pins it): 0.5.6's, unchanged.

0.5.5 has 0.5.5.post1's layout where the set reaches (see that set; scheduler_update_weights_mixin.py
and tokenizer_communicator_mixin.py are the same files, release's ``torch.cuda.synchronize()``
included). It serves 0.5.4.post2 (where SGLang's native ``cuda_graph`` tag first appears,
``sglang.srt.constants.GPU_MEMORY_TYPE_CUDA_GRAPH``) to 0.5.5; 0.5.2 to 0.5.3.x get 0.5.2's set,
which tags the capture itself, and 0.5.4 and 0.5.4.post1 no set (0.5.2's says why).
"""

from sglang_patch import v0_5_6
from sglang_patch._core import derive_patch_set

PATCHES = derive_patch_set(v0_5_6.PATCHES, "0.5.5")
