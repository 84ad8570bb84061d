"""Device kit only: NOT the CUTLASS DSL. A stand-in that lets SGLang 0.5.23 import on the lent H200.

0.5.23 builds every Llama MLP with a ``DualGemm`` (layers/dual_gemm.py:30) that, on any CUDA
device, imports sglang.kernels.ops.gemm.cutedsl_dual_gemm, which imports the CUTLASS DSL
(``cutlass``, nvidia-cutlass-dsl 4.8.0) at module level. The kernel is Blackwell-only:
``can_use_dual_gemm`` answers False unless ``is_sm100_supported()``, so on the H200 it is imported
and never run. The real package does not fit a device call (its cu13 library wheel alone is 92 MB,
an MLIR library of 193 MB unpacked). What the module does with ``cutlass`` at import is decorate
(``@cute.experimental.jit``, ``@cute.experimental.kernel``): here a placeholder called with one
function returns it unchanged; called any other way, it raises, so a path that did need the DSL
stops with this message instead of computing something else.
Installed by scripts/device-kit.sh as site/cutlass/__init__.py for releases that have this file.
"""

import importlib.abc
import importlib.machinery
import sys
import types

STANDIN = True
__version__ = "0.0.0+device-kit-standin"


class _MissingMeta(type):
    """The type of a placeholder: attribute access nests; called with one function (a decorator),
    it returns the function; any other call raises."""

    def __getattr__(cls, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _missing(f"{cls._stand_in_for}.{attr}")

    def __call__(cls, *args, **kwargs):
        if len(args) == 1 and not kwargs and callable(args[0]) and not isinstance(args[0], _MissingMeta):
            return args[0]
        raise NotImplementedError(
            f"{cls._stand_in_for}: the device kit's CUTLASS DSL stand-in has no kernels "
            "(scripts/device-kit/cutlass_standin-0.5.23.py); this path needs the real nvidia-cutlass-dsl"
        )

    def __repr__(cls):
        return f"<device-kit stand-in for {cls._stand_in_for}>"


def _missing(name):
    return _MissingMeta(name.rsplit(".", 1)[-1], (), {"_stand_in_for": name})


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _missing(f"cutlass.{name}")


class _StandinSubmodules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import cutlass.X.Y`` gives a module whose every name is a placeholder."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("cutlass."):
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
    return _missing(f"{prefix}.{name}")


sys.meta_path.insert(0, _StandinSubmodules())
