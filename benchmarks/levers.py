"""The speed levers that train_speed.py does not cover, each measured alternately against its baseline in one run.

padding (random vs length-grouped vs packed batches, counted on the real data), the output layer + cross-entropy
(full, chunked, label positions only), threads, torch.compile, and the KV cache at inference.

    python benchmarks/levers.py --data examples/ci-failures/data/train.jsonl --only padding ce threads compile kv
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _provenance
from _provenance import provenance  # noqa: E402

console = Console(stderr=True)


def timed(fn, repeats: int) -> float:
    """Median seconds of fn() after one warm-up call (oneDNN picks its kernels on the first)."""
    fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def padding(args, tok) -> list[dict]:
    """Share of computed positions that are padding, for batches of `batch_size` rows of the real data."""
    from tunesmith.data.readers import read_examples
    from tunesmith.data.transform import encode
    from tunesmith.train.batches import epoch_batches, pack

    examples = read_examples(args.data)[0]
    random.Random(0).shuffle(examples)
    enc = [encode(e, tok, args.max_seq_len) for e in examples[: args.n_padding]]
    real = sum(len(e.input_ids) for e in enc)
    out = []
    for name, rows in (("random batches", pack(enc, args.max_seq_len, False, 0)),
                       ("length-grouped batches", sorted(pack(enc, args.max_seq_len, False, 0), key=lambda r: len(r.input_ids))),
                       ("packed rows (default)", pack(enc, args.max_seq_len, True, 0))):
        shuffle = name != "length-grouped batches"  # grouped: consecutive rows of similar length form a batch
        computed = sum(max(len(rows[i].input_ids) for i in b) * len(b)
                       for b in epoch_batches(rows, args.batch_size, 0, 0, shuffle=shuffle))
        out.append({"lever": "batching", "setting": name, "computed_positions": computed,
                    "pad_share": 1 - real / computed, "relative_work": computed / real})
    return out


def output_layer(args, model) -> list[dict]:
    """Output layer + CE forward/backward for a 4×T batch where only the answer tokens (≈ 6%) carry labels."""
    head = model.get_output_embeddings()
    d, T, B = head.weight.shape[1], args.max_seq_len, args.batch_size
    hidden = torch.randn(B, T, d, requires_grad=True)
    targets = torch.randint(0, head.weight.shape[0], (B, T))
    mask = torch.zeros(B, T, dtype=torch.bool)
    mask[:, -max(1, T // 16):] = True  # labels on the last 1/16 of each row, like a CI-log answer
    targets[~mask] = -100

    def full():
        loss = F.cross_entropy(head(hidden).flatten(0, 1).float(), targets.flatten(), reduction="sum")
        loss.backward()

    def chunked(chunk=512):
        # Recompute each chunk's logits in backward (checkpoint), so at most chunk×V logits exist at once.
        from torch.utils.checkpoint import checkpoint

        h, t = hidden.flatten(0, 1), targets.flatten()
        loss = sum(checkpoint(lambda hh, tt: F.cross_entropy(head(hh).float(), tt, reduction="sum"), h[i:i + chunk],
                              t[i:i + chunk], use_reentrant=False) for i in range(0, h.shape[0], chunk))
        loss.backward()

    def label_only():
        loss = F.cross_entropy(head(hidden[mask]).float(), targets[mask], reduction="sum")
        loss.backward()

    rows = []
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for name, fn in (("full logits", full), ("chunked CE (512 rows)", chunked), ("label positions only (default)", label_only)):
            rows.append({"lever": "output layer + CE", "setting": name, "seconds": timed(fn, args.repeats)})
    return rows


def threads(args, model, batch) -> list[dict]:
    from tunesmith.train.loss import CausalLMLoss

    loss_fn = CausalLMLoss(model)
    rows = []

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _ = loss_fn(**batch)
        loss.backward()

    default = torch.get_num_threads()
    for n in sorted({1, default, os.cpu_count() or default}):
        torch.set_num_threads(n)
        rows.append({"lever": "threads", "setting": f"torch.set_num_threads({n})", "seconds": timed(step, args.repeats)})
    torch.set_num_threads(default)
    return rows


def compile_(args, model, batch) -> list[dict]:
    from tunesmith.train.loss import CausalLMLoss

    eager = CausalLMLoss(model)
    compiled = torch.compile(CausalLMLoss(model), dynamic=True)

    def step(fn):
        def run():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss, _ = fn(**batch)
            loss.backward()
        return run

    t0 = time.perf_counter()
    step(compiled)()
    compile_s = time.perf_counter() - t0
    return [{"lever": "torch.compile", "setting": "eager (default)", "seconds": timed(step(eager), args.repeats)},
            {"lever": "torch.compile", "setting": "torch.compile(dynamic=True)", "seconds": timed(step(compiled), args.repeats),
             "compile_s": compile_s}]


def kv_cache(args, model, tok) -> list[dict]:
    model.eval()
    ids = torch.randint(100, 40000, (1, args.kv_prompt))
    rows = []
    for cache in (True, False):
        def gen():
            with torch.no_grad():
                model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=args.kv_new, min_new_tokens=args.kv_new,
                               do_sample=False, use_cache=cache, pad_token_id=tok.pad_token_id)
        rows.append({"lever": "KV cache (generate)", "setting": f"use_cache={cache}" + (" (default)" if cache else ""),
                     "seconds": timed(gen, max(1, args.repeats // 2))})
    model.train()
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data", default="examples/ci-failures/data/train.jsonl")
    ap.add_argument("--only", nargs="+", default=["padding", "ce", "threads", "compile", "kv"])
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-seq-len", type=int, default=512)
    ap.add_argument("--n-padding", type=int, default=400, help="examples counted for the padding lever")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--kv-prompt", type=int, default=256)
    ap.add_argument("--kv-new", type=int, default=32)
    ap.add_argument("--out", default="benchmarks/results/levers.json")
    args = ap.parse_args(argv)
    from tunesmith.data.example import from_pair
    from tunesmith.data.transform import encode
    from tunesmith.models import load_model
    from tunesmith.train.batches import collate, pack

    from tunesmith.models import load_tokenizer

    tok = load_tokenizer(args.model)
    model = batch = None
    if set(args.only) - {"padding"}:
        model, tok = load_model(args.model)
        model.config.use_cache = False
        for p in model.parameters():  # LoRA-like: the base is frozen; only activation gradients flow
            p.requires_grad_(False)
        model.get_input_embeddings().weight.requires_grad_(True)  # something must need a gradient for backward
        text = "pip install failed\n" * (args.max_seq_len // 6)
        enc = encode(from_pair(text, "Category: dependency"), tok, args.max_seq_len)
        batch = collate(pack([enc] * args.batch_size, args.max_seq_len, False, 0), tok.pad_token_id)
    load = os.getloadavg()
    rows: list[dict] = []
    jobs = {"padding": lambda: padding(args, tok), "ce": lambda: output_layer(args, model),
            "threads": lambda: threads(args, model, batch), "compile": lambda: compile_(args, model, batch),
            "kv": lambda: kv_cache(args, model, tok)}
    for name in args.only:
        console.log(f"lever: {name}")
        rows += jobs[name]()
    table = Table("lever", "setting", "seconds", "other", title=f"levers, {args.model}, batch {args.batch_size}×{args.max_seq_len}")
    for r in rows:
        other = {k: v for k, v in r.items() if k not in ("lever", "setting", "seconds")}
        table.add_row(r["lever"], r["setting"], f"{r['seconds']:.2f}" if "seconds" in r else "",
                      ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in other.items()))
    Console(width=150).print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"provenance": provenance(),
                               "args": vars(args), "load_average_before": load, "load_average_after": os.getloadavg(),
                               "threads_default": torch.get_num_threads(), "results": rows}, indent=2))
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
