"""What the CUDA graphs hold outside their pool, moved under the tag ``cuda_graph`` or freed (issue 20).

Two things that a release of everything left on the device, by the floor's breakdown
(docs/benchmarks.md, "What the floor is made of"):

- **cuBLAS workspaces.** torch keeps one workspace per (cuBLAS handle, stream), 32 MiB each on a
  Hopper GPU, allocated from the caching allocator the first time that stream runs a matmul and
  kept until ``torch._C._cuda_clearCublasWorkspaces()`` (aten/src/ATen/cuda/CublasHandlePool.cpp,
  ``setWorkspaceForHandle``). SGLang warms each graph up on its capture stream before the capture,
  so the capture finds the warm-up's workspace, outside the graph pool, and every graph's matmuls
  point at it: dropping it while the graphs live would let them write into freed memory. What is
  done here is what torch's own CUDA-graph trees do (``torch/_inductor/cudagraph_trees.py``,
  ``clear_cublass_cache``): the workspaces are cleared right before each capture and right after
  it, so the capture allocates its workspace *inside the graph pool* (under the tag with the rest
  of the pool: a release of ``cuda_graph`` frees it, its content is scratch) and no workspace that
  a graph uses is held by torch's map afterwards. Once every live graph of the process was
  captured that way, a release can clear the map itself: what it frees (the scheduler's and the
  forward thread's eager workspaces) is allocated again, 32 MiB each, by the next matmul on that
  stream. Graphs this package did not capture (a capture path of SGLang that the patches do not
  wrap, speculative decoding's draft graphs) keep the map-held workspaces of their warm-ups: each
  capture and each release clears only while every live graph is one of the package's
  (``_only_our_graphs``); otherwise the workspaces stay as they are.
- **Graphs captured in segments** (SGLang 0.5.17's breakable backend, its default for prefill
  graphs): native refuses the memory saver there, so the prefill graphs' share of the shared pool
  stayed resident (on the H200: pool 1.125 GiB, 0.119 GiB freed by a release of ``cuda_graph``).
  ``SegmentCapture`` opens torch_memory_saver's graph region (``torch_memory_saver.cuda_graph``'s
  own, which only marks this thread's allocations with the tag, no pool of its own) while each
  segment is being captured, and closes it for the eager breaks between segments: the pool's
  segments are allocated under the tag, the eager breaks' outputs (inputs of the next segment,
  rewritten at every replay) are not.

One copy for every release; the wiring is in the ``cuda_graph_region`` patch of each set.

**Off by default until it is measured on a GPU** (issue 20: written on a machine without one, no
device time was left to run tests/gpu/test_graph_memory.py and the floor bench):
``SGLANG_TAGGED_MEMORY_GRAPH_FLOOR=1`` turns both on. Off, every capture is SGLang's own (no
workspace clearing, no scan of the collector's objects), a release drops no workspace, and
0.5.17's prefill segments stay outside the tag as before.
"""

from __future__ import annotations

import gc
import logging
import weakref
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional

import torch

from .flags import env_switch

logger = logging.getLogger(__name__)

ENV = "SGLANG_TAGGED_MEMORY_GRAPH_FLOOR"


def enabled() -> bool:
    """Whether the captures keep their workspaces in the pool and segments go under the tag (``ENV``)."""
    return env_switch(ENV)


class _Process:
    """This process's record of the graphs it captured with their workspaces in the pool."""

    def __init__(self) -> None:
        self.ours: "weakref.WeakSet[Any]" = weakref.WeakSet()  # torch.cuda.CUDAGraph objects captured through pooled_capture


_PROCESS = _Process()


def _cuda() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_initialized()


def _clear_workspaces() -> None:
    torch._C._cuda_clearCublasWorkspaces()


def _live_graphs() -> List[Any]:
    """Every ``torch.cuda.CUDAGraph`` alive in this process (a Python subclass: the collector tracks
    it). Objects that ``gc.freeze()`` moved out of the collector's sight (SGLang freezes them
    around its graph captures, and on ``/freeze_gc``) are brought back for the scan and frozen
    again. By type, not ``isinstance``: that reads ``__class__``, which some proxies warn about."""
    graph_cls = torch.cuda.CUDAGraph
    frozen = gc.get_freeze_count() > 0
    if frozen:
        gc.unfreeze()
    try:
        return [obj for obj in gc.get_objects() if issubclass(type(obj), graph_cls)]
    finally:
        if frozen:
            gc.freeze()


