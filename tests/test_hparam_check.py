"""benchmarks/hparam_check.py gathers runs that differ in lr or rank into one JSON judged on the eval split: each row
holds the run's own config, eval-loss curve, the step its model/ holds and `tunesmith eval`'s field scores; a run not
yet evaluated is refused by name, and the reference is the run with tunesmith's default lr and rank."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from train_helpers import make_cfg
from tunesmith.cli import app
from tunesmith.train.loop import main

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("hparam_check", ROOT / "benchmarks" / "hparam_check.py")
hparam_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hparam_check)


def _task(path: Path, n: int, start: int = 0) -> Path:
    with path.open("w") as f:
        for i in range(start, start + n):
            pkg = ("numpy", "flask")[i % 2]
            f.write(json.dumps({"input": f"module {pkg} not found ({i})", "output": f"Category: deps\nFix: add {pkg}"})
                    + "\n")
    return path


@pytest.fixture(scope="module")
def runs(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("hparams")
    train, held = _task(root / "train.jsonl", 16), _task(root / "eval.jsonl", 4, start=100)
    out = {}
    for name, kw in {"default": {"lr": "auto"}, "r4": {"lora_r": 4, "lora_alpha": 8, "lr": 0.0004}}.items():
        main(make_cfg(tiny_model_dir, train, root / name, eval_file=held, max_steps=4, eval_every=2, **kw))
        r = CliRunner().invoke(app, ["eval", "--run", str(root / name), "--data", str(held), "--no-semantic",
                                     "--max-new-tokens", "8"])
        assert r.exit_code == 0, r.output
        out[name] = root / name
    return root, held, out


def test_gathers_each_runs_curve_model_step_and_eval_scores(runs, capsys):
    root, _, rs = runs
    out = root / "check.json"
    assert hparam_check.main([*map(str, rs.values()), "--recipe", "toy", "--out", str(out)]) == 0
    printed = capsys.readouterr().out  # the README block's own table, from the JSON just written
    assert "| lr | rank | steps |" in printed and "| 0.0004 | 4, alpha 8 |" in printed
    d = json.loads(out.read_text())
    assert d["defaults_when_written"] == hparam_check.defaults()
    assert d["reference"] == str(rs["default"])
    by_run = {r["run"]: r for r in d["runs"]}
    assert by_run[str(rs["default"])]["lr"] == 4e-4  # lr: auto, as the optimizer ran it
    r4 = by_run[str(rs["r4"])]
    assert (r4["lora_r"], r4["lora_alpha"], r4["lr"], r4["steps"]) == (4, 8, 0.0004, 4)
    assert set(r4["eval_split"]["fields"]) == {"category", "fix"}
    metrics = json.loads((rs["r4"] / "eval" / "metrics.json").read_text())
    assert r4["eval_split"]["score"] == metrics["field_acc"]
    curve = [json.loads(x) for x in (rs["r4"] / "metrics.jsonl").read_text().splitlines()]
    assert r4["eval_loss"]["best"] == min(x["eval_loss"] for x in curve if "eval_loss" in x)


def test_a_run_not_evaluated_is_refused_by_name(runs, tmp_path):
    _, _, rs = runs
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in ("config.yaml", "metrics.jsonl"):
        (bare / f).write_bytes((rs["r4"] / f).read_bytes())
    (bare / "model").mkdir()
    (bare / "model" / "tunesmith.json").write_bytes((rs["r4"] / "model" / "tunesmith.json").read_bytes())
    with pytest.raises(SystemExit, match=r"bare/eval/metrics.json: missing"):
        hparam_check.main([str(bare), "--recipe", "toy", "--out", str(tmp_path / "x.json")])
    assert not (tmp_path / "x.json").exists()


def test_without_a_reference_run_it_says_so(runs, tmp_path, capsys):
    _, _, rs = runs
    assert hparam_check.main([str(rs["r4"]), "--recipe", "toy", "--out", str(tmp_path / "x.json")]) == 2
    assert "no reference run" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_append_keeps_earlier_rows_and_replaces_a_rerun(runs, tmp_path):
    _, _, rs = runs
    out = tmp_path / "check.json"
    assert hparam_check.main([str(rs["default"]), "--recipe", "toy", "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    d["runs"][0]["run"] = "runs/gone"  # a run made earlier whose dir no longer exists
    d["reference"] = "runs/gone"
    out.write_text(json.dumps(d))
    assert hparam_check.main([str(rs["r4"]), str(rs["default"]), "--append", "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert sorted(r["run"] for r in d["runs"]) == sorted(["runs/gone", str(rs["r4"]), str(rs["default"])])
    assert d["reference"] == "runs/gone" and d["recipe"] == "toy"
    assert hparam_check.main([str(rs["r4"]), "--append", "--out", str(out)]) == 0
    assert len(json.loads(out.read_text())["runs"]) == 3  # r4 again: replaced, not added twice
