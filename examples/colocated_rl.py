"""A small colocated RL loop: trainer and SGLang rollout server share one device, staged weight sync.

    python examples/colocated_rl.py --steps 3 --out /tmp/crl              # CPU here, CUDA if present
    python examples/colocated_rl.py --steps 1000 --device cuda --mem-fraction 0.3 --out /tmp/crl

The way verl/slime drive SGLang, on a tiny Llama built offline (real weights in safetensors):
the rollout server (``python -m server_ext.launch --enable-memory-saver``) serves the model dir,
the trainer loads the same weights as a ``transformers`` LlamaForCausalLM. Each step:

    rollouts (temperature 1) -> reward -> release (all tags) -> trainer on the device: REINFORCE
    loss, Adam step -> resume ["weights"] -> push the trainer's weights -> trainer off the device
    -> resume whatever is still released (kv_cache, and any tag a later release adds)

with the memory used after each stage and its peak. At the end a FRESH server on the trainer's
final weights must give token-identical greedy outputs to the trained one. Writes
``OUT/colocated_rl.json`` (after every step) and ``OUT/colocated_rl.png`` (with matplotlib).
Exits 1 if the outputs differ or a request was refused or lost.

On CUDA the weights travel by CUDA IPC (``update_weights_from_tensor``). On the CPU, SGLang
0.4.6.post5 cannot take tensors (it moves them to ``torch.cuda.current_device()``), so the
trainer saves a checkpoint and the server reads it (``update_weights_from_disk``); the server's
memory saver is then the test stand-in from tests/support, which scribbles NaN over released
memory (so a missed weight push shows), but frees nothing: the CPU memory column is host RSS.
"""

from __future__ import annotations

import argparse
import base64
import gc
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from server_ext.client import SGLangError  # noqa: E402
from server_ext.envs import prepend_pythonpath  # noqa: E402
from sglang_patch_dev.device_flags import server_flags  # noqa: E402
from sglang_patch_dev.offline_models import build  # noqa: E402
from sglang_patch_dev.server_process import ServerProcess  # noqa: E402

PROMPTS = ["The quick brown fox", "Release the KV cache", "SGLang serves language models", "0123456789"]


def make_server(model_dir: str, device: str, mem_fraction: float, log_path: str, work: str) -> ServerProcess:
    """``python -m server_ext.launch`` on ``model_dir`` with the device's flags, not started yet."""
    flags = ["--model-path", model_dir, "--enable-memory-saver", "--random-seed", "0"]
    env = dict(os.environ, TMPDIR=work)  # SGLang leaves socket files in TMPDIR
    if device == "cuda":
        flags += server_flags("cuda", dtype="bfloat16", mem_fraction=mem_fraction)
    else:  # the torch_memory_saver stand-in (the real one has no CPU backend), as the tests do
        flags += server_flags("cpu")
        prepend_pythonpath(env, os.path.join(REPO, "tests", "support"))
        env["TORCHDYNAMO_DISABLE"] = "1"
    return ServerProcess(flags, log_path=log_path, env=env)


class Memory:
    """Memory used now, and its peak since ``reset()`` (a thread samples it every few ms)."""

    def __init__(self, device: str, server: ServerProcess):
        import psutil

        self.device = device
        self.kind = ("GPU used, device-wide (torch.cuda.mem_get_info), GiB" if device == "cuda" else
                     "CPU: no device memory; host RSS of trainer + server processes, GiB (the stand-in frees nothing)")
        root = psutil.Process(server.proc.pid)
        self.procs = [psutil.Process(), root, *root.children(recursive=True)]
        self.peak = 0.0
        threading.Thread(target=self._sample, daemon=True).start()

    def used(self) -> float:
        if self.device == "cuda":
            free, total = torch.cuda.mem_get_info()
            return (total - free) / 2**30
        return sum(p.memory_info().rss for p in self.procs if p.is_running()) / 2**30

    def reset(self) -> None:
        self.peak = self.used()

    def _sample(self) -> None:
        while True:
            try:
                self.peak = max(self.peak, self.used())
            except Exception:  # a process gone at shutdown
                pass
            time.sleep(0.002 if self.device == "cuda" else 0.05)


