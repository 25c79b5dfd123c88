"""The merged-model cache: a second load reads the merged dir (no PEFT), answers as the in-memory merge, and a run
retrained in place or a damaged cache entry never gives stale or broken weights."""

from __future__ import annotations

import sys

import torch

from train_helpers import make_cfg, write_dataset
from tunesmith.models.generate import load_generator
from tunesmith.models.merged_cache import COMPLETE, merged_root
from tunesmith.models.run_dir import open_run, load_run_model
from tunesmith.train.loop import main as train


def _run(tiny_model_dir, tmp_path, name="run", steps=3, seed=0):
    data = write_dataset(tmp_path / f"{name}.jsonl", seed=seed)
    return train(make_cfg(tiny_model_dir, data, tmp_path / name, max_steps=steps, seed=seed), overwrite=True)


def _logits(model, ids):
    with torch.inference_mode():
        return model(ids).logits


def test_second_load_comes_from_the_cache_with_the_same_logits(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESMITH_MERGED_CACHE", str(tmp_path / "cache"))
    run = _run(tiny_model_dir, tmp_path)
    ids = torch.tensor([[5, 17, 40, 99, 3]])
    first = load_generator(run)
    entries = list((tmp_path / "cache").iterdir())
    assert len(entries) == 1 and (entries[0] / COMPLETE).exists()
    merged_now, _ = load_run_model(open_run(run), dtype=torch.float32, merge=True)

    def no_peft(*a, **k):
        raise AssertionError("a cached run was merged again")

    monkeypatch.setattr("tunesmith.models.run_dir.load_run_model", no_peft)
    monkeypatch.setattr("tunesmith.models.merged_cache.load_run_model", no_peft)
    second = load_generator(run)
    assert torch.equal(_logits(second.model, ids), _logits(merged_now, ids))
    assert torch.equal(_logits(first.model, ids), _logits(second.model, ids))
    assert second.generate(["hello"], max_new_tokens=6)[0] == first.generate(["hello"], max_new_tokens=6)[0]


def test_a_run_retrained_in_place_is_not_served_from_the_old_entry(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESMITH_MERGED_CACHE", str(tmp_path / "cache"))
    ids = torch.tensor([[5, 17, 40, 99, 3]])
    run = _run(tiny_model_dir, tmp_path, steps=2)
    before = _logits(load_generator(run).model, ids)
    run = _run(tiny_model_dir, tmp_path, steps=6, seed=1)  # same run dir, other weights
    after = _logits(load_generator(run).model, ids)
    expected, _ = load_run_model(open_run(run), dtype=torch.float32, merge=True)
    assert torch.equal(after, _logits(expected, ids))
    assert not torch.equal(before, after)
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_a_damaged_entry_is_rebuilt_and_off_turns_the_cache_off(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESMITH_MERGED_CACHE", str(tmp_path / "cache"))
    run = _run(tiny_model_dir, tmp_path)
    load_generator(run)
    (entry,) = (tmp_path / "cache").iterdir()
    for f in entry.glob("*.safetensors"):
        f.write_bytes(b"not a safetensors file")
    ids = torch.tensor([[5, 17, 40, 99, 3]])
    again = load_generator(run)  # rebuilt, not a crash
    expected, _ = load_run_model(open_run(run), dtype=torch.float32, merge=True)
    assert torch.equal(_logits(again.model, ids), _logits(expected, ids))
    monkeypatch.setenv("TUNESMITH_MERGED_CACHE", "off")
    assert merged_root() is None
    load_generator(run)
    assert len(list((tmp_path / "cache").iterdir())) == 1
    assert "peft" in sys.modules  # with the cache off, the adapter is applied and merged in memory
