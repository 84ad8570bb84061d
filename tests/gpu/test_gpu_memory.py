"""On a real GPU with the real torch_memory_saver: each tag frees what it holds, and only that.

An 8B-shaped Llama (bf16, ``--load-format dummy``, no download) served by
``python -m server_ext.launch --enable-memory-saver`` at mem_fraction_static 0.85. GPU memory is
read with NVML from this test process, a separate process from the server.

Tolerance: a tag's release frees its computed bytes within 3% + 0.5 GiB. The computed bytes are
the parameters (weights) or the token-to-KV pool (kv_cache); the slack covers the model's
buffers, the req-to-token table (~0.13 GB here) and torch_memory_saver's 2 MiB granularity.
Skipped without a GPU; run on the device with the command in docs/testing.md.
"""

from __future__ import annotations

import math
import os
import re

import pytest

from conftest import DEVICE, launch
from server_ext.client import SGLangError
from sglang_patch_dev.offline_models import build_shape_only, llama8b_config, llama_param_shapes

pytestmark = pytest.mark.skipif(DEVICE != "cuda", reason="needs a CUDA GPU and the real torch_memory_saver")

GIB = 2**30
MEM_FRACTION = 0.85


def used_bytes() -> int:
    import pynvml

    pynvml.nvmlInit()
    index = int(os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0])
    return pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(index)).used


def close(actual: int, expected: int) -> bool:
    return abs(actual - expected) <= 0.03 * expected + 0.5 * GIB


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    cfg = llama8b_config()
    model = build_shape_only(str(tmp_path_factory.mktemp("llama8b")), cfg)
    srv = launch(
        tmp_path_factory, model, "llama8b-server",
        # Random weights that no update would restore: generating after a resume is fine here.
        extra=["--load-format", "dummy", "--mem-fraction-static", str(MEM_FRACTION), "--dtype", "bfloat16",
               "--allow-stale-weights"],
    )
    info = srv.client._request("GET", "/get_server_info")
    head_dim = cfg["hidden_size"] // cfg["num_attention_heads"]
    per_token = cfg["num_hidden_layers"] * 2 * cfg["num_key_value_heads"] * head_dim * 2  # K and V, bf16
    srv.kv_bytes = info["max_total_num_tokens"] * per_token
    srv.weight_bytes = 2 * sum(math.prod(shape) for _, shape in llama_param_shapes(cfg))
    srv.resident = used_bytes()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def resident_again(big):
    yield
    big.client.resume()
    assert close(used_bytes(), big.resident), "memory did not come back to the resident level"


def test_release_kv_cache_frees_the_kv_bytes_and_keeps_weights(big):
    big.client.release(["kv_cache"])
    freed = big.resident - used_bytes()
    print(f"kv_cache: freed {freed / GIB:.2f} GiB, computed {big.kv_bytes / GIB:.2f} GiB")
    assert close(freed, big.kv_bytes)
    assert used_bytes() > big.weight_bytes  # the weights stay


def test_release_weights_frees_the_weight_bytes_and_keeps_kv(big):
    big.client.release(["weights"])
    freed = big.resident - used_bytes()
    print(f"weights: freed {freed / GIB:.2f} GiB, computed {big.weight_bytes / GIB:.2f} GiB")
    assert close(freed, big.weight_bytes)
    assert used_bytes() > big.kv_bytes  # the KV cache stays


def graph_pool_bytes(big) -> int:
    return big.client.status()["ranks"][0]["tags"]["cuda_graph"]["bytes"]


def test_staged_resume_brings_back_one_tag_at_a_time(big):
    graphs = graph_pool_bytes(big)
    big.client.release()
    floor = used_bytes()
    print(f"all released: {floor / GIB:.2f} GiB used (graph pool {graphs / GIB:.2f} GiB)")
    assert close(big.resident - floor, big.kv_bytes + big.weight_bytes + graphs)
    big.client.resume(["weights"])
    assert close(used_bytes() - floor, big.weight_bytes)
    big.client.resume(["kv_cache"])  # the graphs come back with the KV cache
    assert close(used_bytes(), big.resident)


