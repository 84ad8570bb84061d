"""Patch ``cuda_graph_region``: CUDA graphs are captured under the tag ``cuda_graph``.

``CudaGraphRunner.capture_one_batch_size`` (model_executor/cuda_graph_runner.py:393) captures each
batch size with ``torch.cuda.graph(graph, pool=global_graph_memory_pool, stream=stream)`` (:512).
That pool (~0.7 GiB for an 8B model, and the allocator blocks around it: ~2.2 GiB of the released
floor measured on the H200) stays on the device while everything else is released. With the
memory saver on, the capture here uses torch_memory_saver's ``cuda_graph(...)`` instead — the
same capture, with the pool's allocations made under the tag (the preload hook mode SGLang uses) —
so ``cuda_graph`` can be released and resumed; the graphs replay from the same addresses after a
resume. Upstream did the same in sgl-project/sglang#7873 (released after 0.4.10.post2; slime resumes ``kv_cache`` and
``cuda_graph`` together). The warm-up runs before each capture stay outside the tag: only the
graph pool, which nothing else allocates from, is paused.

``torch.cuda.graph`` is looked up on ``torch.cuda`` when the capture runs, so it is replaced
there for the duration of the call (the scheduler captures on its main thread at start-up).

Each capture also gets its cuBLAS workspace inside the graph pool (cleared before the capture,
which comes after the warm-ups, and after it; ``memory_occupation/graph_memory.py``): the warm-up's
workspace, outside the pool and outside the tag, is no longer one the graphs use, so a release can
free the workspaces that the allocator still holds.
"""

from contextlib import contextmanager

import torch

from sglang_patch._core import Patch, mark_wrapper
from sglang_patch.memory_occupation.graph_memory import pooled_capture
from sglang_patch.memory_occupation.tags import CUDA_GRAPH

CAPTURE = "sglang.srt.model_executor.cuda_graph_runner.CudaGraphRunner.capture_one_batch_size"


@contextmanager
def graphs_under_tag(adapter, tag: str):
    """While open, ``torch.cuda.graph(...)`` captures with its pool, and its cuBLAS workspace
    (``pooled_capture``), under ``tag``."""
    stock_graph = torch.cuda.graph

    def tagged_graph(cuda_graph, pool=None, stream=None, capture_error_mode="global"):
        # One capture per call, and torch_memory_saver's capture looks torch.cuda.graph up itself:
        # it must find torch's own.
        torch.cuda.graph = stock_graph
        capture = getattr(adapter, "cuda_graph", None)
        if capture is None:  # SGLang's own adapter (native tags, 0.4.8-0.4.10.post2 have no cuda_graph): the singleton's
            from torch_memory_saver import torch_memory_saver

            capture = torch_memory_saver.cuda_graph
        return pooled_capture(capture(cuda_graph=cuda_graph, pool=pool, stream=stream,
                                      capture_error_mode=capture_error_mode, tag=tag), cuda_graph)

    torch.cuda.graph = tagged_graph
    try:
        yield
    finally:
        torch.cuda.graph = stock_graph


class CudaGraphRegionPatch(Patch):
    name = "cuda_graph_region"
    targets = (CAPTURE,)
    process = "scheduler"
    requires = ("memory_saver",)
    summary = "CUDA graphs are captured with their memory pool under tag 'cuda_graph'"

    def replacements(self):
        stock = self.original(CAPTURE)

        def capture_one_batch_size(runner, *args, **kwargs):
            adapter = runner.model_runner.memory_saver_adapter
            if not adapter.enabled:
                return stock(runner, *args, **kwargs)
            with graphs_under_tag(adapter, CUDA_GRAPH):
                return stock(runner, *args, **kwargs)

        return {CAPTURE: mark_wrapper(capture_one_batch_size, stock, self.name)}
