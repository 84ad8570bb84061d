"""Device kit only: NOT flashinfer. A stand-in that lets SGLang 0.5.17 import on the lent H200.

(0.5.15.post1 and 0.5.23 take it too: flashinfer_standin-<version>.py links to this file.)
0.5.17 imports flashinfer at module level on CUDA (layers/quantization/fp8_utils.py,
layers/sampler.py, ...), but the device image has no flashinfer, and the real one (78 MB
unpacked, plus cuda-python, cutlass-dsl, cudnn-frontend and nvcc for its JIT kernels) does not
fit a device call. The test servers never need it: device_flags.CUDA_FLAGS choose the triton
attention backend and pytorch sampling, and the kit's setup.sh sets
SGLANG_IS_FLASHINFER_AVAILABLE=false (seeing ``STANDIN = True`` below), so SGLang's feature
checks choose nothing of flashinfer. Every name imported from here is a placeholder that raises
when called, so a path that did need flashinfer stops with this message instead of computing
something else.

``flashinfer.norm`` is left out on purpose: sglang-kernel 0.4.5 tries ``import flashinfer.norm``
and, when that fails, runs its own RMSNorm CUDA kernels (sgl_kernel/elementwise.py).
Installed by scripts/device-kit.sh as site/flashinfer/__init__.py for releases that have this file.
"""

import importlib.abc
import logging
import importlib.machinery
import sys
import types

STANDIN = True
__version__ = "0.0.0+device-kit-standin"
_NOT_PROVIDED = {"flashinfer.norm"}  # ImportError: sgl_kernel falls back to its own kernels


class _MissingMeta(type):
    """The type of a placeholder: attribute access nests, calling (or instantiating a subclass)
    raises. Placeholders are classes, since SGLang subclasses some flashinfer classes at import."""

    def __getattr__(cls, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _missing(f"{cls._stand_in_for}.{attr}")

    def __call__(cls, *args, **kwargs):
        raise NotImplementedError(
            f"{cls._stand_in_for}: the device kit's flashinfer stand-in has no kernels "
            "(scripts/device-kit/flashinfer_standin-0.5.17.py); run with flags that avoid flashinfer"
        )

    def __repr__(cls):
        return f"<device-kit stand-in for {cls._stand_in_for}>"


def _missing(name):
    return _MissingMeta(name.rsplit(".", 1)[-1], (), {"_stand_in_for": name})


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _missing(f"flashinfer.{name}")


class _StandinSubmodules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import flashinfer.X.Y`` gives a module whose every name is a placeholder."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("flashinfer.") or fullname in _NOT_PROVIDED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = lambda name, prefix=spec.name: _missing_attr(prefix, name)
        return module

    def exec_module(self, module):
        pass


def _missing_attr(prefix, name):
    if name.startswith("__"):
        raise AttributeError(name)
    if name == "logger":  # SGLang's configure_logger quiets flashinfer.jit.core.logger
        return logging.getLogger(prefix)
    return _missing(f"{prefix}.{name}")


sys.meta_path.insert(0, _StandinSubmodules())
