"""Speed levers that are on by default leave the loss and the gradients unchanged (within stated tolerances).

Label-position logits vs full logits and packed-loss equality are in test_train.py; here: bf16 autocast through the
real training set-up, packed gradients, and batch composition (padding / length-grouped batches) on the tiny llama.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tunesmith.data.example import from_pair
from tunesmith.data.transform import encode
from tunesmith.train.batches import collate, pack
from tunesmith.train.config import load_config
from tunesmith.train.loop import prepare_run_dir, setup
from tunesmith.train.loss import CausalLMLoss

TEXTS = ["error: module numpy not found", "a much longer second example about a failing build step and its log",
         "tests failed: 3 of 40", "npm ERR! code ERESOLVE unable to resolve dependency tree for react"]

# bf16 keeps 8 bits of mantissa. Measured on the tiny llama: summed loss within 8e-6 relative of fp32, gradient
# cosine 0.99998, norm ratio 0.9994. The bounds leave ~100x headroom for other CPUs' kernels, yet fail if the
# cross-entropy itself ran in bf16 or the adapter weights were cast (errors of 1e-2 and more).
BF16_LOSS_RTOL = 1e-3
BF16_GRAD_COSINE = 0.999


def tiny_lm(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)


def encoded(tok, texts=TEXTS):
    return [encode(from_pair(t, "Fix: add numpy to requirements.txt"), tok, 64) for t in texts]


def loss_and_grads(model, batch):
    model.zero_grad()
    loss, n = CausalLMLoss(model)(**batch)
    loss.backward()
    return loss.detach(), int(n), [p.grad.clone() for p in model.parameters() if p.grad is not None]


def one_step_loss_and_grads(tiny_model_dir, tmp_path: Path, precision: str):
    from accelerate.state import AcceleratorState

    # accelerate keeps one process-wide state; a second Accelerator with another precision needs it cleared first.
    AcceleratorState._reset_state(reset_partial_state=True)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"input": t, "output": "Fix: add numpy"}) + "\n" for t in TEXTS * 3))
    sets = dict(model=str(tiny_model_dir), train_file=str(data), output_dir=str(tmp_path / precision), max_seq_len=64,
                batch_size=4, max_steps=1, eval_fraction=0.0, save_every=0, lora_dropout=0.0, precision=precision)
    cfg = load_config(None, [f"{k}={v}" for k, v in sets.items()])
    s = setup(cfg, prepare_run_dir(cfg, False, False))
    # LoRA B starts at zero (so A gets no gradient at step 0); perturb B identically in both runs to test both.
    g = torch.Generator().manual_seed(0)
    for name, p in sorted(s.model.named_parameters()):
        if "lora_B" in name:
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    batch = collate(s.train_rows[:4], s.tokenizer.pad_token_id)
    summed, n = s.loss_module(**batch)  # accelerate's prepared module applies the autocast, as in fit()
    s.accelerator.backward(summed)
    grads = torch.cat([p.grad.flatten().float() for _, p in sorted(s.model.named_parameters()) if p.requires_grad])
    return summed.detach().float(), int(n), grads


def test_bf16_autocast_keeps_loss_and_gradient_direction(tiny_model_dir, tmp_path):
    loss32, n32, g32 = one_step_loss_and_grads(tiny_model_dir, tmp_path, "fp32")
    loss16, n16, g16 = one_step_loss_and_grads(tiny_model_dir, tmp_path, "bf16")
    assert n32 == n16 > 0
    assert loss16.dtype == torch.float32  # the cross-entropy runs in fp32 even under autocast
    assert not torch.equal(loss16, loss32)  # bf16 really ran (otherwise this test would compare fp32 with itself)
    torch.testing.assert_close(loss16, loss32, rtol=BF16_LOSS_RTOL, atol=0)
    _reset_accelerate()
    cosine = torch.nn.functional.cosine_similarity(g16, g32, dim=0).item()
    assert cosine >= BF16_GRAD_COSINE, f"bf16 gradient cosine {cosine:.4f} < {BF16_GRAD_COSINE}"
    assert (g16.norm() / g32.norm()).item() == pytest.approx(1.0, rel=1e-2)


def _reset_accelerate():
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)  # leave no bf16 state behind for later tests


def test_packing_leaves_gradients_unchanged(tiny_model_dir):
    model, tok = tiny_lm(tiny_model_dir)
    encs = encoded(tok)
    packed = collate(pack(encs, 256, packing=True, seed=0), tok.pad_token_id)
    assert packed["input_ids"].shape[0] == 1  # all four examples in one row
    lp, np_, gp = loss_and_grads(model, packed)
    ls, ns, gs = loss_and_grads(model, collate(pack(encs, 256, packing=False, seed=0), tok.pad_token_id))
    assert np_ == ns
    torch.testing.assert_close(lp, ls, rtol=1e-5, atol=1e-5)
    for a, b in zip(gp, gs):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_batch_composition_and_padding_do_not_change_the_loss(tiny_model_dir):
    """Length-grouped (or any) batching is safe only if a row's loss does not depend on what it is batched with."""
    model, tok = tiny_lm(tiny_model_dir)
    rows = pack(encoded(tok), 64, packing=False, seed=0)
    short, long_ = min(rows, key=lambda r: len(r.input_ids)), max(rows, key=lambda r: len(r.input_ids))
    assert len(long_.input_ids) - len(short.input_ids) >= 5  # the short row really gets padded
    together, n_t, g_t = loss_and_grads(model, collate([short, long_], tok.pad_token_id))
    alone_s, n_s, g_s = loss_and_grads(model, collate([short], tok.pad_token_id))
    alone_l, n_l, g_l = loss_and_grads(model, collate([long_], tok.pad_token_id))
    assert n_t == n_s + n_l
    torch.testing.assert_close(together, alone_s + alone_l, rtol=1e-5, atol=1e-5)
    for a, b, c in zip(g_t, g_s, g_l):
        torch.testing.assert_close(a, b + c, rtol=1e-4, atol=1e-6)


