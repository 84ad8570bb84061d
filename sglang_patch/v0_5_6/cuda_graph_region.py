"""Patch ``cuda_graph_region`` (0.5.6): SGLang's own capture under the tag ``cuda_graph``, by default.

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

import os
from contextlib import nullcontext

from sglang_patch._core import Patch, Shape
from sglang_patch.memory_occupation.graph_memory import pooled_capture

CAPTURE = "sglang.srt.model_executor.cuda_graph_runner.CudaGraphRunner._capture_graph"
ENV = "SGLANG_MEMORY_SAVER_CUDA_GRAPH"
# The tag's name in SGLang's constants: the native capture under it came with 0.5.4.post2 (0.5.4.post1
# and earlier name only weights and kv_cache; 0.5.2's set tags the capture itself).
NATIVE_TAG = "sglang.srt.constants.GPU_MEMORY_TYPE_CUDA_GRAPH"


class NativeCudaGraphTagPatch(Patch):
    name = "cuda_graph_region"
    targets = (CAPTURE,)
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

    @staticmethod
    def run(stock, runner, *args, **kwargs):
        """``CudaGraphRunner._capture_graph(graph, pool, stream, run_once_fn)``: the capture itself,
        with its cuBLAS workspace in the graph pool when the memory saver is on."""
        graph = kwargs.get("graph", args[0] if args else None)
        saver_on = runner.model_runner.server_args.enable_memory_saver
        with pooled_capture(nullcontext(), graph) if saver_on else nullcontext():
            return stock(runner, *args, **kwargs)
