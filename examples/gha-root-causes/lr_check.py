"""Is tunesmith's default LoRA learning rate right for this recipe? Runs that differ only in lr, judged on EVAL only.

Each run is `tunesmith train examples/gha-root-causes/config.yaml --set lr=X --set output_dir=RUN`, then
`tunesmith eval --run RUN --data runs/gha-root-causes-data/eval.jsonl --no-semantic` (writes RUN/eval/metrics.json).
This script gathers each run's eval-loss curve, the step its model/ holds and its eval-split field accuracy into one
JSON. The test split plays no part. Usage: python examples/gha-root-causes/lr_check.py RUN... --out lr_check.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def summarise(run: Path) -> dict:
    cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    curve = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    evals = [(r["step"], r["eval_loss"]) for r in curve if "eval_loss" in r]
    best_step, best_loss = min(evals, key=lambda e: e[1])
    model = json.loads((run / "model" / "tunesmith.json").read_text())
    m = json.loads((run / "eval" / "metrics.json").read_text())
    return {
        "run": str(run), "lr": cfg["lr"], "lora_r": cfg["lora_r"], "steps": curve[-1]["step"],
        "eval_loss": {"first": evals[0][1], "best": best_loss, "best_step": best_step, "last": evals[-1][1]},
        "model_step": model.get("step"),
        "eval_split": {"n": m["n"], "score": m["field_acc"], "category": m["field:category"],
                       "sub-category": m["field:sub-category"], "format_valid": m["format_valid"]},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--default-lr", type=float, required=True, help="tunesmith's default lr (train --help-config)")
    ap.add_argument("--out", type=Path, default=HERE / "lr_check.json")
    args = ap.parse_args(argv)
    rows = sorted((summarise(r) for r in args.runs), key=lambda r: r["lr"])
    if args.default_lr not in {r["lr"] for r in rows}:
        print(f"error: no run has the default lr {args.default_lr}", file=sys.stderr)
        return 2
    d = {"judged_on": "eval split (eval loss of each run's curve; field exact match of model/ on eval.jsonl)",
         "default_lr": args.default_lr, "runs": rows}
    args.out.write_text(json.dumps(d, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
