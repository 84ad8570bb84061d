"""SGLang's own SiluAndMul / GeluAndMul; they run forward_native off CUDA."""
import sys

_sglang = sys.modules["sglang.srt.layers.activation"]  # mid-import: the classes are already defined
SiluAndMul = _sglang.SiluAndMul
GeluAndMul = _sglang.GeluAndMul
