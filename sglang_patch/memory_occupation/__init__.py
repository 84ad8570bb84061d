"""Tagged GPU-memory release and resume: the logic both forms of the change share.

The runtime patches (``sglang_patch.wiring``, configured per release by ``sglang_patch.v0_*``) and the source patch series (``patches/``)
wire this same code into SGLang: at run time it is imported from
``sglang_patch.memory_occupation``; the series carries these files verbatim as
``sglang/srt/memory_occupation/`` (``python -m sglang_patch_dev.series check`` proves the copies
are identical). So nothing in here may import ``sglang_patch``: only SGLang, torch and each
other, relatively.

    tags            the tag names, release modes and the checks on what a caller asked for
    flags           the server flags (--weights-cpu-backup, --allow-stale-weights, --resume-headroom-gb)
    sglang_compat   where SGLang keeps what the rest reads (moved between releases; found by feature)
    errors          the replies' error codes, each next to its HTTP status
    refusal         when generation is refused, GenerationRefusedError, the scheduler's refusal
    scheduler_side  the scheduler's entry points (what the patches call), from the modules below
    ledger          what one scheduler has released, a waiting release, the stash; SGLang's own ops
    release_resume  release modes, admission, resume pre-check, TP agreement, the replies
    tag_memory      what each tag holds, the buffers' stash, the device's free memory
    status          the scheduler side of GET /memory_occupation
    weight_updates  a weight update resumes released weights first; sessions; a failure is a reply
    weights_backup  --weights-cpu-backup: the weights' bytes in pinned host memory across a release
    manager_side    the tokenizer manager's methods (the one path to the schedulers) and state mirror
    http_api        the HTTP routes (thin: they call the manager) and the 503 for a refusal
    engine_api      the Engine methods (they call the manager)
    startup         a child process that dies during start-up fails the launch, with the reason
"""
