"""What the tags hold in one scheduler's rank, and the device memory around them.

The bytes of each tag (the graphs' pool, the model's parameters and buffers, the KV pools), the
model's buffers stashed to CPU across a release of the weights, the allocator's cached blocks
handed back after a pause, the device's free memory before a resume and the figures of the status.
"""

from __future__ import annotations

import gc
from typing import Any, Dict, List, Optional, Tuple

import torch

from .graph_memory import drop_cublas_workspaces
from .ledger import MemoryLedger
from .sglang_compat import global_graph_pool, graphs_captured, model_runner
from .tags import CUDA_GRAPH, KV_CACHE, WEIGHTS


def stash_buffers(model) -> List[Tuple[str, Any]]:
    return [(name, buf.detach().to("cpu", copy=True)) for name, buf in model.named_buffers()]


def restore_buffers(model, stashed: Optional[List[Tuple[str, Any]]]) -> None:
    if stashed is None:  # a release of the weights stashes them first; a resume without one is a bug
        raise RuntimeError("no stash of the model's buffers to put back (the weights were not released here)")
    buffers = dict(model.named_buffers())
    for name, saved in stashed:
        buffers[name].copy_(saved)


def _tensor_bytes(objs) -> int:
    """Bytes of the distinct storages among tensors (and lists of tensors) in ``objs``."""
    storages = {}
    for obj in objs:
        for t in obj if isinstance(obj, (list, tuple)) else [obj]:
            if isinstance(t, torch.Tensor):
                storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(storages.values())


def _graph_pool_bytes(scheduler) -> int:
    """Bytes of the CUDA graphs' memory pool: the allocator's segments that belong to it."""
    if not graphs_captured(scheduler):
        return 0
    pool = global_graph_pool()
    if pool is None:
        return 0
    return sum(seg["total_size"] for seg in torch.cuda.memory_snapshot() if tuple(seg.get("segment_pool_id", ())) == tuple(pool))


def bytes_per_tag(scheduler) -> Dict[str, int]:
    """What each tag holds in this rank: the graph pool; the model's parameters and buffers; the KV pools."""
    runner = model_runner(scheduler)
    model = runner.model
    return {
        CUDA_GRAPH: _graph_pool_bytes(scheduler),
        WEIGHTS: _tensor_bytes(list(model.parameters()) + list(model.buffers())),
        KV_CACHE: _tensor_bytes(list(vars(runner.token_to_kv_pool).values()) + [runner.req_to_token_pool.req_to_token]),
    }


def hand_back_cached_blocks(scheduler) -> None:
    """After a pause: what this rank's allocator still caches goes back to the driver, before the
    reply (vLLM's sleep does the same; cached blocks are memory the trainer cannot use). torch's
    cuBLAS workspaces (32 MiB per handle and stream on a Hopper GPU) go too where no live CUDA
    graph uses one of them (graph_memory.py: the package's captures keep theirs in the graph pool),
    once the graphs are released too or there are none (a release of kv_cache alone skips the
    scan for graphs); the next matmul on a stream allocates its workspace again."""
    if model_runner(scheduler).device != "cuda":
        return
    gc.collect()
    graphs = graphs_captured(scheduler)
    if not graphs or CUDA_GRAPH in MemoryLedger.of(scheduler).released:
        drop_cublas_workspaces(graphs)
    torch.cuda.empty_cache()
    torch.cuda.ipc_collect()


def device_memory(scheduler, resident_bytes: int, graph_pool_bytes: Optional[int]) -> Optional[Dict[str, Any]]:
    """Where this rank's GPU memory is: the device as a whole, this process's allocator, the graph
    pool, and the rest (CUDA context, allocator cache, untagged tensors, other processes)."""
    if model_runner(scheduler).device != "cuda":
        return None
    free, total = torch.cuda.mem_get_info()
    used = total - free
    return {
        "device_total_bytes": total,
        "device_used_bytes": used,  # every process on this GPU
        "allocator_reserved_bytes": torch.cuda.memory_reserved(),  # tagged memory counts even while released
        "allocator_allocated_bytes": torch.cuda.memory_allocated(),
        "cuda_graph_pool_bytes": graph_pool_bytes,
        "other_bytes": max(0, used - resident_bytes),  # device used beyond the resident tags
    }


def free_device_bytes(scheduler) -> int:
    if model_runner(scheduler).device == "cuda":
        torch.cuda.empty_cache()  # blocks cached by this process's allocator cannot hold the resumed tags
        return torch.cuda.mem_get_info()[0]
    import psutil

    return psutil.virtual_memory().available
