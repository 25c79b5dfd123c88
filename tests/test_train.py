"""The training engine on a tiny random llama: the maths (exact), every method end to end, resume, and bad input."""

from __future__ import annotations

import json
import random
import signal
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.data.example import from_pair
from tunesmith.data.transform import IGNORE, encode
from tunesmith.train import checkpoint as ck
from tunesmith.train.batches import collate, pack
from tunesmith.train.config import ConfigError, load_config
from tunesmith.train.loop import TrainingError, fit, main, prepare_run_dir, setup
from tunesmith.train.loss import CausalLMLoss, step_scale

runner = CliRunner()
PACKAGES = ["numpy", "pandas", "flask", "torch", "requests", "scipy"]


@pytest.fixture()
def dataset(tmp_path) -> Path:
    r = random.Random(0)
    path = tmp_path / "train.jsonl"
    with path.open("w") as f:
        for i in range(40):
            pkg = r.choice(PACKAGES)
            f.write(json.dumps({"input": f"error: module {pkg} not found (build {i})", "output": f"Fix: add {pkg}"}) + "\n")
    return path


def make_cfg(tiny_model_dir, dataset, out, **kw):
    base = dict(model=str(tiny_model_dir), train_file=str(dataset), output_dir=str(out), max_seq_len=64, batch_size=4,
                lr=5e-3, max_steps=6, eval_every=3, save_every=0, log_every=1, lora_dropout=0.1, precision="fp32")
    base.update(kw)
    return load_config(None, [f"{k}={v}" for k, v in base.items()])


def tiny_lm(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)


def tiny_batch(tok, texts=("error: module numpy not found", "the quick brown fox jumps")):
    rows = pack([encode(from_pair(t, "Fix: add numpy"), tok, 64) for t in texts], 64, packing=False, seed=0)
    return collate(rows, tok.pad_token_id)


# ---- the maths -------------------------------------------------------------------------------------------------------


def test_label_position_logits_give_the_same_loss_and_gradients(tiny_model_dir):
    model, tok = tiny_lm(tiny_model_dir)
    batch = tiny_batch(tok)
    results = []
    for only in (True, False):
        model.zero_grad()
        loss, n = CausalLMLoss(model, label_logits_only=only)(**batch)
        loss.backward()
        results.append((loss.detach(), n, [p.grad.clone() for p in model.parameters()]))
    (l1, n1, g1), (l2, n2, g2) = results
    assert n1 == n2 > 0
    torch.testing.assert_close(l1, l2, rtol=1e-5, atol=1e-5)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # and both equal transformers' own mean loss times the label count
    labels = batch["labels"]
    ref = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], labels=labels).loss
    torch.testing.assert_close(l1 / n1, ref, rtol=1e-5, atol=1e-5)


def test_packed_examples_do_not_attend_to_each_other(tiny_model_dir):
    model, tok = tiny_lm(tiny_model_dir)
    encs = [encode(from_pair(t, "Fix: add numpy"), tok, 64) for t in ("error one", "a much longer second example text")]
    packed = collate(pack(encs, 128, packing=True, seed=0), tok.pad_token_id)
    assert packed["input_ids"].shape[0] == 1
    loss_packed, n_packed = CausalLMLoss(model)(**packed)
    separate = collate(pack(encs, 128, packing=False, seed=0), tok.pad_token_id)
    loss_sep, n_sep = CausalLMLoss(model)(**separate)
    assert n_packed == n_sep
    torch.testing.assert_close(loss_packed, loss_sep, rtol=1e-5, atol=1e-5)


def test_padding_does_not_change_the_loss(tiny_model_dir):
    model, tok = tiny_lm(tiny_model_dir)
    encs = [encode(from_pair(t, "Fix: add numpy"), tok, 64) for t in ("error one", "a much longer second example text here")]
    rows = pack(encs, 64, packing=False, seed=0)
    batched, n = CausalLMLoss(model)(**collate(rows, tok.pad_token_id))
    alone = [CausalLMLoss(model)(**collate([r], tok.pad_token_id)) for r in rows]
    assert n == sum(k for _, k in alone)
    torch.testing.assert_close(batched, sum(loss for loss, _ in alone), rtol=1e-5, atol=1e-5)


