"""`epochs: auto`: the number of passes from the data's size and length (OpenAI's n_epochs auto, counted in optimizer
steps), exact values per rule; the run log and summary say which length was chosen and why."""

from __future__ import annotations

import pytest

from tests.train_helpers import make_cfg, write_dataset
from tunesmith.train import checkpoint as ck
from tunesmith.train.best import AUTO_PATIENCE, resolve_patience
from tunesmith.train.loop import main, prepare_run_dir, setup
from tunesmith.train.plan import auto_epochs, auto_eval_every


@pytest.mark.parametrize("n, steps_per_epoch, tokens, epochs, words", [
    (300, 75, 45_000, 3, "the default for 300 examples"),  # tickets-sized: 225 steps
    (40, 10, 2_000, 12, "under the 120-step minimum"),  # small: 120 steps
    (8, 2, 400, 25, "capped at 25 epochs"),  # tiny: capped
    (10_000, 2_500, 1_000_000, 2, "cap of 25,000 examples seen"),
    (20_000, 5_000, 2_000_000, 1, "cap of 25,000 examples seen"),
    (2_000, 500, 4_000_000, 2, "capped at 10,000,000 tokens seen"),  # long examples: 3 epochs would be 12M tokens
])
def test_auto_epochs_rules(n, steps_per_epoch, tokens, epochs, words):
    got, why = auto_epochs(n, steps_per_epoch, tokens)
    assert got == epochs and words in why


def test_epochs_auto_is_the_default_and_numbers_still_load(tmp_path):
    data = write_dataset(tmp_path / "d.jsonl")
    from tunesmith.train.config import load_config

    assert load_config(None, [f"train_file={data}"]).epochs == "auto"
    assert load_config(None, [f"train_file={data}", "epochs=1.5"]).epochs == 1.5
    cfg = make_cfg("m", data, tmp_path / "r", max_steps=None)
    assert resolve_patience(cfg) == AUTO_PATIENCE  # auto length brings early stopping
    assert resolve_patience(make_cfg("m", data, tmp_path / "r")) is None  # max_steps set: off


def test_setup_chooses_and_logs_the_length(tiny_model_dir, tmp_path):
    data = write_dataset(tmp_path / "d.jsonl", n=40)
    cfg = make_cfg(tiny_model_dir, data, tmp_path / "run", max_steps=None, eval_fraction=0.0, batch_size=4)
    s = setup(cfg, prepare_run_dir(cfg, False, False))
    # 40 rows / 4 = 10 steps per epoch; 3 epochs = 30 < 120 → 12 epochs, 120 steps
    assert (s.plan.epochs, s.total_steps, s.plan.effective_batch) == (12, 120, 4)
    log = (tmp_path / "run" / ck.RUN_LOG).read_text()
    assert "length: 120 optimizer steps (12 epochs): epochs: auto chose 12: small set: 40 examples" in log


def test_numeric_epochs_keep_their_old_length(tiny_model_dir, tmp_path):
    data = write_dataset(tmp_path / "d.jsonl", n=40)
    cfg = make_cfg(tiny_model_dir, data, tmp_path / "run", max_steps=None, epochs=1.5, grad_accum=2, eval_fraction=0.0)
    s = setup(cfg, prepare_run_dir(cfg, False, False))
    assert s.total_steps == 7  # floor(1.5 × 10 micro-batches / 2)
    assert "epochs: 1.5 set in the config" in s.plan.why


def test_summary_says_the_length(tiny_model_dir, tmp_path):
    data = write_dataset(tmp_path / "d.jsonl")
    run = main(make_cfg(tiny_model_dir, data, tmp_path / "run", max_steps=2))
    summary = (run / "summary.md").read_text()
    assert "- length: 2 optimizer steps" in summary
    assert "- learning rate: lr 0.005 (set in the config), the peak" in summary
    assert "- chat template: the model's own" in summary
    assert "max_steps: 2 set in the config" in (run / ck.RUN_LOG).read_text()


@pytest.mark.parametrize("steps, every, evals", [
    (225, 23, 10),  # tickets (300 examples, 3 epochs): 23, 46, …, 207 and the last step
    (120, 12, 10),  # the minimum length: 12, 24, …, 120
    (101, 11, 10),  # 11, …, 99 and 101
    (30, 3, 10),
    (9, 1, 9),  # fewer than 10 steps: every step
    (1, 1, 1),
])
def test_auto_eval_every_makes_about_ten_evaluations(steps, every, evals):
    got, why = auto_eval_every(steps)
    assert got == every and f"auto chose {every}: {evals} evaluations in {steps} steps" in why


def test_eval_every_auto_is_the_default_and_fit_evaluates_on_it(tiny_model_dir, tmp_path):
    import json

    from tunesmith.train.config import load_config

    data = write_dataset(tmp_path / "d.jsonl", n=40)
    assert load_config(None, [f"train_file={data}"]).eval_every == "auto"
    assert load_config(None, [f"train_file={data}", "eval_every=50"]).eval_every == 50
    run = main(make_cfg(tiny_model_dir, data, tmp_path / "run", max_steps=25, eval_every="auto"))
    evals = [r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "eval_loss" in r]
    assert evals == [3, 6, 9, 12, 15, 18, 21, 24, 25]  # ceil(25 / 10) = 3, and the last step
    assert "eval_every: auto chose 3: 9 evaluations in 25 steps" in (run / ck.RUN_LOG).read_text()


@pytest.mark.parametrize("method, lr", [("lora", 4e-4), ("dora", 4e-4), ("qlora", 4e-4), ("full", 2e-4), ("ia3", 2e-4)])
def test_lr_auto_is_the_default_and_picks_by_method(tmp_path, method, lr):
    from tunesmith.train.config import load_config
    from tunesmith.train.methods import resolve_lr

    data = write_dataset(tmp_path / "d.jsonl")
    cfg = load_config(None, [f"train_file={data}", f"method={method}"])
    assert cfg.lr == "auto"
    got, why = resolve_lr(cfg.lr, cfg.method)
    assert got == lr and f"lr: auto chose {lr:g} for {method}" in why
    assert resolve_lr(load_config(None, [f"train_file={data}", "lr=1e-5"]).lr, method) == (1e-5, "lr 1e-05 (set in the config)")


def test_lr_auto_reaches_the_optimizer_and_the_run_log(tiny_model_dir, tmp_path):
    import json

    data = write_dataset(tmp_path / "d.jsonl")

    def lrs(name: str, lr) -> list[float]:
        run = main(make_cfg(tiny_model_dir, data, tmp_path / name, max_steps=3, lr=lr))
        return [json.loads(x)["lr"] for x in (run / "metrics.jsonl").read_text().splitlines()]

    auto = lrs("auto", "auto")
    assert auto == lrs("explicit", 4e-4) and auto != lrs("old", 2e-4)
    log = (tmp_path / "auto" / ck.RUN_LOG).read_text()
    assert "lr: auto chose 0.0004 for lora (checked on the example recipes), the peak" in log
