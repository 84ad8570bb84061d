"""CPU-only compat for running SGLang with ``--device cpu`` (no GPU, no vllm, no sgl-kernel).

SGLang imports ``vllm`` at module level whenever it is not on CUDA (0.4.6.post5:
layers/layernorm.py:183, layers/activation.py:172, layers/quantization/utils.py:14,
_custom_ops.py:18), and PyPI has no CPU build of vllm. The ``vllm`` package in this folder answers
those imports with SGLang's own native-torch layers; every custom-op name raises if it is ever
called.

From 0.4.9 SGLang also imports ``sgl_kernel`` on every device (mem_cache/memory_pool.py:
``from sgl_kernel.kvcacheio import ...``), which has no CPU wheel, and triton 3.3 raises "0 active
drivers" when ``@triton.autotune`` runs at import on a host without a GPU. ``sgl_kernel_standin/``
holds a package named ``sgl_kernel`` whose every name raises if called and which gives triton a
driver that refuses to run anything; it is put on the path only for releases that import
``sgl_kernel`` unconditionally (``versions.SGL_KERNEL_IMPORTED_FROM``) and only where no real one is installed.

``sitecustomize.py`` here runs at the start of every process with this folder on its path: on a host
without CUDA, SGLang 0.4.x's ``update_weights_from_tensor`` moves tensors to the CPU instead of
``torch.cuda.current_device()``, and ``torch.cuda.synchronize()`` (which 0.5.5.x's own release
calls) returns at once (see that file).

All are put on the path only for ``--device cpu`` (see ``enable``); GPU runs never see them.
"""

import os
import sys

COMPAT_DIR = os.path.dirname(os.path.abspath(__file__))
SGL_KERNEL_STANDIN_DIR = os.path.join(COMPAT_DIR, "sgl_kernel_standin")


def missing_ops(module_name: str):
    """A module-level ``__getattr__`` for a stand-in: every name is a function that raises
    NotImplementedError naming it when called (the CPU path must never call one)."""

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)

        def op(*args, **kwargs):
            raise NotImplementedError(f"{module_name}.{name} has no CPU implementation (server_ext.cpu_compat stand-in)")

        op.__name__ = name
        return op

    return __getattr__


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


def needs_sgl_kernel_standin() -> bool:
    """Whether the installed SGLang imports sgl_kernel on the CPU path and none is installed."""
    import importlib.util

    from sglang_patch.versions import SGL_KERNEL_IMPORTED_FROM, installed_sglang_at_least

    if not installed_sglang_at_least(SGL_KERNEL_IMPORTED_FROM):
        return False
    found = importlib.util.find_spec("sgl_kernel")  # the stand-in itself, once this process put it on its path
    return found is None or (found.origin or "").startswith(SGL_KERNEL_STANDIN_DIR)


def folders() -> list:
    """The folders the CPU path needs on its module path, first."""
    return [COMPAT_DIR] + ([SGL_KERNEL_STANDIN_DIR] if needs_sgl_kernel_standin() else [])


def add_to_environment(env):
    """``env`` (a dict of environment variables) for a process that runs SGLang on the CPU: the
    folders first on PYTHONPATH, and the variable _custom_ops.py needs. Returns ``env``."""
    from server_ext.envs import prepend_pythonpath

    for folder in reversed(folders()):
        prepend_pythonpath(env, folder)
    # _custom_ops.py otherwise reaches for sgl_kernel (absent on CPU) while torch.distributed starts.
    env.setdefault("USE_VLLM_CUSTOM_ALLREDUCE", "1")
    return env


def enable() -> None:
    """Make the CPU stand-ins importable here and in every process spawned from here."""
    for folder in reversed(folders()):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    add_to_environment(os.environ)
    # This process started before the folder was on its path: run its sitecustomize here too.
    import importlib.util

    spec = importlib.util.spec_from_file_location("_cpu_compat_sitecustomize", os.path.join(COMPAT_DIR, "sitecustomize.py"))
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
