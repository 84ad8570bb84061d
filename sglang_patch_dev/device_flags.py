"""The SGLang server flags that make ``server_ext.launch`` run on each kind of device.

One place for the tests, the benchmarks and the demo, so a backend that has to change (say, a new
SGLang release that breaks one) changes once. Only what the device needs is here; what a caller
measures or tests (``--enable-memory-saver``, ``--load-format dummy``, the model) stays with it.

- cpu: SGLang's torch-native attention, and a small fixed KV pool (``--max-total-tokens``): on the
  host, SGLang would otherwise size the pool from a fraction of the memory available on it.
- cuda: the backends that the project's GPU runs use with the device kit's stack on the H200
  (docs/testing.md, docs/benchmarks.md): triton attention, pytorch sampling and no grammar
  backend (no caller constrains its output).

How much of the GPU the server takes (``--mem-fraction-static``) and the model's dtype differ per
caller, so they are keyword arguments rather than part of the constants.
"""

from __future__ import annotations

from typing import List, Optional

CPU_FLAGS = ("--device", "cpu", "--attention-backend", "torch_native", "--max-total-tokens", "4096")
CUDA_FLAGS = ("--attention-backend", "triton", "--sampling-backend", "pytorch", "--grammar-backend", "none")

_FLAGS = {"cpu": CPU_FLAGS, "cuda": CUDA_FLAGS}


def server_flags(device: str, *, dtype: Optional[str] = None, mem_fraction: Optional[float] = None) -> List[str]:
    """The flags for ``device`` ("cpu" or "cuda"), then ``--dtype`` and ``--mem-fraction-static`` if given.

    >>> server_flags("cuda", dtype="bfloat16", mem_fraction=0.3)[-4:]
    ['--dtype', 'bfloat16', '--mem-fraction-static', '0.3']
    """
    try:
        flags = list(_FLAGS[device])
    except KeyError:
        raise ValueError(f"no server flags for device {device!r}; choose from {sorted(_FLAGS)}") from None
    if dtype is not None:
        flags += ["--dtype", dtype]
    if mem_fraction is not None:
        flags += ["--mem-fraction-static", str(mem_fraction)]
    return flags


def engine_kwargs(device: str, **options) -> dict:
    """The same flags as keyword arguments of ``sglang.Engine(...)`` (``--max-total-tokens 4096``
    -> ``max_total_tokens=4096``); ``options`` as for ``server_flags``."""
    flags = server_flags(device, **options)
    return {name[2:].replace("-", "_"): _number(value) for name, value in zip(flags[::2], flags[1::2])}


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
