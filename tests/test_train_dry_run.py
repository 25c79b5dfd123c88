"""`tunesmith train --dry-run`: the plan and a measured time estimate, no training, nothing written to output_dir."""

from __future__ import annotations

from typer.testing import CliRunner

from tests.train_helpers import make_cfg, write_dataset
from tunesmith.cli import app
from tunesmith.train.dryrun import count_evals, dry_run

runner = CliRunner()


def test_count_evals_matches_fit():
    assert count_evals(120, 50, True) == 3  # 50, 100 and the last step
    assert count_evals(100, 50, True) == 2  # the last step is an eval_every step
    assert count_evals(7, 0, True) == 1 and count_evals(7, 3, False) == 0


def test_dry_run_plans_measures_and_writes_nothing(tiny_model_dir, tmp_path):
    data = write_dataset(tmp_path / "d.jsonl", n=40)
    out = tmp_path / "run"
    cfg = make_cfg(tiny_model_dir, data, out, max_steps=None, batch_size=4, grad_accum=2, eval_every=10)
    plan, est = dry_run(cfg)
    # 36 train rows (4 held out) / 4 = 9 micro-batches, 4.5 steps per epoch; 3 epochs = 13 < 120 → 27 → capped 25
    assert (plan.train_examples, plan.eval_examples, plan.effective_batch) == (36, 4, 8)
    assert (plan.epochs, plan.total_steps) == (25, 112)
    assert est.timed_steps == 3 and est.tokens_per_s > 0 and est.evals == 12  # 10, 20, …, 110 and 112
    assert est.train_s > 0 and est.eval_s > 0
    assert not out.exists()


def test_cli_dry_run_prints_the_plan(tiny_model_dir, tmp_path):
    data = write_dataset(tmp_path / "d.jsonl", n=40)
    out = tmp_path / "run"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"model: {tiny_model_dir}\ntrain_file: {data}\noutput_dir: {out}\nmax_seq_len: 64\nprecision: fp32\n")
    r = runner.invoke(app, ["train", str(cfg), "--dry-run"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    for words in ("36 train, 4 eval", "tokens per epoch", "effective batch", "epochs", "epochs: auto chose",
                  "learning rate lr: auto chose 0.0004 for lora", "optimizer steps", "training tokens/s over 3 steps", "time estimate", "nothing written"):
        assert words in text, words
    # 36 rows / 4 = 9 steps per epoch, 14 epochs = 126 steps; eval_every: auto → ceil(126 / 10) = 13, 10 evaluations
    assert "evaluations 10 (eval_every 13 and at the end, chosen by eval_every: auto)" in text
    assert not out.exists()
