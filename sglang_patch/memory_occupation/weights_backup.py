"""``--weights-cpu-backup``: keep the weights' bytes in host memory while their GPU memory is released.

torch_memory_saver frees the physical memory behind a paused tag; a resume maps fresh memory at
the same addresses, with whatever bytes it holds. Without a backup the weights must be pushed
again (update_weights_*) before the model can generate; with one, resume copies them back.

The copy is meant to run at the speed of the host-device link: one pinned host buffer, allocated
at the first release and reused (pinning 15 GiB takes ~7.5 s, a copy into pinned memory ~0.3 s),
one slice per distinct storage (tied parameters are copied once), every copy queued
asynchronously on a side stream and synchronized once. torch_memory_saver's own
``region(enable_cpu_backup=True)`` pins a fresh host buffer at every pause and frees it at resume
(reported at 2.4 GiB/s pause, 5.3 GiB/s resume in torch_memory_saver issue #111; measured 2.6 and
8.4 GiB/s on an H200), unless ``retain_cpu_backup`` is set; it also needs the weights allocated in
a region opened with the flag. docs/benchmarks.md has the figures side by side.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, List, Optional

import torch


def _storages(model: torch.nn.Module) -> List[torch.UntypedStorage]:
    """The distinct storages behind the model's parameters and buffers, in a stable order."""
    seen: Dict[int, torch.UntypedStorage] = {}
    for t in list(model.parameters()) + list(model.buffers()):
        storage = t.untyped_storage()
        seen.setdefault(storage.data_ptr(), storage)
    return list(seen.values())


def _as_bytes(storage: torch.UntypedStorage) -> torch.Tensor:
    """A uint8 tensor over the whole storage (no copy)."""
    return torch.empty(0, dtype=torch.uint8, device=storage.device).set_(storage)


class WeightsBackup:
    """The bytes of a model's parameters and buffers, saved before a release, restored after resume."""

    def __init__(self) -> None:
        self._host: Optional[torch.Tensor] = None
        self.saved = False

    @property
    def host_bytes(self) -> int:
        return 0 if self._host is None else self._host.numel()

    def save(self, model: torch.nn.Module) -> int:
        """Copy every storage into the host buffer; returns the bytes copied."""
        storages = _storages(model)
        total = sum(s.nbytes() for s in storages)
        if self._host is None or self._host.numel() != total:
            self._host = None  # drop the old buffer before pinning a new one
            self._host = torch.empty(total, dtype=torch.uint8, pin_memory=_on_cuda(storages))
        self._copy(storages, self._host, to_host=True)
        self.saved = True
        return total

    def restore(self, model: torch.nn.Module) -> int:
        """Copy the saved bytes back into the (resumed) storages; returns the bytes copied."""
        host = self._host
        if not self.saved or host is None:
            raise RuntimeError("no weights backup to restore: save() was not called before the release")
        storages = _storages(model)
        total = sum(s.nbytes() for s in storages)
        if total != host.numel():
            raise RuntimeError(f"the model's storages hold {total} bytes, the backup {host.numel()}")
        self._copy(storages, host, to_host=False)
        self.saved = False
        return total

    @staticmethod
    def _copy(storages: List[torch.UntypedStorage], host_buffer: torch.Tensor, to_host: bool) -> None:
        cuda = _on_cuda(storages)
        stream: Any = torch.cuda.Stream() if cuda else None
        if cuda:
            stream.wait_stream(torch.cuda.current_stream())
        offset = 0
        with torch.cuda.stream(stream) if cuda else contextlib.nullcontext():
            for storage in storages:
                n = storage.nbytes()
                host, device = host_buffer[offset : offset + n], _as_bytes(storage)
                if to_host:
                    host.copy_(device, non_blocking=cuda)
                else:
                    device.copy_(host, non_blocking=cuda)
                offset += n
        if cuda:
            stream.synchronize()


def _on_cuda(storages: List[torch.UntypedStorage]) -> bool:
    return any(s.device.type == "cuda" for s in storages)
