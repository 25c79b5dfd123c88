"""One LoRA training pass, looked at closely: steady tokens/s of forward+backward, eager vs regional torch.compile,
and the op-level profile of one pass (where the time goes). The optimizer is not stepped: this times passes only.

    python benchmarks/train_pass.py --mode eager compile --steps 3
    python benchmarks/train_pass.py --mode profile
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent

sys.path.insert(0, str(HERE))  # for _provenance
from _provenance import provenance  # noqa: E402


def build(args, out: str):
    from tunesmith.train.config import load_config
    from tunesmith.train.loop import prepare_run_dir, setup

    sets = {"model": args.model, "train_file": args.data, "output_dir": out, "method": "lora",
            "max_seq_len": args.max_seq_len, "batch_size": 4, "max_train_examples": 64, "eval_fraction": 0.0,
            "eval_every": 0, "save_every": 0, "precision": "fp32", "seed": 42, "max_steps": args.steps + 2}
    cfg = load_config(None, [f"{k}={json.dumps(v)}" for k, v in sets.items()])
    return setup(cfg, prepare_run_dir(cfg, False, True), console=Console(stderr=True, quiet=True))


def timed_passes(s, steps: int, compile_layers: bool) -> dict:
    from tunesmith.train.batches import collate
    from tunesmith.train.loop import step_passes

    if compile_layers:  # regional compilation: one graph per decoder layer, shared by all 30
        for layer in s.model.get_base_model().model.layers:
            layer.compile(dynamic=True)
    times, tokens = [], []
    for step in range(steps + 2):
        for rows in step_passes(s, step):
            batch = collate(rows, s.tokenizer.pad_token_id)
            t0 = time.perf_counter()
            loss, _ = s.loss_module(**batch)
            loss.backward()
            times.append(time.perf_counter() - t0)
            tokens.append(sum(len(r.input_ids) for r in rows))
        s.optimizer.zero_grad(set_to_none=True)
    warm = 4  # the first passes include compilation / allocator warm-up
    return {"steady_tokens_per_s": sum(tokens[warm:]) / sum(times[warm:]), "first_passes_s": times[:warm],
            "passes": len(times)}


def profile(s) -> list[dict]:
    from tunesmith.train.batches import collate
    from tunesmith.train.loop import step_passes

    passes = step_passes(s, 0)
    for rows in passes[:2]:
        batch = collate(rows, s.tokenizer.pad_token_id)
        with torch.autograd.profiler.profile() as prof:
            loss, _ = s.loss_module(**batch)
            loss.backward()
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:15]
    return [{"op": e.key, "self_ms": e.self_cpu_time_total / 1000, "share": e.self_cpu_time_total / total,
             "calls": e.count} for e in rows] + [{"op": "TOTAL", "self_ms": total / 1000, "share": 1.0, "calls": 0}]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data", default="examples/ci-failures/data/train.jsonl")
    ap.add_argument("--max-seq-len", type=int, default=512)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--mode", nargs="+", choices=["eager", "compile", "profile"], default=["eager", "compile"])
    ap.add_argument("--out", type=Path, default=HERE / "results" / "train_pass.json")
    args = ap.parse_args(argv)
    console = Console()
    report = {"args": {k: str(v) for k, v in vars(args).items()}, "load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.mode:
            s = build(args, f"{tmp}/{mode}")
            report[mode] = profile(s) if mode == "profile" else timed_passes(s, args.steps, mode == "compile")
            del s
    report["load_average_after"] = os.getloadavg()
    table = Table(title="LoRA fwd+bwd passes (SmolLM2-135M unless --model)")
    for col in ("mode", "steady tokens/s", "first passes s"):
        table.add_column(col)
    for mode in ("eager", "compile"):
        if mode in report:
            r = report[mode]
            table.add_row(mode, f"{r['steady_tokens_per_s']:.1f}", " ".join(f"{t:.1f}" for t in r["first_passes_s"]))
    console.print(table)
    if "profile" in report:
        prof = Table(title="one pass, by op (self CPU time)")
        for col in ("op", "ms", "share", "calls"):
            prof.add_column(col)
        for r in report["profile"]:
            prof.add_row(r["op"][:60], f"{r['self_ms']:.0f}", f"{100 * r['share']:.1f}%", str(r["calls"]))
        console.print(prof)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".tmp")
    report["provenance"] = provenance()
    tmp_out.write_text(json.dumps(report, indent=1))
    tmp_out.replace(args.out)
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
