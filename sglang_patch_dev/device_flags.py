"""The SGLang server flags that make ``server_ext.launch`` run on each kind of device.

One place for the tests, the benchmarks and the demo, so a backend that has to change (say, a new
SGLang release that breaks one) changes once. Only what the device needs is here; what a caller
measures or tests (``--enable-memory-saver``, ``--load-format dummy``, the model) stays with it.

- cpu: SGLang's torch-native attention, and a small fixed KV pool (``--max-total-tokens``): on the
  host, SGLang would otherwise size the pool from a fraction of the memory available on it. From
  0.4.7 on, ``--sleep-on-idle`` too: an idle scheduler otherwise polls its sockets in a busy loop
  and takes a whole core from the tests and the other servers of a 2-core machine (0.4.6.post5
  has no such flag). Where ``ServerArgs`` has a ``disable_piecewise_cuda_graph`` field
  (0.5.10.post1: piecewise CUDA graphs on by default), ``--disable-piecewise-cuda-graph`` too:
  SGLang turns them off by itself only on its own CPU engine (``SGLANG_USE_CPU_ENGINE=1``), so
  ``--device cpu`` would otherwise build the piecewise runner and fail on ``torch.cpu``'s missing
  ``graph_pool_handle`` (0.5.9 has them off by default; 0.5.17 has only a deprecated alias of that
  flag, which ``Engine(**kwargs)`` would refuse).
- cuda: the backends that the project's GPU runs use with the device kit's stack on the H200
  (docs/testing.md, docs/benchmarks.md): triton attention, pytorch sampling and no grammar
  backend (no caller constrains its output).

How much of the GPU the server takes (``--mem-fraction-static``) and the model's dtype differ per
caller, so they are keyword arguments rather than part of the constants.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
from typing import List, Optional

from sglang_patch.versions import SLEEP_ON_IDLE_FROM, installed_sglang_at_least

CPU_FLAGS = ("--device", "cpu", "--attention-backend", "torch_native", "--max-total-tokens", "4096")
CUDA_FLAGS = ("--attention-backend", "triton", "--sampling-backend", "pytorch", "--grammar-backend", "none")

_FLAGS = {"cpu": CPU_FLAGS, "cuda": CUDA_FLAGS}


@functools.lru_cache(maxsize=None)
def server_args_has_field(name: str) -> bool:
    """Whether the installed SGLang's ``ServerArgs`` dataclass declares the field ``name``, read from
    its source (this process need not import SGLang, whose CPU path needs the compat layer)."""
    spec = importlib.util.find_spec("sglang")
    if spec is None or not spec.submodule_search_locations:
        return False
    path = os.path.join(list(spec.submodule_search_locations)[0], "srt", "server_args.py")
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except OSError:
        return False
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "ServerArgs":
            return any(isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                       and stmt.target.id == name for stmt in node.body)
    return False


def server_flags(device: str, *, dtype: Optional[str] = None, mem_fraction: Optional[float] = None) -> List[str]:
    """The flags for ``device`` ("cpu" or "cuda"), then ``--dtype`` and ``--mem-fraction-static`` if given.

    >>> server_flags("cuda", dtype="bfloat16", mem_fraction=0.3)[-4:]
    ['--dtype', 'bfloat16', '--mem-fraction-static', '0.3']
    """
    try:
        flags = list(_FLAGS[device])
    except KeyError:
        raise ValueError(f"no server flags for device {device!r}; choose from {sorted(_FLAGS)}") from None
    if device == "cpu" and installed_sglang_at_least(SLEEP_ON_IDLE_FROM):
        flags.append("--sleep-on-idle")
    if device == "cpu" and server_args_has_field("disable_piecewise_cuda_graph"):
        flags.append("--disable-piecewise-cuda-graph")
    if dtype is not None:
        flags += ["--dtype", dtype]
    if mem_fraction is not None:
        flags += ["--mem-fraction-static", str(mem_fraction)]
    return flags


def engine_kwargs(device: str, **options) -> dict:
    """The same flags as keyword arguments of ``sglang.Engine(...)`` (``--max-total-tokens 4096``
    -> ``max_total_tokens=4096``, a flag without a value -> True); ``options`` as for ``server_flags``."""
    flags, kwargs = server_flags(device, **options), {}
    for i, name in enumerate(flags):
        if name.startswith("--"):
            value = flags[i + 1] if i + 1 < len(flags) and not flags[i + 1].startswith("--") else True
            kwargs[name[2:].replace("-", "_")] = value if value is True else _number(value)
    return kwargs


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
