"""`tunesmith compare` checks its own premises on real runs: the tiny random llama trained on one task for 12 steps
(stopped early: eval loss still falling) is called undertrained, in the terminal, in the advice and in report.json;
the same task trained to convergence (60 steps) is not."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from train_helpers import make_cfg
from tunesmith.cli import app
from tunesmith.evaluate import cli as evaluate_cli
from tunesmith.train.loop import main


class _Letters:
    """Letter counts as an embedding: keeps the test in seconds (MiniLM's import and load take 5-15 s here)."""

    def encode(self, texts):
        return np.array([[t.lower().count(c) + 1e-3 for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts])


def _task(path, n: int, start: int = 0):
    """A task the tiny model learns in about 30 full fine-tuning steps: one fixed answer to a varied input."""
    with path.open("w") as f:
        for i in range(start, start + n):
            pkg = ("numpy", "flask")[i % 2]
            f.write(json.dumps({"input": f"error: module {pkg} not found (build {i})", "output": "Fix: add it"}) + "\n")
    return path


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("premises")
    return root, _task(root / "train.jsonl", 20), _task(root / "eval.jsonl", 4, start=100)


def _train(tiny_model_dir, task, steps: int):
    root, train, held = task
    # eval_every: auto evaluates every ceil(steps / 10) steps; max_steps leaves early stopping off.
    cfg = make_cfg(tiny_model_dir, train, root / f"run{steps}", method="full", lr=0.005, max_steps=steps,
                   eval_every="auto", eval_file=held)
    return main(cfg)


def _compare(run, task, monkeypatch):
    root, train, held = task
    monkeypatch.setattr(evaluate_cli, "_embedder", _Letters)
    res = CliRunner().invoke(app, ["compare", "--run", str(run), "--train", str(train), "--eval", str(held),
                                   "--k", "2", "--max-new-tokens", "16", "--no-forgetting"])
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split()), json.loads((run / "compare" / "report.json").read_text())["advice"]


def test_compare_says_a_run_stopped_early_is_undertrained(tiny_model_dir, task, monkeypatch):
    run = _train(tiny_model_dir, task, 12)
    evals = [r["eval_loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
             if "eval_loss" in r]
    assert len(evals) == 6 and evals[-1] < 0.95 * evals[2]  # steps 2, 4, …, 12; still falling since step 6
    output, advice = _compare(run, task, monkeypatch)
    assert "The fine-tuned model is likely undertrained: eval loss was still falling when training ended" in output
    note = next(n for n in advice["notes"] if n["rule"] == "undertrained")
    assert note["level"] == "warning" and "at step 6 →" in note["message"] and "at step 12" in note["message"]
    assert advice["premises"]["training"] == {"status": "undertrained", "model_step": 12}
    if advice["verdict"].startswith("don't fine-tune"):
        assert "(provisional: the fine-tuned model is undertrained" in advice["verdict"]


def test_compare_finds_no_training_problem_in_a_converged_run(tiny_model_dir, task, monkeypatch):
    run = _train(tiny_model_dir, task, 60)
    output, advice = _compare(run, task, monkeypatch)
    rules = {n["rule"] for n in advice["notes"]}
    assert not rules & {"undertrained", "overfit", "unstable", "training_unchecked"}, advice["notes"]
    assert advice["premises"]["training"]["status"] == "ok" and "undertrained" not in output
    assert "provisional" not in advice["verdict"]