def _only_our_graphs(about_to_capture=None) -> bool:
    """Whether every live CUDA graph of this process (but ``about_to_capture``, not captured yet)
    keeps its cuBLAS workspace in its pool, so that clearing torch's map of workspaces frees none
    that a graph uses. Scans the collector's objects (a fraction of a second in a server
    process): once per capture and per release."""
    if not _cuda():
        return False
    foreign = [g for g in _live_graphs() if g not in _PROCESS.ours and g is not about_to_capture]
    if foreign:
        logger.info("%d CUDA graph(s) not captured by this package: cuBLAS workspaces stay where they are", len(foreign))
    return not foreign


def _record(graph) -> None:
    if isinstance(graph, torch.cuda.CUDAGraph):
        _PROCESS.ours.add(graph)


@contextmanager
def pooled_capture(capture, graph=None) -> Iterator[None]:
    """Run the capture context ``capture`` (of ``graph``) with its cuBLAS workspace in the graph
    pool: the workspaces are cleared before the capture begins (after the warm-ups) and after it
    ends. Enter it where the warm-ups are done and the capture is about to begin. Skipped (the
    capture as it is) when a graph captured otherwise lives: clearing would free its workspace."""
    pooling = enabled() and _only_our_graphs(graph)
    if pooling:
        _clear_workspaces()
    try:
        with capture:
            yield
    finally:
        if pooling:
            _record(graph)
            _clear_workspaces()


class PooledCaptureAdapter:
    """SGLang's memory saver adapter, whose ``cuda_graph(...)`` captures with the workspaces in the
    pool (``pooled_capture``); everything else is the adapter's own. For a backend that warms up
    and captures in one method and reads the adapter in between (0.5.17's full backend)."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def cuda_graph(self, **kwargs):
        return pooled_capture(self._inner.cuda_graph(**kwargs), kwargs.get("cuda_graph"))

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


@contextmanager
def _capture_already_begun(*args, **kwargs) -> Iterator[None]:
    yield


def _open_tag_region(adapter, tag: str):
    """torch_memory_saver's graph region for ``tag`` while a capture that began elsewhere runs:
    ``cuda_graph(...)`` is torch's ``torch.cuda.graph`` (looked up when it is called, here a no-op:
    the capture has begun) around the saver's region, which marks this thread's allocations with
    the tag. Returns the open context (close with ``__exit__``)."""
    stock_graph = torch.cuda.graph
    torch.cuda.graph = _capture_already_begun
    try:
        region = adapter.cuda_graph(cuda_graph=None, tag=tag)
        region.__enter__()
    finally:
        torch.cuda.graph = stock_graph
    return region


class SegmentCapture:
    """One capture of a graph in segments (SGLang 0.5.17's ``BreakableCUDAGraphCapture``): each
    segment captured under ``tag``, the eager breaks between them outside it, the cuBLAS workspace
    in the pool as ``pooled_capture`` does."""

    def __init__(self, adapter, tag: str) -> None:
        self.adapter = adapter
        self.tag = tag
        self.tagging = enabled()
        self.pooling: Optional[bool] = None  # decided when the first segment begins (warm-ups done)
        self._open: Dict[int, Any] = {}  # id(capture object) -> its open region

    def before_segment(self) -> None:
        if self.pooling is None:
            self.pooling = self.tagging and _only_our_graphs()
            if self.pooling:
                _clear_workspaces()

    def segment_begun(self, capture, graph) -> None:
        if self.pooling:
            _record(graph)
        if self.tagging:
            self._open[id(capture)] = _open_tag_region(self.adapter, self.tag)

    def segment_ending(self, capture) -> None:
        region = self._open.pop(id(capture), None)
        if region is not None:
            region.__exit__(None, None, None)

    def finish(self) -> None:
        for region in self._open.values():  # a capture that failed between begin and end
            region.__exit__(None, None, None)
        self._open.clear()
        if self.pooling:
            _clear_workspaces()


def drop_cublas_workspaces(graphs_captured: bool) -> bool:
    """After a release: clear torch's cuBLAS workspaces (the next matmul on a stream allocates its
    own again) when no live graph can use one of them: every live CUDA graph was captured with its
    workspace in the pool (``pooled_capture``, ``SegmentCapture``), or there are none. Returns
    whether it cleared."""
    if not enabled() or not _cuda():
        return False
    if graphs_captured and not _PROCESS.ours:
        return False  # none captured through this package: theirs use the map's workspaces
    if not _only_our_graphs():
        return False
    _clear_workspaces()
    return True
