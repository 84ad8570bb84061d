"""verl main's ``SGLangHttpServer``, replayed: ``python -m verl_main_server <sglang.launch_server flags>``.

verl/workers/rollout/sglang_rollout/async_sglang_server.py (volcengine/verl@b178a3cd): the Ray
actor does not call SGLang's ``launch_server`` (l.324-325); it swaps SGLang's
``_set_envs_and_config`` for verl's own (l.326; sglang_rollout.py:46-83: environment variables,
spawn, no signal handlers), calls ``_launch_subprocesses`` itself (l.328-339), sets the global
state (l.345-351), marks the app single-tokenizer (l.352-357) and serves SGLang's FastAPI ``app``
with uvicorn in the actor (l.366). The
actor's own methods call the tokenizer manager directly: ``sleep`` releases
``["kv_cache", "weights"]`` (l.384-395), ``clear_kv_cache`` releases ``["kv_cache"]`` (l.397-399),
``generate`` awaits ``generate_request(GenerateReqInput(...)).__anext__()`` (l.401-479). Ray
calls those methods; here they are routes under ``/verl_actor/`` that make the same calls. No
sglang_patch import: ``SGLANG_TAGGED_MEMORY=1`` is the only switch.
"""

import multiprocessing as mp
import os
import sys
import uuid


def _verl_set_envs_and_config(server_args) -> None:
    """verl's replacement (sglang_rollout.py:46-83), cut to what matters off a GPU: no signal handler."""
    os.environ["NCCL_CUMEM_ENABLE"] = "0"
    os.environ["TORCH_NCCL_AVOID_RECORD_STREAMS"] = "1"
    os.environ["CUDA_MODULE_LOADING"] = "AUTO"
    os.environ["PYTHONFAULTHANDLER"] = "1"
    mp.set_start_method("spawn", force=True)


def main(argv) -> None:
    import uvicorn
    from fastapi import Request

    import sglang.srt.entrypoints.engine
    from sglang.srt.entrypoints.http_server import _GlobalState, _launch_subprocesses, app, set_global_state
    from sglang.srt.managers.io_struct import GenerateReqInput, ReleaseMemoryOccupationReqInput
    from sglang.srt.server_args import prepare_server_args

    server_args = prepare_server_args(argv)
    sglang.srt.entrypoints.engine._set_envs_and_config = _verl_set_envs_and_config
    os.environ["SGLANG_BLOCK_NONZERO_RANK_CHILDREN"] = "0"
    tokenizer_manager, template_manager, scheduler_info = _launch_subprocesses(server_args=server_args)[:3]
    set_global_state(_GlobalState(tokenizer_manager=tokenizer_manager, template_manager=template_manager,
                                  scheduler_info=scheduler_info))

    async def sleep():
        await tokenizer_manager.release_memory_occupation(ReleaseMemoryOccupationReqInput(tags=["kv_cache", "weights"]), None)
        return {}

    async def clear_kv_cache():
        await tokenizer_manager.release_memory_occupation(ReleaseMemoryOccupationReqInput(tags=["kv_cache"]), None)
        return {}

    async def generate(request: Request):
        body = await request.json()
        req = GenerateReqInput(rid=uuid.uuid4().hex, input_ids=body["input_ids"], sampling_params=body["sampling_params"],
                               return_logprob=True)
        return await tokenizer_manager.generate_request(req, None).__anext__()

    for path, endpoint in (("sleep", sleep), ("clear_kv_cache", clear_kv_cache), ("generate", generate)):
        app.add_api_route(f"/verl_actor/{path}", endpoint, methods=["POST"])
    # What verl sets on SGLang's app before serving it (async_sglang_server.py:352-357,
    # verl/workers/rollout/utils.py:44): SGLang's lifespan reads them.
    app.is_single_tokenizer_mode = True
    app.warmup_thread_args = (server_args, None, None)
    app.server_args = server_args
    uvicorn.run(app, host=server_args.host, port=server_args.port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
