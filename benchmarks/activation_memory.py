"""Where training memory goes: the bytes autograd keeps for backward, per token, by the module that saved them.

One forward of tunesmith's training loss (label-position logits, PEFT LoRA) on a 1 × T batch of the real data, with a
saved-tensors hook that attributes every tensor kept for backward to the innermost module running at the time (storage
counted once, however many ops save it). These are live tensors; peak RSS adds the allocator's share
(batching.py --suite memory).

    python benchmarks/activation_memory.py --model smollm2-135m --seq-len 512
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _provenance
from _provenance import provenance  # noqa: E402


def kind(name: str) -> str:
    """A module path → its family: layers.7.self_attn.q_proj.lora_dropout.default → q/k/v/o/gate/up/down lora_dropout."""
    name = re.sub(r"\.\d+\.", ".N.", name)
    name = name.replace(".default", "")
    leaf = name.split(".")[-1]
    if leaf in ("lora_dropout", "lora_A", "lora_B", "base_layer"):
        return f"LoRA {leaf}" if leaf != "base_layer" else "frozen linear (base_layer)"
    if leaf in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"):
        return "LoRA wrapper (sum of base + adapter)"
    return leaf or "(top)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data", default="examples/ci-failures/data/train.jsonl")
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--lora-dropout", type=float, default=0.05)
    ap.add_argument("--out", default="benchmarks/results/activation_memory.json")
    args = ap.parse_args(argv)

    from peft import get_peft_model

    from tunesmith.data.readers import read_examples
    from tunesmith.data.transform import encode
    from tunesmith.models import load_model
    from tunesmith.train.batches import collate, pack
    from tunesmith.train.config import TrainConfig
    from tunesmith.train.loss import CausalLMLoss
    from tunesmith.train.methods import _lora_config

    model, tok = load_model(args.model)
    model.config.use_cache = False
    cfg = TrainConfig(train_file=args.data, lora_dropout=args.lora_dropout)
    model = get_peft_model(model, _lora_config(cfg))
    model.train()
    examples = read_examples(args.data)[0]
    enc = next(e for e in (encode(x, tok, args.seq_len) for x in examples) if len(e.input_ids) == args.seq_len)
    batch = collate(pack([enc], args.seq_len, False, 0), tok.pad_token_id)

    stack: list[str] = ["(top)"]

    def leave(module, args, output) -> None:  # returns None: a forward hook's return value would replace the output
        stack.pop()

    for name, mod in model.named_modules():
        mod.register_forward_pre_hook(lambda m, a, n=name: stack.append(n))
        mod.register_forward_hook(leave)
    by_kind: dict[str, int] = defaultdict(int)
    seen: set[int] = set()

    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack_hook(t: torch.Tensor):
        key = t.untyped_storage().data_ptr()
        if key not in seen and key not in weights:  # weights (and views of them) are not activations
            seen.add(key)
            by_kind[kind(stack[-1])] += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack_hook, lambda t: t):
        CausalLMLoss(model)(**batch)
    total = sum(by_kind.values())
    layers = model.config.num_hidden_layers
    table = Table("saved by", "MB", "bytes / token / layer", "share",
                  title=f"{args.model}: tensors kept for backward, 1 × {args.seq_len} tokens, LoRA r={cfg.lora_r} "
                        f"all-linear, dropout {args.lora_dropout}, fp32")
    rows = sorted(by_kind.items(), key=lambda kv: -kv[1])
    for k, b in rows:
        table.add_row(k, f"{b / 2**20:,.1f}", f"{b / args.seq_len / layers:,.0f}", f"{100 * b / total:.1f}%")
    table.add_row("total", f"{total / 2**20:,.1f}", f"{total / args.seq_len / layers:,.0f}", "100%")
    Console().print(table)
    per_token_mb = total / args.seq_len / 2**20
    Console().print(f"{per_token_mb:.2f} MB per token: a 4 × 512 pass keeps {4 * 512 * per_token_mb / 1024:.2f} GB")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"provenance": provenance(),
                               "args": vars(args), "bytes_by_module": dict(rows), "total_bytes": total,
                               "mb_per_token": per_token_mb}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
