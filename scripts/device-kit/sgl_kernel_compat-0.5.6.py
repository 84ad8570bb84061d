
# --- device-kit compat for sglang 0.5.6 (pins sgl-kernel 0.3.18.post2), appended after
# sgl_kernel_compat.py by scripts/device-kit.sh for this release only: the names that 0.5.6
# imports from sgl_kernel at module level on CUDA and sglang-kernel 0.4.5 no longer exports.
# FusedSetKVBufferArg is a plain argument holder (layers/rotary_embedding.py and models/utils.py
# import it on every CUDA path; only gpt-oss, Qwen3-MoE, Bailing and LLaDA2 build one). The marlin
# kernels are AWQ/GPTQ-only (layers/quantization/awq.py, gptq.py, marlin_utils*.py,
# compressed_tensors_wNa16.py, all imported by layers/quantization/__init__.py), so they raise
# if anything calls them; a bf16 dense model never does.
from dataclasses import dataclass as _dataclass
from typing import Optional as _Optional


@_dataclass
class FusedSetKVBufferArg:
    value: "torch.Tensor"
    k_buffer: "torch.Tensor"
    v_buffer: "torch.Tensor"
    k_scale: _Optional[float]
    v_scale: _Optional[float]
    cache_loc: "torch.Tensor"


_rope_0_1 = apply_rope_with_cos_sin_cache_inplace


def apply_rope_with_cos_sin_cache_inplace(
    positions, query, key, head_size, cos_sin_cache, is_neox=True, fused_set_kv_buffer_arg=None, enable_pdl=None
):
    # 0.5.6 passes fused_set_kv_buffer_arg only for the models above; 0.4.5's rotary kernel has no
    # fused KV write, so say so rather than skip the write.
    if fused_set_kv_buffer_arg is not None:
        raise NotImplementedError("fused_set_kv_buffer_arg is not in this device kit (sglang-kernel 0.4.5's rotary_embedding)")
    _rope_0_1(positions, query, key, head_size, cos_sin_cache, is_neox)


for _name in (
    "awq_marlin_repack",       # layers/quantization/awq.py
    "awq_marlin_moe_repack",   # layers/quantization/awq.py
    "gptq_marlin_repack",      # layers/quantization/gptq.py, marlin_utils_fp8.py, compressed_tensors_wNa16.py
    "gptq_marlin_gemm",        # layers/quantization/marlin_utils.py, marlin_utils_fp8.py
):
    if _name not in globals():
        globals()[_name] = _missing(_name)
del _name

# 0.5.6 registers fake (meta) implementations for two sgl_kernel ops at module level on CUDA
# (layers/quantization/fp8_kernel.py: sgl_per_tensor_quant_fp8; layers/moe/topk.py:
# moe_fused_gate), which needs the op to exist; 0.4.5's library no longer defines them. Define
# their 0.3.x schemas with no kernel behind them: the fake registrations succeed, and a call on a
# real tensor fails with torch's "could not run ... with arguments from the CUDA backend".
import torch as _torch

_compat_lib = _torch.library.Library("sgl_kernel", "FRAGMENT")  # kept referenced: dropping it would undo the definitions
for _schema in (
    "sgl_per_tensor_quant_fp8(Tensor input, Tensor! output_q, Tensor! output_s, bool is_static) -> ()",
    "moe_fused_gate(Tensor input_tensor, Tensor bias, int num_expert_group, int topk_group, int topk, "
    "int num_fused_shared_experts, float routed_scaling_factor, bool apply_routed_scaling_factor_on_output) -> Tensor[]",
):
    if not hasattr(_torch.ops.sgl_kernel, _schema.split("(", 1)[0]):
        _compat_lib.define(_schema)
del _schema
