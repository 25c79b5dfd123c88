"""Training moves the weights it trains, and only those, for every method; the run saves the weights it trained.

The resume test compares two runs with each other, so it would pass if neither trained. Here the expectations come from
outside the loop: the weights before the first step, the base model's own files, and PEFT's documented starting point
(LoRA/DoRA's B matrices are zero, IA3's scaling vectors are ones), which a trained adapter must have left.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tunesmith.train.config import load_config
from tunesmith.train.loop import finish, fit, prepare_run_dir, setup

METHODS = ["full", "lora", "qlora", "dora", "ia3"]


@pytest.fixture()
def dataset(tmp_path) -> Path:
    r = random.Random(0)
    path = tmp_path / "train.jsonl"
    with path.open("w") as f:
        for i in range(24):
            pkg = r.choice(["numpy", "pandas", "flask", "requests"])
            f.write(json.dumps({"input": f"error: module {pkg} not found (build {i})", "output": f"Fix: add {pkg}"}) + "\n")
    return path


def _train(tiny_model_dir, dataset, out: Path, method: str):
    """(trained model, trainable weights before step 1, frozen weights before step 1, run dir)."""
    sets = dict(model=str(tiny_model_dir), train_file=str(dataset), output_dir=str(out), method=method, max_seq_len=64,
                batch_size=4, lr=5e-3, max_steps=3, eval_every=0, save_every=0, log_every=1, precision="fp32")
    cfg = load_config(None, [f"{k}={v}" for k, v in sets.items()])
    s = setup(cfg, prepare_run_dir(cfg, False, False))
    model = s.accelerator.unwrap_model(s.loss_module).model
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    fit(s)
    return model, trainable, frozen, finish(s)


@pytest.mark.parametrize("method", METHODS)
def test_training_changes_every_trainable_weight_and_no_frozen_one_and_saves_them(tiny_model_dir, dataset, tmp_path, method):
    if method == "qlora":
        pytest.importorskip("bitsandbytes")  # a dependency of the qlora extra; it runs on CPU
    model, before, frozen, run = _train(tiny_model_dir, dataset, tmp_path / "run", method)
    after = dict(model.named_parameters())
    assert before, "nothing was trainable"
    assert [n for n, w in before.items() if torch.equal(after[n].detach(), w)] == []
    assert [n for n, w in frozen.items() if not torch.equal(after[n].detach(), w)] == []
    if method == "full":
        assert not frozen
    else:  # an adapter trains a small share of the weights, the base stays as it was
        assert sum(w.numel() for w in before.values()) < 0.5 * sum(w.numel() for w in frozen.values())

    # The run saves trained weights, not the starting ones.
    if method == "full":
        base, saved = load_file(tiny_model_dir / "model.safetensors"), load_file(run / "model" / "model.safetensors")
        assert saved.keys() == base.keys()
        assert [k for k in base if torch.equal(saved[k], base[k])] == []
        return
    saved = load_file(run / "model" / "adapter_model.safetensors")
    if method == "ia3":
        vectors = [k for k in saved if "ia3_l" in k]
        assert vectors and [k for k in vectors if torch.equal(saved[k], torch.ones_like(saved[k]))] == []
    else:
        b_mats = [k for k in saved if "lora_B" in k]
        assert b_mats and [k for k in b_mats if not saved[k].any()] == []
