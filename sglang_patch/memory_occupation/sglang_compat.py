"""Where SGLang keeps what this package reads: every lookup that depends on SGLang's layout.

SGLang moves attributes between releases (onto a parallel state, a grammar manager, an output
streamer, a weight updater...). The rest of memory_occupation never probes for them: it calls the
one function here that finds the thing, by feature (what is present), not by version, so that a
release between two tested ones works too. Each function's docstring names the releases where
the thing moved; a new release that moves one more changes only this module
(docs/adding-a-release.md, step 3).

Nothing here imports SGLang at module level: the few imports are inside the functions that need
them, so that this module loads wherever the rest of the package does.
"""

from __future__ import annotations

from typing import Any, List, Optional

# -- the scheduler ----------------------------------------------------------------------------


def parallel_state(scheduler) -> Any:
    """What holds ``tp_size``, ``tp_rank`` and ``pp_size``: the scheduler itself up to 0.5.6, its
    ``ParallelState`` (``scheduler.ps``) in 0.5.15.post1 and 0.5.17; 0.5.23's scheduler keeps only
    ``tp_size``: the process's parallel context (``sglang.srt.runtime_context.get_parallel()``)."""
    ps = getattr(scheduler, "ps", None)
    if ps is not None:
        return ps
    if all(hasattr(scheduler, name) for name in ("tp_size", "tp_rank", "pp_size")):
        return scheduler
    from sglang.srt.runtime_context import get_parallel

    return get_parallel()


def grammar_queue(scheduler) -> List[Any]:
    """Requests waiting for their grammar: on the scheduler up to 0.5.6, on its grammar manager
    (``scheduler.grammar_manager.grammar_queue``) in 0.5.17."""
    queue = getattr(scheduler, "grammar_queue", None)
    return queue if queue is not None else scheduler.grammar_manager.grammar_queue


def batch_on_device(scheduler) -> bool:
    """Whether the overlap scheduler (or the PP loop) still has a batch whose result is pending on
    the device: its ``result_queue``, which exists only once such a loop runs (every release)."""
    return bool(getattr(scheduler, "result_queue", None))


def finished_batch_slots(scheduler) -> List[str]:
    """The scheduler's attributes that may hold a batch of finished requests between loop turns:
    ``last_batch``, and ``cur_batch`` up to 0.5.6 (0.5.17's scheduler keeps none)."""
    return [name for name in ("last_batch", "cur_batch") if hasattr(scheduler, name)]


def native_offload_tags(scheduler) -> Any:
    """SGLang's own set of paused tags (what its health check and the DP-attention batch sync
    read): ``scheduler.offload_tags`` in 0.5.6, its weight updater's in 0.5.17; None before 0.5."""
    return getattr(getattr(scheduler, "weight_updater", scheduler), "offload_tags", None)


def output_streamer(scheduler) -> Any:
    """What has ``stream_output(reqs, return_logprob)``: the scheduler itself up to 0.5.6, its
    ``output_streamer`` (``SchedulerOutputStreamer``) in 0.5.17."""
    return getattr(scheduler, "output_streamer", scheduler)


def send_to_tokenizer(scheduler, output, request) -> None:
    """Send a reply to the tokenizer manager outside the dispatcher's return path (a release that
    waited): a zmq socket (``send_pyobj``) up to 0.4.x, a sender wrapper from 0.5 (``send_output``
    routes it to the HTTP worker that asked); 0.5.17 groups the sockets in ``ipc_channels``."""
    sender = getattr(scheduler, "ipc_channels", scheduler).send_to_tokenizer
    if hasattr(sender, "send_output"):
        sender.send_output(output, request)
    else:
        sender.send_pyobj(output)


def finish_after_this_step(req, message: str) -> None:
    """Mark a running request to end at the end of its current step, as ``/abort_request`` does:
    ``to_abort`` up to SGLang 0.4.x, a ``to_finish`` reason from 0.5 (``Req.to_abort`` is gone)."""
    if hasattr(req, "to_abort"):
        req.to_abort = True
        req.to_abort_message = message
    else:
        from sglang.srt.managers.schedule_batch import FINISH_ABORT

        req.to_finish = FINISH_ABORT(message=message)


# -- the model runner and its CUDA graphs -------------------------------------------------------


