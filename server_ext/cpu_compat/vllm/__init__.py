"""NOT vllm. A CPU-only stand-in that SGLang 0.4.6.post5 imports under ``--device cpu``.

See ``server_ext/cpu_compat/__init__.py``. Nothing here computes anything of its own.
"""
