"""Model directories built offline: a tiny Llama with weights, and an 8B-shaped Llama config.

No hub access: the tokenizer is trained here with ``tokenizers`` on a few built-in sentences and
the weights are seeded random numbers. The result serves with ``--load-format auto`` (the saved
weights, needed to check that a weight update restores the exact outputs) or ``dummy``.

    python -m sglang_patch_dev.offline_models DIR [--hidden 128 --layers 2 --vocab 512 --no-weights]

``llama8b_config()`` is the Llama-3-8B shape (bf16) used with ``--load-format dummy`` on a GPU,
where only the shape matters; ``llama_param_shapes`` lists its HF parameter names and shapes.
"""

from __future__ import annotations

import argparse
import json
import os

_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Reinforcement learning shares the GPU between the trainer and the rollout engine.",
    "Release the KV cache, update the weights, then resume the KV cache.",
    "SGLang serves language models fast; memory is released and resumed by tag.",
    "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?'\"()[]{}<>-_/+*=",
]


def build_tokenizer(out_dir: str, vocab_size: int) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<s>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_CORPUS * 20, trainer)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<s>",
                "eos_token": "</s>",
                "unk_token": "<unk>",
                "model_max_length": 2048,
                "add_bos_token": False,
                # A plain template, so /v1/chat/completions (and /invocations) can serve this model.
                "chat_template": "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant:",
            },
            f,
            indent=1,
        )


def build_config(hidden: int, layers: int, vocab: int, head_dim: int = 64) -> dict:
    heads = max(hidden // head_dim, 1)
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": hidden * 2,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": max(heads // 2, 1),
        "vocab_size": vocab,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "bos_token_id": 0,
        "eos_token_id": 1,
    }


def llama8b_config() -> dict:
    return {
        **build_config(hidden=4096, layers=32, vocab=128256, head_dim=128),
        "intermediate_size": 14336,
        "num_key_value_heads": 8,
        "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "torch_dtype": "bfloat16",
    }


def llama_param_shapes(cfg: dict):
    """HF Llama parameter names and shapes, in checkpoint order."""
    h, inter, vocab = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    n_heads, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = h // n_heads
    shapes = [("model.embed_tokens.weight", (vocab, h))]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes += [
            (p + "self_attn.q_proj.weight", (n_heads * hd, h)),
            (p + "self_attn.k_proj.weight", (n_kv * hd, h)),
            (p + "self_attn.v_proj.weight", (n_kv * hd, h)),
            (p + "self_attn.o_proj.weight", (h, n_heads * hd)),
            (p + "mlp.gate_proj.weight", (inter, h)),
            (p + "mlp.up_proj.weight", (inter, h)),
            (p + "mlp.down_proj.weight", (h, inter)),
            (p + "input_layernorm.weight", (h,)),
            (p + "post_attention_layernorm.weight", (h,)),
        ]
    shapes += [("model.norm.weight", (h,)), ("lm_head.weight", (vocab, h))]
    return shapes


def build_shape_only(out_dir: str, config: dict, tokenizer_vocab: int = 1000) -> str:
    """config.json and a small tokenizer, no weights: for ``--load-format dummy``."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    build_tokenizer(out_dir, tokenizer_vocab)
    return out_dir


def save_weights(out_dir: str, config: dict, seed: int = 0) -> None:
    """Seeded random weights, scaled up so greedy outputs vary from prompt to prompt."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**config))
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.5)
    model.save_pretrained(out_dir, safe_serialization=True)
    # save_pretrained rewrites config.json; keep ours (it pins the dtype and the token ids).
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=1)


def build(out_dir: str, hidden: int = 128, layers: int = 2, vocab: int = 512, weights: bool = True, seed: int = 0) -> str:
    os.makedirs(out_dir, exist_ok=True)
    config = build_config(hidden, layers, vocab)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    build_tokenizer(out_dir, vocab)
    if weights:
        save_weights(out_dir, config, seed)
    return out_dir


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-weights", action="store_true", help="config and tokenizer only (--load-format dummy)")
    args = ap.parse_args(argv)
    build(args.out_dir, args.hidden, args.layers, args.vocab, not args.no_weights, args.seed)
    print(args.out_dir)


if __name__ == "__main__":
    main()
