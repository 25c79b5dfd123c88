"""benchmarks/gpu_check.py, the prepared device check, on the CPU (`--cpu`) with the tiny random model: every stage runs
and reports its numbers, QLoRA is reported as skipped, and without CUDA the GPU mode refuses in one line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _load():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return gpu_check


def test_without_cuda_the_gpu_mode_refuses_in_one_line(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # also where the suite runs on a GPU machine
    assert _load().main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no CUDA device" in err and "--cpu" in err


def test_plan_skips_qlora_only_on_the_cpu():
    check = _load()
    assert [name for name, skip in check.plan(False) if skip] == []
    skipped = {name: skip for name, skip in check.plan(True) if skip}
    assert set(skipped) == {"train-qlora", "generate-qlora"} and all("--cpu" in s for s in skipped.values())


@pytest.mark.slow
def test_cpu_check_runs_every_stage_on_a_tiny_model(tiny_model_dir, tmp_path):
    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--cpu", "--steps", "2", "--model", str(tiny_model_dir),
                           "--out", str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads(out.read_text())
    assert record["mode"] == "cpu" and record["provenance"]["git_revision"] and record["steps"] == 2
    stages = {s["stage"]: s for s in record["stages"]}
    assert [s["stage"] for s in record["stages"]] == ["train-lora", "train-qlora", "generate-lora", "generate-qlora",
                                                     "export-reload-lora"]
    train, gen, export = stages["train-lora"], stages["generate-lora"], stages["export-reload-lora"]
    assert train["status"] == "ok" and train["steps"] == 2 and train["precision"] == "fp32" and train["device"] == "cpu"
    assert train["train_tokens_per_s"] > 0 and train["peak_rss_mb"] > 0 and "peak_gpu_mb" not in train
    assert stages["train-qlora"]["status"] == "skipped" and stages["generate-qlora"]["status"] == "skipped"
    assert gen["status"] == "ok" and gen["new_tokens"] > 0 and gen["generate_tokens_per_s"] > 0
    assert len(gen["answers"]) == 4 and export["status"] == "ok" and export["format"] == "merged"
    assert re.fullmatch(r"[0-4]/4", export["same_answers_as_run"])  # the reloaded export answered the same prompts
    assert "all stages ok" in done.stdout and "train-lora" in done.stdout and "tokens/s" in done.stdout
