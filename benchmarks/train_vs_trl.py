"""LoRA training throughput, memory and quality of tunesmith against TRL's SFTTrainer+PEFT, alternating in one run.

Same model, examples, LoRA config, max length, batch, AdamW, lr, cosine schedule and epochs; each run in a fresh
subprocess (peak RSS per run); eval loss by one function on the final adapters. TRL runs twice: its defaults, and the
fastest settings TRL offers on CPU (no gradient checkpointing, packing with padding-free, completion-only loss, fp32
and bf16); the ratio that counts is against the faster of TRL's tuned runs.

    pip install -e '.[bench]'
    python benchmarks/train_vs_trl.py --data examples/ci-failures/data/train.jsonl --n 48 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from mfu import FORMULA, body_params, matmul_peak, train_flops  # noqa: E402
from _provenance import provenance  # noqa: E402

# Variant name → TRL settings on top of the shared ones; "tunesmith" uses tunesmith's own defaults.
TRL_VARIANTS = {
    # What SFTConfig gives on a CPU machine (it needs use_cpu=True there): bf16, gradient checkpointing, no packing.
    "trl-default": {},
    # The fastest settings TRL documents for this case.
    "trl-best-fp32": dict(gradient_checkpointing=False, bf16=False, packing=True, packing_strategy="bfd",
                          padding_free=True, completion_only_loss=True),
    "trl-best-bf16": dict(gradient_checkpointing=False, bf16=True, packing=True, packing_strategy="bfd",
                          padding_free=True, completion_only_loss=True),
}
VARIANTS = ["tunesmith", *TRL_VARIANTS]


# ---------------------------------------------------------------- the data sample (parent) ---------------------------

def make_sample(args, work: Path) -> dict:
    """A fixed, seeded sample of N train and M eval examples that fit max_seq_len untruncated (so neither side cuts)."""
    from tunesmith.data.readers import read_examples
    from tunesmith.data.transform import encode
    from tunesmith.models import load_tokenizer

    tok = load_tokenizer(args.model)
    out = {}
    for name, path, n in (("train", args.data, args.n), ("eval", args.eval_data, args.n_eval)):
        examples, problems = read_examples(path)
        if problems:
            sys.exit(f"{path}: {len(problems)} problems, first: {problems[0]}")
        random.Random(args.seed).shuffle(examples)
        keep = []
        for e in examples:  # in shuffled order until n fit: encoding all 2,000 would take longer than a run
            if len(keep) == n:
                break
            if encode(e, tok, 10**6).n_tokens <= args.max_seq_len:
                keep.append(e)
        if len(keep) < n:
            sys.exit(f"{path}: only {len(keep)} examples fit {args.max_seq_len} tokens; asked for {n}")
        lines = [json.dumps({"messages": [{"role": m.role, "content": m.content} for m in e.messages]}) for e in keep]
        target = work / f"{name}.jsonl"
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out[name] = str(target)
    return out


# ---------------------------------------------------------------- one run (child process) ----------------------------

def eval_loss(model, tokenizer, path: str, max_seq_len: int) -> float:
    """Mean cross-entropy over the eval examples' label tokens, fp32, one example at a time — the same for every run."""
    import torch
    import torch.nn.functional as F

    from tunesmith.data.readers import read_examples
    from tunesmith.data.transform import IGNORE, encode

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for ex in read_examples(path)[0]:
            enc = encode(ex, tokenizer, max_seq_len)
            ids = torch.tensor([enc.input_ids])
            labels = torch.tensor(enc.labels[1:])
            logits = model(input_ids=ids).logits[0, :-1].float()
            mask = labels != IGNORE
            total += F.cross_entropy(logits[mask], labels[mask], reduction="sum").item()
            count += int(mask.sum())
    return total / count


