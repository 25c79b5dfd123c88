"""Crash and resume: a training run killed with SIGKILL at random steps and resumed each time ends with the same bits
as a run that was never interrupted; a checkpoint cut off mid-write is never loaded.

The kill test runs `python -m tunesmith train` in a subprocess on the tiny random llama (fp32 on CPU: every kernel is
deterministic, so the comparison is bitwise, no tolerance), kills it when the checkpoint of a randomly drawn step
appears (so the kill lands wherever the run happens to be: mid-step, mid-checkpoint, mid-metrics line, mid-best/),
and resumes with `--resume` until it finishes.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from train_helpers import make_cfg, write_dataset

from tunesmith.train import checkpoint as ck
from tunesmith.train.loop import TrainingError, fit, main, prepare_run_dir, save, setup

STEPS = 24


def _write_cfg(path: Path, model: Path, data: Path, out: Path) -> Path:
    # save_every 1: a checkpoint per step, so a kill can land in any part of a step or of a checkpoint write;
    # an eval split with eval_every 4: best/ is written during the run and model/ is the best step (save: best).
    path.write_text(
        f"model: {model}\ntrain_file: {data}\noutput_dir: {out}\nmax_seq_len: 64\nbatch_size: 4\nlr: 0.005\n"
        f"max_steps: {STEPS}\neval_every: 4\nsave_every: 1\nkeep_checkpoints: 2\nlora_dropout: 0.1\nprecision: fp32\n"
        "grad_accum: 2\nlog_every: 1\n")
    return path


def _train(cfg: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TQDM_DISABLE": "1"}
    return subprocess.Popen([sys.executable, "-m", "tunesmith", "train", str(cfg), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)


def _newest_step(run: Path) -> int:
    root = run / ck.CHECKPOINTS
    try:
        names = [p.name for p in root.iterdir() if p.name.startswith("step-")]
    except FileNotFoundError:
        return 0
    return max((int(n[5:]) for n in names), default=0)


def _kill_at(proc: subprocess.Popen, run: Path, step: int, extra_delay: float) -> None:
    """SIGKILL the run once the checkpoint dir of `step` has appeared, `extra_delay` seconds later."""
    deadline = time.monotonic() + 300
    while _newest_step(run) < step:
        if proc.poll() is not None:
            out = proc.stdout.read()
            pytest.fail(f"the run ended (exit {proc.returncode}) before step {step} was reached:\n{out}")
        assert time.monotonic() < deadline, "the run made no progress for 5 minutes"
        time.sleep(0.002)
    time.sleep(extra_delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.read()


def _digests(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())
            if p.suffix == ".safetensors"}


@pytest.mark.slow
def test_sigkill_at_random_steps_then_resume_is_bitwise_equal(tiny_model_dir, tmp_path):
    data = write_dataset(tmp_path / "train.jsonl", 40)
    ref = _train(_write_cfg(tmp_path / "ref.yaml", tiny_model_dir, data, tmp_path / "ref"))
    out, _ = ref.communicate(timeout=600)
    assert ref.returncode == 0, out

    run = tmp_path / "run"
    cfg = _write_cfg(tmp_path / "cfg.yaml", tiny_model_dir, data, run)
    rng = random.Random(int(os.environ.get("TUNESMITH_CRASH_SEED", "18")))
    # Three kills at increasing random steps, each a random 0-60 ms after that step's checkpoint appeared.
    kills = sorted(rng.sample(range(2, STEPS - 2), 3))
    for i, step in enumerate(kills):
        proc = _train(cfg, *(["--resume"] if i else []))
        _kill_at(proc, run, step, rng.uniform(0, 0.06))
    final = _train(cfg, "--resume")
    out, _ = final.communicate(timeout=600)
    assert final.returncode == 0, out
    assert "resuming" in out

    for sub in ("model", "last"):
        if (tmp_path / "ref" / sub).exists() or (run / sub).exists():
            assert _digests(run / sub) == _digests(tmp_path / "ref" / sub), f"{sub}/ differs after kills at {kills}"
            assert _digests(run / sub), sub
    ref_lines = [json.loads(x) for x in (tmp_path / "ref" / "metrics.jsonl").read_text().splitlines()]
    got_lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in got_lines] == list(range(1, STEPS + 1))
    assert [(r["loss"], r.get("eval_loss")) for r in got_lines] == [(r["loss"], r.get("eval_loss")) for r in ref_lines]
    # nothing a kill left half-written is left behind
    assert not [p.name for p in (run / ck.CHECKPOINTS).iterdir() if p.name.startswith(".")]


# ---- a checkpoint cut off mid-write ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _pristine(tiny_model_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("crash")
    data = write_dataset(base / "train.jsonl", 40)
    ref = main(make_cfg(tiny_model_dir, data, base / "ref", max_steps=6, eval_every=0, eval_fraction=0.0))
    cfg = make_cfg(tiny_model_dir, data, base / "run", max_steps=6, eval_every=0, eval_fraction=0.0,
                   save_every=1, keep_checkpoints=2)
    s = setup(cfg, prepare_run_dir(cfg, False, False))
    s.total_steps = 4  # stopped after step 4, as a kill right after that checkpoint would leave it
    fit(s)
    save(s, 4)
    assert [p.name for p in ck.list_checkpoints(base / "run")] == ["step-000003", "step-000004"]
    return tiny_model_dir, data, base / "run", ref


@pytest.fixture()
def two_checkpoints(_pristine, tmp_path):
    """A copy of a run stopped after step 4 with checkpoints at steps 3 and 4, and the uninterrupted run's result."""
    model, data, pristine, ref = _pristine
    shutil.copytree(pristine, tmp_path / "run")
    cfg = make_cfg(model, data, tmp_path / "run", max_steps=6, eval_every=0, eval_fraction=0.0, save_every=1,
                   keep_checkpoints=2)
    return cfg, tmp_path / "run", ref


