"""Output outside a terminal: progress lines every few seconds, and no library noise on a command's stderr."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from tunesmith.output import progress

ROOT = Path(__file__).resolve().parents[1]
NOISE = ("Warning", "warn(", "Failed to load", "Loading weights", "deprecated", "Traceback")


def test_long_work_off_a_terminal_prints_a_progress_line_every_few_seconds():
    buf = io.StringIO()
    with progress("generating", 3, console=Console(file=buf), every_s=0.05) as advance:
        time.sleep(0.3)  # a slow first batch: the timer still says the run is alive
        advance(1)
        time.sleep(0.3)
        advance(2)
    lines = buf.getvalue().splitlines()
    assert "generating: 0/3 (0%), 0 s" in lines
    assert any(re.fullmatch(r"generating: 1/3 \(33%\), 0 s, about 1 s left", line) for line in lines), lines
    assert lines[-1] == "generating: 3/3 done in 1 s"
    assert len(lines) >= 8  # about one every 0.05 s for 0.6 s


def test_quick_work_prints_no_progress_line():
    buf = io.StringIO()
    with progress("generating", 3, console=Console(file=buf), every_s=10) as advance:
        advance(3)
    assert buf.getvalue() == ""


def _noise(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if any(n in line for n in NOISE)]


def test_a_command_prints_no_library_noise(tmp_path, tiny_model_dir):
    """A LoRA run through PEFT (which imports bitsandbytes and reads a deprecated transformers property)."""
    from test_export_formats import make_run

    run = make_run(tmp_path / "run", tiny_model_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONWARNINGS", "HF_HUB_DISABLE"))}
    done = subprocess.run([sys.executable, "-m", "tunesmith", "generate", "error: module numpy not found", "--run",
                           str(run), "--max-new-tokens", "3"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _noise(done.stderr) == []


@pytest.mark.slow
def test_plain_analyze_prints_no_library_warning():
    done = subprocess.run([sys.executable, "-m", "tunesmith", "analyze", str(ROOT / "examples/ci-failures/sample.log")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert _noise(done.stderr) == [] and done.stdout.startswith("Category: ")


def test_one_long_call_off_a_terminal_prints_that_it_is_alive():
    buf = io.StringIO()
    with progress("analyzing the log", None, console=Console(file=buf), every_s=0.05):
        time.sleep(0.2)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "analyzing the log: 0 s" and lines[-1] == "analyzing the log: done in 0 s"


def test_train_help_config_piped_prints_whole_tab_separated_rows():
    # Piped, rich would fold the table at 80 columns and cut each description; the rows must arrive whole.
    from tunesmith.train.config import describe

    r = subprocess.run([sys.executable, "-m", "tunesmith", "train", "--help-config"], capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": "80"}, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "training config:"
    assert lines[1] == "key\tdefault\tdescription"
    rows = describe()
    assert lines[2:] == ["\t".join(row) for row in rows]
    assert max(len(line) for line in lines) > 80  # a description longer than the terminal width arrived whole


def test_train_message_piped_stays_on_one_line(tmp_path):
    # A CI log greps for the message: folded at 80 columns, the path it names would be cut in two.
    deep = tmp_path / ("a-folder-with-a-long-name-" * 3) / "config-that-is-not-there.yaml"
    r = subprocess.run([sys.executable, "-m", "tunesmith", "train", str(deep)], capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": "80"}, timeout=120)
    assert r.returncode != 0
    assert f"config not found: {deep}" in r.stdout.splitlines()


def test_training_progress_off_a_terminal_is_a_line_every_few_seconds_and_at_each_eval(monkeypatch):
    # rich's live bar draws nothing off a terminal until the end: a CI log must still show the run is alive.
    from tunesmith.train import progress as train_progress

    clock = [0.0]
    monkeypatch.setattr(train_progress.time, "monotonic", lambda: clock[0])
    out = io.StringIO()
    with train_progress.TrainProgress(100, console=Console(file=out), every_s=5.0) as bar:
        for step in range(1, 11):
            clock[0] += 1.0  # one step a second: a line every 5 steps
            bar.update(step, {"loss": 1.0 / step, "tokens_per_s": 300.0})
        clock[0] += 1.0
        bar.update(11, {"loss": 0.05, "tokens_per_s": 300.0, "eval_loss": 0.5})  # an evaluation: a line at once
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["train: step 5/100 (5%)", "train: step 10/100 (10%)",
                                                        "train: step 11/100 (11%)"]
    assert "eval 0.5000" in lines[2] and "ETA 0:01:29" in lines[2]  # 11 s for 11 steps, 89 to go


def test_batched_generation_prints_no_deprecation_notice(tmp_path, tiny_model_dir):
    # Two prompts take the row-wise prefill path, which reads the prefilled cache back from the model's output: by its
    # old name, transformers printed "`past_key_values`/`cache_params` are deprecated" into every compare and eval.
    from test_export_formats import make_run

    run = make_run(tmp_path / "run", tiny_model_dir)
    code = ("import tunesmith.quiet as q; q.quiet(); from tunesmith.models.generate import load_generator; "
            f"g = load_generator({str(run)!r}); print(len(g.generate(['a failing test', 'module numpy not found "
            "in the build step'], max_new_tokens=3)))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONWARNINGS", "HF_HUB_DISABLE"))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2" and _noise(done.stderr) == []


def test_plain_tqdm_bars_are_silent_off_a_terminal():
    # transformers' GGUF loader draws a plain tqdm bar ("Converting and de-quantizing GGUF tensors...") on export.
    code = ("import tunesmith.quiet as q; q.quiet(); from tqdm.auto import tqdm; "
            "print(sum(tqdm(range(3), desc='a-library-bar')))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TQDM_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3" and "a-library-bar" not in done.stderr
