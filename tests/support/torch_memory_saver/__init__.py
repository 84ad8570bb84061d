"""CPU stand-in for torch_memory_saver >= 0.0.8 (tests only: the real one has no CPU backend).

Same surface the patches use: the ``torch_memory_saver`` singleton with ``region(tag=...)``,
``pause(tag=None)``, ``resume(tag=None)``, ``enabled``, and ``configure_subprocess()``.

What it does, so that tests can fail:
- every tensor allocated inside ``region(tag)`` is recorded (a TorchDispatchMode sees each op's
  fresh outputs) and its bytes counted per tag;
- ``pause(tag)`` fills that tag's tensors with garbage (NaN, or a huge integer), as the real
  thing gives back whatever fresh pages hold: content is lost unless something restores it;
- pausing a paused tag or resuming a resident one raises, like a double unmap/map would fail;
- ``region(tag, enable_cpu_backup=True)`` (0.0.9, used by SGLang 0.5's --enable-weights-cpu-backup):
  ``pause`` first copies the tag's bytes to host memory and ``resume`` copies them back, as the
  real one does; without it the content is lost;
- with ``TMS_STANDIN_LOG=path``, each call appends a JSON line: pid, process title, call, tag,
  bytes. Tests read it to prove which process allocated what under which tag.
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from typing import Dict, List, Optional

import torch
from torch.utils._python_dispatch import TorchDispatchMode

_TAG_DEFAULT = "default"
_lock = threading.Lock()


def _process_title() -> str:
    try:
        import setproctitle

        return setproctitle.getproctitle()
    except Exception:
        return ""


def _log(call: str, tag: Optional[str], nbytes: int = 0) -> None:
    path = os.environ.get("TMS_STANDIN_LOG")
    if not path:
        return
    line = json.dumps({"pid": os.getpid(), "title": _process_title(), "call": call, "tag": tag, "bytes": nbytes})
    with _lock, open(path, "a") as f:
        f.write(line + "\n")


class _Recorder(TorchDispatchMode):
    """Keeps every tensor an op allocates (an output whose storage no input shares)."""

    def __init__(self, into: List[torch.Tensor]):
        super().__init__()
        self.into = into

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        seen = {a.untyped_storage().data_ptr() for a in _tensors((args, kwargs))}
        for t in _tensors(out):
            if t.untyped_storage().data_ptr() not in seen and t.untyped_storage().nbytes() > 0:
                self.into.append(t)
        return out


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _tensors(x)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _tensors(x)


def _unique_storages(tensors: List[torch.Tensor]) -> Dict[int, torch.Tensor]:
    return {t.untyped_storage().data_ptr(): t for t in tensors}


def _whole(t: torch.Tensor) -> torch.Tensor:
    """The whole storage behind ``t``, as a flat tensor of its dtype."""
    return torch.empty(0, dtype=t.dtype, device=t.device).set_(t.untyped_storage())


def _scribble(t: torch.Tensor) -> None:
    """Overwrite the whole storage behind ``t`` with garbage."""
    flat = _whole(t)
    if flat.is_floating_point():
        flat.fill_(float("nan"))
    elif flat.dtype == torch.bool:
        flat.fill_(True)
    else:
        flat.fill_(torch.iinfo(flat.dtype).max)


class TorchMemorySaver:
    def __init__(self) -> None:
        self._tensors: Dict[str, List[torch.Tensor]] = {}
        self._paused: set = set()
        self._backed_up: set = set()  # tags whose region asked for a CPU backup
        self._host_copies: Dict[str, List[tuple]] = {}

    @property
    def enabled(self) -> bool:
        return True

    @contextmanager
    def region(self, tag: str = _TAG_DEFAULT, enable_cpu_backup: bool = False):
        into = self._tensors.setdefault(tag, [])
        if enable_cpu_backup:
            self._backed_up.add(tag)
        before = len(into)
        with _Recorder(into):
            yield
        _log("region", tag, sum(t.untyped_storage().nbytes() for t in _unique_storages(into[before:]).values()))

    def tag_bytes(self, tag: str) -> int:
        return sum(t.untyped_storage().nbytes() for t in _unique_storages(self._tensors.get(tag, [])).values())

    def _tags(self, tag: Optional[str]) -> List[str]:
        return list(self._tensors) if tag is None else [tag]

    def pause(self, tag: Optional[str] = None) -> None:
        for t in self._tags(tag):
            if t in self._paused:
                raise RuntimeError(f"stand-in torch_memory_saver: tag {t!r} is already paused")
        with torch.no_grad():
            for t in self._tags(tag):
                storages = _unique_storages(self._tensors.get(t, [])).values()
                if t in self._backed_up:
                    self._host_copies[t] = [(tensor, _whole(tensor).clone()) for tensor in storages]
                for tensor in storages:
                    _scribble(tensor)
                self._paused.add(t)
        _log("pause", tag, sum(self.tag_bytes(t) for t in self._tags(tag)))

    def resume(self, tag: Optional[str] = None) -> None:
        for t in self._tags(tag):
            if t not in self._paused:
                raise RuntimeError(f"stand-in torch_memory_saver: tag {t!r} is not paused")
        self._paused.difference_update(self._tags(tag))
        with torch.no_grad():
            for t in self._tags(tag):
                for tensor, saved in self._host_copies.pop(t, []):
                    _whole(tensor).copy_(saved)
        _log("resume", tag, sum(self.tag_bytes(t) for t in self._tags(tag)))


@contextmanager
def configure_subprocess():
    yield


torch_memory_saver = TorchMemorySaver()
