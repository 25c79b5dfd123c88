"""The performance harness in one command: train vs TRL, analyzer latency, server load, then one table against targets.

Each benchmark runs as its own subprocess (its own peak RSS, no state shared) and writes its JSON into
benchmarks/results/; this script then reads those files and prints every target with the measured ratio. Run it on an
idle machine: the figures are only comparable within one run.

    python benchmarks/run_all.py                 # the sizes quoted in benchmarks/README.md
    python benchmarks/run_all.py --quick         # a smaller smoke-sized run of each
    python benchmarks/run_all.py --report-only   # re-print the table from the saved JSON files
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

FULL = {
    "train_vs_trl": ["--n", "48", "--epochs", "2", "--repeats", "2"],
    "analyze_latency": ["--sizes", "1000", "20000", "200000", "--repeats", "10", "--max-new-tokens", "96",
                        "--variants", "fp32", "unmerged"],
    "serve_load": ["--clients", "1", "4", "16", "--requests", "16", "--max-new-tokens", "96"],
}
QUICK = {
    "train_vs_trl": ["--n", "24", "--n-eval", "8", "--epochs", "2"],
    "analyze_latency": ["--sizes", "1000", "20000", "200000", "--repeats", "4", "--max-new-tokens", "96",
                        "--variants", "fp32", "unmerged"],
    "serve_load": ["--clients", "1", "4", "16", "--requests", "16", "--lines", "1000", "--max-new-tokens", "64"],
}


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def targets() -> list[tuple[str, str, str, bool | None]]:
    """(target, measured, condition, met) for each figure the performance issue asks for."""
    rows: list[tuple[str, str, str, bool | None]] = []
    trl = _load("train_vs_trl")
    if trl and "summary" in trl:
        s = trl["summary"]
        rows += [
            ("training tokens/s ≥ 3× TRL's best", f"{s['throughput_ratio']:.2f}× (vs {s['trl_best']})", "", s["throughput_ratio"] >= 3),
            ("eval loss within 2% of TRL's best", f"{100 * s['eval_loss_rel_diff']:+.1f}%", "", abs(s["eval_loss_rel_diff"]) <= 0.02),
            ("peak RSS ≤ 0.6× TRL's best", f"{s['rss_ratio']:.2f}×", "", s["rss_ratio"] <= 0.6),
            ("≥ 30% of the bf16 matmul peak", f"{100 * s['tunesmith_mfu_vs_bf16_peak']:.0f}%",
             f"{100 * s['tunesmith_mfu_vs_best_peak']:.0f}% of the faster (fp32) peak", s["tunesmith_mfu_vs_bf16_peak"] >= 0.3),
        ]
    lat = _load("analyze_latency")
    if lat:
        old = {r["lines"]: r for r in lat["results"] if r["variant"] == "unmerged"}
        for r in lat["results"]:
            if r["lines"] == 20000 and r["variant"] == "fp32":
                also = f"distil {r['distil_p50_s']:.2f} s, {r['new_tokens_median']:.0f} new tokens"
                if 20000 in old:
                    also += f"; {old[20000]['p50_s'] / r['p50_s']:.2f}× faster than unmerged ({old[20000]['p50_s']:.2f} s)"
                rows.append(("analyze p50 ≤ 1.0 s, p95 ≤ 2.5 s (20k lines)", f"p50 {r['p50_s']:.2f} s, p95 {r['p95_s']:.2f} s",
                             also, r["p50_s"] <= 1.0 and r["p95_s"] <= 2.5))
    load = _load("serve_load")
    if load:
        top = max(load["results"], key=lambda r: r["clients"])
        rows.append((f"server throughput at {top['clients']} clients ≥ 3× one client",
                     f"{top['speedup_vs_first']:.2f}×", f"{top['throughput_rps']:.3f} req/s", top["speedup_vs_first"] >= 3))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (minutes, not an hour)")
    ap.add_argument("--only", nargs="+", choices=list(FULL), default=list(FULL))
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    console = Console()
    if not args.report_only:
        plan = QUICK if args.quick else FULL
        for name in args.only:
            cmd = [sys.executable, str(HERE / f"{name}.py"), *plan[name]]
            console.rule(f"{name}: {' '.join(cmd[1:])}")
            code = subprocess.call(cmd, cwd=HERE.parent, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            if code != 0:
                console.print(f"[red]{name} exited with {code}; its figures below may be from an earlier run[/red]")
    table = Table(title="performance targets (ratios measured within one run)")
    for col in ("target", "measured", "also", "met"):
        table.add_column(col)
    for name, measured, also, met in targets():
        table.add_row(name, measured, also, {True: "yes", False: "[red]no[/red]", None: "?"}[met])
    console.print(table)
    for name in FULL:
        data = _load(name)
        if data and "load_average_before" in data:
            console.print(f"{name}: load average before {data['load_average_before'][0]:.1f}, "
                          f"after {data['load_average_after'][0]:.1f} (2 cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
