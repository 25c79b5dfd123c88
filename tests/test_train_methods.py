"""PEFT methods by name: those tunesmith cannot train (prompt learning, AdaLoRA) are refused when the config is read,
before any model loads, with a message naming what is missing; another PEFT method by name trains end to end."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.train_helpers import make_cfg, write_dataset
from tunesmith.cli import app
from tunesmith.train.config import ConfigError, load_config

runner = CliRunner()

NEEDS = {"prompt_tuning": "num_virtual_tokens", "p_tuning": "encoder_hidden_size", "prefix_tuning": "num_virtual_tokens",
         "adalora": "total_step"}


@pytest.mark.parametrize("method", sorted(NEEDS))
def test_untrainable_method_is_refused_with_what_is_missing(tmp_path, method):
    data = write_dataset(tmp_path / "train.jsonl")
    with pytest.raises(ConfigError) as e:
        load_config(None, [f"train_file={data}", f"method={method}"])
    msg = str(e.value)
    assert f"method: Value error, method {method}" in msg and NEEDS[method] in msg and "Use lora" in msg


@pytest.mark.parametrize("method", sorted(NEEDS))
def test_cli_refuses_before_loading_the_model(tmp_path, method, monkeypatch):
    import tunesmith.models
    import tunesmith.models.loader

    def never(*a, **k):
        raise AssertionError("the model was loaded")

    for module in (tunesmith.models, tunesmith.models.loader):
        monkeypatch.setattr(module, "load_model", never)
    data = write_dataset(tmp_path / "train.jsonl")
    r = runner.invoke(app, ["train", "--set", f"train_file={data}", "--set", f"method={method}",
                            "--set", f"output_dir={tmp_path / 'run'}"])
    assert r.exit_code == 2, r.output
    assert NEEDS[method] in " ".join(r.output.split())
    assert not (tmp_path / "run").exists()


def test_another_peft_method_by_name_trains(tiny_model_dir, tmp_path):
    data = write_dataset(tmp_path / "train.jsonl")
    from tunesmith.train.loop import main

    run = main(make_cfg(tiny_model_dir, data, tmp_path / "run", method="loha", max_steps=2, eval_every=2))
    assert json.loads((run / "model" / "adapter_config.json").read_text())["peft_type"] == "LOHA"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2]
