"""Batched analysis in one process: row-by-row prefill + preallocated-cache decode vs HF's batched generate vs one log at
a time, on the same synthetic 1,000-line logs with the same loaded model; checks that the answers are identical.

    python benchmarks/batch_generate.py --batch 8 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from analyze_latency import synthetic_log  # noqa: E402
from _provenance import provenance  # noqa: E402


def main(argv=None) -> int:
    from tunesmith.logs.analyze import Analyzer, resolve_run
    from tunesmith.models import generate as gen_mod
    from tunesmith.atomic import write_json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=None, help="run dir or model spec (default: the shipped analyzer adapter)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "batch_generate.json")
    args = ap.parse_args(argv)

    analyzer = Analyzer(resolve_run(args.run), max_new_tokens=args.max_new_tokens)
    logs = [synthetic_log(1000 + 37 * i, seed=i) for i in range(args.batch)]
    analyzer.analyze(logs[0])  # warm-up
    row_wise = gen_mod._prefill_rows
    times: dict[str, list[float]] = {"row-wise prefill + static cache": [], "HF batched generate": [], "one at a time": []}
    answers: dict[str, list[str]] = {}
    for _ in range(args.rounds):  # alternate, so load bursts hit every variant alike
        for name in times:
            gen_mod._prefill_rows = row_wise if name.startswith("row") else (lambda *a: None)
            t0 = time.perf_counter()
            res = analyzer.analyze_many(logs) if name != "one at a time" else [analyzer.analyze(x) for x in logs]
            times[name].append(time.perf_counter() - t0)
            answers[name] = [a.raw for a in res]
    gen_mod._prefill_rows = row_wise
    best = {k: min(v) for k, v in times.items()}
    same = len({json.dumps(a) for a in answers.values()}) == 1
    table = Table(title=f"{args.batch} analyses, best of {args.rounds}")
    for col in ("variant", "seconds", "s / log", "× one at a time"):
        table.add_column(col)
    for name, s in best.items():
        table.add_row(name, f"{s:.2f}", f"{s / args.batch:.2f}", f"{best['one at a time'] / s:.2f}")
    Console().print(table)
    print(f"identical answers across variants: {same}")
    write_json(args.out, {"provenance": provenance(),
                          "args": {k: str(v) for k, v in vars(args).items()}, "seconds": times, "best": best,
                          "identical_answers": same})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
