"""NOT sgl_kernel.flash_attn: every name exists and raises if called (see the package docstring)."""


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)

    def op(*args, **kwargs):
        raise NotImplementedError(f"sgl_kernel.flash_attn.{name} has no CPU implementation (CPU stand-in for tests)")

    op.__name__ = name
    return op
