"""`--resume` checks the config and inputs against the checkpoint's: a change that alters the run is refused with the
keys that differ, a change that keeps it exact passes (and is logged), `--allow-config-change` overrides (and is logged)."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from tests.train_helpers import make_cfg, write_dataset
from tunesmith.cli import app
from tunesmith.train import checkpoint as ck
from tunesmith.train.loop import TrainingError, main
from tunesmith.train.resume import model_fingerprint

runner = CliRunner()
SAME = dict(max_steps=4, save_every=2, eval_every=2)  # the template run's settings


@pytest.fixture(scope="module")
def template(tiny_model_dir, tmp_path_factory):
    """A run stopped after step 2 of 4 (its checkpoint), trained once and copied by each test."""
    root = tmp_path_factory.mktemp("resume_template")
    data = write_dataset(root / "train.jsonl")
    run = main(make_cfg(tiny_model_dir, data, root / "run", max_steps=4, save_every=2, eval_every=2))
    shutil.rmtree(run / ck.MODEL)  # as if killed after the checkpoint at step 2
    return root


@pytest.fixture()
def run_copy(template, tmp_path):
    shutil.copytree(template, tmp_path / "t")
    return tmp_path / "t" / "train.jsonl", tmp_path / "t" / "run"


@pytest.mark.parametrize("change, key", [
    ({"seed": 7}, "seed"),
    ({"batch_size": 2}, "batch_size"),
    ({"grad_accum": 2}, "grad_accum"),
    ({"batching": "random"}, "batching"),
    ({"max_steps": 5}, "max_steps"),
    ({"lr": 1e-3}, "lr"),
])
def test_a_changed_key_is_refused_and_named(tiny_model_dir, run_copy, change, key):
    data, run = run_copy
    with pytest.raises(TrainingError) as e:
        main(make_cfg(tiny_model_dir, data, run, **{**SAME, **change}), resume=True)
    msg = str(e.value)
    assert f"{key}:" in msg and "--allow-config-change" in msg and "step-000002" in msg
    assert not (run / ck.MODEL).exists()  # refused before training


def test_changed_data_content_is_refused(tiny_model_dir, run_copy):
    data, run = run_copy
    with data.open("a") as f:
        f.write('{"input": "one more", "output": "example"}\n')
    with pytest.raises(TrainingError, match="train_file: content changed"):
        main(make_cfg(tiny_model_dir, data, run, max_steps=4, save_every=2, eval_every=2), resume=True)


def test_another_model_is_refused(tiny_model_dir, run_copy, tmp_path):
    from tests.conftest import build_tiny_model, build_tiny_tokenizer

    other = tmp_path / "other_model"
    build_tiny_model(other, build_tiny_tokenizer(other), seed=1)  # same architecture and sizes, other weights
    assert model_fingerprint(str(other)) != model_fingerprint(str(tiny_model_dir))
    data, run = run_copy
    with pytest.raises(TrainingError, match="model: content changed"):
        main(make_cfg(other, data, run, max_steps=4, save_every=2, eval_every=2), resume=True)


def test_exact_changes_resume_and_are_logged(tiny_model_dir, run_copy, tmp_path):
    data, run = run_copy
    moved = shutil.copy(data, tmp_path / "moved.jsonl")  # same content at another path
    cfg = make_cfg(tiny_model_dir, moved, run, max_steps=4, save_every=2, eval_every=2, log_every=2, keep_checkpoints=3)
    main(cfg, resume=True)
    log = (run / ck.RUN_LOG).read_text()
    assert "log_every: 1 → 2 (keeps the run exact)" in log
    assert "keep_checkpoints: 2 → 3 (keeps the run exact)" in log
    assert "train_file:" in log and "(same content)" in log
    assert "log_every: 2" in (run / "config.yaml").read_text()


def test_override_resumes_and_is_logged(tiny_model_dir, run_copy):
    data, run = run_copy
    main(make_cfg(tiny_model_dir, data, run, max_steps=4, save_every=2, eval_every=2, seed=7), resume=True,
         allow_config_change=True)
    log = (run / ck.RUN_LOG).read_text()
    assert "seed: 42 → 7 (run no longer exact; allowed by --allow-config-change)" in log
    assert (run / ck.MODEL / "adapter_model.safetensors").exists()


def test_cli_refuses_then_allows(tiny_model_dir, run_copy):
    data, run = run_copy
    args = ["train", "--resume"] + [a for kv in [f"model={tiny_model_dir}", f"train_file={data}", f"output_dir={run}",
                                                 "max_seq_len=64", "lr=5e-3", "max_steps=4", "save_every=2",
                                                 "eval_every=2", "lora_dropout=0.1", "precision=fp32", "seed=3"]
                                    for a in ("--set", kv)]
    r = runner.invoke(app, args)
    assert r.exit_code == 1 and "seed: 42 → 3" in r.output
    r = runner.invoke(app, args + ["--allow-config-change"])
    assert r.exit_code == 0, r.output
    assert "allowed by --allow-config-change" in (run / ck.RUN_LOG).read_text()
