
# --- device-kit compat (scripts/device-kit/sgl_kernel_compat.py), appended to sglang-kernel 0.4.5's
# sgl_kernel/__init__.py: the names that sglang 0.4.6.post5 (pins sgl-kernel 0.1.4), 0.4.7.post1
# (pins 0.1.9), 0.4.8, 0.4.9.post6 (0.2.7) and 0.4.10.post2 (0.2.8) import from sgl_kernel at module
# level and 0.4.5 no longer exports.
# Only the rotary kernel is called on the Llama/Qwen2 server path and it is mapped onto the real
# 0.4.5 kernel; the rest are fp8/fp4/MoE/flashinfer-sampling kernels that a bf16 dense model with
# the pytorch sampling backend never calls, so they raise if anything does. Nothing here returns
# a made-up result.
def apply_rope_with_cos_sin_cache_inplace(positions, query, key, head_size, cos_sin_cache, is_neox=True):
    # 0.1.x took a float32 cache; the 0.4.x kernel wants the query's dtype.
    rotary_embedding(positions, query, key, head_size, cos_sin_cache.to(query.dtype), is_neox)


def _missing(name):
    def kernel(*args, **kwargs):
        raise NotImplementedError(f"sgl_kernel.{name} is not in this device kit (sglang-kernel 0.4.5 dropped it)")
    kernel.__name__ = name
    return kernel


for _name in (
    # sglang 0.4.6.post5 and 0.4.7.post1
    "min_p_sampling_from_probs",        # layers/sampler.py, flashinfer sampling backend only
    "top_k_top_p_sampling_from_probs",  # layers/sampler.py, flashinfer sampling backend only
    "cutlass_scaled_fp4_mm",            # layers/quantization/modelopt_quant.py (fp4)
    "scaled_fp4_quant",                 # layers/quantization/modelopt_quant.py (fp4)
    "fp8_blockwise_scaled_mm",          # layers/quantization/fp8_utils.py (fp8 block quant)
    "moe_fused_gate",                   # layers/moe/topk.py (grouped-topk MoE)
    "sgl_per_tensor_quant_fp8",         # layers/quantization/fp8_kernel.py (fp8)
    # sglang 0.4.7.post1 on
    "cutlass_fp4_group_mm",             # layers/moe/cutlass_moe.py (fp4 MoE)
    "scaled_fp4_experts_quant",         # layers/moe/cutlass_moe.py (fp4 MoE)
    # sglang 0.4.9.post6 and 0.4.10.post2 (pin sgl-kernel 0.2.7 / 0.2.8)
    "fused_marlin_moe",                 # layers/quantization/awq.py, gptq.py (AWQ/GPTQ MoE); both are
                                        # imported by layers/quantization/__init__.py on every path
    "dsv3_router_gemm",                 # models/deepseek_v2.py, glm4_moe.py (DeepSeek-V3 router); the
                                        # model registry would skip those modules with a warning
):
    if _name not in globals():  # never shadow a kernel that 0.4.5 does have
        globals()[_name] = _missing(_name)
del _name
