"""A triton driver for a host with no GPU, so that ``@triton.autotune`` can run at import time.

triton 3.3 (``triton/runtime/driver.py``) picks the one backend whose driver ``is_active()``; with
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

    driver.set_active(CPUStandInDriver())
