"""README "Failure modes": a run dir or base model with a file missing is refused with a message that names it (exit
1, no traceback, no model-hub lookup). Kills, corrupt checkpoints and disk full are in test_crash_resume.py and
test_train.py; server overload (413/429/504) in test_serve_http.py."""

from __future__ import annotations

import shutil

import pytest
from train_helpers import make_cfg, write_dataset
from typer.testing import CliRunner

from tunesmith.cli import app


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    from tunesmith.train.loop import main

    base = tmp_path_factory.mktemp("fm")
    data = write_dataset(base / "train.jsonl", 16)
    return main(make_cfg(tiny_model_dir, data, base / "run", max_steps=1, eval_every=0, eval_fraction=0.0))


def _broken(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "model" / "adapter_model.safetensors").unlink()
    return run


def test_run_dir_missing_its_adapter_weights_is_refused_by_name(trained, tmp_path):
    import tunesmith

    run = _broken(trained, tmp_path)
    with pytest.raises(FileNotFoundError, match="adapter_model.safetensors"):
        tunesmith.load(run)
    log = tmp_path / "build.log"
    log.write_text("ERROR: build failed\nModuleNotFoundError: No module named 'x'\n")
    for args in (["generate", "--run", str(run), "hi"], ["analyze", "--no-kb", "--run", str(run), str(log)]):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 1, (args, r.output)
        assert "adapter_model.safetensors" in " ".join(r.output.split()) and "Traceback" not in r.output


def test_serve_refuses_a_run_dir_without_a_model(tmp_path):
    (tmp_path / "empty").mkdir()
    r = CliRunner().invoke(app, ["serve", "--run", str(tmp_path / "empty")])
    assert r.exit_code == 1 and "cannot load" in r.output, r.output


def test_missing_base_model_is_named(trained, tmp_path):
    import json

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    meta = run / "model" / "tunesmith.json"
    m = json.loads(meta.read_text())
    m["base_model"] = m["base_model_path"] = str(tmp_path / "deleted-base")  # the base model dir was removed
    meta.write_text(json.dumps(m))
    cfg = run / "model" / "adapter_config.json"
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "base_model_name_or_path": str(tmp_path / "deleted-base")}))
    r = CliRunner().invoke(app, ["generate", "--run", str(run), "hi"])
    assert r.exit_code == 1 and "deleted-base" in r.output and "Traceback" not in r.output, r.output