def _resume_and_compare(cfg, run, ref) -> None:
    out = main(cfg, resume=True)
    assert _digests(out / "model") == _digests(ref / "model")


@pytest.mark.parametrize("victim", ["model/adapter_model.safetensors", "optimizer.pt", "rng.pt", "state.json",
                                    "model/tokenizer.json"])
def test_truncated_newest_checkpoint_falls_back_to_the_previous_one(two_checkpoints, victim):
    cfg, run, ref = two_checkpoints
    f = run / ck.CHECKPOINTS / "step-000004" / victim
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])  # as a write cut off by a power loss would leave it
    _resume_and_compare(cfg, run, ref)
    log = (run / ck.RUN_LOG).read_text()
    assert "step-000004" in log and "incomplete" in log and victim in log


def test_flipped_byte_in_the_newest_checkpoint_is_not_loaded(two_checkpoints):
    cfg, run, ref = two_checkpoints
    f = run / ck.CHECKPOINTS / "step-000004" / "model" / "adapter_model.safetensors"
    b = bytearray(f.read_bytes())
    b[-3] ^= 0xFF  # same size, other bits: only the checksum tells
    f.write_bytes(bytes(b))
    _resume_and_compare(cfg, run, ref)


def test_missing_file_and_partial_temp_dir_are_skipped(two_checkpoints):
    cfg, run, ref = two_checkpoints
    (run / ck.CHECKPOINTS / "step-000004" / "rng.pt").unlink()
    # a write killed before its rename: a temp dir next to the checkpoints, never a checkpoint
    tmp = run / ck.CHECKPOINTS / ".step-000005.tmp-abc123"
    (tmp / "model").mkdir(parents=True)
    (tmp / "model" / "adapter_model.safetensors").write_bytes(b"\0" * 10)
    _resume_and_compare(cfg, run, ref)
    assert not tmp.exists()  # the next checkpoint write cleaned it up


def test_every_checkpoint_corrupt_is_refused_clearly(two_checkpoints):
    cfg, run, _ = two_checkpoints
    for step in ("step-000003", "step-000004"):
        f = run / ck.CHECKPOINTS / step / "optimizer.pt"
        f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(TrainingError) as e:
        main(cfg, resume=True)
    msg = str(e.value)
    assert "no complete checkpoint" in msg and "step-000003" in msg and "step-000004" in msg and "optimizer.pt" in msg


def test_torn_metrics_line_does_not_stop_a_resume(two_checkpoints):
    cfg, run, ref = two_checkpoints
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 5, "loss": 1.2')  # a kill in the middle of the append
    _resume_and_compare(cfg, run, ref)
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_with_a_pickle_payload_is_refused_and_never_run(two_checkpoints, tmp_path):
    """A run dir from elsewhere: even with a manifest that matches, a checkpoint file holding anything but tensors,
    numbers and containers is refused, and the object it holds is never built."""
    import torch

    cfg, run, _ = two_checkpoints
    marker = tmp_path / "payload-ran"
    for step in ("step-000003", "step-000004"):
        ckpt = run / ck.CHECKPOINTS / step
        torch.save({"state": _Payload(marker)}, ckpt / "rng.pt")
        state = json.loads((ckpt / "state.json").read_text())
        state[ck.FILES]["rng.pt"] = {"size": (ckpt / "rng.pt").stat().st_size,
                                     "sha256": hashlib.sha256((ckpt / "rng.pt").read_bytes()).hexdigest()}
        (ckpt / "state.json").write_text(json.dumps(state))
    with pytest.raises(TrainingError, match="cannot be read"):
        main(cfg, resume=True)
    assert not marker.exists()
