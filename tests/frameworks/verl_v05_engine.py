"""verl v0.5.0's in-process Engine, replayed: ``python verl_v05_engine.py MODEL_DIR WEIGHTS_B`` -> one JSON line.

verl/workers/rollout/sglang_rollout/sglang_rollout.py and verl/workers/sharding_manager/
fsdp_sglang.py (volcengine/verl@v0.5.0, which pins sglang 0.4.6.post5 in setup.py:54). The
actor imports SGLang, swaps its ``_set_envs_and_config`` (l.89-129), subclasses ``Engine`` as
``AsyncEngine`` (l.134-181: release/resume call the tokenizer manager with ``tags``; the first
resume releases everything first; weights go as ``LocalSerializedTensor`` made with
``MultiprocessingSerializer``) and, each step with ``multi_stage_wake_up`` (fsdp_sglang.py:
183-235): resume ``["weights"]`` -> ``update_weights_from_tensor(..., load_format=None,
flush_cache=False)`` per bucket -> ``flush_cache()`` -> resume ``["kv_cache"]`` ->
``async_generate(input_ids=..., return_logprob=True)`` -> ``flush_cache()`` -> release (no tags).
Nothing here imports sglang_patch: ``SGLANG_TAGGED_MEMORY=1`` is the only switch. On the CPU,
tensors cross processes through shared-memory files instead of CUDA IPC (file_system sharing).
"""

import asyncio
import glob
import json
import os
import sys


def _verl_set_envs_and_config(server_args) -> None:
    import multiprocessing as mp

    os.environ["NCCL_CUMEM_ENABLE"] = "0"
    os.environ["TORCH_NCCL_AVOID_RECORD_STREAMS"] = "1"
    mp.set_start_method("spawn", force=True)


PROMPT_IDS = [[5, 17, 33, 48, 60], [100, 7, 250, 3], [11, 12, 13, 14, 15, 16], [300, 200, 100]]


def main(model_path: str, weights_b: str, device: str) -> dict:
    import torch
    import torch.multiprocessing
    from safetensors.torch import load_file

    import sglang.srt.entrypoints.engine
    from sglang.srt.managers.tokenizer_manager import (
        ReleaseMemoryOccupationReqInput,
        ResumeMemoryOccupationReqInput,
        UpdateWeightsFromTensorReqInput,
    )
    from sglang.srt.model_executor.model_runner import LocalSerializedTensor
    from sglang.srt.utils import MultiprocessingSerializer

    from sglang_patch_dev.device_flags import engine_kwargs

    torch.multiprocessing.set_sharing_strategy("file_system")
    sglang.srt.entrypoints.engine._set_envs_and_config = _verl_set_envs_and_config

    class AsyncEngine(sglang.srt.entrypoints.engine.Engine):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self._need_reload = True

        async def release_memory_occupation(self, tags=None):
            obj = ReleaseMemoryOccupationReqInput() if tags is None else ReleaseMemoryOccupationReqInput(tags=tags)
            return await self.tokenizer_manager.release_memory_occupation(obj, None)

        async def resume_memory_occupation(self, tags=None):
            if self._need_reload:
                await self.release_memory_occupation()
                self._need_reload = False
            obj = ResumeMemoryOccupationReqInput() if tags is None else ResumeMemoryOccupationReqInput(tags=tags)
            return await self.tokenizer_manager.resume_memory_occupation(obj, None)

        async def update_weights_from_tensor(self, named_tensors, load_format=None, flush_cache=True):
            obj = UpdateWeightsFromTensorReqInput(
                serialized_named_tensors=[MultiprocessingSerializer.serialize(named_tensors)
                                          for _ in range(self.server_args.tp_size)],
                load_format=load_format, flush_cache=flush_cache)
            return await self.tokenizer_manager.update_weights_from_tensor(obj, None)

        async def flush_cache(self):
            return await self.tokenizer_manager.flush_cache()

    kwargs = dict(model_path=model_path, enable_memory_saver=True, log_level="error")
    kwargs.update(engine_kwargs(device) if device == "cpu" else engine_kwargs(device, dtype="bfloat16", mem_fraction=0.3))
    engine = AsyncEngine(**kwargs)
    weights = {"A": {}, "B": load_file(weights_b)}
    for f in sorted(glob.glob(os.path.join(model_path, "*.safetensors"))):
        weights["A"].update(load_file(f))
    params = {"max_new_tokens": 8, "temperature": 0}
    loop = asyncio.get_event_loop()

    async def generate():
        outs = [await engine.async_generate(prompt=None, sampling_params=params, return_logprob=True, input_ids=ids)
                for ids in PROMPT_IDS]
        await engine.flush_cache()
        return [o["text"] for o in outs]

    async def step(name):
        """One RL step of fsdp_sglang.py with multi_stage_wake_up: wake up, push, generate, sleep."""
        replies = {"resume_weights": await engine.resume_memory_occupation(tags=["weights"])}
        named = [(n, LocalSerializedTensor(values=[MultiprocessingSerializer.serialize(t.to(device))]))
                 for n, t in weights[name].items()]
        replies["update"] = list(await engine.update_weights_from_tensor(named, load_format=None, flush_cache=False))
        await engine.flush_cache()
        replies["resume_kv"] = await engine.resume_memory_occupation(tags=["kv_cache"])
        texts = await generate()
        await engine.release_memory_occupation()
        return {"weights": name, "texts": texts, "update": replies["update"]}

    out = {"reference": loop.run_until_complete(generate())}
    try:
        out["steps"] = [loop.run_until_complete(step(name)) for name in ("B", "A", "B")]
        out["status"] = engine.get_memory_occupation()
    finally:
        engine.shutdown()
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3])))
