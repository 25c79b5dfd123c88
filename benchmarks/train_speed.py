"""Training throughput of tunesmith's loop under each lever (precision, label-position logits, packing), one run.

Every setting trains the same model on the same examples for the same steps; speeds are real (non-pad) tokens per
second, reported as ratios against the plain fp32 / full-logits / no-packing baseline measured in the same invocation.

    python benchmarks/train_speed.py --data examples/ci-failures/data/train.jsonl --steps 6
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tunesmith.train.config import load_config
from tunesmith.train.loop import fit, prepare_run_dir, setup

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _provenance
from _provenance import provenance  # noqa: E402

SETTINGS = {
    "fp32 baseline": dict(precision="fp32", label_logits_only=False, packing=False),
    "fp32 + label logits": dict(precision="fp32", label_logits_only=True, packing=False),
    "bf16": dict(precision="bf16", label_logits_only=False, packing=False),
    "bf16 + label logits": dict(precision="bf16", label_logits_only=True, packing=False),
    "bf16 + label logits + packing (default)": dict(precision="bf16", label_logits_only=True, packing=True),
}


def measure(name: str, overrides: dict, args, console: Console) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        sets = {"model": args.model, "train_file": args.data, "output_dir": f"{tmp}/run", "max_seq_len": args.max_seq_len,
                "batch_size": args.batch_size, "max_steps": args.steps + args.warmup, "eval_fraction": 0.0, "eval_every": 0,
                "save_every": 0, "method": "lora", **overrides}
        cfg = load_config(None, [f"{k}={v}" for k, v in sets.items()])
        s = setup(cfg, prepare_run_dir(cfg, False, False), console=console)
        t0 = time.perf_counter()
        fit(s, console=console)
        wall = time.perf_counter() - t0
    timed = s.history[args.warmup:]  # the first steps pay one-off costs (allocator, oneDNN kernel selection)
    return {"setting": name, **overrides, "tokens_per_s": statistics.median(r["tokens_per_s"] for r in timed),
            "wall_s": wall, "final_loss": s.history[-1]["loss"], "rows": len(s.train_rows)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data", default="examples/ci-failures/data/train.jsonl")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-seq-len", type=int, default=1024)
    ap.add_argument("--only", nargs="*", help="names of settings to run (default: all)")
    ap.add_argument("--out", default="benchmarks/results/train_speed.json")
    args = ap.parse_args(argv)
    console = Console(stderr=True)
    results = [measure(n, o, args, console) for n, o in SETTINGS.items() if not args.only or n in args.only]
    base = results[0]["tokens_per_s"]
    table = Table("setting", "tokens/s", "× baseline", "final loss", title=f"LoRA training speed, {args.model}")
    for r in results:
        r["ratio"] = r["tokens_per_s"] / base
        table.add_row(r["setting"], f"{r['tokens_per_s']:.0f}", f"{r['ratio']:.2f}", f"{r['final_loss']:.4f}")
    Console().print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"provenance": provenance(),
               "args": vars(args), "results": results,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
