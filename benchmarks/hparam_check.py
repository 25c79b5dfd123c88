"""Are tunesmith's default LoRA learning rate and rank right for a recipe? Runs that differ only in lr or rank, judged
on the EVAL split only.

Each run is `tunesmith train RECIPE/config.yaml --set lr=X [--set lora_r=R --set lora_alpha=2R] --set output_dir=RUN`,
then `tunesmith eval --run RUN --data EVAL.jsonl --no-semantic` (writes RUN/eval/metrics.json). This script gathers each
run's eval-loss curve, the step its model/ holds and its eval-split field scores into one JSON and prints a table.
The test split plays no part: a check that read it would tune the recipe on the figures it reports.

    python benchmarks/hparam_check.py RUN... --out examples/tickets/hparam_check.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import yaml


def defaults(method: str = "lora") -> dict:
    """tunesmith's defaults today for the settings checked (from the config schema, so they cannot drift)."""
    from tunesmith.train.config import TrainConfig
    from tunesmith.train.methods import resolve_lr

    fields = TrainConfig.model_fields
    return {"lr": resolve_lr(fields["lr"].default, method)[0], "lora_r": fields["lora_r"].default,
            "lora_alpha": fields["lora_alpha"].default}


def summarise(run: Path) -> dict:
    from tunesmith.train.methods import resolve_lr

    cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    curve = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    evals = [(r["step"], r["eval_loss"]) for r in curve if "eval_loss" in r]
    if not evals:
        raise SystemExit(f"error: {run / 'metrics.jsonl'}: no eval_loss recorded (train with an eval_file)")
    best_step, best_loss = min(evals, key=lambda e: e[1])
    model = json.loads((run / "model" / "tunesmith.json").read_text())
    metrics_path = run / "eval" / "metrics.json"
    if not metrics_path.is_file():
        raise SystemExit(f"error: {metrics_path}: missing (run `tunesmith eval --run {run} --data EVAL.jsonl`)")
    m = json.loads(metrics_path.read_text())
    return {
        "run": str(run), "method": cfg["method"], "lr": resolve_lr(cfg["lr"], cfg["method"])[0],
        "lora_r": cfg["lora_r"], "lora_alpha": cfg["lora_alpha"], "steps": curve[-1]["step"],
        "eval_loss": {"first": evals[0][1], "best": best_loss, "best_step": best_step, "last": evals[-1][1]},
        "model_step": model.get("step"),
        "eval_split": {"n": m["n"], "score": m["field_acc"], "format_valid": m["format_valid"],
                       "fields": {k.split(":", 1)[1]: v for k, v in m.items() if k.startswith("field:")}},
    }


def _figures():
    """scripts/figures.py, whose block renders the README tables: the script prints the same table, not a near-copy."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "figures.py"
    spec = importlib.util.spec_from_file_location("figures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--recipe", help="what the runs train, in words (goes into the JSON; kept with --append)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--append", action="store_true", help="keep the rows already in --out (runs made earlier, whose "
                    "dirs may be gone) and add these runs; a run already there is replaced")
    ap.add_argument("--reference", type=Path, help="the run the others are read against (default: the one with "
                    "tunesmith's default lr and rank today)")
    args = ap.parse_args(argv)
    for run in args.runs:
        if not (run / "config.yaml").is_file():
            print(f"error: {run}: not a run dir (no config.yaml)", file=sys.stderr)
            return 2
    new = [summarise(r) for r in args.runs]
    dflt = defaults(new[0]["method"])
    old = json.loads(args.out.read_text(encoding="utf-8")) if args.append and args.out.is_file() else None
    if old:
        new += [r for r in old["runs"] if r["run"] not in {n["run"] for n in new}]
    rows = sorted(new, key=lambda r: (r["lora_r"], r["lr"]))
    ref = str(args.reference) if args.reference else old["reference"] if old else next(
        (r["run"] for r in rows if r["lr"] == dflt["lr"] and r["lora_r"] == dflt["lora_r"]), None)
    if ref not in {r["run"] for r in rows}:
        print("error: no reference run: pass --reference RUN, or include a run with the default lr and rank",
              file=sys.stderr)
        return 2
    recipe = args.recipe or (old or {}).get("recipe")
    if not recipe:
        print("error: --recipe is required (what the runs train, in words)", file=sys.stderr)
        return 2
    d = {"recipe": recipe,
         "judged_on": "eval split (eval loss of each run's curve; field exact match of model/ on the eval file)",
         "defaults_when_written": dflt, "reference": ref, "runs": rows}
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(d, indent=2) + "\n", encoding="utf-8")
    tmp.replace(args.out)
    print(_figures().hparam_table(args.out.parent, args.out.name))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
