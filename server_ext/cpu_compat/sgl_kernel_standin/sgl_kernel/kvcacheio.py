"""NOT sgl_kernel.kvcacheio: every name exists and raises if called (see the package docstring)."""

from server_ext.cpu_compat import missing_ops

__getattr__ = missing_ops(__name__)
