"""Latency of `Analyzer.analyze` (distil + generate) on synthetic CI logs of 1k, 20k and 200k lines.

Reports p50/p95 of the whole call and of its distil part, tokens generated, and peak RSS; optionally the inference
levers measured alternately in the same run: "unmerged" (the analyzer before session 3: the adapter applied at every
call instead of merged into the weights), bf16 weights, int8 dynamic quantization of the linear layers.

    python benchmarks/analyze_latency.py --run smollm2-135m --sizes 1000 20000 200000 --variants fp32 bf16 int8
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _provenance
from _provenance import provenance  # noqa: E402

_NOISE = [
    "Collecting {pkg}=={v}.{w}.0",
    "  Downloading {pkg}-{v}.{w}.0-py3-none-any.whl ({k} kB)",
    "Requirement already satisfied: {pkg} in /opt/venv/lib/python3.11/site-packages ({v}.{w})",
    "tests/test_{pkg}.py::test_case_{k} PASSED                                  [ {p}%]",
    "[INFO] Compiling {k} source files to /build/classes",
    "{ts} [service] GET /api/{pkg}/{k} 200 {w}ms",
    "##[group]Run actions/setup-python@v5",
    "##[endgroup]",
    "npm WARN deprecated {pkg}@{v}.{w}.0: this version is no longer supported",
    "Step {k}/40 : RUN pip install -r requirements.txt",
    "{ts} worker-{w} heartbeat ok queue={k}",
]
_FAILURE = [
    "tests/test_parser.py::test_parse_header FAILED                              [ 97%]",
    "=================================== FAILURES ===================================",
    "________________________________ test_parse_header ____________________________",
    "    def test_parse_header():",
    ">       assert parse_header(b'X-Id: 7') == {'x-id': '7'}",
    "E       AssertionError: assert {'X-Id': '7'} == {'x-id': '7'}",
    "tests/test_parser.py:42: AssertionError",
    "=========================== short test summary info ============================",
    "FAILED tests/test_parser.py::test_parse_header - AssertionError: assert {'X-Id': '7'} == {'x-id': '7'}",
    "========================= 1 failed, 811 passed in 54.21s =========================",
    "##[error]Process completed with exit code 1.",
]


def synthetic_log(n_lines: int, seed: int = 0) -> str:
    """A GitHub-Actions-like job log of n_lines: setup/test/service noise with one pytest failure at 80% of the way."""
    rnd = random.Random(seed)
    pkgs = ["numpy", "requests", "flask", "pydantic", "httpx", "rich", "attrs", "click", "urllib3", "jinja2"]
    lines = []
    fail_at = int(n_lines * 0.8)
    while len(lines) < n_lines:
        if len(lines) == fail_at:
            lines += _FAILURE
            continue
        ts = f"2026-11-24T10:{len(lines) // 3600 % 60:02d}:{len(lines) // 60 % 60:02d}.{rnd.randrange(10**6):06d}Z"
        lines.append(rnd.choice(_NOISE).format(pkg=rnd.choice(pkgs), v=rnd.randrange(1, 9), w=rnd.randrange(30),
                                               k=rnd.randrange(1000), p=rnd.randrange(100), ts=ts))
    return "\n".join(lines[:n_lines]) + "\n"


def make_analyzer(run: str, variant: str, max_new_tokens: int):
    import torch

    from tunesmith.logs.analyze import Analyzer
    from tunesmith.models.generate import load_generator

    # "unmerged": the analyzer as it was before session 3 (the PEFT adapter applied at every call).
    gen = load_generator(run, dtype=torch.bfloat16 if variant == "bf16" else torch.float32, merge=variant != "unmerged")
    if variant == "int8":
        # down_proj and the head stay fp32: their inputs' outliers broke the answer format when quantized
        # (benchmarks/README.md, levers of session 4).
        from int8_quality import quantized

        gen.model = quantized(gen.model, ["down_proj", "lm_head"])
    return Analyzer(generator=gen, max_new_tokens=max_new_tokens)


def measure(analyzer, log: str, repeats: int) -> dict:
    distil_s, total_s, new_tokens = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        analyzer.excerpt(log)
        distil_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        a = analyzer.analyze(log)
        total_s.append(time.perf_counter() - t0)
        new_tokens.append(len(analyzer.generator.tokenizer(a.raw, add_special_tokens=False)["input_ids"]))
    return {"p50_s": percentile(total_s, 50), "p95_s": percentile(total_s, 95), "distil_p50_s": percentile(distil_s, 50),
            "new_tokens_median": statistics.median(new_tokens), "samples_s": total_s, "category": a.category,
            "answer": a.raw[:300]}


def percentile(xs: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), without numpy in the loop."""
    s = sorted(xs)
    k = (len(s) - 1) * q / 100
    lo = int(k)
    return s[lo] + (s[min(lo + 1, len(s) - 1)] - s[lo]) * (k - lo)


