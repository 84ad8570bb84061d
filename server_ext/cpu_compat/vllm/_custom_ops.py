"""Every vllm custom op name exists, and raises if called: the CPU path must never call one."""


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)

    def op(*args, **kwargs):
        raise NotImplementedError(f"vllm._custom_ops.{name} has no CPU implementation (server_ext.cpu_compat)")

    op.__name__ = name
    return op
