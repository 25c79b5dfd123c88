"""Batching and forward passes: length-grouped batches are deterministic per (seed, epoch) and pad little; a step cut
into several forward passes gives the same loss and gradients as one pass; shipped configs load under the schema."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from tunesmith.data.transform import IGNORE
from tunesmith.train.batches import Row, epoch_batches, forward_passes
from tunesmith.train.config import ConfigError, load_config
from tunesmith.train.loop import fit, prepare_run_dir, setup, step_passes

ROOT = Path(__file__).resolve().parents[1]


def rows_of_lengths(lengths) -> list[Row]:
    return [Row(list(range(n)), [IGNORE] + [1] * (n - 1), list(range(n))) for n in lengths]


def padded(rows, batches) -> int:
    return sum(max(len(rows[i].input_ids) for i in b) * len(b) for b in batches)


# ---- length-grouped batches ------------------------------------------------------------------------------------------


def test_grouped_batches_cover_every_row_once_and_pad_less_than_random():
    r = random.Random(0)
    rows = rows_of_lengths([r.randint(20, 1024) for _ in range(1000)])
    grouped = epoch_batches(rows, 4, seed=7, epoch=0, grouped=True)
    shuffled = epoch_batches(rows, 4, seed=7, epoch=0)
    assert sorted(i for b in grouped for i in b) == list(range(1000))
    assert [len(b) for b in grouped] == [4] * 250
    real = sum(len(x.input_ids) for x in rows)
    assert padded(rows, grouped) / real < 1.02 and padded(rows, shuffled) / real > 1.2
    # the longest batch comes first, so a batch that does not fit in memory fails at step 1
    assert len(rows[grouped[0][0]].input_ids) == max(len(x.input_ids) for x in rows)


def test_grouped_batches_are_a_pure_function_of_seed_and_epoch():
    rows = rows_of_lengths([random.Random(1).randint(5, 300) for _ in range(403)])
    e0 = epoch_batches(rows, 4, seed=3, epoch=0, grouped=True)
    assert e0 == epoch_batches(rows, 4, seed=3, epoch=0, grouped=True)
    assert e0 != epoch_batches(rows, 4, seed=3, epoch=1, grouped=True)  # each epoch groups differently
    assert e0 != epoch_batches(rows, 4, seed=4, epoch=0, grouped=True)


def test_grouped_batches_on_tiny_data_still_cover_it():
    rows = rows_of_lengths([3, 9, 4, 7, 5])
    batches = epoch_batches(rows, 2, seed=0, epoch=0, grouped=True)
    assert sorted(i for b in batches for i in b) == [0, 1, 2, 3, 4]
    assert batches[0][0] == 1  # the longest row's batch first


# ---- forward passes --------------------------------------------------------------------------------------------------


def test_forward_passes_keep_every_row_and_the_token_budget():
    rows = rows_of_lengths([100, 30, 260, 90, 120, 40])
    passes = forward_passes(rows, 256)
    assert sorted(id(r) for p in passes for r in p) == sorted(id(r) for r in rows)
    for p in passes:
        width = max(len(r.input_ids) for r in p)
        assert len(p) * width <= 256 or len(p) == 1  # a row longer than the budget runs alone
    assert [[len(r.input_ids) for r in p] for p in passes] == [[260], [120, 100], [90, 40], [30]]
    assert forward_passes(rows, None) == [rows]


def tiny_cfg(tiny_model_dir, data: Path, out: Path, **kw):
    sets = dict(model=str(tiny_model_dir), train_file=str(data), output_dir=str(out), max_seq_len=64, batch_size=4,
                grad_accum=2, max_steps=1, eval_fraction=0.0, save_every=0, lora_dropout=0.0, precision="fp32",
                batching="random", seed=0)
    sets.update(kw)
    return load_config(None, [f"{k}={v}" for k, v in sets.items()])


def one_step(cfg):
    """Loss and gradients of the first optimizer step through fit(), captured just before optimizer.step()."""
    s = setup(cfg, prepare_run_dir(cfg, False, False))
    g = torch.Generator().manual_seed(0)
    for name, p in sorted(s.model.named_parameters()):
        if "lora_B" in name:  # B starts at zero, which leaves A without gradient; perturb it the same in every run
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    grads, real_step = {}, s.optimizer.step

    def capture():
        grads.update({n: p.grad.clone() for n, p in s.model.named_parameters() if p.requires_grad})
        real_step()

    s.optimizer.step = capture
    passes = len(step_passes(s, 0))
    fit(s)
    return s.history[0]["loss"], grads, passes


def test_a_step_cut_into_forward_passes_has_the_same_loss_and_gradients(tiny_model_dir, tmp_path):
    r = random.Random(0)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"input": "error " * r.randint(1, 12) + f"build {i}", "output": "Fix: pin it"}) + "\n"
                            for i in range(16)))
    loss1, g1, n1 = one_step(tiny_cfg(tiny_model_dir, data, tmp_path / "one", max_forward_tokens="null"))
    loss2, g2, n2 = one_step(tiny_cfg(tiny_model_dir, data, tmp_path / "split", max_forward_tokens=40))
    assert n1 == 2 and n2 > 4  # 2 micro-batches of 4 rows, cut into passes of at most 40 tokens
    assert loss1 == pytest.approx(loss2, rel=1e-6)
    assert g1.keys() == g2.keys() and any("lora_A" in k for k in g1)
    for k in g1:
        torch.testing.assert_close(g1[k], g2[k], rtol=1e-5, atol=1e-6)


def test_gradient_checkpointing_gives_the_same_gradients(tiny_model_dir, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"input": f"error: module m{i} not found", "output": "Fix: add it"}) + "\n"
                            for i in range(8)))
    loss1, g1, _ = one_step(tiny_cfg(tiny_model_dir, data, tmp_path / "plain"))
    loss2, g2, _ = one_step(tiny_cfg(tiny_model_dir, data, tmp_path / "ckpt", gradient_checkpointing=True))
    assert loss1 == pytest.approx(loss2, rel=1e-6)
    for k in g1:
        torch.testing.assert_close(g1[k], g2[k], rtol=1e-5, atol=1e-6)


# ---- config ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(p for p in (ROOT / "examples").rglob("*.yaml") if "accelerate" not in p.parts),
                         ids=lambda p: str(p.relative_to(ROOT)))  # examples/accelerate/: launcher configs
def test_shipped_configs_load_under_the_schema(path, tmp_path):
    # A recipe whose build.py writes its data under runs/ (examples/gha-root-causes: the source in ../shared may not be
    # copied into the repository) has no data files in a clone: a stand-in file lets the rest be checked. Data a recipe
    # ships must still exist.
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    stand_in = tmp_path / "built.jsonl"
    stand_in.write_text('{"input": "a", "output": "b"}\n')
    built = [f"{k}={stand_in}" for k in ("train_file", "eval_file") if str(raw.get(k, "")).startswith("runs/")]
    load_config(path, built)


def test_max_forward_tokens_auto_is_512_on_cpu_and_accepts_a_number_or_null(tmp_path):
    from tunesmith.train.loop import pick_forward_tokens

    data = tmp_path / "t.jsonl"
    data.write_text('{"input": "a", "output": "b"}\n')
    cfg = load_config(None, [f"train_file={data}"])
    assert cfg.max_forward_tokens == "auto"
    assert pick_forward_tokens(cfg) == (None if torch.cuda.is_available() else 512)
    assert pick_forward_tokens(load_config(None, [f"train_file={data}", "max_forward_tokens=2048"])) == 2048
    assert pick_forward_tokens(load_config(None, [f"train_file={data}", "max_forward_tokens=null"])) is None
    with pytest.raises(ConfigError, match="max_forward_tokens"):
        load_config(None, [f"train_file={data}", "max_forward_tokens=0"])


def test_older_packing_key_still_loads(tmp_path):
    data = tmp_path / "t.jsonl"
    data.write_text('{"input": "a", "output": "b"}\n')
    assert load_config(None, [f"train_file={data}", "packing=true"]).batching == "packed"
    assert load_config(None, [f"train_file={data}", "packing=false"]).batching == "random"
    with pytest.raises(ConfigError, match="batching only"):
        load_config(None, [f"train_file={data}", "packing=true", "batching=grouped"])
