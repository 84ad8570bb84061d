"""Patch ``memory_saver``: the memory-saver adapter speaks tags, through the package singleton.

Stock 0.4.6.post5 builds its own ``TorchMemorySaver()`` at import and calls ``region()``,
``pause()`` and ``resume()`` without tags, so weights and KV cache can only be released together.
torch_memory_saver >= 0.0.8 takes ``tag=`` and keeps one process-wide singleton
(``torch_memory_saver.torch_memory_saver``); upstream SGLang switched to it in 0.4.8.

The allocation sites in SGLang still call ``region()`` with no argument. Rather than rewrite them,
the weights and KV-pool patches open a *default tag* around the code that allocates
(``default_region_tag``), and ``region()`` picks it up. A region opened with no tag in scope
falls back to torch_memory_saver's own default tag, which ``pause()``/``resume()`` with no tag
still cover.
"""

from __future__ import annotations

import contextvars
import logging
from contextlib import contextmanager
from typing import Iterator, Optional

from sglang_patch._core import Patch, Shape, mark_wrapper

logger = logging.getLogger(__name__)

_region_tag: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar(
    "sglang_patch_region_tag", default=None
)


@contextmanager
def default_region_tag(tag: str) -> Iterator[None]:
    """Regions opened inside this block (with no explicit tag) get ``tag``."""
    token = _region_tag.set(tag)
    try:
        yield
    finally:
        _region_tag.reset(token)


def _singleton():
    try:
        from torch_memory_saver import torch_memory_saver  # the >= 0.0.8 process-wide instance
    except ImportError as e:
        raise ImportError(
            "--enable-memory-saver with tags needs torch_memory_saver>=0.0.8 "
            "(pip install 'torch_memory_saver>=0.0.8'); the installed one has no singleton: " + str(e)
        ) from e
    return torch_memory_saver


class TaggedMemorySaverAdapter:
    """Same interface as SGLang's ``TorchMemorySaverAdapter``, plus tags."""

    enabled = True

    def check_validity(self, caller_name: str) -> None:
        pass

    def configure_subprocess(self):
        import torch_memory_saver

        return torch_memory_saver.configure_subprocess()

    def region(self, tag: Optional[str] = None):
        tag = tag or _region_tag.get()
        if tag is None:
            logger.warning("memory-saver region opened with no tag: it is released only with all tags")
            return _singleton().region()
        return _singleton().region(tag=tag)

    def pause(self, tag: Optional[str] = None) -> None:
        _singleton().pause(tag)

    def resume(self, tag: Optional[str] = None) -> None:
        _singleton().resume(tag)

    def cuda_graph(self, cuda_graph, pool=None, stream=None, capture_error_mode="global", tag: Optional[str] = None):
        """``torch.cuda.graph(...)`` whose pool allocations are made under ``tag`` (preload mode)."""
        return _singleton().cuda_graph(cuda_graph=cuda_graph, pool=pool, stream=stream,
                                       capture_error_mode=capture_error_mode, tag=tag)


class MemorySaverPatch(Patch):
    name = "memory_saver"
    targets = ("sglang.srt.torch_memory_saver_adapter.TorchMemorySaverAdapter.create",)
    shapes = {targets[0]: Shape(params=("enable",), static=True)}
    process = "all"
    summary = "adapter drives the torch_memory_saver singleton with tags (region/pause/resume)"

    def replacements(self):
        (target,) = self.targets
        stock_create = self.original(target).__func__  # a staticmethod in the class dict

        def create(enable: bool):
            if not enable:
                return stock_create(False)
            _singleton()  # fail at start-up, not at the first release, if the package is too old
            return TaggedMemorySaverAdapter()

        return {target: staticmethod(mark_wrapper(create, stock_create, self.name))}
