"""End to end on the tiny random llama: `tunesmith eval` and `tunesmith compare` as a user runs them, files checked."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.evaluate import cli as evaluate_cli

ANSWERS = [
    ("test_parse assert failed", "Category: test\nRoot Cause: assertion failed\nFix: update the expected value"),
    ("module numpy not found", "Category: dependency\nRoot Cause: numpy missing\nFix: add numpy"),
    ("npm install error TS2322", "Category: build\nRoot Cause: type mismatch\nFix: fix the type"),
    ("ImportError cannot import name foo", "Category: dependency\nRoot Cause: foo removed\nFix: pin the version"),
]


def _data(write_jsonl):
    train = write_jsonl("train.jsonl", [{"input": i, "output": o} for i, o in ANSWERS[:3]])
    held = write_jsonl("eval.jsonl", [{"input": i, "output": o} for i, o in ANSWERS[1:]])
    return train, held


def _run_dir(tmp_path, tiny_model_dir):
    """A run dir as `tunesmith train` leaves it (method=full: model/ is an HF dir), with a logged curve."""
    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run / "model")
    meta = {"base_model": str(tiny_model_dir), "base_model_path": str(tiny_model_dir), "method": "full",
            "max_seq_len": 256, "system_prompt": None}
    (run / "model" / "tunesmith.json").write_text(json.dumps(meta))
    (run / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "loss": 3.0 / s, "lr": 1e-4, "tokens_per_s": 100.0, "eval_loss": 2.0 + 0.1 * s}) + "\n"
        for s in (1, 2, 3)))
    return run


def _hf_greedy(model_dir, prompts: list[str], max_new_tokens: int) -> list[tuple[str, bool]]:
    """(answer, ended with the end-of-turn token) per prompt, straight from transformers: the oracle for `eval`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    end = tok.convert_tokens_to_ids("<|im_end|>")
    out = []
    for p in prompts:
        ids = tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, return_tensors="pt",
                                      return_dict=True)["input_ids"]
        with torch.no_grad():
            new = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=end,
                                 pad_token_id=tok.pad_token_id)[0, ids.shape[1]:].tolist()
        ended = end in new
        out.append((tok.decode(new[: new.index(end)] if ended else new, skip_special_tokens=True).strip(), ended))
    return out


def test_eval_command_on_tiny_model(tmp_path, tiny_model_dir, write_jsonl):
    train, held = _data(write_jsonl)
    out = tmp_path / "ev"
    res = CliRunner().invoke(app, ["eval", "--run", str(tiny_model_dir), "--data", str(held), "--train", str(train),
                                   "--out", str(out), "--max-new-tokens", "4", "--no-semantic"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 3 and metrics["overlap_with_train"]["count"] == 2
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["reference"] for r in rows] == [o for _, o in ANSWERS[1:]]
    # What the model says and whether it ended by itself, found by transformers' own greedy generate, one prompt at a time.
    expected = _hf_greedy(tiny_model_dir, [i for i, _ in ANSWERS[1:]], max_new_tokens=4)
    assert [r["prediction"] for r in rows] == [text for text, _ in expected]
    assert metrics["max_tokens_hits"] == sum(not ended for _, ended in expected)
    assert metrics["stopped"] == pytest.approx(sum(ended for _, ended in expected) / 3)


def test_eval_limit_scores_the_same_seeded_sample_every_run(tmp_path, tiny_model_dir, write_jsonl):
    held = write_jsonl("many.jsonl", [{"input": f"log {i}", "output": f"answer {i}"} for i in range(20)])
    refs = []
    for attempt in range(2):
        out = tmp_path / f"ev{attempt}"
        res = CliRunner().invoke(app, ["eval", "--run", str(tiny_model_dir), "--data", str(held), "--out", str(out),
                                       "--max-new-tokens", "2", "--no-semantic", "--limit", "5"])
        assert res.exit_code == 0, res.output
        assert "sample of 5 of 20" in res.output
        assert json.loads((out / "metrics.json").read_text())["n"] == 5
        refs.append([json.loads(line)["reference"] for line in (out / "predictions.jsonl").read_text().splitlines()])
    assert refs[0] == refs[1] and len(set(refs[0])) == 5
    assert refs[0] == sorted(refs[0], key=lambda r: int(r.split()[1]))  # file order kept


def test_eval_command_refuses_empty_set(tmp_path, tiny_model_dir, write_jsonl):
    empty = write_jsonl("empty.jsonl", [])
    res = CliRunner().invoke(app, ["eval", "--run", str(tiny_model_dir), "--data", str(empty), "--no-semantic"])
    assert res.exit_code == 2 and "empty" in res.output


class _Letters:
    """Letter counts as an embedding: keeps the test in seconds (MiniLM's import and load take 5-15 s here)."""

    def encode(self, texts):
        return np.array([[t.lower().count(c) + 1e-3 for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts])


def test_compare_command_on_tiny_model(tmp_path, tiny_model_dir, write_jsonl, monkeypatch):
    monkeypatch.setattr(evaluate_cli, "_embedder", _Letters)
    train, held = _data(write_jsonl)
    run = _run_dir(tmp_path, tiny_model_dir)
    res = CliRunner().invoke(app, ["compare", "--run", str(run), "--train", str(train), "--eval", str(held), "--k", "2",
                                   "--max-new-tokens", "4", "--forgetting-tokens", "300"])
    assert res.exit_code == 0, res.output
    report = json.loads((run / "compare" / "report.json").read_text())
    assert [r["name"] for r in report["rows"]] == ["base zero-shot", "base few-shot", "RAG-copy", "base + RAG",
                                                   "fine-tuned", "fine-tuned + RAG"]
    assert all("semantic" in r and "chrf" in r for r in report["rows"])
    f = report["forgetting"]
    # The "tuned" model is the base copied: same weights, same perplexity.
    assert f["n_tokens"] > 100 and abs(f["increase_pct"]) < 1e-6
    assert report["dataset"]["overlap"]["count"] == 2 and len(report["curve"]) == 3
    # 3 training examples and a "fine-tune" that changed nothing: the advice cannot be to fine-tune.
    assert report["advice"]["verdict"].startswith("don't fine-tune: use "), report["advice"]
    page = (run / "compare" / "report.html").read_text()
    assert "base + RAG" in page and page.count("data:image/png;base64,") == 3
    assert "ADVICE" in res.output and "fine-tuned + RAG" in res.output


@pytest.mark.slow
def test_minilm_embedder_offline():
    from tunesmith.evaluate.retrieval import MiniLM, Retriever
    from tunesmith.data.example import from_pair

    emb = MiniLM()
    v = emb.encode(["The build failed: module numpy not found", "ImportError: No module named numpy", "I like cake"])
    assert v.shape == (3, 384) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2]
    train = [from_pair("I like cake", "x"), from_pair("ImportError: No module named numpy", "y")]
    assert Retriever(train, emb).nearest(["numpy module missing"], 1) == [[1]]
