"""CPU compat, run at interpreter start in every process that has this folder on PYTHONPATH
(``--device cpu`` runs only: ``server_ext.cpu_compat.enable``).

SGLang 0.4.x's ``update_weights_from_tensor`` moves every received tensor to
``torch.cuda.current_device()`` (model_executor/model_runner.py ``_unwrap_tensor``), which has no
CPU: on a host without CUDA the update raises. 0.5 asks the model's device instead. Here, once that
module is imported in a process where CUDA is not available, its two-argument ``_unwrap_tensor``
moves tensors to the CPU instead, and does the rest as stock does.

torch 2.14 (SGLang 0.5.23's pin; PyPI has only CUDA builds of it for Linux): a CUDA build's
``torch.get_device_module()`` names ``torch.cuda`` even where no GPU is available (its accelerator
is the build's), so SGLang's own ``torch.get_device_module().synchronize()`` (0.5.23's release,
managers/scheduler_components/weight_updater.py:379) raises "Found no NVIDIA driver". Here, where
CUDA is not available, no device means the CPU, as torch 2.11 answers. Nothing else changes.

SGLang 0.4.6.post5 has no ``--sleep-on-idle`` (0.4.7 added it: scheduler.py ``IdleSleeper``, a
``zmq.Poller`` over the scheduler's two input sockets, polled for at most 1 s after the idle
branch's ``check_memory()``). Without it an idle scheduler polls its sockets in a busy loop and
takes a whole core (measured: 8 CPU-seconds in 10 idle seconds), half of a 2-core machine for every
server that is up. Here, where CUDA is not available and the release has no sleeper of its own, the
idle branch's ``check_memory()`` is followed by that same poll: any message wakes the scheduler at
once, as with the flag on the later releases (``sglang_patch_dev.device_flags`` passes it there).
"""

import importlib.abc
import sys

MODEL_RUNNER = "sglang.srt.model_executor.model_runner"


def cpu_unwrap_tensor(module, stock):
    def _unwrap_tensor(tensor, tp_rank):
        if isinstance(tensor, module.LocalSerializedTensor):
            module.monkey_patch_torch_reductions()
            tensor = tensor.get(tp_rank)
        return tensor.to("cpu")

    _unwrap_tensor.__wrapped__ = stock
    _unwrap_tensor.cpu_compat = True
    return _unwrap_tensor


def cpu_synchronize(stock):
    def synchronize(device=None):
        """No CUDA here: the CPU's work is done when the call that made it returns."""

    synchronize.__wrapped__ = stock
    synchronize.cpu_compat = True
    return synchronize


def _patch(module) -> None:
    import inspect

    import torch

    if torch.cuda.is_available():
        return  # a GPU
    if not getattr(torch.cuda.synchronize, "cpu_compat", False):
        torch.cuda.synchronize = cpu_synchronize(torch.cuda.synchronize)
    stock = getattr(module, "_unwrap_tensor", None)
    if stock is None or getattr(stock, "cpu_compat", False):
        return  # already done
    if len(inspect.signature(stock).parameters) != 2:
        return  # a release that already asks the model's device
    module._unwrap_tensor = cpu_unwrap_tensor(module, stock)


def _patch_torch(torch) -> None:
    stock = torch.get_device_module
    if getattr(stock, "cpu_compat", False) or torch.cuda.is_available():
        return

    def get_device_module(device=None):
        if device is None:
            return torch.cpu
        return stock(device)

    get_device_module.__wrapped__ = stock
    get_device_module.cpu_compat = True
    torch.get_device_module = get_device_module


def _patch_scheduler(module) -> None:
    import torch

    scheduler = getattr(module, "Scheduler", None)
    stock = getattr(scheduler, "check_memory", None)
    if stock is None or hasattr(scheduler, "maybe_sleep_on_idle") or getattr(stock, "cpu_compat", False):
        return  # the release has --sleep-on-idle (or another layout), or this ran already
    if torch.cuda.is_available():
        return  # a GPU

    def check_memory(self):
        stock(self)
        sleeper = getattr(self, "_cpu_compat_idle_poller", None)
        if sleeper is None:
            import zmq

            sleeper = self._cpu_compat_idle_poller = zmq.Poller()
            for sock in (getattr(self, "recv_from_tokenizer", None), getattr(self, "recv_from_rpc", None)):
                if sock is not None:  # None on the ranks that take their input from rank 0
                    sleeper.register(sock, zmq.POLLIN)
        if sleeper.sockets:
            sleeper.poll(1000)  # ms, as 0.4.7's IdleSleeper.maybe_sleep

    check_memory.__wrapped__ = stock
    check_memory.cpu_compat = True
    scheduler.check_memory = check_memory


# The module -> what to do once it has been imported.
_AFTER_IMPORT = {MODEL_RUNNER: _patch, "torch": _patch_torch, "sglang.srt.managers.scheduler": _patch_scheduler}


class _AfterModelRunnerImport(importlib.abc.MetaPathFinder):
    # Every copy of this finder says so: this file also runs as a copy under another module name
    # (server_ext.cpu_compat.enable), and one copy must never ask another (endless recursion).
    cpu_compat_finder = True

    def find_spec(self, fullname, path, target=None):
        if fullname not in _AFTER_IMPORT:
            return None
        for finder in sys.meta_path:
            if getattr(finder, "cpu_compat_finder", False) or not hasattr(finder, "find_spec"):
                continue  # itself, or another copy (each would ask the other, forever)
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        stock_exec = spec.loader.exec_module

        def exec_module(module):
            stock_exec(module)
            _AFTER_IMPORT[fullname](module)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    for name, patch in _AFTER_IMPORT.items():
        if name in sys.modules:
            patch(sys.modules[name])
    if not all(name in sys.modules for name in _AFTER_IMPORT) and not any(
        getattr(f, "cpu_compat_finder", False) for f in sys.meta_path
    ):
        sys.meta_path.insert(0, _AfterModelRunnerImport())


install()
