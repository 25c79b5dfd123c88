"""The family matrix: a tiny random model of each family users fine-tune most (Llama, Mistral, Qwen2, Qwen3, Gemma 3,
Phi-3; tests/family_models.py) through every step: train (lora, qlora, full), merge, generate (stops at the family's
own end-of-turn token), eval, GGUF export through llama.cpp's converter with the round-trip logits check, and Ollama
export. A step a family cannot do must be refused before any work, naming the family and the step. The README's
family table says what this file proves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from family_models import FAMILIES, build_model
from train_helpers import make_cfg

FAMILY_IDS = list(FAMILIES)
# What a tuned model is taught to answer: short, so 40 steps of a full fine-tune learn it and learn to stop.
STOP_DATA = [{"input": f"say ok {i % 3}", "output": "ok"} for i in range(24)]


class Runs:
    """Per family, built once and on demand: the base model dir and its lora / qlora / full runs."""

    def __init__(self, root: Path):
        self.root = root
        self.cache: dict[tuple[str, str], Path] = {}
        self.data = root / "stop.jsonl"
        self.data.write_text("".join(json.dumps(r) + "\n" for r in STOP_DATA))

    def base(self, family: str) -> Path:
        key = (family, "base")
        if key not in self.cache:
            self.cache[key] = build_model(FAMILIES[family], self.root / family / "base")
        return self.cache[key]

    def run(self, family: str, method: str) -> Path:
        key = (family, method)
        if key not in self.cache:
            from tunesmith.train.loop import main

            # full: long enough to learn the answer and the end-of-turn token; the adapters: a few steps
            kw = (dict(lr=3e-3, max_steps=40, eval_every=0, eval_fraction=0.0, lora_dropout=0.0, warmup_ratio=0.0)
                  if method == "full" else dict(max_steps=3, eval_every=3))
            cfg = make_cfg(self.base(family), self.data, self.root / family / method, method=method, **kw)
            self.cache[key] = main(cfg)
        return self.cache[key]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from a second thread, and on busy cores its spin-waits made a training step 100x
    slower (1 s instead of 10 ms). The converter subprocess gets the same setting."""
    import os

    before, env = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    yield
    torch.set_num_threads(before)
    if env is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = env


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    return Runs(tmp_path_factory.mktemp("families"))


def end_id(tokenizer, family: str) -> int:
    return tokenizer.convert_tokens_to_ids(FAMILIES[family].end_of_turn)


# ---- train -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["lora", "qlora", "full"])
@pytest.mark.parametrize("family", FAMILY_IDS)
def test_train(runs, family, method):
    run = runs.run(family, method)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics and all(torch.isfinite(torch.tensor(m["loss"])) for m in metrics if "loss" in m)
    meta = json.loads((run / "model" / "tunesmith.json").read_text())
    assert meta["method"] == method
    assert (run / "model" / ("model.safetensors" if method == "full" else "adapter_model.safetensors")).exists()
    if method == "full":  # the loss is on the answer and the end-of-turn token; 40 steps bring it down
        losses = [m["loss"] for m in metrics if "loss" in m]
        assert losses[-1] < 0.5 * losses[0], losses


