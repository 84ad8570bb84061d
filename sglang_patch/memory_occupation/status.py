"""The scheduler side of ``GET /memory_occupation``: this rank's state, gathered over TP ranks."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

import torch

from .ledger import MemoryLedger
from .sglang_compat import parallel_state
from .tag_memory import bytes_per_tag, device_memory
from .tags import CUDA_GRAPH, KV_CACHE, WEIGHTS

logger = logging.getLogger(__name__)


def _backup_bytes(ledger: MemoryLedger, tag_bytes: Dict[str, Optional[int]]) -> Optional[int]:
    """Host bytes that back the weights up: this ledger's copy, or the saver's copy of the whole
    weights region (SGLang's own backup), or None without a backup."""
    if ledger.backup is not None:
        return ledger.backup.host_bytes
    return tag_bytes[WEIGHTS] if ledger.native_backup else None


def get_memory_occupation(scheduler, recv_req):
    """Scheduler side of GET /memory_occupation: this rank's state, gathered over TP ranks."""
    from sglang.srt.managers.io_struct import GetMemoryOccupationReqOutput

    ledger = MemoryLedger.of(scheduler)
    tag_bytes: Dict[str, Optional[int]]
    try:
        tag_bytes = dict(bytes_per_tag(scheduler))
    except Exception:  # the status must not take the scheduler down, nor skip the gather below
        logger.exception("get_memory_occupation could not count the tags' bytes")
        tag_bytes = {tag: None for tag in (CUDA_GRAPH, WEIGHTS, KV_CACHE)}
    mine = {
        "tp_rank": parallel_state(scheduler).tp_rank,
        "tags": {
            tag: {"state": "released" if tag in ledger.released else "resident", "bytes": nbytes}
            for tag, nbytes in tag_bytes.items()
        },
        "weights_current": ledger.weights_current,
        "weights_cpu_backup_bytes": _backup_bytes(ledger, tag_bytes),
        "release_waiting": ledger.pending.tags if ledger.pending else None,
        "memory_saver_enabled": bool(scheduler.memory_saver_adapter.enabled),
    }
    try:
        resident = sum(n or 0 for tag, n in tag_bytes.items() if tag not in ledger.released)
        mine["device"] = device_memory(scheduler, resident, tag_bytes[CUDA_GRAPH])
    except Exception:
        logger.exception("get_memory_occupation could not read the device's memory")
        mine["device"] = None
    ranks: List[Optional[Dict[str, Any]]] = [mine]
    if parallel_state(scheduler).tp_size > 1:
        ranks = [None] * parallel_state(scheduler).tp_size
        torch.distributed.all_gather_object(ranks, mine, group=scheduler.tp_cpu_group)
    return GetMemoryOccupationReqOutput(ranks=ranks)