def generate_ids(client, prompt_ids, max_new_tokens: int, temperature: float) -> list:
    """POST /generate with token ids in and out (``client.generate`` takes text and returns text;
    0.4.6.post5 returns no ``output_ids``, so they are read from the returned logprobs)."""
    body = {"input_ids": prompt_ids, "return_logprob": True,
            "sampling_params": {"max_new_tokens": max_new_tokens, "temperature": temperature, "ignore_eos": True}}
    r = client.session.post(client.base_url + "/generate", json=body, timeout=client.timeout)
    if not r.ok:
        raise SGLangError("/generate", r.status_code, r.json() if "json" in r.headers.get("content-type", "") else r.text)
    return [token_id for _, token_id, _ in r.json()["meta_info"]["output_token_logprobs"]]


def rollout(client, prompts, max_new_tokens: int, counts: dict, temperature: float = 1.0) -> list:
    """One request per prompt, concurrently; counts what was sent, answered, refused (503/409), lost.
    ``prompts``: lists of token ids; returns the completions' token ids (None where it failed)."""

    def one(prompt_ids):
        try:
            return generate_ids(client, prompt_ids, max_new_tokens, temperature)
        except Exception as e:  # SGLangError: refused (503/409) or failed; else lost (connection, timeout)
            return e

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, prompts))
    counts["sent"] += len(results)
    counts["answered"] += sum(isinstance(r, list) for r in results)
    counts["refused"] += sum(isinstance(r, SGLangError) and r.status in (409, 503) for r in results)
    counts["lost"] = counts["sent"] - counts["answered"] - counts["refused"]
    failed = [str(r) for r in results if not isinstance(r, list)]
    if failed:
        print(f"  {len(failed)} request(s) failed, first: {failed[0]}")
    return [r if isinstance(r, list) else None for r in results]


def save_model(model, src_dir: str, dst_dir: str) -> str:
    """The trainer's weights as model.safetensors, with the config and tokenizer of ``src_dir``."""
    from safetensors.torch import save_file

    os.makedirs(dst_dir, exist_ok=True)
    save_file({n: t.detach().cpu().contiguous() for n, t in model.state_dict().items()}, os.path.join(dst_dir, "model.safetensors"))
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(src_dir, name), dst_dir)
    return dst_dir


def push_weights(client, model, device: str, model_dir: str, ckpt_dir: str) -> dict:
    if device == "cpu":  # 0.4.6.post5 takes tensors on CUDA only: go through a checkpoint
        return client.update_weights_from_disk(save_model(model, model_dir, ckpt_dir))
    import torch.multiprocessing  # noqa: F401 - registers the CUDA IPC reductions ForkingPickler uses
    from multiprocessing.reduction import ForkingPickler

    buf = io.BytesIO()  # the bytes of sglang.srt.utils.MultiprocessingSerializer.serialize(..., output_str=True)
    ForkingPickler(buf).dump([(n, t.detach()) for n, t in model.state_dict().items()])
    return client.update_weights_from_tensor([base64.b64encode(buf.getvalue()).decode()])  # one entry per TP rank


def move_optimizer(opt, device: str) -> None:
    for state in opt.state.values():
        for k, v in state.items():
            if torch.is_tensor(v) and k != "step":  # Adam keeps "step" on the CPU
                state[k] = v.to(device)


def free_device(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.ipc_collect()  # blocks shared with the server by IPC wait until it let go
        torch.cuda.empty_cache()


class Lap:
    """Records the seconds since the previous lap under each name given."""

    def __init__(self, seconds: dict):
        self.seconds, self.last = seconds, time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name], self.last = now - self.last, now


