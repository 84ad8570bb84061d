"""Tagged GPU-memory release and resume: the logic both forms of the change share.

The runtime patches (``sglang_patch.*``) and the source patch series (``patches/``) wire this
same code into SGLang: at run time it is imported from ``sglang_patch.memory_occupation``; the
series carries these files verbatim as ``sglang/srt/memory_occupation/`` (``python -m
sglang_patch.series check`` proves the copies are identical). So nothing in here may import
``sglang_patch``: only SGLang, torch and each other, relatively.

    tags            the tag names, release modes and the checks on what a caller asked for
    scheduler       the scheduler side: ledger, release modes, admission, resume pre-check, status
    weights_backup  --weights-cpu-backup: the weights' bytes in pinned host memory across a release
    frontend        the tokenizer manager, HTTP and Engine side: replies, status, generation gate
"""