def task_score(model, tokenizer, path: str, max_new_tokens: int = 64) -> dict:
    """The task metric, the same for every run: each eval example's answer generated greedily from its prompt (the
    example's messages before the last assistant turn) by tunesmith's Generator, scored as an exact match of the whole
    answer and as the share of its lines matched."""
    from tunesmith.data.readers import read_examples
    from tunesmith.evaluate.metrics import exact
    from tunesmith.models.generate import Generator

    model = model.float()  # fp32 for every run, as eval_loss: a bf16-trained TRL model's cache would mix dtypes
    examples = read_examples(path)[0]
    prompts = [[{"role": m.role, "content": m.content} for m in e.messages[:-1]] for e in examples]
    refs = [e.messages[-1].content for e in examples]
    # One prompt at a time: TRL's bf16 run leaves its forward wrapped in bf16 autocast, which a preallocated (batched)
    # KV cache of the model's dtype refuses; a growing cache takes whatever dtype arrives.
    outs = Generator(model, tokenizer).generate(prompts, max_new_tokens=max_new_tokens, batch_size=1)
    lines = []
    for o, ref in zip(outs, refs):
        got, want = o.text.strip().splitlines(), ref.strip().splitlines()
        lines.append(sum(g.strip() == w.strip() for g, w in zip(got, want)) / max(1, len(want)))
    return {"task_exact": sum(exact(o.text, ref) for o, ref in zip(outs, refs)) / len(refs),
            "task_line_acc": sum(lines) / len(lines), "task_n": len(refs)}


def run_tunesmith(spec: dict) -> dict:
    from tunesmith.train.config import load_config
    from tunesmith.train.loop import fit, prepare_run_dir, pick_precision, setup

    sets = {"model": spec["model"], "train_file": spec["train"], "output_dir": f"{spec['tmp']}/run",
            "max_seq_len": spec["max_seq_len"], "batch_size": spec["batch_size"], "epochs": spec["epochs"],
            "lr": spec["lr"], "eval_fraction": 0.0, "eval_every": 0, "save_every": 0, **spec["lora"]}
    cfg = load_config(None, [f"{k}={json.dumps(v)}" for k, v in sets.items()])
    s = setup(cfg, prepare_run_dir(cfg, False, True))
    t0 = time.perf_counter()
    fit(s)
    wall = time.perf_counter() - t0
    epoch_steps = s.batches_per_epoch
    return {"train_wall_s": wall, "steps": s.total_steps, "precision": pick_precision(cfg),
            "tokens": sum(len(r.input_ids) for r in s.train_rows) * spec["epochs"],
            "label_tokens": sum(r.n_labels for r in s.train_rows) * spec["epochs"],
            "final_train_loss": sum(h["loss"] for h in s.history[-epoch_steps:]) / len(s.history[-epoch_steps:]),
            "model": s.model, "tokenizer": s.tokenizer}


