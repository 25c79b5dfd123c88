"""`tunesmith train` in several processes: a real 2-process data-parallel job on CPU (gloo, under torchrun) against the
single-process run with the same effective batch, and the sharding of uneven epochs.

The 2-process job runs the CLI unchanged under `accelerate launch` with the shipped examples/accelerate/multi_gpu.yaml
(on a machine without GPUs the processes run on the CPU over gloo), with TUNESMITH_TRACE_EXAMPLES=1 so that each
process lists the examples it trained on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from train_helpers import make_cfg, write_dataset

from tunesmith.data.transform import IGNORE
from tunesmith.train import checkpoint as ck
from tunesmith.train.batches import Row
from tunesmith.train.loop import TRACE_ENV, TrainingError, main, step_batches
from tunesmith.train.plan import plan_length

N_EXAMPLES = 32  # 8 micro-batches of 4: 4 per process per epoch, so both layouts see the same batches in each step
STEPS = 8  # two epochs
# Same batches per step, same token-sum normalisation: only the order of float additions differs (in practice the
# curves are bitwise equal); a sharding or normalisation error moves the loss by ~1e-2 at these steps.
LOSS_TOLERANCE = 1e-4


def _metrics(run: Path) -> list[dict]:
    return [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()]


def _config_yaml(path: Path, cfg) -> Path:
    import yaml

    data = cfg.model_dump(mode="json")
    path.write_text(yaml.safe_dump(data))
    return path


ROOT = Path(__file__).resolve().parents[1]
MULTI_GPU = ROOT / "examples" / "accelerate" / "multi_gpu.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(cfg_path: Path, cwd: Path, nproc: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, TRACE_ENV: "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(MULTI_GPU),
           "--num_processes", str(nproc), "--main_process_port", str(_free_port()),
           "-m", "tunesmith", "train", str(cfg_path)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


@pytest.fixture()
def one_thread():
    # The tiny model runs fastest on one thread (as each torchrun process does); the suite's setting comes back after.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_two_processes_match_one_process_see_each_example_once_and_resume_in_one(tiny_model_dir, tmp_path, one_thread):
    data = write_dataset(tmp_path / "train.jsonl", n=N_EXAMPLES)
    common = dict(eval_fraction=0, max_steps=STEPS, save_every=4, lora_dropout=0)
    two_cfg = make_cfg(tiny_model_dir, data, tmp_path / "two", batch_size=4, grad_accum=1, **common)
    done = _launch(_config_yaml(tmp_path / "two.yaml", two_cfg), tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    two = tmp_path / "two"

    # The same effective batch (4 rows × 2 processes × 1 = 4 rows × 1 process × 2) in one process.
    one = main(make_cfg(tiny_model_dir, data, tmp_path / "one", batch_size=4, grad_accum=2, **common))

    # Only the main process wrote metrics: one line per step, and the curve is the single-process one.
    m2, m1 = _metrics(two), _metrics(one)
    assert [r["step"] for r in m2] == list(range(1, STEPS + 1))
    for a, b in zip(m2, m1):
        assert a["loss"] == pytest.approx(b["loss"], abs=LOSS_TOLERANCE), (a, b)
        assert a["lr"] == pytest.approx(b["lr"])
    assert m2[-1]["loss"] < m2[0]["loss"] - 0.1  # it trained: the comparison is between moving curves

    # Each example exactly once per epoch, shared out between the two processes.
    seen: dict[int, Counter] = {}
    per_rank = Counter()
    for rank in (0, 1):
        for ln in (two / "trace" / f"rank-{rank}.jsonl").read_text().splitlines():
            rec = json.loads(ln)
            ids = [int(i) for text in rec["examples"] for i in re.findall(r"\(build (\d+)\)", text)]
            assert len(ids) == len(rec["examples"]) == 4
            seen.setdefault(rec["epoch"], Counter()).update(ids)
            per_rank[rank] += len(ids)
    assert sorted(seen) == [0, 1]
    for epoch, counts in seen.items():
        assert counts == Counter(range(N_EXAMPLES)), f"epoch {epoch}: {counts}"
    assert per_rank[0] == per_rank[1] == N_EXAMPLES  # half of each of the two epochs

    # One checkpoint (save_every 4 of 8 steps), written whole by one process; run.log written once.
    assert [p.name for p in (two / ck.CHECKPOINTS).iterdir()] == ["step-000004"]
    state = json.loads((two / ck.CHECKPOINTS / "step-000004" / "state.json").read_text())
    assert state["processes"] == 2 and state["effective_batch"] == 8
    log = (two / ck.RUN_LOG).read_text()
    assert log.count("length:") == 1
    assert "effective batch: 8 rows per optimizer step = 4 per micro-batch × 2 processes" in log
    assert "lr 0.005 (set in the config), the peak" in log

    # The checkpoint resumes in a single process: refused as it is (the effective batch would halve) ...
    resumed = tmp_path / "resumed"
    shutil.copytree(two, resumed)
    with pytest.raises(TrainingError, match="effective batch: 8 rows per step on 2 process"):
        main(make_cfg(tiny_model_dir, data, resumed, batch_size=4, grad_accum=1, **common), resume=True)
    # ... and with grad_accum 2 it continues the 2-process curve step for step.
    main(make_cfg(tiny_model_dir, data, resumed, batch_size=4, grad_accum=2, **common), resume=True,
         allow_config_change=True)
    m3 = _metrics(resumed)
    assert [r["step"] for r in m3] == list(range(1, STEPS + 1))
    for a, b in zip(m3[4:], m2[4:]):
        assert a["loss"] == pytest.approx(b["loss"], abs=LOSS_TOLERANCE), (a, b)
    assert "grad_accum: 1 → 2" in (resumed / ck.RUN_LOG).read_text()


def _rows(n: int) -> list[Row]:
    # Row i holds token i + 10 (a unique id) and a label on its last position; lengths vary for grouped batching.
    return [Row([1] * (i % 5) + [i + 10, 2], [IGNORE] * (i % 5 + 1) + [2], list(range(i % 5 + 2))) for i in range(n)]


@pytest.mark.parametrize("processes,rows,batch_size,grad_accum,batching", [
    (2, 36, 4, 1, "random"),  # 9 micro-batches: one process is left without one at the end of each epoch
    (3, 37, 4, 2, "grouped"),  # 10 micro-batches over 3 processes, 2 accumulated: epochs end mid-step
    (4, 8, 3, 1, "random"),  # 3 micro-batches, 4 processes: one process has no batch in every step
])
def test_uneven_epochs_shard_without_overlap_or_loss(processes, rows, batch_size, grad_accum, batching):
    train_rows = _rows(rows)
    cfg = SimpleNamespace(batch_size=batch_size, grad_accum=grad_accum, seed=3, batching=batching, max_steps=None,
                          epochs=3, eval_every=0)
    plan = plan_length(cfg, train_rows, rows, 0, processes)
    seen: dict[int, Counter] = {}
    for rank in range(processes):
        s = SimpleNamespace(cfg=cfg, train_rows=train_rows, batches_per_epoch=plan.batches_per_epoch,
                            accelerator=SimpleNamespace(num_processes=processes, process_index=rank))
        for step in range(plan.total_steps):
            micro = step_batches(s, step)
            assert len(micro) == grad_accum  # every process takes part in every step (the gradient sync needs it)
            for epoch, batch in micro:
                assert batch  # never an empty pass
                labelled = [r for r in batch if r.n_labels]
                assert len(labelled) in (0, len(batch))  # a padding batch is one fully masked row
                seen.setdefault(epoch, Counter()).update(r.input_ids[-2] - 10 for r in labelled)
    epochs = sorted(seen)
    assert epochs == list(range(3))
    for epoch in epochs:
        assert seen[epoch] == Counter(range(rows)), f"epoch {epoch}"


def test_a_fully_masked_row_adds_nothing_to_loss_or_gradient(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from tunesmith.train.batches import collate
    from tunesmith.train.loss import CausalLMLoss

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    row = Row([5, 6, 7, 8], [IGNORE] * 4, [0, 1, 2, 3])
    for only in (True, False):
        model.zero_grad(set_to_none=False)
        summed, n = CausalLMLoss(model, label_logits_only=only)(**collate([row], 0))
        summed.backward()
        assert summed.item() == 0 and int(n) == 0
        grads = [p.grad for p in model.parameters()]
        assert all(g is None or not g.any() for g in grads)


@pytest.mark.parametrize("name,kind,machines", [("single_gpu.yaml", "NO", 1), ("multi_gpu.yaml", "MULTI_GPU", 1),
                                                ("multi_node.yaml", "MULTI_GPU", 2)])
def test_shipped_accelerate_configs_load_under_accelerates_schema(name, kind, machines):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(ROOT / "examples" / "accelerate" / name))
    assert cfg.distributed_type.value == kind and cfg.num_machines == machines
    assert sorted(p.name for p in (ROOT / "examples" / "accelerate").glob("*.yaml")) == [
        "multi_gpu.yaml", "multi_node.yaml", "single_gpu.yaml"]  # the README's table names exactly these