def test_generator_merges_the_adapter_and_answers_as_the_unmerged_model(tiny_model_dir, tmp_path):
    """load_generator merges a LoRA adapter into the base weights for speed: same logits, same greedy answers."""
    from peft import PeftModel
    from test_export_formats import logits_of, make_run

    from tunesmith.models.generate import load_generator

    run = make_run(tmp_path / "run", tiny_model_dir)
    merged = load_generator(run)
    unmerged = load_generator(run, merge=False)
    assert not isinstance(merged.model, PeftModel) and isinstance(unmerged.model, PeftModel)
    a, b = logits_of(merged.model, merged.tokenizer), logits_of(unmerged.model, unmerged.tokenizer)
    assert torch.allclose(a, b, atol=1e-4, rtol=1e-4), (a - b).abs().max()
    prompts = ["ERROR: build failed with exit code 1", "npm ERR! code ERESOLVE"]
    assert [g.text for g in merged.generate(prompts, max_new_tokens=12)] == [
        g.text for g in unmerged.generate(prompts, max_new_tokens=12)]


def test_lane_dropout_is_inverted_dropout_with_the_right_rate_and_gradient():
    """LoRA's cheap-mask dropout: each element dropped independently with probability p, kept ones scaled so the
    expectation is the input; the gradient goes through the same mask; the same seed draws the same mask."""
    from tunesmith.train.dropout import LaneDropout

    p, n = 0.05, 1_000_000
    drop = LaneDropout(p).train()
    x = torch.ones(n, requires_grad=True)
    torch.manual_seed(0)
    y = drop(x)
    dropped = (y == 0).float().mean().item()
    assert abs(dropped - p) < 5 * (p * (1 - p) / n) ** 0.5, dropped  # within 5 sigma of a Bernoulli(p) rate
    kept = y[y != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - round(p * 65536) / 65536)))
    assert abs(y.mean().item() - 1) < 5 * (p / (1 - p) / n) ** 0.5
    # Neighbouring elements (lanes of one random word) are independent: no excess of dropped pairs.
    pairs = ((y[0::2] == 0) & (y[1::2] == 0)).float().mean().item()
    assert abs(pairs - p * p) < 5 * (p * p / (n / 2)) ** 0.5, pairs
    w = torch.randn(n)
    (y * w).sum().backward()
    assert torch.equal(x.grad, torch.where(y == 0, 0.0, w * kept[0]))
    torch.manual_seed(0)
    assert torch.equal(drop(torch.ones(n)), y.detach())
    assert drop.eval()(x) is x and LaneDropout(0.0).train()(x) is x


