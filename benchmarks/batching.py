"""Batching and memory levers of tunesmith's own loop: speed per real token, padding share and peak RSS, per setting.

Each run is a fresh subprocess (its own peak RSS), settings alternate within a round, and a round trains the same seeded
examples through `setup()` + `fit()`. Two suites:

    # batching modes, one epoch each, on a tiny llama (2 layers, hidden 64) with the real tokenizer: speed and padding
    python benchmarks/batching.py --suite batching --model tiny --n 200 --repeats 3
    # memory levers on the real model at 4 rows x 512 tokens, a few steps: peak RSS
    python benchmarks/batching.py --suite memory --model smollm2-135m --n 16 --max-seq-len 512 --steps 4 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _provenance
from _provenance import provenance  # noqa: E402

SUITES = {
    "batching": {
        "packed": dict(batching="packed"),
        "grouped": dict(batching="grouped"),
        "random": dict(batching="random"),
    },
    "memory": {
        "one pass per micro-batch": dict(batching="random", max_forward_tokens=None),
        "max_forward_tokens 1024": dict(batching="random", max_forward_tokens=1024),
        "max_forward_tokens 512 (auto on CPU)": dict(batching="random", max_forward_tokens=512),
        "gradient_checkpointing, one pass": dict(batching="random", max_forward_tokens=None, gradient_checkpointing=True),
    },
}


def tiny_model(work: Path) -> str:
    """The test suite's tiny llama shape (2 layers, hidden 64), with the real model's tokenizer so lengths are real."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from tunesmith.models import resolve

    tok = AutoTokenizer.from_pretrained(resolve("smollm2-135m"))
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      tie_word_embeddings=False)
    path = work / "tiny"
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(spec: dict) -> dict:
    """One training run in this (fresh) process."""
    import torch

    from tunesmith.train.config import load_config
    from tunesmith.train.loop import fit, prepare_run_dir, setup, step_passes

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])

    with tempfile.TemporaryDirectory() as tmp:
        sets = {"model": spec["model"], "train_file": spec["data"], "output_dir": f"{tmp}/run", "method": "lora",
                "max_seq_len": spec["max_seq_len"], "batch_size": spec["batch_size"], "max_train_examples": spec["n"],
                "eval_fraction": 0.0, "eval_every": 0, "save_every": 0, "precision": "fp32", "seed": 42,
                **({"max_steps": spec["steps"]} if spec["steps"] else {"epochs": 1}), **spec["overrides"]}
        cfg = load_config(None, [f"{k}={json.dumps(v)}" for k, v in sets.items()])
        s = setup(cfg, prepare_run_dir(cfg, False, False), console=Console(stderr=True, quiet=True))
        passes = [p for step in range(s.total_steps) for p in step_passes(s, step)]
        real = sum(len(r.input_ids) for p in passes for r in p)
        computed = sum(len(p) * max(len(r.input_ids) for r in p) for p in passes)
        rss_before = rss_mb()
        t0 = time.perf_counter()
        fit(s, console=Console(stderr=True, quiet=True))
        wall = time.perf_counter() - t0
    return {"steps": s.total_steps, "passes": len(passes), "rows": len(s.train_rows), "real_tokens": real,
            "computed_positions": computed, "pad_share": 1 - real / computed, "fit_wall_s": wall,
            "real_tokens_per_s": real / wall, "mean_loss": statistics.mean(h["loss"] for h in s.history),
            "rss_after_setup_mb": rss_before, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", choices=list(SUITES), default="batching")
    ap.add_argument("--model", default="tiny", help="'tiny' (built here) or a registry name / HF dir")
    ap.add_argument("--data", default="examples/ci-failures/data/train.jsonl")
    ap.add_argument("--n", type=int, default=200, help="seeded sample of training examples")
    ap.add_argument("--max-seq-len", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--steps", type=int, default=0, help="optimizer steps per run (0: one epoch)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads in each run (0: torch's default). On a "
                    "loaded 2-core machine 2 OpenMP threads wait on each other: a tiny model's steps ran ~6x slower than with 1")
    ap.add_argument("--only", nargs="*", help="setting names (default: the whole suite)")
    ap.add_argument("--out", default=None, help="default: benchmarks/results/batching_<suite>_<model>.json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        spec = json.loads(Path(args.child).read_text())
        Path(spec["result"]).write_text(json.dumps(child(spec)))
        return 0

    console = Console(stderr=True)
    settings = {k: v for k, v in SUITES[args.suite].items() if not args.only or k in args.only}
    out = Path(args.out or f"benchmarks/results/batching_{args.suite}_{Path(args.model).name}.json")
    load_before = os.getloadavg()
    results: dict[str, list[dict]] = {k: [] for k in settings}
    with tempfile.TemporaryDirectory() as work:
        model = tiny_model(Path(work)) if args.model == "tiny" else args.model
        for rnd in range(args.repeats):
            for name, overrides in settings.items():
                spec = {"model": model, "data": str(Path(args.data).resolve()), "n": args.n, "steps": args.steps,
                        "max_seq_len": args.max_seq_len, "batch_size": args.batch_size, "overrides": overrides,
                        "threads": args.threads, "result": f"{work}/result.json"}
                Path(f"{work}/spec.json").write_text(json.dumps(spec))
                load = os.getloadavg()[0]
                subprocess.run([sys.executable, __file__, "--child", f"{work}/spec.json"], check=True)
                r = {**json.loads(Path(f"{work}/result.json").read_text()), "load_1min_before": load,
                     "load_1min_after": os.getloadavg()[0]}
                results[name].append(r)
                console.print(f"round {rnd + 1}/{args.repeats} {name}: {r['real_tokens_per_s']:.0f} real tok/s, "
                              f"peak RSS {r['peak_rss_mb']:,.0f} MB, pad {100 * r['pad_share']:.1f}% "
                              f"(load {load:.1f} → {r['load_1min_after']:.1f})")
                write(out, args, load_before, settings, results)  # after every run: a stopped run keeps its figures
    Console().print(table(args, write(out, args, load_before, settings, results)))
    return 0


def write(out: Path, args, load_before, settings: dict, results: dict[str, list[dict]]) -> list[dict]:
    done = {k: v for k, v in results.items() if v}
    base = statistics.median(r["real_tokens_per_s"] for r in next(iter(done.values())))
    summary = []
    for name, runs in done.items():
        tps = statistics.median(r["real_tokens_per_s"] for r in runs)
        summary.append({"setting": name, "overrides": settings[name], "runs": runs, "real_tokens_per_s_median": tps,
                        "ratio": tps / base, "pad_share": runs[0]["pad_share"], "steps": runs[0]["steps"],
                        "peak_rss_mb_median": statistics.median(r["peak_rss_mb"] for r in runs)})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"provenance": provenance(),
                               "args": vars(args), "cores": os.cpu_count(), "load_average_before": load_before,
                               "load_average_now": os.getloadavg(), "results": summary}, indent=2))
    tmp.replace(out)
    return summary


def table(args, summary: list[dict]) -> Table:
    t = Table("setting", "steps", "pad share", "real tok/s (median)", f"× {summary[0]['setting']}", "peak RSS MB",
              "RSS after setup MB", "mean loss",
              title=f"{args.suite}: {args.model}, {args.batch_size} rows × ≤{args.max_seq_len}, n={args.n}, fp32, "
                    f"threads {args.threads or 'default'}; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for row in summary:
        first = row["runs"][0]
        t.add_row(row["setting"], str(row["steps"]), f"{100 * row['pad_share']:.1f}%",
                  f"{row['real_tokens_per_s_median']:.0f}", f"{row['ratio']:.2f}", f"{row['peak_rss_mb_median']:,.0f}",
                  f"{first['rss_after_setup_mb']:,.0f}", f"{first['mean_loss']:.4f}")
    return t


if __name__ == "__main__":
    sys.exit(main())