def test_cuda_graph_tag_frees_the_pool_and_the_graphs_replay_the_same(big):
    """The graph pool is under its tag: released it leaves the device; resumed, the same graphs
    replay with the same greedy output, as fast as before."""
    import time

    status = big.client.status()["ranks"][0]
    graphs = status["tags"]["cuda_graph"]["bytes"]
    assert graphs > 0 and status["device"]["cuda_graph_pool_bytes"] == graphs, status

    def greedy_and_speed():
        text = big.client.generate("The quick brown fox", max_new_tokens=64, ignore_eos=True)["text"]
        started = time.monotonic()
        big.client.generate("Decode speed", max_new_tokens=512, ignore_eos=True)
        return text, 512 / (time.monotonic() - started)

    greedy_and_speed()  # warm
    before, speed_before = greedy_and_speed()
    used = used_bytes()
    big.client.release(["cuda_graph"])
    freed = used - used_bytes()
    print(f"cuda_graph: pool {graphs / GIB:.3f} GiB, freed {freed / GIB:.3f} GiB")
    assert freed >= graphs - 64 * 2**20
    for _ in range(10):
        big.client.resume(["cuda_graph"])
        big.client.release(["cuda_graph"])
    big.client.resume(["cuda_graph"])
    after, speed_after = greedy_and_speed()
    print(f"decode {speed_before:.1f} tok/s before, {speed_after:.1f} tok/s after 10 cycles "
          f"({speed_after / speed_before * 100:.1f}%)")
    assert after == before
    assert speed_after >= 0.95 * speed_before


def test_cuda_graphs_still_replay_after_resume(big):
    big.client.release()
    big.client.resume(["weights"])
    big.client.resume(["kv_cache"])
    with open(big.log_path, errors="replace") as f:
        f.seek(0, 2)
        offset = f.tell()
    big.client.generate("The quick brown fox", max_new_tokens=120, ignore_eos=True)
    with open(big.log_path, errors="replace") as f:
        f.seek(offset)
        decode_lines = [line for line in f if "Decode batch" in line]
    assert decode_lines, "no decode log line after resume"
    assert all(re.search(r"cuda graph: True", line) for line in decode_lines), decode_lines


def test_resume_that_does_not_fit_is_507_and_the_server_lives(big):
    """Another process (this test) takes the memory the resume needs: 507, tags stay released;
    once it lets go, the same resume succeeds."""
    import torch

    big.client.release()
    free, _ = torch.cuda.mem_get_info()
    hog = torch.empty(free - 2 * GIB, dtype=torch.uint8, device="cuda")  # leaves less than the weights
    try:
        with pytest.raises(SGLangError) as e:
            big.client.resume(["weights"])
        assert e.value.status == 507 and e.value.body["error"] == "insufficient_memory", e.value.body
        print(f"resume refused: {e.value.body['message']}")
        assert big.alive() and big.client.status()["released_tags"] == ["cuda_graph", "kv_cache", "weights"]
    finally:
        del hog
        torch.cuda.empty_cache()
    assert big.client.resume()["released_tags"] == []
    assert big.client.generate("The quick brown fox", max_new_tokens=8)["meta_info"]["completion_tokens"] == 8


def test_200_release_resume_cycles_do_not_grow_memory(big):
    cycles = 200
    used = []
    for i in range(cycles):
        big.client.release()
        big.client.resume(["weights"])
        big.client.resume(["kv_cache"])
        used.append(used_bytes())
    growth = (used[-1] - used[0]) / used[0]
    print(f"{cycles} cycles: used after the first {used[0] / GIB:.3f} GiB, after the last {used[-1] / GIB:.3f} GiB, "
          f"max {max(used) / GIB:.3f} GiB, growth {growth * 100:+.3f}%")
    assert used[-1] <= used[0] * 1.01
    assert big.client.generate("The quick brown fox", max_new_tokens=8)["meta_info"]["completion_tokens"] == 8
