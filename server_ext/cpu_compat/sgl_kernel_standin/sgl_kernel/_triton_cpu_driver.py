"""A triton driver for a host with no GPU, so that ``@triton.autotune`` can run at import time.

triton 3.3 to 3.5 (``triton/runtime/driver.py``) picks the one backend whose driver ``is_active()``; with
no GPU none is, and the lazy default raises "0 active drivers" the first time anything asks for
it. ``install()`` sets this driver as ``triton.runtime.driver.driver.active`` only when no real
driver is active. Launching or benchmarking a kernel through it raises: the CPU path runs no
triton kernel.
"""

_MESSAGE = "triton has no GPU driver on this host (CPU stand-in driver): no triton kernel can run here"


def install() -> None:
    try:
        from triton.backends import backends
        from triton.backends.driver import DriverBase
        from triton.runtime.driver import driver
    except Exception:  # no triton, or a layout this stand-in does not know: leave triton alone
        return
    if any(b.driver.is_active() for b in backends.values()):
        return

    class CPUStandInDriver(DriverBase):
        @classmethod
        def is_active(cls):
            return False  # never chosen by triton's own discovery

        def get_current_target(self):
            raise RuntimeError(_MESSAGE)

        def get_active_torch_device(self):
            import torch

            return torch.device("cpu")

        def get_benchmarker(self):
            def do_bench(*args, **kwargs):
                raise RuntimeError(_MESSAGE)

            return do_bench

        def __getattr__(self, name):
            if name.startswith("_"):  # hasattr/getattr(default) and copying must see a plain miss
                raise AttributeError(name)
            raise RuntimeError(f"{_MESSAGE} (asked for driver.{name})")

    # Later tritons add abstract methods to DriverBase (3.5: ``map_python_to_cpp_type``); each
    # one this class does not define gets a stub that raises like the rest.
    for name in getattr(DriverBase, "__abstractmethods__", ()):
        if name not in CPUStandInDriver.__dict__:
            setattr(CPUStandInDriver, name, _refusing(name))
    CPUStandInDriver.__abstractmethods__ = frozenset()
    driver.set_active(CPUStandInDriver())


def _refusing(name: str):
    def method(self, *args, **kwargs):
        raise RuntimeError(f"{_MESSAGE} (called driver.{name})")

    method.__name__ = name
    return method
