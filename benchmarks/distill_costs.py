"""Choose the distiller's ranking constants on dev, and say how well the choice carries to languages it did not see.

Every grid point (a value for each constant named) is scored on the dev split: LogChunks full recall over the chunks
that fit the budget, LogChunks mean line recall, CiDiff error-line recall (as benchmarks/distill_recall.py defines
them), and BugSwarm evidence: the share of labelled BugSwarm dev logs whose excerpt still holds a line naming the
failure of their category (the line the training corpus quotes, examples/ci-failures/real_cases.py), which is what the
analyzer needs from an excerpt. Then a leave-languages-out check: the languages (CiDiff and BugSwarm count as one each)
are dealt into 5 folds; for each fold the point with the best sum of the four on the other folds is scored on it. The chosen points and the pooled held-out
figures say whether the choice is a property of CI logs or of the dev repositories. The LogChunks split is by
repository, so the test split's languages are partly new: this is the check that matters for it.

Only constants read at ranking time (`_priorities`, `_pack`) can be swept: the log is read once per case.

    python benchmarks/distill_costs.py --grid COST_BEFORE=1,0.7,0.5,0.3 COST_AFTER=0.6,0.4,0.3,0.2,0.1
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import random
import statistics
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from tunesmith.atomic import write_json
from tunesmith.logs import distill as D

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "examples" / "ci-failures"))
import real_cases
from distill_recall import (
    chunk_lines,
    chunk_recall,
    cidiff_error_lines,
    error_line_recall,
    load_counter,
)
from _provenance import provenance  # noqa: E402

RANKING_CONSTANTS = {"CUE_SCALE", "IN_FAILING_STEP", "AFTER_FAILING_STEP", "RECENCY", "COST_BEFORE", "COST_AFTER",
                     "FIRST_COST_AFTER", "COST_BEFORE_END", "TAIL_PRIORITY", "TAIL_COST", "RARITY", "LONG_LINE_TOKENS",
                     "LONG_LINE_COST",
                     "PASS_PENALTY", "BLANK_PENALTY"}


def dev_cases(root: Path, split: str) -> list[dict]:
    """Each dev case read once: the distiller's collected regions plus what recall is scored against."""
    cases = []
    skipped: dict[str, int] = {}
    for case in track(list(real_cases.bugswarm_dev(root, skipped)), description="BugSwarm dev"):
        notes: list[str] = []
        cases.append({"kind": "bugswarm", "group": "bugswarm", "category": case.category,
                      "collected": D._collect(case.log_path, notes), "notes": notes})
    lc = root / "logchunks"
    sp = json.loads((lc / "split.json").read_text())
    recs = [json.loads(x) for x in (lc / "logchunks.jsonl").read_text().splitlines()]
    for r in track([r for r in recs if sp[r["id"]] == split], description=f"LogChunks {split}"):
        notes: list[str] = []
        cases.append({"kind": "logchunks", "group": r["language"], "chunk": r["failure_chunk"],
                      "collected": D._collect(lc / r["log_file"], notes), "notes": notes})
    cd = root / "cidiff_breakages"
    sp = json.loads((cd / "split.json").read_text())
    for case in track([c for c, s in sorted(sp.items()) if s == split], description=f"CiDiff {split}"):
        d = cd / case
        if want := cidiff_error_lines(d):
            notes = []
            cases.append({"kind": "cidiff", "group": "cidiff", "want": want,
                          "collected": D._collect(d / "fail.log.gz", notes), "notes": notes})
    return cases


def recall(case: dict, budget: int, count) -> float:
    regions, tail, failing, seen, total = case["collected"]
    ex = D._pack(D._priorities(regions, tail, failing, seen), regions, total, budget, count, list(case["notes"]), True)
    if case["kind"] == "logchunks":
        return chunk_recall(case["chunk"], ex.lines)
    if case["kind"] == "bugswarm":
        return float(real_cases._evidence([t for _, t in ex.lines], case["category"]) is not None)
    return error_line_recall(case["want"], ex.lines)


