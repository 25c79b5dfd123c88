"""A prepared end-to-end check for a CUDA machine: train a few steps (bf16 LoRA, bf16 QLoRA with bitsandbytes), generate,
export the LoRA run merged and reload it, with tokens/s and peak memory for each stage. `--cpu` runs it on the CPU.

Each stage runs in its own process (this script with `--stage`), so its peak memory is its own and one stage's crash
(a missing CUDA kernel, out of memory) is recorded without hiding the others. Training goes through `tunesmith train`
with a YAML config and the export through `tunesmith export`, as a user runs them.

    scripts/gpu_check.sh                      # CUDA: bf16, LoRA + QLoRA
    scripts/gpu_check.sh --cpu --steps 3      # CPU: fp32, LoRA only (known to work; QLoRA is skipped)
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _provenance
DATA = ROOT / "examples" / "data" / "ci_failures_small.jsonl"
SYSTEM = "You analyze failed CI logs. Answer with three lines: Category, Root Cause, Fix."
N_PROMPTS, MAX_NEW_TOKENS = 4, 48


def plan(cpu: bool) -> list[tuple[str, str | None]]:
    """(stage, reason it is skipped or None), in order; a later stage reads what an earlier one wrote."""
    qlora_skip = ("skipped with --cpu: the check is of bitsandbytes' CUDA 4-bit kernels; --cpu runs fp32 LoRA only"
                  if cpu else None)
    return [("train-lora", None), ("train-qlora", qlora_skip), ("generate-lora", None), ("generate-qlora", qlora_skip),
            ("export-reload-lora", None)]


# ---- one stage, in its own process -------------------------------------------------------------------------------------

def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _peak() -> dict:
    """This process's peak memory: resident set (ru_maxrss is KiB on Linux) and, on CUDA, the allocator's peak."""
    import torch

    out = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if torch.cuda.is_available():
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def _cli(*args: str) -> None:
    """`tunesmith ARGS` in this process (its memory counts here), failing on a non-zero exit."""
    from typer.main import get_command

    from tunesmith.cli import app

    code = get_command(app).main(list(args), prog_name="tunesmith", standalone_mode=False)
    if code not in (None, 0):
        raise RuntimeError(f"tunesmith {' '.join(args)} exited {code}")


def _train(method: str, work: Path, steps: int, cpu: bool, model: str) -> dict:
    import yaml

    run = work / f"run-{method}"
    config = {"model": model, "method": method, "train_file": str(DATA), "output_dir": str(run),
              "system_prompt": SYSTEM, "max_seq_len": 384, "batching": "random", "batch_size": 4, "lr": 3e-4,
              "max_steps": steps, "precision": "fp32" if cpu else "bf16", "eval_fraction": 0.0, "eval_every": 0,
              "save_every": 0}
    path = work / f"{method}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    t0 = time.perf_counter()
    _cli("train", str(path), "--overwrite")
    wall = time.perf_counter() - t0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    speeds = [r["tokens_per_s"] for r in rows if "tokens_per_s" in r][1:] or [rows[-1]["tokens_per_s"]]
    # the first step pays one-off costs (allocator, kernel selection): the median of the others
    return {"precision": config["precision"], "steps": len(rows), "final_loss": rows[-1]["loss"],
            "train_tokens_per_s": round(statistics.median(speeds), 1), "wall_s": round(wall, 1)}


def _prompts() -> list[str]:
    lines = DATA.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["input"] for line in lines[:N_PROMPTS]]


def _generate(source: Path, cpu: bool) -> dict:
    import torch

    import tunesmith

    t0 = time.perf_counter()
    gen = tunesmith.load(source, dtype=torch.float32 if cpu else torch.bfloat16)
    load_s = time.perf_counter() - t0
    if not cpu and gen.model.device.type != "cuda" and not getattr(gen.model, "is_quantized", False):
        gen.model.to("cuda")  # tunesmith.load puts a model on the CPU; a 4-bit one stays where bitsandbytes put it
    gen.generate(_prompts()[:1], max_new_tokens=4)  # warm-up: kernel selection is not generation speed
    if not cpu:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = gen.generate(_prompts(), max_new_tokens=MAX_NEW_TOKENS)
    if not cpu:
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    new = sum(g.new_tokens for g in out)
    return {"device": str(gen.model.device), "load_s": round(load_s, 1), "prompts": len(out), "new_tokens": new,
            "generate_tokens_per_s": round(new / wall, 1), "answers": [g.text for g in out]}


def stage(name: str, work: Path, steps: int, cpu: bool, model: str) -> dict:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    kind, _, method = name.rpartition("-")
    if kind == "train":
        result = _train(method, work, steps, cpu, model)
    elif kind == "generate":
        result = _generate(work / f"run-{method}", cpu)
        (work / f"answers-{method}.json").write_text(json.dumps(result["answers"]))
    elif kind == "export-reload":
        out = work / f"export-{method}"
        t0 = time.perf_counter()
        _cli("export", "--run", str(work / f"run-{method}"), "--format", "merged", "--out", str(out), "--force")
        export_s = time.perf_counter() - t0
        result = {"format": "merged", "export_s": round(export_s, 1), **_generate(out, cpu)}
        before = json.loads((work / f"answers-{method}.json").read_text())
        # Greedy answers from the run and from its export: equal in fp32; in bf16 rounding may change a late token.
        result["same_answers_as_run"] = f"{sum(a == b for a, b in zip(before, result['answers']))}/{len(before)}"
    else:
        raise SystemExit(f"unknown stage {name!r}")
    return {"device": _device(), **result, **_peak()}


# ---- the driver --------------------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="Run on the CPU (fp32, LoRA only), even where CUDA is present.")
    ap.add_argument("--steps", type=int, default=None, help="Training steps per method (default 20 on CUDA, 3 on CPU).")
    ap.add_argument("--out", type=Path, default=None, help="Result JSON (default benchmarks/results/gpu_check[_cpu].json).")
    ap.add_argument("--model", default="smollm2-135m", help="Base model: registry name or local HF dir (tests use a "
                    "tiny one).")
    ap.add_argument("--stage-timeout", type=float, default=900.0, help="Seconds before a stage is stopped and failed.")
    ap.add_argument("--stage", help=argparse.SUPPRESS)  # internal: run one stage in this process
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        ap.error("--steps must be at least 1")
    steps = args.steps or (3 if args.cpu else 20)
    if args.stage:
        print(json.dumps(stage(args.stage, args.work, steps, args.cpu, args.model)), flush=True)
        return 0

    import torch

    if not args.cpu and not torch.cuda.is_available():
        print("gpu_check: no CUDA device is visible to torch (torch.cuda.is_available() is False); run with --cpu "
              "to check the CPU path, or install a CUDA build of torch", file=sys.stderr)
        return 2
    out = args.out or ROOT / "benchmarks" / "results" / ("gpu_check_cpu.json" if args.cpu else "gpu_check.json")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    if args.cpu:
        env["CUDA_VISIBLE_DEVICES"] = ""  # the stages then see no GPU, whatever the machine has
    results, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        for name, skip in plan(args.cpu):
            if skip:
                results.append({"stage": name, "status": "skipped", "reason": skip})
                print(f"{name:20s} skipped: {skip}", flush=True)
                continue
            cmd = [sys.executable, __file__, "--stage", name, "--work", tmp, "--steps", str(steps), "--model", args.model,
                   *(["--cpu"] if args.cpu else [])]
            t0 = time.perf_counter()
            try:
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.stage_timeout)
                ok, tail = done.returncode == 0, (done.stderr or done.stdout)[-1500:]
            except subprocess.TimeoutExpired:
                ok, tail = False, f"stopped after {args.stage_timeout:.0f} s"
            wall = round(time.perf_counter() - t0, 1)
            if ok:
                row = {"stage": name, "status": "ok", "stage_wall_s": wall, **json.loads(done.stdout.splitlines()[-1])}
            else:
                row = {"stage": name, "status": "failed", "stage_wall_s": wall, "error": tail.strip() or "no output"}
            results.append(row)
            print(_line(row), flush=True)
    from _provenance import provenance

    cuda = {"name": torch.cuda.get_device_name(0), "torch_cuda": torch.version.cuda} if not args.cpu else None
    record = {"provenance": provenance(), "mode": "cpu" if args.cpu else "cuda", "cuda": cuda, "model": args.model,
              "steps": steps,
              "total_wall_s": round(time.perf_counter() - started, 1), "stages": results}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    failed = [r["stage"] for r in results if r["status"] == "failed"]
    print(f"{'FAILED: ' + ', '.join(failed) if failed else 'all stages ok'} in {record['total_wall_s']} s; wrote {out}")
    return 1 if failed else 0


def _line(row: dict) -> str:
    if row["status"] != "ok":
        return f"{row['stage']:20s} FAILED after {row['stage_wall_s']} s: {row['error'].splitlines()[-1]}"
    speed = row.get("train_tokens_per_s") or row.get("generate_tokens_per_s")
    kind = "train" if "train_tokens_per_s" in row else "generate"
    gpu = f", peak GPU {row['peak_gpu_mb']} MB" if "peak_gpu_mb" in row else ""
    extra = f", answers as the run's: {row['same_answers_as_run']}" if "same_answers_as_run" in row else ""
    return (f"{row['stage']:20s} ok in {row['stage_wall_s']} s on {row['device']}: {kind} {speed} tokens/s, "
            f"peak RSS {row['peak_rss_mb']} MB{gpu}{extra}")


if __name__ == "__main__":
    sys.exit(main())
