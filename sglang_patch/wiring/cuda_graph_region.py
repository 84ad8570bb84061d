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

Two variants, next to the base, for releases whose SGLang captures under the tag itself:
``NativeCudaGraphTagPatch`` (0.5.4.post2 to 0.5.12.post1: native's capture, on by default) and
``BackendCudaGraphTagPatch`` (0.5.15.post1 on: per-phase capture backends).
"""

import os
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import Optional

import torch

from sglang_patch._core import Patch, Shape, mark_wrapper
from sglang_patch.memory_occupation.graph_memory import PooledCaptureAdapter, SegmentCapture, pooled_capture
from sglang_patch.memory_occupation.graph_memory import enabled as graph_memory_enabled
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
    """Tags the capture itself (0.4.6.post5 to 0.5.3.x).

    Hooks (class attributes):
    - ``requires``: ``("memory_saver",)`` where this package's adapter is used; none where SGLang's
      own adapter tags (0.4.8 on), which the capture then finds through torch_memory_saver's singleton.
    """

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


# -- SGLang tags the capture itself (0.5.4.post2 on) ----------------------------------------

NATIVE_CAPTURE = "sglang.srt.model_executor.cuda_graph_runner.CudaGraphRunner._capture_graph"
ENV = "SGLANG_MEMORY_SAVER_CUDA_GRAPH"
# The tag's name in SGLang's constants: the native capture under it came with 0.5.4.post2 (0.5.4.post1
# and earlier name only weights and kv_cache; 0.5.2's set tags the capture itself).
NATIVE_TAG = "sglang.srt.constants.GPU_MEMORY_TYPE_CUDA_GRAPH"


class NativeCudaGraphTagPatch(Patch):
    """Variant (0.5.4.post2 to 0.5.12.post1): SGLang's own capture under the tag ``cuda_graph``, by default.

    SGLang 0.5.6 can capture its CUDA graphs with their memory pool under the tag ``cuda_graph``
    itself (``CudaGraphRunner._capture_graph``, model_executor/cuda_graph_runner.py:515), but only
    with the environment variable ``SGLANG_MEMORY_SAVER_CUDA_GRAPH`` set (default off, environ.py:316).
    Without it the graph pool stays on the device while everything else is released, unlike every
    earlier release this package supports, where the capture is tagged by default. So native's
    capture is used, with the variable defaulting to on for the capture: a value the user set,
    ``0`` included, is kept.

    With the memory saver on, each capture (``_capture_graph`` runs after the warm-ups) also gets its
    cuBLAS workspace inside the graph pool (``memory_occupation/graph_memory.py``), so a release can
    free the workspaces that the allocator still holds.
    """

    name = "cuda_graph_region"
    targets = (NATIVE_CAPTURE,)
    shapes = {NATIVE_TAG: Shape()}
    process = "scheduler"
    summary = "SGLang's own cuda_graph tag on by default (SGLANG_MEMORY_SAVER_CUDA_GRAPH=0 turns it off)"

    def replacements(self):
        return self.marked({target: self._with_native_tag_on(target) for target in self.targets})

    def _with_native_tag_on(self, target: str):
        stock = self.original(target)

        def capture(runner, *args, **kwargs):
            if ENV in os.environ:  # the user's value, or a capture this one is inside of
                return self.run(stock, runner, *args, **kwargs)
            os.environ[ENV] = "1"  # read by the capture itself; the scheduler captures on one thread
            try:
                return self.run(stock, runner, *args, **kwargs)
            finally:
                del os.environ[ENV]

        return capture

    def run(self, stock, runner, *args, **kwargs):
        """``CudaGraphRunner._capture_graph(graph, pool, stream, run_once_fn)``: the capture itself,
        with its cuBLAS workspace in the graph pool when the memory saver is on."""
        graph = kwargs.get("graph", args[0] if args else None)
        saver_on = runner.model_runner.server_args.enable_memory_saver
        with pooled_capture(nullcontext(), graph) if saver_on else nullcontext():
            return stock(runner, *args, **kwargs)


# -- per-phase capture backends (0.5.15.post1 on) ----------------------------------------

_BACKENDS = "sglang.srt.model_executor.runner_backend."
FULL_INIT = _BACKENDS + "full_cuda_graph_backend.FullCudaGraphBackend.__init__"
BREAKABLE = _BACKENDS + "breakable_cuda_graph_backend.BreakableCudaGraphBackend."
SEGMENTS = ("sglang.srt.model_executor.runner_backend_utils.breakable_cuda_graph.breakable_cuda_graph."
            "BreakableCUDAGraphCapture.")

# The segmented capture in progress on this thread (set by capture_one, read by the segment hooks).
_SEGMENTED: ContextVar[Optional[SegmentCapture]] = ContextVar("sglang_patch_segmented_capture", default=None)


def _tag_wanted(enable_memory_saver: bool) -> bool:
    """The memory saver is on and ``SGLANG_MEMORY_SAVER_CUDA_GRAPH`` is not set to off (unset: on)."""
    from sglang.srt.utils import get_bool_env_var

    return bool(enable_memory_saver) and get_bool_env_var(ENV, "true")


class BackendCudaGraphTagPatch(NativeCudaGraphTagPatch):
    """Variant (0.5.15.post1 on): every CUDA graph's pool under the tag ``cuda_graph``, by default.

    0.5.17 captures its graphs through per-phase backends that share one graph memory pool
    (model_executor/runner_utils/pool.py): the prefill graphs first (the breakable backend, the
    default on CUDA, cuda_graph_config.py:110-119), then the decode graphs (the full backend).

    - Full backend (decode graphs): native tags the capture itself when ``SGLANG_MEMORY_SAVER_CUDA_GRAPH``
      is set (default off); it defaults to on here, as in 0.5.6 (``NativeCudaGraphTagPatch``). Its
      adapter's ``cuda_graph(...)``, read between the warm-ups and the capture
      (full_cuda_graph_backend.py:93-111), captures with the cuBLAS workspace in the pool.
    - Breakable backend (prefill graphs, segments with eager breaks): native refuses the memory
      saver (``NotImplementedError: Breakable CUDA graph is not compatible with memory saver mode``,
      breakable_cuda_graph_backend.py:78-88), so its segments, captured first, filled the shared pool
      outside the tag and the decode graphs reused them: on the H200 a release of ``cuda_graph``
      freed 0.119 of the pool's 1.125 GiB. Here the backend is built without native's memory saver
      and, with the memory saver on and the variable not set to off, its captures run each segment
      under the tag (``_begin_new_segment`` / ``_end_current_segment`` of ``BreakableCUDAGraphCapture``,
      hooked for the duration of ``capture_one``) and the eager breaks between segments outside it
      (``memory_occupation/graph_memory.py``, ``SegmentCapture``). The pool then holds only memory
      allocated under the tag. Like native's tagged graphs, these skip CUDA-graph deduplication
      (``_memory_saver_cuda_graph_enabled``: the backend's adapter is the real one).
    - The tc_piecewise backend (opt-in) is left as it is: its graphs are torch.compile's.
    0.5.15.post1, 0.5.17 and 0.5.23 have the same classes and methods.
    """

    targets = (FULL_INIT, BREAKABLE + "__init__", BREAKABLE + "capture_one",
               SEGMENTS + "_begin_new_segment", SEGMENTS + "_end_current_segment")
    # The wrappers pass enable_memory_saver by name and read the capture's new segment graph.
    shapes = {BREAKABLE + "__init__": Shape(params=("cuda_graph_runner", "enable_memory_saver"))}
    summary = ("every CUDA graph's pool (decode: SGLang's own tag, on by default; prefill's breakable "
               "segments: captured under the tag here) and cuBLAS workspace under tag 'cuda_graph'")

    def replacements(self):
        return self.marked({
            FULL_INIT: self._with_native_tag_on(FULL_INIT),
            BREAKABLE + "__init__": self._breakable_init(),
            BREAKABLE + "capture_one": self._breakable_capture_one(),
            SEGMENTS + "_begin_new_segment": self._begin_segment(),
            SEGMENTS + "_end_current_segment": self._end_segment(),
        })

    def run(self, stock, backend, *args, **kwargs):
        """``FullCudaGraphBackend.__init__``: native's, then its adapter captures with the cuBLAS
        workspace in the pool when the capture is tagged."""
        stock(backend, *args, **kwargs)
        adapter = backend._memory_saver_adapter
        if adapter is not None and adapter.enabled:
            backend._memory_saver_adapter = PooledCaptureAdapter(adapter)

    def _breakable_init(self):
        stock = self.original(BREAKABLE + "__init__")

        def __init__(backend, cuda_graph_runner, *args, enable_memory_saver: bool = False, **kwargs):
            if not graph_memory_enabled():  # off until measured on a GPU: native's own, as it was
                return stock(backend, cuda_graph_runner, *args, enable_memory_saver=enable_memory_saver, **kwargs)
            # Native refuses the memory saver here: built without it, tagged segment by segment.
            stock(backend, cuda_graph_runner, *args, enable_memory_saver=False, **kwargs)
            if _tag_wanted(enable_memory_saver):
                from sglang.srt.utils.torch_memory_saver_adapter import TorchMemorySaverAdapter

                backend._memory_saver_adapter = TorchMemorySaverAdapter.create(enable=True)

        return __init__

    def _breakable_capture_one(self):
        stock = self.original(BREAKABLE + "capture_one")

        def capture_one(backend, *args, **kwargs):
            adapter = backend._memory_saver_adapter
            if adapter is None or not adapter.enabled:
                return stock(backend, *args, **kwargs)
            segmented = SegmentCapture(adapter, CUDA_GRAPH)
            token = _SEGMENTED.set(segmented)
            try:
                return stock(backend, *args, **kwargs)
            finally:
                _SEGMENTED.reset(token)
                segmented.finish()

        return capture_one

    def _begin_segment(self):
        stock = self.original(SEGMENTS + "_begin_new_segment")

        def _begin_new_segment(capture):
            segmented = _SEGMENTED.get()
            if segmented is None:
                return stock(capture)
            segmented.before_segment()  # the warm-ups are done: the first segment is about to begin
            stock(capture)
            segmented.segment_begun(capture, capture._current_graph)

        return _begin_new_segment

    def _end_segment(self):
        stock = self.original(SEGMENTS + "_end_current_segment")

        def _end_current_segment(capture):
            segmented = _SEGMENTED.get()
            try:
                if segmented is not None:
                    segmented.segment_ending(capture)  # the eager break that follows runs outside the tag
            finally:
                stock(capture)

        return _end_current_segment
