"""Empty: SGLang's _custom_ops.py imports vllm._C for its side effects only."""