def greedy_ids(client, prompts, counts: dict, max_new_tokens: int = 16) -> list:
    return [rollout(client, [p], max_new_tokens, counts, temperature=0.0)[0] for p in prompts]  # one at a time


def reinforce_step(policy, opt, samples, rewards, device: str) -> float:
    """The trainer's turn on the device: REINFORCE on the sampled tokens (baseline: the mean
    reward), one Adam step; the optimizer state leaves the device again, the weights stay."""
    policy.to(device)
    move_optimizer(opt, device)
    advantages, total = (rewards - rewards.mean()).tolist(), 0.0
    groups = {}  # samples of the same prompt and completion lengths go through the model as one batch
    for (p_ids, o_ids), adv in zip(samples, advantages):
        groups.setdefault((len(p_ids), len(o_ids)), []).append((p_ids + o_ids, adv))
    for (n_prompt, _), group in groups.items():
        ids = torch.tensor([seq for seq, _ in group], device=device)
        adv = torch.tensor([a for _, a in group], device=device)
        logprobs = torch.log_softmax(policy(ids).logits[:, :-1].float(), dim=-1)
        sampled = logprobs[:, n_prompt - 1:].gather(2, ids[:, n_prompt:, None]).squeeze(2)
        loss = -(adv * sampled.sum(dim=1)).sum() / len(samples)
        loss.backward()
        total += loss.item()
    opt.step()
    opt.zero_grad(set_to_none=True)
    move_optimizer(opt, "cpu")
    free_device(device)
    return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default="colocated_rl_out")
    ap.add_argument("--mem-fraction", type=float, default=0.3, help="--mem-fraction-static of the server (cuda)")
    ap.add_argument("--samples", type=int, default=4, help="rollouts per prompt and step")
    ap.add_argument("--max-new-tokens", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=128, help="model width (e.g. 2048 to see the memory move on a GPU)")
    ap.add_argument("--layers", type=int, default=2)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    if args.device == "cpu":
        torch.set_num_threads(1)  # the server's processes need the other cores; more threads only fight them
    logs, json_path = os.path.join(args.out, "logs"), os.path.join(args.out, "colocated_rl.json")
    os.makedirs(logs, exist_ok=True)
    work = tempfile.mkdtemp(prefix="colocated-rl-")
    model_dir = build(os.path.join(work, "tiny-llama"), hidden=args.hidden, layers=args.layers)
    server = make_server(model_dir, args.device, args.mem_fraction, os.path.join(logs, "server.log"), work)
    totals = {"sent": 0, "answered": 0, "refused": 0, "lost": 0}
    try:
        with ThreadPoolExecutor(1) as pool:
            starting = pool.submit(server.start, 600)  # the server starts while the trainer loads
            # The trainer: the same weights, kept on the CPU between its turns on the device.
            from transformers import AutoTokenizer, LlamaForCausalLM

            tok = AutoTokenizer.from_pretrained(model_dir)
            policy = LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
            opt = torch.optim.Adam(policy.parameters(), lr=args.lr)
            starting.result()
        words = {i for i in range(len(tok)) if tok.decode([i]).strip().isalpha() and tok.decode([i]).strip().islower()}
        prompt_ids = [tok(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
        client, mem = server.client, Memory(args.device, server)
        report = {"device": args.device, "memory_metric": mem.kind, "args": vars(args), "steps": [], "totals": totals}
        initial = greedy_ids(client, prompt_ids, totals)
        for step in range(1, args.steps + 1):
            t0, counts = time.monotonic(), {"sent": 0, "answered": 0, "refused": 0, "lost": 0}
            # 1. Rollouts; reward: the share of completion tokens that are lowercase word pieces.
            prompts = [ids for ids in prompt_ids for _ in range(args.samples)]
            samples = [(p, o) for p, o in zip(prompts, rollout(client, prompts, args.max_new_tokens, counts)) if o]
            rewards = torch.tensor([sum(t in words for t in o) / len(o) for _, o in samples])
            seconds = {"rollout": time.monotonic() - t0}

            # 2. Release everything the server holds (all tags): the device is the trainer's now.
            mem.reset()
            lap = Lap(seconds)
            states = {"after_release": client.release()["released_tags"]}
            memory = {"after_release": mem.used()}
            lap("release")
            loss = reinforce_step(policy, opt, samples, rewards, args.device)
            lap("train")

            # 3. Staged resume: the server's weights come back while the trainer still holds its copy...
            states["after_resume_weights"] = client.resume(["weights"])["released_tags"]
            memory["after_resume_weights"] = mem.used()
            lap("resume_weights")
            push_weights(client, policy, args.device, model_dir, os.path.join(work, "ckpt"))
            states["weights_current_after_push"] = client.status()["weights_current"]
            lap("push")
            # ... the trainer frees its device copy; only then the KV cache (and any other tag) comes back.
            policy.to("cpu")
            free_device(args.device)
            lap("trainer_off")
            states["resumed_last"] = client.status()["released_tags"]
            states["after_resume_all"] = client.resume(states["resumed_last"])["released_tags"] if states["resumed_last"] else []
            memory["after_resume_all"] = mem.used()
            lap("resume_rest")
            memory["peak"] = max(mem.peak, *memory.values())  # the sampler may have missed the last reading

            status = client.status()
            for k in totals:
                totals[k] += counts[k]
            report["steps"].append({
                "step": step, "reward": rewards.mean().item(), "loss": loss, "samples": len(samples), "requests": counts,
                "states": states, "memory_gib": memory,
                "seconds": {**seconds, "step": time.monotonic() - t0},
                "server_status": {"released_tags": status["released_tags"], "weights_current": status["weights_current"],
                                  "tags": status["ranks"][0]["tags"]},
            })
            print(f"step {step:4d}  reward {rewards.mean():.3f}  requests {counts}  GiB: "
                  + "  ".join(f"{k} {v:.2f}" for k, v in memory.items()) + f"  ({time.monotonic() - t0:.1f}s)")
            with open(json_path, "w") as f:
                json.dump(report, f, indent=1)
        trained = greedy_ids(client, prompt_ids, totals)
    finally:
        server.stop()

    # 4. Check: a fresh server on the trainer's final weights answers token for token the same.
    final_dir = save_model(policy, model_dir, os.path.join(work, "final-model"))
    fresh = make_server(final_dir, args.device, args.mem_fraction, os.path.join(logs, "fresh_server.log"), work)
    try:
        fresh.start(600)
        fresh_ids = greedy_ids(fresh.client, prompt_ids, totals)
    finally:
        fresh.stop()
    identical = trained == fresh_ids and None not in trained
    report["final_check"] = {"identical": identical, "trained": trained, "fresh": fresh_ids,
                             "changed_from_initial": trained != initial, "initial": initial}
    report["ok"] = identical and totals["lost"] == 0 and totals["refused"] == 0
    with open(json_path, "w") as f:
        json.dump(report, f, indent=1)
    plot(report, os.path.join(args.out, "colocated_rl.png"))
    shutil.rmtree(work, ignore_errors=True)
    print(f"greedy outputs of the trained server == a fresh server on the final weights: {identical}")
    print(f"requests {totals}; report: {json_path}")
    return 0 if report["ok"] else 1


def plot(report: dict, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    steps = [s["step"] for s in report["steps"]]
    fig, ax = plt.subplots(figsize=(8, 4))
    for key in ("after_release", "after_resume_weights", "peak", "after_resume_all"):
        ax.plot(steps, [s["memory_gib"][key] for s in report["steps"]], marker=".", label=key)
    ax.set_xlabel("RL step")
    ax.set_ylabel("GiB")
    ax.set_title(report["memory_metric"], fontsize=8)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
