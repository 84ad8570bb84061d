"""On a real GPU, without SGLang: a graph captured through ``graph_memory.pooled_capture`` keeps
its cuBLAS workspace in its own pool, so dropping torch's workspaces afterwards is safe, and a
graph captured otherwise turns the drop off (issue 20).

The safety claim is checked the hard way: after the drop, the freed memory is handed back to the
driver and taken again by other tensors filled with garbage; the graph must still replay the
eager result. Skipped without a GPU; seconds on the device.
"""

from __future__ import annotations

import gc
import pytest

from conftest import DEVICE

pytestmark = pytest.mark.skipif(DEVICE != "cuda", reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def graph_floor_on(monkeypatch):
    """The change is off by default until measured on a GPU: these tests are that measurement."""
    monkeypatch.setenv("SGLANG_TAGGED_MEMORY_GRAPH_FLOOR", "1")


def _capture(pooled: bool):
    import torch

    from sglang_patch.memory_occupation.graph_memory import pooled_capture

    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    stream = torch.cuda.Stream()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.stream(stream):
        for _ in range(2):  # SGLang's warm-up on the capture stream: it creates that stream's workspace
            a @ b
    torch.cuda.synchronize()
    capture = torch.cuda.graph(graph, stream=stream)
    with pooled_capture(capture, graph) if pooled else capture:
        out = a @ b
    return graph, a, b, out


def test_pooled_graph_survives_dropping_the_workspaces():
    """The drop runs, the freed memory goes back to the driver and is taken by other tensors;
    the graph still replays the eager result (a workspace outside its pool would be gone)."""
    import torch

    from sglang_patch.memory_occupation import graph_memory

    graph, a, b, out = _capture(pooled=True)
    assert graph_memory.drop_cublas_workspaces(graphs_captured=True), "only pooled graphs live: the drop should run"
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info()
    hog = torch.full((free - (1 << 30),), 7, dtype=torch.uint8, device="cuda")
    a.copy_(torch.randn_like(a))
    out.zero_()
    graph.replay()
    torch.cuda.synchronize()
    del hog
    expected = a @ b  # eager: its algorithm may differ from the graph's in the last bits
    assert torch.allclose(out.float(), expected.float(), rtol=2e-2, atol=0.5)
    del graph
    gc.collect()


def test_a_graph_captured_otherwise_turns_the_drop_off():
    from sglang_patch.memory_occupation import graph_memory

    pooled = _capture(pooled=True)
    foreign = _capture(pooled=False)
    assert not graph_memory._only_our_graphs()  # pooled_capture then leaves the workspaces alone too
    assert not graph_memory.drop_cublas_workspaces(graphs_captured=True)
    del pooled, foreign
    gc.collect()