def test_step_scale_normalises_by_window_tokens_and_processes():
    assert step_scale(50) == pytest.approx(1 / 50)
    assert step_scale(50, num_processes=4) == pytest.approx(4 / 50)
    assert step_scale(0) == 1.0  # an all-masked window does not divide by zero


def test_completion_only_labels_include_end_of_turn(tiny_model_dir):
    _, tok = tiny_lm(tiny_model_dir)
    enc = encode(from_pair("error: module numpy not found", "Fix: add numpy"), tok, 64)
    trained = tok.decode([i for i, l in zip(enc.input_ids, enc.labels) if l != IGNORE])
    assert trained.startswith("Fix: add numpy") and "<|im_end|>" in trained
    assert "error" not in trained


# ---- end to end ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["lora", "dora", "ia3", "full", "qlora"])
def test_every_method_trains_and_writes_a_loadable_run(tiny_model_dir, dataset, tmp_path, method):
    if method == "qlora":
        pytest.importorskip("bitsandbytes")
    cfg = make_cfg(tiny_model_dir, dataset, tmp_path / "run", method=method, max_steps=3, eval_every=3)
    run = main(cfg)
    for name in ("config.yaml", "metrics.jsonl", "loss.png", "summary.md", "model/tunesmith.json"):
        assert (run / name).exists(), name
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3] and "eval_loss" in metrics[-1]
    import tunesmith

    gen = tunesmith.load(run)
    out = gen.generate(["error: module numpy not found"], max_new_tokens=5)
    assert len(out) == 1 and out[0].new_tokens <= 5
    if method == "full":
        assert (run / "model" / "model.safetensors").exists()
    else:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        assert (run / "model" / "adapter_config.json").exists()
        PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), run / "model")


@pytest.mark.parametrize("batching", ["grouped", "packed", "random"])
def test_resume_ends_with_the_same_weights(tiny_model_dir, dataset, tmp_path, batching):
    # grad_accum 2: the 12 micro-batches cross an epoch boundary, where the batch order is drawn anew
    sets = dict(max_steps=6, grad_accum=2, batching=batching)
    full = main(make_cfg(tiny_model_dir, dataset, tmp_path / "a", save_every=0, **sets))
    # the interrupted run: stop after step 3 (checkpoint), then resume to 6
    cfg = make_cfg(tiny_model_dir, dataset, tmp_path / "b", save_every=3, **sets)
    s = setup(cfg, prepare_run_dir(cfg, False, False))
    s.total_steps = 3  # stop early as an interruption would, with the checkpoint from save_every
    fit(s)
    from tunesmith.train.loop import save

    save(s, 3)
    resumed = main(cfg, resume=True)
    from safetensors.torch import load_file

    a = load_file(full / "model" / "adapter_model.safetensors")
    b = load_file(resumed / "model" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    steps = [json.loads(line)["step"] for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_tuned_model_learns_to_stop(tiny_model_dir, tmp_path):
    data = tmp_path / "stop.jsonl"
    data.write_text("".join(json.dumps({"input": f"say ok {i % 3}", "output": "ok"}) + "\n" for i in range(24)))
    cfg = make_cfg(tiny_model_dir, data, tmp_path / "run", method="full", lr=3e-3, max_steps=40, eval_every=0,
                   eval_fraction=0.0, lora_dropout=0.0, warmup_ratio=0.0)
    import tunesmith

    base = tunesmith.load(tiny_model_dir).generate(["say ok 1"], max_new_tokens=20)[0]
    tuned = tunesmith.load(main(cfg)).generate(["say ok 1"], max_new_tokens=20)[0]
    assert not base.stopped  # a random model never emits the end-of-turn token
    assert tuned.stopped and tuned.text == "ok"


# ---- bad input -------------------------------------------------------------------------------------------------------


def test_unknown_config_key_and_bad_value_are_named(tmp_path, dataset):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"train_file: {dataset}\nlearning_rate: 1e-4\nbatch_size: -2\n")
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    msg = str(e.value)
    assert f"{cfg}: learning_rate: unknown key" in msg and "batch_size" in msg


def test_set_overrides_yaml(tmp_path, dataset):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"train_file: {dataset}\nlr: 1e-3\n")
    assert load_config(cfg, ["lr=1e-4", "batching=random"]).lr == 1e-4
    assert load_config(cfg, ["batching=random"]).batching == "random"