def figures(cases: list[dict], recalls: list[float], fits: list[bool]) -> dict:
    lc = [(r, f) for c, r, f in zip(cases, recalls, fits) if c["kind"] == "logchunks"]
    cd = [r for c, r in zip(cases, recalls) if c["kind"] == "cidiff"]
    bs = [r for c, r in zip(cases, recalls) if c["kind"] == "bugswarm"]
    fitting = [r for r, f in lc if f]
    return {"logchunks_full": sum(r == 1.0 for r in fitting) / max(len(fitting), 1),
            "logchunks_line": statistics.fmean(r for r, _ in lc) if lc else 0.0,
            "cidiff_line": statistics.fmean(cd) if cd else 0.0,
            "bugswarm_evidence": statistics.fmean(bs) if bs else 0.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared" / "data" / "ci-logs")
    ap.add_argument("--budget", type=int, default=1024)
    ap.add_argument("--grid", nargs="+", required=True, help="NAME=v1,v2,... for ranking constants of distill.py")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "distill_costs.json")
    args = ap.parse_args(argv)
    axes: dict[str, list[float]] = {}
    for spec in args.grid:
        name, _, values = spec.partition("=")
        if name not in RANKING_CONSTANTS or not values:
            ap.error(f"--grid {spec!r}: give NAME=v1,v2 with NAME one of {', '.join(sorted(RANKING_CONSTANTS))}")
        axes[name] = [float(v) for v in values.split(",")]
    if not (args.shared / "logchunks").exists():
        print(f"error: no LogChunks data under {args.shared}", file=sys.stderr)
        return 2
    count = functools.cache(load_counter())  # every grid point counts the same lines again

    cases = dev_cases(args.shared, "dev")
    fits = [c["kind"] != "logchunks" or count("\n".join(chunk_lines(c["chunk"]))) <= args.budget for c in cases]
    shipped = {name: getattr(D, name) for name in axes}
    points = [dict(zip(axes, values)) for values in itertools.product(*axes.values())]
    per_point: list[list[float]] = []
    try:
        for point in track(points, description="grid"):
            for name, value in point.items():
                setattr(D, name, value)
            per_point.append([recall(c, args.budget, count) for c in cases])
    finally:
        for name, value in shipped.items():
            setattr(D, name, value)

    groups = sorted({c["group"] for c in cases})
    random.Random(args.seed).shuffle(groups)
    fold_of = {g: i % args.folds for i, g in enumerate(groups)}
    held_out = [0.0] * len(cases)
    chosen = []
    for fold in range(args.folds):
        train = [i for i, c in enumerate(cases) if fold_of[c["group"]] != fold]
        train_cases, train_fits = [cases[i] for i in train], [fits[i] for i in train]
        best = max(range(len(points)),
                   key=lambda k: sum(figures(train_cases, [per_point[k][i] for i in train], train_fits).values()))
        chosen.append(points[best])
        for i, c in enumerate(cases):
            if fold_of[c["group"]] == fold:
                held_out[i] = per_point[best][i]

    table = Table(title=f"Distiller ranking constants on dev (budget {args.budget}); shipped: {shipped}")
    for col in [*axes, "LogChunks full", "LogChunks line", "CiDiff line", "BugSwarm evidence"]:
        table.add_column(col)
    rows = []
    for point, recalls in zip(points, per_point):
        fig = figures(cases, recalls, fits)
        rows.append({"point": point, **fig})
        table.add_row(*(f"{v:g}" for v in point.values()), *(f"{v:.3f}" for v in fig.values()))
    con = Console()
    con.print(table)
    pooled = figures(cases, held_out, fits)
    con.print(f"Leave-languages-out ({args.folds} folds of {len(groups)} groups): chosen per fold {chosen}; "
              f"held-out figures {', '.join(f'{k} {v:.3f}' for k, v in pooled.items())}")
    write_json(args.out, {"provenance": provenance(),
                          "budget": args.budget, "shipped": shipped, "grid": rows, "folds": args.folds,
                            "chosen_per_fold": chosen, "leave_languages_out": pooled})
    con.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
