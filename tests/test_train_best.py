"""The best checkpoint and early stopping: the lowest-eval-loss step is kept beside the last, `save: best|last` picks
which one model/ is, and early stopping ends a run after `patience` evaluations without improvement."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from tests.train_helpers import make_cfg, write_dataset
from tunesmith.models.run_dir import META
from tunesmith.train import checkpoint as ck
from tunesmith.train import loop
from tunesmith.train.best import EvalWatch, resolve_patience
from tunesmith.train.loop import main


def test_eval_watch_exact():
    w = EvalWatch(patience=2, min_delta=0.02)
    seen = [(w.update(step, loss), w.stop) for step, loss in enumerate([1.0, 0.9, 0.95, 0.89], start=1)]
    # 0.89 is the new best (lowest) but not an improvement by more than 0.02: the second evaluation without one
    assert seen == [(True, False), (True, False), (False, False), (True, True)]
    assert (w.best_step, w.best_loss, w.bad_evals) == (4, 0.89, 2)
    rebuilt = EvalWatch.from_history([{"step": s, "eval_loss": v} for s, v in [(1, 1.0), (2, 0.9), (3, 0.95)]]
                                     + [{"step": 4, "loss": 0.1}], 2, 0.02)
    assert (rebuilt.best_step, rebuilt.bad_evals, rebuilt.stop) == (2, 1, False)


def test_patience_is_off_unless_configured(tmp_path):
    data = write_dataset(tmp_path / "d.jsonl")
    cfg = make_cfg("m", data, tmp_path / "r", epochs=2, max_steps=None)
    assert resolve_patience(cfg) is None
    assert resolve_patience(make_cfg("m", data, tmp_path / "r", early_stopping_patience=4)) == 4
    assert resolve_patience(make_cfg("m", data, tmp_path / "r", early_stopping_patience=0)) is None


@pytest.fixture()
def scripted_eval(monkeypatch):
    """validate() returns a scripted loss per step (steps logged one by one), so best and last steps are known."""
    losses = {}

    def fake_validate(s):
        step = (s.history[-1]["step"] if s.history else s.start_step) + 1
        return losses[step]

    monkeypatch.setattr(loop, "validate", fake_validate)
    return losses


def meta_step(d):
    return json.loads((d / META).read_text())["step"]


def test_save_best_makes_the_best_step_the_model_and_keeps_the_last(tiny_model_dir, tmp_path, scripted_eval):
    scripted_eval.update({1: 3.0, 2: 2.0, 3: 2.5, 4: 2.6})
    data = write_dataset(tmp_path / "d.jsonl")
    run = main(make_cfg(tiny_model_dir, data, tmp_path / "run", max_steps=4, eval_every=1, save_every=2,
                        keep_checkpoints=5))
    assert meta_step(run / "model") == 2 and meta_step(run / "last") == 4
    assert not (run / "best").exists()
    best = load_file(run / "model" / "adapter_model.safetensors")
    at_step_2 = load_file(ck.checkpoint_dir(run, 2) / ck.MODEL / "adapter_model.safetensors")
    last = load_file(run / "last" / "adapter_model.safetensors")
    assert all((best[k] == at_step_2[k]).all() for k in best)
    assert any((best[k] != last[k]).any() for k in best)
    assert "model/ is step 2, the lowest eval loss (2.0000)" in (run / "summary.md").read_text()
    assert "model/ is step 2" in (run / ck.RUN_LOG).read_text()


def test_save_last_keeps_the_best_beside(tiny_model_dir, tmp_path, scripted_eval):
    scripted_eval.update({1: 3.0, 2: 2.0, 3: 2.5, 4: 2.6})
    data = write_dataset(tmp_path / "d.jsonl")
    run = main(make_cfg(tiny_model_dir, data, tmp_path / "run", max_steps=4, eval_every=1, save="last"))
    assert meta_step(run / "model") == 4 and meta_step(run / "best") == 2
    assert json.loads((run / "best" / META).read_text())["eval_loss"] == 2.0
    assert not (run / "last").exists()


def test_early_stopping_ends_the_run(tiny_model_dir, tmp_path, scripted_eval):
    scripted_eval.update({1: 3.0, 2: 2.0, 3: 1.995, 4: 2.6, 5: 1.0, 6: 0.5, 7: 0.4, 8: 0.3})
    data = write_dataset(tmp_path / "d.jsonl")
    run = main(make_cfg(tiny_model_dir, data, tmp_path / "run", max_steps=8, eval_every=1,
                        early_stopping_patience=2, early_stopping_min_delta=0.01))
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # 3 (by less than min_delta) and 4 did not improve
    assert "early stop at step 4/8" in (run / ck.RUN_LOG).read_text()
    assert "4 of 8 (early stop" in (run / "summary.md").read_text()
    assert meta_step(run / "model") == 3  # the lowest loss, even though not by min_delta


def test_no_eval_split_means_the_last_step(tiny_model_dir, tmp_path):
    data = write_dataset(tmp_path / "d.jsonl")
    run = main(make_cfg(tiny_model_dir, data, tmp_path / "run", max_steps=2, eval_fraction=0.0))
    assert meta_step(run / "model") == 2 and not (run / "best").exists() and not (run / "last").exists()


def test_resume_keeps_the_best_step(tiny_model_dir, tmp_path, scripted_eval):
    scripted_eval.update({1: 3.0, 2: 2.0, 3: 2.5, 4: 2.6, 5: 2.7, 6: 2.8})
    data = write_dataset(tmp_path / "d.jsonl")
    cfg = make_cfg(tiny_model_dir, data, tmp_path / "run", max_steps=6, eval_every=1, save_every=3)
    s = loop.setup(cfg, loop.prepare_run_dir(cfg, False, False))
    s.total_steps = 4  # interrupted after step 4; the checkpoint is step 3
    loop.fit(s)
    assert meta_step(tmp_path / "run" / "best") == 2
    run = main(cfg, resume=True)
    assert meta_step(run / "model") == 2 and meta_step(run / "last") == 6