def write(out: Path, args, load_before, rows: list[dict]) -> None:
    payload = {"provenance": provenance(),
               "args": vars(args), "load_average_before": load_before, "load_average_after": os.getloadavg(),
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "results": rows,
               "note": "peak RSS is of the whole process (all variants loaded); per size it is the peak so far"}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=None, help="run dir or model spec (default: bundled adapter, else smollm2-135m)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000, 200000], help="log lengths in lines")
    ap.add_argument("--repeats", type=int, default=10, help="calls per size (a 200k-line log gets a third of them)")
    ap.add_argument("--variants", nargs="+", default=["fp32"], choices=["fp32", "unmerged", "bf16", "int8"])
    ap.add_argument("--max-new-tokens", type=int, default=160,
                    help="answer cap (the analyzer's default is 160; a trained adapter's 3-line answer is ~40-60 tokens, "
                         "while a base model rambles to the cap)")
    ap.add_argument("--out", default="benchmarks/results/analyze_latency.json")
    args = ap.parse_args(argv)
    if args.run is None:
        from tunesmith.logs.analyze import BUNDLED_ADAPTER

        args.run = str(BUNDLED_ADAPTER) if (BUNDLED_ADAPTER / "tunesmith.json").exists() else "smollm2-135m"
    console = Console(stderr=True)
    logs = {n: synthetic_log(n) for n in args.sizes}
    load_before = os.getloadavg()
    analyzers = {v: make_analyzer(args.run, v, args.max_new_tokens) for v in args.variants}
    for a in analyzers.values():  # first call pays one-off costs (oneDNN kernel choice, allocator growth)
        a.analyze(logs[min(args.sizes)])
    rows = []
    out = Path(args.out)
    for n in args.sizes:
        reps = max(2, args.repeats // 3) if n >= 100_000 else args.repeats
        # Alternate variants call by call, so a burst of load from other processes hits them all alike.
        per = {v: [] for v in args.variants}
        for _ in track(range(reps), description=f"{n} lines", console=console):
            for v, a in analyzers.items():
                per[v].append(measure(a, logs[n], 1))
        for v in args.variants:
            total = [m["samples_s"][0] for m in per[v]]
            rows.append({"lines": n, "variant": v, "repeats": reps, "p50_s": percentile(total, 50),
                         "p95_s": percentile(total, 95),
                         "distil_p50_s": percentile([m["distil_p50_s"] for m in per[v]], 50),
                         "new_tokens_median": statistics.median(m["new_tokens_median"] for m in per[v]),
                         "category": per[v][-1]["category"], "answer": per[v][-1]["answer"], "samples_s": total,
                         "peak_rss_mb_so_far": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
        write(out, args, load_before, rows)  # after every size: a long run stopped midway keeps what it measured
    table = Table("lines", "variant", "p50 s", "p95 s", "distil p50 s", "new tokens", "category", "peak RSS MB",
                  title=f"Analyzer.analyze latency, {args.run}")
    for r in rows:
        table.add_row(str(r["lines"]), r["variant"], f"{r['p50_s']:.2f}", f"{r['p95_s']:.2f}", f"{r['distil_p50_s']:.2f}",
                      f"{r['new_tokens_median']:.0f}", r["category"], f"{r['peak_rss_mb_so_far']:.0f}")
    Console().print(table)
    write(out, args, load_before, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