def model_runner(scheduler) -> Any:
    """The model runner: under the overlap wrapper's ``worker`` up to 0.4.x, on the TP worker
    (``scheduler.tp_worker.model_runner``) from 0.5."""
    worker = scheduler.tp_worker
    return getattr(worker, "worker", worker).model_runner


def graphs_captured(scheduler) -> bool:
    """Whether this rank captured CUDA graphs (under the tag cuda_graph when the saver is on): the
    model runner has a graph runner then (``cuda_graph_runner`` up to 0.4.x, ``graph_runner`` in
    0.5.6); 0.5.17's per-phase runners (``decode_cuda_graph_runner``...) fall back to an eager
    runner, and a capture creates the graphs' shared memory pool."""
    runner = model_runner(scheduler)
    if hasattr(runner, "decode_cuda_graph_runner"):
        return global_graph_pool() is not None
    return (getattr(runner, "cuda_graph_runner", None) or getattr(runner, "graph_runner", None)) is not None


def global_graph_pool() -> Any:
    """The CUDA graphs' shared memory pool (None before a capture): ``cuda_graph_runner``'s up to
    0.5.6, ``model_executor.runner_utils.pool``'s in 0.5.17."""
    try:
        from sglang.srt.model_executor.runner_utils.pool import get_global_graph_memory_pool
    except ImportError:
        from sglang.srt.model_executor.cuda_graph_runner import get_global_graph_memory_pool
    return get_global_graph_memory_pool()


# -- weight updates -----------------------------------------------------------------------------


def weight_update_session_holder(scheduler) -> Any:
    """What opens and closes SGLang's weight-update session (``begin_weight_update``,
    ``end_weight_update``, the open ``_session``): 0.5.23's scheduler weight updater
    (weight_updater.py:99, :309, :323); None where the release has no sessions (0.5.17 and before)."""
    updater = getattr(scheduler, "weight_updater", None)
    if all(hasattr(updater, name) for name in ("begin_weight_update", "end_weight_update", "_session")):
        return updater
    return None


def update_selector(recv_req) -> Any:
    """Which weights a weight update targets, for the session opened around it: the update
    request's ``selector`` in 0.5.23 (``BeginWeightUpdateReqInput`` takes the same), "all" where the
    request has none."""
    return getattr(recv_req, "selector", "all")


# -- server arguments -----------------------------------------------------------------------------


def has_native_weights_backup(server_args) -> bool:
    """Whether SGLang has a CPU backup of the weights of its own (``--enable-weights-cpu-backup``:
    torch_memory_saver copies the weights' region to host memory on pause): from 0.5."""
    return hasattr(server_args, "enable_weights_cpu_backup")


def native_weights_backup(server_args) -> bool:
    """Whether SGLang's own CPU backup of the weights is on (``--enable-weights-cpu-backup``, from 0.5)."""
    return bool(getattr(server_args, "enable_weights_cpu_backup", False))


def weight_cache_mode(server_args) -> Optional[str]:
    """SGLang's weight cache mode (``--weight-cache-mode``, 0.5.17: the weights shared with a daemon
    through CUDA IPC; "off" or None: none); None where the release has no weight cache."""
    return getattr(server_args, "weight_cache_mode", None)


# -- the tokenizer manager, the Engine, the HTTP requests ------------------------------------------


def generation_pause_condition(manager) -> Optional[Any]:
    """The condition SGLang's ``/pause_generation`` and ``/continue_generation`` notify
    (``TokenizerManager.is_pause_cond``, from 0.5); None before."""
    return getattr(manager, "is_pause_cond", None)


def generation_paused(manager) -> bool:
    """Whether SGLang's own ``/pause_generation`` holds generation (``TokenizerManager.is_pause``,
    from 0.5); False before."""
    return bool(getattr(manager, "is_pause", False))


def engine_loop(engine) -> Any:
    """The event loop the Engine's methods run on: its own ``loop`` from 0.5 (0.5.6, 0.5.17), the
    thread's event loop up to 0.4.x."""
    import asyncio

    return getattr(engine, "loop", None) or asyncio.get_event_loop()


def request_fields(request_cls) -> List[str]:
    """An io_struct request's field names: a dataclass up to SGLang 0.5.6, a msgspec struct
    (``__struct_fields__``) from 0.5.17."""
    import dataclasses

    struct_fields = getattr(request_cls, "__struct_fields__", None)
    return list(struct_fields) if struct_fields is not None else [f.name for f in dataclasses.fields(request_cls)]