def test_lora_layers_get_lane_dropout_and_train_as_before(tiny_model_dir, tmp_path):
    """Every LoRA layer's dropout is swapped; with dropout off the two set-ups give the same loss and gradients."""
    from torch import nn

    from tunesmith.train.dropout import LaneDropout

    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"input": "a", "output": "b"}) + "\n")

    def build(dropout: float, swap: bool):
        cfg = load_config(None, [f"model={json.dumps(str(tiny_model_dir))}", "method=lora", f"lora_dropout={dropout}",
                                 f"output_dir={json.dumps(str(tmp_path / f'run{dropout}{swap}'))}",
                                 f"train_file={json.dumps(str(data))}"])
        from transformers import AutoModelForCausalLM

        from tunesmith.train import methods

        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        if swap:
            return methods.apply_method(model, cfg)
        from peft import get_peft_model

        return get_peft_model(model, methods._lora_config(cfg))

    model = build(0.1, True)
    kinds = [type(d) for m in model.modules() if isinstance(getattr(m, "lora_dropout", None), nn.ModuleDict)
             for d in m.lora_dropout.values()]
    assert kinds and all(k is LaneDropout for k in kinds), kinds
    ids = torch.tensor([[5, 9, 13, 7, 21, 3]])
    grads = []
    for swap in (True, False):
        m = build(0.0, swap).train()
        for n_, prm in m.named_parameters():
            if "lora_B" in n_:
                torch.nn.init.normal_(prm, std=0.02, generator=torch.Generator().manual_seed(1))
        m(input_ids=ids, labels=ids).loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.parameters() if p.grad is not None]))
    assert torch.allclose(grads[0], grads[1])


def test_batched_generation_with_row_by_row_prefill_answers_as_one_prompt_at_a_time(tiny_model_dir, tmp_path,
                                                                                    monkeypatch):
    """A batch's prompts are prefilled one row at a time (left-padded KV) and decoded together: same greedy answers
    and stop flags as generating each prompt alone, and the same as HF's own batched prefill."""
    from test_export_formats import make_run

    from tunesmith.models import generate as G

    gen = G.load_generator(make_run(tmp_path / "run", tiny_model_dir))
    long = "npm ERR! code ERESOLVE unable to resolve the dependency tree of a much longer prompt than the others"
    prompts = ["ERROR: build failed with exit code 1", long, "x", "FAILED tests/test_io.py::test_read - AssertionError"]
    enc = gen.tokenizer([gen.prompt_text(p) for p in prompts], return_tensors="pt", padding=True,
                        add_special_tokens=False)
    assert G._prefill_rows(gen.model, enc, 12) is not None  # the row-wise path is the one under test
    batched = gen.generate(prompts, max_new_tokens=12, batch_size=4)
    alone = [gen.generate(p, max_new_tokens=12)[0] for p in prompts]
    assert batched == alone
    monkeypatch.setattr(G, "_prefill_rows", lambda *args: None)  # HF's batched prefill of the padded batch
    assert gen.generate(prompts, max_new_tokens=12, batch_size=4) == batched


def test_row_by_row_prefill_leaves_sliding_window_models_single_prompts_and_right_padding_to_hf(tiny_model_dir):
    """A sliding-window layer keeps only its window in the cache, which the left-padded full cache would not match."""
    from tunesmith.models.generate import _prefill_rows

    model, tok = tiny_lm(tiny_model_dir)
    tok.padding_side = "right"
    assert _prefill_rows(model, tok(["a b c d", "a b"], return_tensors="pt", padding=True), 4) is None  # left-padded only
    tok.padding_side = "left"
    enc = tok(["a b c d", "a b"], return_tensors="pt", padding=True)
    assert _prefill_rows(model, enc, 4) is not None
    assert _prefill_rows(model, tok(["a b c d"], return_tensors="pt"), 4) is None  # one prompt: HF's own path
    model.config.layer_types = ["sliding_attention"] + ["full_attention"] * (model.config.num_hidden_layers - 1)
    assert _prefill_rows(model, enc, 4) is None


def test_prompt_lookup_decoding_answers_as_plain_decoding(tiny_model_dir, tmp_path):
    """One prompt with prompt-lookup decoding (the analyzer's default for a single log): the same greedy answers and
    stop flags as plain decoding, with and without the category constraint."""
    from test_export_formats import make_run

    from tunesmith.models.generate import load_generator

    gen = load_generator(make_run(tmp_path / "run", tiny_model_dir))
    prompts = ["ERROR: build failed with exit code 1 ERROR: build failed with exit code 1",
               "npm ERR! code ERESOLVE npm ERR! code ERESOLVE unable to resolve dependency tree", "x"]
    starts = ["Category: test failure", "Category: dependency"]
    seen = []
    hf_generate = gen.model.generate

    def recording(*a, **k):
        seen.append(k.get("prompt_lookup_num_tokens"))
        return hf_generate(*a, **k)

    gen.model.generate = recording
    for kw in ({}, {"starts": starts}):
        gen.prompt_lookup = None
        plain = [gen.generate(p, max_new_tokens=16, **kw)[0] for p in prompts]
        gen.prompt_lookup = 10
        lookup = [gen.generate(p, max_new_tokens=16, **kw)[0] for p in prompts]
        assert lookup == plain
    assert seen == ([None] * 3 + [10] * 3) * 2  # the lookup path was the one taken
    gen.generate(prompts, max_new_tokens=4)  # a batch decodes plainly (prompt lookup needs a batch of one)
    assert seen[-1] is None
