"""SGLang's own RMSNorm / GemmaRMSNorm; they run forward_native off CUDA."""
import sys

_sglang = sys.modules["sglang.srt.layers.layernorm"]  # mid-import: the classes are already defined
RMSNorm = _sglang.RMSNorm
GemmaRMSNorm = _sglang.GemmaRMSNorm