def test_existing_run_dir_is_refused_without_resume_or_overwrite(tiny_model_dir, dataset, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "something").write_text("x")
    with pytest.raises(TrainingError, match="--resume"):
        main(make_cfg(tiny_model_dir, dataset, out))
    r = runner.invoke(app, ["train", "--set", f"train_file={dataset}", "--set", f"output_dir={out}",
                            "--set", f"model={tiny_model_dir}"])
    assert r.exit_code == 1 and "already exists" in " ".join(r.output.split())


def test_overflow_error_names_the_example(tiny_model_dir, tmp_path):
    data = tmp_path / "long.jsonl"
    data.write_text(json.dumps({"input": "word " * 400, "output": "ok"}) + "\n" + json.dumps({"input": "hi", "output": "ok"}) + "\n")
    with pytest.raises(TrainingError, match=rf"{data.name}:1"):
        main(make_cfg(tiny_model_dir, data, tmp_path / "run", on_overflow="error", eval_fraction=0.0))


def test_overflow_truncate_is_counted(tiny_model_dir, tmp_path):
    data = tmp_path / "long.jsonl"
    data.write_text("".join(json.dumps({"input": "word " * (300 if i == 0 else 3), "output": "ok"}) + "\n" for i in range(8)))
    run = main(make_cfg(tiny_model_dir, data, tmp_path / "run", max_steps=1, eval_fraction=0.0))
    assert "truncated 1" in (run / "summary.md").read_text()


def test_disk_full_while_checkpointing_leaves_no_partial_checkpoint(tiny_model_dir, dataset, tmp_path, monkeypatch):
    cfg = make_cfg(tiny_model_dir, dataset, tmp_path / "run", max_steps=4, save_every=2)
    s = setup(cfg, prepare_run_dir(cfg, False, False))
    real_save = torch.save

    def full_disk(obj, f, *a, **k):
        if str(f).endswith("optimizer.pt"):
            raise OSError(28, "No space left on device")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space"):
        fit(s)
    root = tmp_path / "run" / ck.CHECKPOINTS
    assert not root.exists() or list(root.iterdir()) == []


def test_ctrl_c_saves_a_resumable_checkpoint(tiny_model_dir, dataset, tmp_path, monkeypatch):
    cfg = make_cfg(tiny_model_dir, dataset, tmp_path / "run", max_steps=6)
    s = setup(cfg, prepare_run_dir(cfg, False, False))
    real_step, calls = s.optimizer.step, []

    def interrupt_after_two():
        real_step()
        calls.append(1)
        if len(calls) == 2:
            signal.raise_signal(signal.SIGINT)  # as Ctrl-C would, in the middle of a step

    monkeypatch.setattr(s.optimizer, "step", interrupt_after_two)
    with pytest.raises(KeyboardInterrupt):
        fit(s)
    assert ck.latest_checkpoint(tmp_path / "run").name == "step-000002"
    run = main(cfg, resume=True)
    assert (run / "model" / "adapter_model.safetensors").exists()


def test_train_cli_end_to_end(tiny_model_dir, dataset, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"model: {tiny_model_dir}\ntrain_file: {dataset.name}\noutput_dir: {tmp_path / 'run'}\n"
                   "max_seq_len: 64\nmax_steps: 2\nprecision: fp32\n")
    r = runner.invoke(app, ["train", str(cfg), "--set", "batch_size=2"])
    assert r.exit_code == 0, r.output
    # Off a terminal (as in a CI log) the progress is plain whole lines, the last one at the final step.
    assert "train: step 2/2 (100%), loss " in r.output
    assert "batch_size: 2" in (tmp_path / "run" / "config.yaml").read_text()
    r = runner.invoke(app, ["generate", "--run", str(tmp_path / "run"), "--max-new-tokens", "4", "hello"])
    assert r.exit_code == 0, r.output
