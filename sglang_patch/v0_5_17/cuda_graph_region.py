"""Patch ``cuda_graph_region`` (0.5.17): every CUDA graph's pool under the tag ``cuda_graph``, by default.

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
0.5.15.post1's set (derived from this one) has the same classes and methods.
"""

from contextvars import ContextVar
from typing import Optional

from sglang_patch._core import Shape
from sglang_patch.memory_occupation.graph_memory import PooledCaptureAdapter, SegmentCapture
from sglang_patch.memory_occupation.graph_memory import enabled as graph_memory_enabled
from sglang_patch.memory_occupation.tags import CUDA_GRAPH
from sglang_patch.v0_5_6.cuda_graph_region import ENV, NativeCudaGraphTagPatch

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


class CudaGraphTagPatch0517(NativeCudaGraphTagPatch):
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

    @staticmethod
    def run(stock, backend, *args, **kwargs):
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
