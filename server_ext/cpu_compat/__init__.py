"""CPU-only compat for running SGLang 0.4.6.post5 with ``--device cpu`` (no GPU, no vllm).

SGLang imports ``vllm`` at module level whenever it is not on CUDA (layers/layernorm.py:183,
layers/activation.py:172, layers/quantization/utils.py:14, _custom_ops.py:18), and PyPI has no CPU
build of vllm. The ``vllm`` package in this folder answers those imports with SGLang's own
native-torch layers; every custom-op name raises if it is ever called. It is put on the path only
for ``--device cpu`` (see ``enable``); GPU runs never see it.
"""

import os
import sys

COMPAT_DIR = os.path.dirname(os.path.abspath(__file__))


def wants_cpu(argv) -> bool:
    """Whether a launch_server command line asks for ``--device cpu``."""
    for i, arg in enumerate(argv):
        if arg == "--device" and i + 1 < len(argv) and argv[i + 1] == "cpu":
            return True
        if arg == "--device=cpu":
            return True
    return False


def enable_without_gpu() -> None:
    """``enable()`` on a machine where torch sees no CUDA device; nothing otherwise."""
    import torch

    if not torch.cuda.is_available():
        enable()


def enable() -> None:
    """Make the CPU stand-in for vllm importable here and in every process spawned from here."""
    if COMPAT_DIR not in sys.path:
        sys.path.insert(0, COMPAT_DIR)
    from server_ext.envs import prepend_pythonpath

    prepend_pythonpath(os.environ, COMPAT_DIR)
    # _custom_ops.py otherwise reaches for sgl_kernel (absent on CPU) while torch.distributed starts.
    os.environ.setdefault("USE_VLLM_CUSTOM_ALLREDUCE", "1")
