"""Run by test_engine.py in a fresh interpreter: the staged sequence through ``sglang.Engine``.

    python tests/engine_scenario.py MODEL_DIR DEVICE   ->  one JSON line on stdout

SGLang's Engine spawns its scheduler, so this must be a script with a __main__ guard.
"""

import glob
import json
import sys


def main(model_path: str, device: str) -> dict:
    if device == "cpu":
        from server_ext import cpu_compat

        cpu_compat.enable()
    import sglang_patch

    sglang_patch.apply()
    import sglang
    from safetensors.torch import load_file

    from sglang_patch_dev.device_flags import engine_kwargs

    kwargs = dict(model_path=model_path, enable_memory_saver=True, log_level="error")
    kwargs.update(engine_kwargs("cpu") if device == "cpu" else engine_kwargs("cuda", dtype="bfloat16", mem_fraction=0.3))
    engine = sglang.Engine(**kwargs)
    prompts = ["The quick brown fox", "Release the KV cache", "SGLang serves", "0123456789"]
    params = {"max_new_tokens": 12, "temperature": 0}

    def greedy():
        return [o["text"] for o in engine.generate(prompts, params)]

    out = {"reference": greedy()}
    try:
        out["release_kv"] = engine.release_memory_occupation(tags=["kv_cache"])
        out["release_weights"] = engine.release_memory_occupation(tags=["weights"])
        out["release_again"] = engine.release_memory_occupation()
        try:
            engine.release_memory_occupation(tags=["bogus"])
        except sglang_patch.InvalidRequestError as e:
            out["bogus_error"] = str(e)
        out["resume_weights"] = engine.resume_memory_occupation(tags=["weights"])
        if device == "cpu":
            # 0.4.6.post5's update_weights_from_tensor moves tensors to torch.cuda.current_device()
            # (model_runner.py:_unwrap_tensor): CUDA only. The GPU run covers it.
            out["update_route"] = "disk"
            out["update"] = list(engine.update_weights_from_disk(model_path))
        else:
            weights = {}
            for f in glob.glob(f"{model_path}/*.safetensors"):
                weights.update(load_file(f, device="cuda"))
            out["update_route"] = "tensor"
            out["update"] = list(engine.update_weights_from_tensor(list(weights.items())))
        out["status_before_kv"] = engine.get_memory_occupation()
        out["resume_kv"] = engine.resume_memory_occupation(tags=["kv_cache"])
        out["after_staged_update"] = greedy()
        # The race: the tokenizer manager's check passed (its mirror says resident) but the
        # scheduler released before the request arrived. The release goes to the scheduler behind
        # the mirror's back, so the request meets the scheduler's refusal: the same error.
        import asyncio

        from sglang.srt.managers.io_struct import ReleaseMemoryOccupationReqInput, ResumeMemoryOccupationReqInput

        manager, loop = engine.tokenizer_manager, asyncio.get_event_loop()
        loop.run_until_complete(manager.release_memory_occupation_communicator(ReleaseMemoryOccupationReqInput(tags=["kv_cache"])))
        try:
            greedy()
        except sglang_patch.GenerationRefusedError as e:
            out["race_error"] = e.reply
        loop.run_until_complete(manager.resume_memory_occupation_communicator(ResumeMemoryOccupationReqInput(tags=["kv_cache"])))
        out["after_race"] = greedy()
        # Without an update, resumed weights hold garbage: generation is refused until one.
        engine.release_memory_occupation(tags=["weights"])
        engine.resume_memory_occupation(tags=["weights"])
        try:
            greedy()
        except sglang_patch.GenerationRefusedError as e:
            out["stale_error"] = e.reply
    finally:
        engine.shutdown()
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
