"""Every vllm custom op name exists, and raises if called: the CPU path must never call one."""

from server_ext.cpu_compat import missing_ops

__getattr__ = missing_ops(__name__)