def run_trl(spec: dict, variant: str) -> dict:
    import math

    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from tunesmith.data.readers import read_examples
    from tunesmith.models import resolve

    path = str(resolve(spec["model"]))
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype="float32")
    rows = [{"prompt": [{"role": m.role, "content": m.content} for m in e.messages[:-1]],
             "completion": [{"role": e.messages[-1].role, "content": e.messages[-1].content}]}
            for e in read_examples(spec["train"])[0]]
    lora = spec["lora"]
    peft_config = LoraConfig(task_type="CAUSAL_LM", r=lora["lora_r"], lora_alpha=lora["lora_alpha"],
                             lora_dropout=lora["lora_dropout"], target_modules=lora["target_modules"])
    extra = TRL_VARIANTS[variant]
    # The schedule must match tunesmith's: the same warm-up share of the optimizer steps this run will take.
    est_steps = math.ceil(len(rows) / spec["batch_size"]) * spec["epochs"]
    args = SFTConfig(output_dir=f"{spec['tmp']}/trl", use_cpu=True, per_device_train_batch_size=spec["batch_size"],
                     gradient_accumulation_steps=1, num_train_epochs=spec["epochs"], learning_rate=spec["lr"],
                     lr_scheduler_type="cosine", warmup_steps=int(0.05 * est_steps), weight_decay=0.0,
                     max_grad_norm=1.0, max_length=spec["max_seq_len"], seed=42, save_strategy="no",
                     logging_steps=1, report_to=[], **extra)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=peft_config)
    ds = trainer.train_dataset
    masks = ds["completion_mask"] if "completion_mask" in ds.column_names else None
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    epoch_steps = max(1, len(losses) // spec["epochs"])
    return {"train_wall_s": wall, "steps": trainer.state.global_step, "precision": "bf16" if args.bf16 else "fp32",
            "tokens": sum(len(x) for x in ds["input_ids"]) * spec["epochs"],
            "label_tokens": sum(sum(m) for m in masks) * spec["epochs"] if masks is not None else None,
            "final_train_loss": sum(losses[-epoch_steps:]) / len(losses[-epoch_steps:]),
            "model": trainer.model, "tokenizer": tokenizer}


def worker(variant: str, spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    import torch

    torch.manual_seed(42)
    with tempfile.TemporaryDirectory() as tmp:
        spec["tmp"] = tmp
        r = run_tunesmith(spec) if variant == "tunesmith" else run_trl(spec, variant)
    model, tokenizer = r.pop("model"), r.pop("tokenizer")
    r["eval_loss"] = eval_loss(model, tokenizer, spec["eval"], spec["max_seq_len"])
    if spec.get("task_metric"):
        r.update(task_score(model, tokenizer, spec["eval"]))
    r["n_body"], r["d"], r["vocab"] = body_params(model)
    r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tmp_out = Path(out_path).with_suffix(".tmp")
    tmp_out.write_text(json.dumps(r))
    tmp_out.replace(out_path)


# ---------------------------------------------------------------- the comparison (parent) ----------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data", default="examples/ci-failures/data/train.jsonl", help="training examples to sample from")
    ap.add_argument("--eval-data", default=None, help="held-out examples (default: eval.jsonl next to --data)")
    ap.add_argument("--n", type=int, default=48, help="training examples in the sample")
    ap.add_argument("--n-eval", type=int, default=16, help="held-out examples for the eval loss")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--max-seq-len", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=0, help="seed of the sample")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {VARIANTS}")
    ap.add_argument("--repeats", type=int, default=1, help="rounds of the alternating sequence")
    ap.add_argument("--task-metric", action="store_true",
                    help="also generate each eval example's answer and score it (exact match, lines matched)")
    ap.add_argument("--out", default="benchmarks/results/train_vs_trl.json")
    ap.add_argument("--rereport", metavar="JSON", help="recompute FLOPs/MFU/ratios of a saved result file and exit")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.spec, args.result)
        return 0
    if args.rereport:
        return report(json.loads(Path(args.rereport).read_text()), Path(args.out))

    import torch
    from rich.console import Console

    console = Console(stderr=True)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        sys.exit(f"--variants: unknown {sorted(unknown)}; choose from {VARIANTS}")
    args.eval_data = args.eval_data or str(Path(args.data).with_name("eval.jsonl"))
    for p in (args.data, args.eval_data):
        if not Path(p).exists():
            sys.exit(f"{p}: not found (build it with examples/ci-failures/build_corpus.py --out DIR)")
    load_before = os.getloadavg()
    peak = {"bf16": matmul_peak(torch.bfloat16), "fp32": matmul_peak(torch.float32)}
    results = []
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        sample = make_sample(args, work)
        spec = {"model": args.model, **sample, "max_seq_len": args.max_seq_len, "batch_size": args.batch_size,
                "epochs": args.epochs, "lr": args.lr, "task_metric": args.task_metric,
                "lora": {"lora_r": 16, "lora_alpha": 32.0, "lora_dropout": 0.05, "target_modules": "all-linear"}}
        (work / "spec.json").write_text(json.dumps(spec))
        for rep in range(args.repeats):
            for v in variants:
                console.rule(f"round {rep + 1}/{args.repeats}: {v}")
                res = work / f"{v}-{rep}.json"
                t0 = time.perf_counter()
                proc = subprocess.run([sys.executable, __file__, "--worker", v, "--spec", str(work / "spec.json"),
                                       "--result", str(res)], env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
                if proc.returncode != 0:
                    sys.exit(f"{v} run failed (exit {proc.returncode}); its output is above")
                r = {"variant": v, "round": rep, "process_wall_s": time.perf_counter() - t0, **json.loads(res.read_text())}
                r["tokens_per_s"] = r["tokens"] / r["train_wall_s"]
                results.append(r)
        # Peaks again at the end: the machine is shared, so take the best seen (the capability, not the moment).
        peak = {"bf16": max(peak["bf16"], matmul_peak(torch.bfloat16)), "fp32": max(peak["fp32"], matmul_peak(torch.float32))}
    payload = {"provenance": provenance(),
               "args": {k: v for k, v in vars(args).items() if k not in ("worker", "spec", "result", "rereport")},
               "load_average_before": load_before, "load_average_after": os.getloadavg(),
               "matmul_peak_flops": peak, "flops_formula": FORMULA, "results": results}
    return report(payload, Path(args.out))


def report(payload: dict, out: Path) -> int:
    """FLOPs, MFU and ratios from the measured runs; prints the table and writes the JSON (also for --rereport)."""
    from rich.console import Console
    from rich.table import Table

    results, peak = payload["results"], payload["matmul_peak_flops"]
    # The useful work is a property of the data, not of the trainer: every run is credited with the label tokens
    # tunesmith counted (TRL's packed dataset keeps no completion mask to count them from).
    labels = next((r["label_tokens"] for r in results if r["variant"] == "tunesmith"), None)
    for r in results:
        label = labels or r["label_tokens"] or r["tokens"]
        r["flops_per_s"] = train_flops(r["n_body"], r["d"], r["vocab"], r["tokens"], label) / r["train_wall_s"]
        r["mfu_vs_bf16_peak"] = r["flops_per_s"] / peak["bf16"]
        r["mfu_vs_own_precision_peak"] = r["flops_per_s"] / peak[r["precision"]]
        # Without AMX, fp32 matmuls outrun bf16 ones: the machine's real ceiling is the faster of the two.
        r["mfu_vs_best_peak"] = r["flops_per_s"] / max(peak.values())
    payload["summary"] = summary = summarise(results)
    args = payload["args"]
    table = Table("variant", "round", "prec", "steps", "tokens", "tok/s", "wall s", "peak RSS MB", "train loss",
                  "eval loss", "task exact", "MFU bf16 peak", "MFU best peak",
                  title=f"LoRA training: tunesmith vs TRL, {args['model']}, {args['n']} examples × {args['epochs']} epochs")
    for r in results:
        table.add_row(r["variant"], str(r["round"] + 1), r["precision"], str(r["steps"]), str(r["tokens"]),
                      f"{r['tokens_per_s']:.1f}", f"{r['train_wall_s']:.0f}", f"{r['peak_rss_mb']:.0f}",
                      f"{r['final_train_loss']:.4f}", f"{r['eval_loss']:.4f}",
                      f"{r['task_exact']:.3f}" if "task_exact" in r else "–", f"{100 * r['mfu_vs_bf16_peak']:.1f}%",
                      f"{100 * r['mfu_vs_best_peak']:.1f}%")
    Console(width=160).print(table)
    Console(width=160).print(summary)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(out)
    return 0


def summarise(results: list[dict]) -> dict:
    """Ratios of tunesmith against TRL's fastest tuned run, by median over rounds."""
    import statistics

    def med(v, key):
        xs = [r[key] for r in results if r["variant"] == v and key in r]
        return statistics.median(xs) if xs else None

    def spread(v, key):
        xs = [r[key] for r in results if r["variant"] == v and key in r]
        return [min(xs), max(xs)] if xs else None

    names = sorted({r["variant"] for r in results})
    keys = ["tokens_per_s", "peak_rss_mb", "eval_loss", "mfu_vs_bf16_peak", "mfu_vs_best_peak", "train_wall_s"]
    keys += [k for k in ("task_exact", "task_line_acc") if any(k in r for r in results)]
    per = {v: {k: med(v, k) for k in keys} for v in names}
    for v in names:
        per[v]["range"] = {k: spread(v, k) for k in ("tokens_per_s", "peak_rss_mb", "eval_loss")}
        per[v]["rounds"] = sum(r["variant"] == v for r in results)
    tuned = [v for v in names if v.startswith("trl-best")]
    out: dict = {"median": per}
    if "tunesmith" in per and tuned:
        best = max(tuned, key=lambda v: per[v]["tokens_per_s"])
        ts, trl = per["tunesmith"], per[best]
        out.update({"trl_best": best, "throughput_ratio": ts["tokens_per_s"] / trl["tokens_per_s"],
                    "rss_ratio": ts["peak_rss_mb"] / trl["peak_rss_mb"],
                    "eval_loss_rel_diff": (ts["eval_loss"] - trl["eval_loss"]) / trl["eval_loss"],
                    "tunesmith_mfu_vs_bf16_peak": ts["mfu_vs_bf16_peak"], "tunesmith_mfu_vs_best_peak": ts["mfu_vs_best_peak"]})
    return out


if __name__ == "__main__":
    sys.exit(main())