# ---- merge -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILY_IDS)
def test_merge(runs, family, tmp_path):
    """`export --format merged` of a LoRA run: one plain HF model computing what base + adapter computes, whose
    generation config stops at the family's end-of-turn token."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.export import export

    run, base = runs.run(family, "lora"), runs.base(family)
    export(run, "merged", tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    tok = AutoTokenizer.from_pretrained(tmp_path / "merged")
    ids = tok(tok.apply_chat_template([{"role": "user", "content": "say ok 2"}], tokenize=False,
                                      add_generation_prompt=True), add_special_tokens=False, return_tensors="pt").input_ids
    ref = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), run / "model").eval()
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, ref(ids).logits, atol=1e-4, rtol=1e-4)
    eos = merged.generation_config.eos_token_id
    assert end_id(tok, family) in (eos if isinstance(eos, list) else [eos])


# ---- generate --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILY_IDS)
def test_generate_stops_at_its_own_end_token(runs, family):
    import tunesmith

    gen = tunesmith.load(runs.run(family, "full"))
    out = gen.generate(["say ok 1"], max_new_tokens=8)[0]
    assert out.stopped and out.text == "ok", out
    # The token it stopped on is the family's own end of turn (Phi-3's <|end|>, not its EOS <|endoftext|>).
    enc = gen.tokenizer(gen.prompt_text("say ok 1"), add_special_tokens=False, return_tensors="pt")
    with torch.no_grad():
        seq = gen.model.generate(**enc, max_new_tokens=8, do_sample=False, eos_token_id=None,
                                 pad_token_id=gen.tokenizer.pad_token_id)[0, enc.input_ids.shape[1]:].tolist()
    first_stop = next(t for t in seq if t in gen.stop_ids)
    assert first_stop == end_id(gen.tokenizer, family), gen.tokenizer.convert_ids_to_tokens(seq)


# ---- eval ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILY_IDS)
def test_eval(runs, family, tmp_path):
    from tunesmith.cli import app

    held = tmp_path / "held.jsonl"
    held.write_text("".join(json.dumps({"input": f"say ok {i}", "output": "ok"}) + "\n" for i in (0, 2)))
    res = CliRunner().invoke(app, ["eval", "--run", str(runs.run(family, "full")), "--data", str(held),
                                   "--out", str(tmp_path / "ev"), "--max-new-tokens", "6", "--no-semantic"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["n"] == 2 and metrics["stopped"] == 1.0 and metrics["max_tokens_hits"] == 0
    rows = [json.loads(line) for line in (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()]
    assert [r["prediction"] for r in rows] == ["ok", "ok"]


# ---- export ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILY_IDS)
def test_export_gguf(runs, family, tmp_path):
    """llama.cpp's converter writes the merged LoRA run; the round-trip check (run by export) passes, and so does our
    own comparison of the file's logits with the merged model's."""
    from gguf import GGUFReader
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.export import export
    from tunesmith.export.gguf import _reader_config
    from tunesmith.models.families import family_of

    run = runs.run(family, "lora")
    meta = export(run, "gguf", tmp_path / "gguf", quant="f16")
    check = meta["export"]["check"]
    assert check["max_abs_logit_diff"] <= check["allowed"] and check["tokenizer_agrees"], check
    assert check["argmax_agreement"] >= 0.95  # F16 may flip a near-tie of a random model
    assert meta["export"]["converter"].startswith("llama.cpp convert_hf_to_gguf.py")
    path = tmp_path / "gguf" / "model.gguf"
    fields = GGUFReader(path).fields
    base_cfg = AutoModelForCausalLM.from_pretrained(runs.base(family)).config
    assert fields["general.architecture"].contents() == family_of(base_cfg).gguf_arch
    assert fields["tokenizer.chat_template"].contents() == FAMILIES[family].template
    # independent of export()'s check: greedy answers of the GGUF as llama.cpp reads it equal the merged model's
    export(run, "merged", tmp_path / "merged")
    tok = AutoTokenizer.from_pretrained(tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    reloaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, config=_reader_config(path),
                                                    dtype=torch.float32).eval()
    text = tok.apply_chat_template([{"role": "user", "content": "say ok 1 and then some more words"}], tokenize=False,
                                   add_generation_prompt=True)
    ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.no_grad():
        a, b = merged(ids).logits, reloaded(ids).logits
    assert (a - b).abs().max().item() <= 1e-2 * max(1.0, a.abs().max().item())


@pytest.mark.parametrize("family", FAMILY_IDS)
def test_export_ollama(runs, family, tmp_path, monkeypatch):
    """ChatML families get a Modelfile; the others are refused, naming the family and the step, before the GGUF (the
    expensive part) is even started. The GGUF itself is test_export_gguf's (and test_export_formats.py exports a real
    Ollama dir end to end), so here it is a stand-in file."""
    from tunesmith.export import ExportError, export
    from tunesmith.export import ollama

    run = runs.run(family, "lora")
    if FAMILIES[family].end_of_turn == "<|im_end|>":
        def stand_in(run, target, quant=None):
            (target / "model.gguf").write_bytes(b"GGUF")
            return {"file": "model.gguf"}

        monkeypatch.setattr(ollama, "export_gguf", stand_in)
        export(run, "ollama", tmp_path / "ollama")
        text = (tmp_path / "ollama" / "Modelfile").read_text()
        assert 'PARAMETER stop "<|im_end|>"' in text and "FROM ./model.gguf" in text
        return

    def no_gguf(*a, **k):
        raise AssertionError("the GGUF export started before the refusal")

    monkeypatch.setattr(ollama, "export_gguf", no_gguf)
    with pytest.raises(ExportError) as e:
        export(run, "ollama", tmp_path / "ollama")
    assert f"export ollama is refused for {FAMILIES[family].name}" in str(e.value) and "not ChatML" in str(e.value)
    assert not (tmp_path / "ollama").exists()


# ---- refusals --------------------------------------------------------------------------------------------------------


def test_every_tested_family_is_in_the_registry_of_families():
    from transformers import AutoConfig

    from tunesmith.models.families import FAMILIES as TABLE
    from tunesmith.models.families import family_of

    assert sorted(f.name for f in TABLE) == sorted(s.name for s in FAMILIES.values())
    for spec in FAMILIES.values():
        import transformers

        cfg = getattr(transformers, spec.config_class)()
        assert family_of(cfg).name == spec.name
        assert family_of(AutoConfig.for_model(cfg.model_type)).name == spec.name


def test_unverified_family_is_refused_before_any_work(tmp_path, monkeypatch):
    """A model type outside the table: its GGUF export is refused, naming it and the step, before the model loads."""
    from transformers import GPTNeoXConfig

    from tunesmith.export import ExportError, export
    from tunesmith.export import gguf as gguf_mod

    model_dir = tmp_path / "run" / "model"
    model_dir.mkdir(parents=True)
    GPTNeoXConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(model_dir)
    (model_dir / "tokenizer_config.json").write_text("{}")
    (model_dir / "tunesmith.json").write_text(json.dumps({"base_model": "x", "method": "full"}))

    def no_load(*a, **k):
        raise AssertionError("the model was loaded before the refusal")

    monkeypatch.setattr(gguf_mod, "load_merged", no_load)
    with pytest.raises(ExportError, match=r"export gguf is refused for model type 'gpt_neox'.*Llama, Mistral"):
        export(tmp_path / "run", "gguf", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("change, words", [
    (dict(layer_types=["full_attention"] * 6), "layer pattern"),
    (dict(query_pre_attn_scalar=256), "query_pre_attn_scalar 256"),
    (dict(rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
                           "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}), "RoPE scaling linear"),
])
def test_settings_llamacpp_reads_differently_are_refused(change, words):
    """Gemma 3 settings llama.cpp would not honour (it assumes its own layer pattern and query scale) are refused
    before conversion, naming the family and the step."""
    import transformers

    from tunesmith.export import ExportError
    from tunesmith.export.gguf import check_exportable

    spec = FAMILIES["gemma3"]
    cfg = getattr(transformers, spec.config_class)(**{**dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                                                             num_hidden_layers=6), **spec.config, **change})
    with pytest.raises(ExportError, match=rf"export gguf is refused for Gemma 3: .*{words}"):
        check_exportable(cfg)


def test_gguf_without_llama3_rope_factors_fails_the_check(runs, tmp_path, monkeypatch):
    """transformers' GGUF reader ignores rope_freqs, so the check compares RoPE frequencies itself: a file whose Llama
    3 factors were lost (all 1) must be refused, and nothing written."""
    from gguf import GGUFReader

    from tunesmith.export import ExportError, export
    from tunesmith.export import llamacpp

    real = llamacpp.convert

    def unscaled(model_dir, out, **kw):
        log = real(model_dir, out, **kw)
        for t in GGUFReader(out, "r+").tensors:
            if t.name == "rope_freqs.weight":
                t.data[...] = 1.0
        return log

    monkeypatch.setattr(llamacpp, "convert", unscaled)
    with pytest.raises(ExportError, match="RoPE frequencies agree: False"):
        export(runs.run("llama", "lora"), "gguf", tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_converter_missing_is_refused_before_any_work(runs, tmp_path, monkeypatch):
    from tunesmith.export import ExportError, export
    from tunesmith.export import gguf as gguf_mod

    monkeypatch.setenv("TUNESMITH_LLAMACPP", str(tmp_path / "nowhere"))
    monkeypatch.setattr(gguf_mod, "load_merged", lambda run: (_ for _ in ()).throw(AssertionError("model loaded")))
    with pytest.raises(ExportError, match=r"(?s)convert_hf_to_gguf.py\) is not installed.*python -m tunesmith.export.llamacpp fetch"):
        export(runs.run("qwen2", "lora"), "gguf", tmp_path / "out")


def test_fetch_refuses_an_sdist_that_is_not_the_pinned_one(tmp_path):
    from tunesmith.export.llamacpp import ConverterMissing, fetch

    fake = tmp_path / "llama_cpp_python-0.3.36.tar.gz"
    fake.write_bytes(b"not the sdist")
    with pytest.raises(ConverterMissing, match="is not the pinned"):
        fetch(tmp_path / "conv", sdist=fake)
    assert not (tmp_path / "conv").exists()


def test_readme_family_table_matches_the_matrix():
    """The README's family table lists exactly the families this file runs, Ollama passing for the ChatML ones only."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Model families"):]
    rows = [line for line in section.splitlines()[:20]
            if line.startswith("| ") and not line.startswith(("| family", "| ---"))]
    cells_of = lambda row: [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]  # noqa: E731  (`\|` is a cell's pipe)
    table = {cells_of(r)[0]: cells_of(r)[1:] for r in rows}
    assert sorted(re.sub(r" \(.*\)$", "", k) for k in table) == sorted(s.name for s in FAMILIES.values())
    for name, cells in table.items():
        spec = next(s for s in FAMILIES.values() if name.startswith(s.name))
        assert spec.end_of_turn.replace("|", "\\|") in cells[2], (name, cells[2])
        assert cells[5].startswith("passes") == (spec.end_of_turn == "<|im_end|>"), name


@pytest.mark.parametrize("config_class, kw, words", [
    ("Phi3Config", dict(sliding_window=2047, max_position_embeddings=4096), "Phi-3: sliding_window 2047"),
    ("Phi3Config", dict(rope_parameters={"rope_type": "longrope", "rope_theta": 1e4, "long_factor": [1.0] * 8,
                                         "short_factor": [1.0] * 8, "original_max_position_embeddings": 4096},
                        max_position_embeddings=131072), "Phi-3: RoPE scaling longrope"),
    ("MistralConfig", dict(sliding_window=4096, max_position_embeddings=32768), "Mistral: sliding_window 4096"),
])
def test_real_configs_llamacpp_runs_differently_are_refused(config_class, kw, words):
    """Phi-3-mini-4k's 2047-token window (llama.cpp disables Phi's), Phi-3 128k's longrope, Mistral v0.1's window."""
    import transformers

    from tunesmith.export import ExportError
    from tunesmith.export.gguf import check_exportable

    cfg = getattr(transformers, config_class)(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, **kw)
    with pytest.raises(ExportError, match=rf"export gguf is refused for {words}"):
        check_exportable(cfg)
