"""`tunesmith export` on tiny runs: every format loads back and computes what the run computes; refusals are clear;
a failed export leaves nothing behind."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from conftest import CHATML, build_tiny_model, build_tiny_tokenizer

PROMPTS = ["What is the capital of France?", "ERROR: build failed with exit code 1"]


def make_run(root: Path, base_dir: Path, *, system_prompt=None, seed=1) -> Path:
    """A run dir like `tunesmith train` writes: RUN/model/ = non-trivial LoRA adapter + tokenizer + tunesmith.json."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    # init_lora_weights=False: B is random, not zero, so the adapter really changes the logits.
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    model_dir = root / "model"
    peft_model.save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(model_dir)
    meta = {"base_model": str(base_dir), "base_model_path": str(base_dir), "method": "lora", "max_seq_len": 256,
            "system_prompt": system_prompt}
    (model_dir / "tunesmith.json").write_text(json.dumps(meta))
    (root / "config.yaml").write_text("method: lora\n")
    return root


@pytest.fixture(scope="module")
def tiny_run(tiny_model_dir, tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("run"), tiny_model_dir)


def logits_of(model, tokenizer, prompts=PROMPTS):
    out = []
    for p in prompts:
        text = tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            out.append(model(ids).logits[0])
    return torch.cat(out)


def peft_logits(run: Path, base_dir: Path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), run / "model").eval()
    return logits_of(model, AutoTokenizer.from_pretrained(run / "model"))


def no_leftovers(parent: Path):
    assert not [p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name]


def test_merged_loads_and_matches_base_plus_adapter(tiny_run, tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.export import export

    out = tmp_path / "merged"
    export(tiny_run, "merged", out)
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.chat_template == CHATML
    assert model.generation_config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    merged, ref = logits_of(model, tok), peft_logits(tiny_run, tiny_model_dir)
    base = logits_of(AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval(), tok)
    assert (ref - base).abs().max() > 1e-3  # the adapter is not a no-op, so the comparison below means something
    assert torch.allclose(merged, ref, atol=1e-5)
    meta = json.loads((out / "tunesmith.json").read_text())
    assert meta["method"] == "lora" and meta["export"]["format"] == "merged"
    assert meta["export"]["versions"]["transformers"] and "git_revision" in meta["export"]
    no_leftovers(tmp_path)


def test_adapter_export_loads_with_peft(tiny_run, tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.export import export

    out = tmp_path / "adapter"
    export(tiny_run, "adapter", out)
    assert {"adapter_config.json", "adapter_model.safetensors", "tunesmith.json"} <= {p.name for p in out.iterdir()}
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), out).eval()
    got = logits_of(model, AutoTokenizer.from_pretrained(out))
    assert torch.allclose(got, peft_logits(tiny_run, tiny_model_dir), atol=1e-6)


def test_full_finetune_run_is_copied_through_and_has_no_adapter(tiny_model_dir, tmp_path):
    from tunesmith.export import ExportError, export

    run = tmp_path / "full"
    shutil.copytree(tiny_model_dir, run / "model")
    (run / "model" / "tunesmith.json").write_text(json.dumps({"base_model": "x", "method": "full"}))
    export(run, "merged", tmp_path / "out")
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == (tiny_model_dir / "model.safetensors").read_bytes()
    with pytest.raises(ExportError, match="no adapter to export"):
        export(run, "adapter", tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


@pytest.mark.parametrize("quant", ["f16", "q8_0"])
def test_gguf_round_trip_matches_merged_model(tiny_run, tmp_path, quant):
    from gguf import GGUFReader
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.export import export
    from tunesmith.export.gguf import TOLERANCE

    export(tiny_run, "merged", tmp_path / "merged")
    meta = export(tiny_run, "gguf", tmp_path / "gguf", quant=quant)
    path = tmp_path / "gguf" / "model.gguf"
    reader = GGUFReader(path)
    f = reader.fields
    assert f["general.architecture"].contents() == "llama"
    assert f["llama.attention.head_count"].contents() == 4 and f["llama.attention.head_count_kv"].contents() == 2
    assert f["tokenizer.chat_template"].contents() == CHATML
    tok = AutoTokenizer.from_pretrained(tmp_path / "merged")
    assert f["tokenizer.ggml.eos_token_id"].contents() == tok.convert_tokens_to_ids("<|im_end|>")
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["blk.0.attn_q.weight"] == quant.upper() and types["blk.0.attn_norm.weight"] == "F32"
    assert "output.weight" in types  # the tiny model has untied embeddings

    # Our own comparison, independent of the one export() made.
    merged = logits_of(AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval(), tok)
    reloaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    diff = (logits_of(reloaded, tok) - merged).abs().max().item()
    assert diff <= TOLERANCE[quant] * max(1.0, merged.abs().max().item())
    check = meta["export"]["check"]
    assert 0 < check["max_abs_logit_diff"] <= check["allowed"] and check["tokenizer_agrees"]
    if quant == "f16":
        assert diff < 5e-3


def test_gguf_check_catches_missing_qk_permutation_and_leaves_nothing(tiny_run, tmp_path, monkeypatch):
    """A converter that forgot llama.cpp's Q/K row permutation (the classic llama GGUF bug): the file is undone in
    place after a real conversion, and the round-trip check must refuse it."""
    import numpy as np
    from gguf import GGUFReader

    from tunesmith.export import ExportError, export
    from tunesmith.export import llamacpp

    real = llamacpp.convert

    def unpermuted(model_dir, out, **kw):
        log = real(model_dir, out, **kw)
        reader = GGUFReader(out, "r+")
        n_head = int(reader.fields["llama.attention.head_count"].contents())
        for t in reader.tensors:
            if t.name.endswith("attn_q.weight"):
                w = np.array(t.data)
                rows = w.shape[0]
                t.data[...] = w.reshape(n_head, rows // n_head // 2, 2, -1).swapaxes(1, 2).reshape(w.shape)
        return log

    monkeypatch.setattr(llamacpp, "convert", unpermuted)
    with pytest.raises(ExportError, match="round-trip check failed"):
        export(tiny_run, "gguf", tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    no_leftovers(tmp_path)


def test_gguf_tied_embeddings_write_no_output_tensor(tmp_path, tiny_tokenizer_dir):
    from gguf import GGUFReader
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    from tunesmith.export import export

    base = tmp_path / "tied_base"
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    cfg = build_tiny_model(tmp_path / "untied", tok).config
    cfg.tie_word_embeddings = True  # as SmolLM2: the output layer reuses the embedding matrix
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(base)
    tok.save_pretrained(base)
    loaded = AutoModelForCausalLM.from_pretrained(base)
    assert loaded.lm_head.weight.data_ptr() == loaded.model.embed_tokens.weight.data_ptr()
    run = make_run(tmp_path / "run", base)
    meta = export(run, "gguf", tmp_path / "gguf", quant="f16")
    names = {t.name for t in GGUFReader(tmp_path / "gguf" / "model.gguf").tensors}
    assert "output.weight" not in names and "token_embd.weight" in names
    assert meta["export"]["check"]["max_abs_logit_diff"] < 5e-3


def test_refuses_unverified_architectures():
    from transformers import GPTNeoXConfig, LlamaConfig, MistralConfig

    from tunesmith.export import ExportError
    from tunesmith.export.gguf import check_exportable

    with pytest.raises(ExportError, match="refused for model type 'gpt_neox'"):
        check_exportable(GPTNeoXConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=4))
    scaled = LlamaConfig(hidden_size=64, num_attention_heads=4, rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 1e4})
    with pytest.raises(ExportError, match="refused for Llama: RoPE scaling linear"):
        check_exportable(scaled)
    windowed = MistralConfig(hidden_size=64, num_attention_heads=4, sliding_window=4096, max_position_embeddings=32768)
    with pytest.raises(ExportError, match="refused for Mistral: sliding_window 4096"):
        check_exportable(windowed)


def test_ollama_dir_has_gguf_and_modelfile(tiny_model_dir, tmp_path):
    from tunesmith.export import export
    from tunesmith.export.ollama import CHATML_TEMPLATE

    run = make_run(tmp_path / "run", tiny_model_dir, system_prompt="You analyse failed CI logs.")
    export(run, "ollama", tmp_path / "ollama", quant="q8_0")
    text = (tmp_path / "ollama" / "Modelfile").read_text()
    assert text.splitlines()[1] == "FROM ./model.gguf"
    assert f'TEMPLATE """{CHATML_TEMPLATE}"""' in text and "<|im_start|>user" in CHATML_TEMPLATE
    assert 'SYSTEM """You analyse failed CI logs."""' in text
    assert 'PARAMETER stop "<|im_end|>"' in text
    assert (tmp_path / "ollama" / "model.gguf").stat().st_size > 0


def test_ollama_refuses_template_it_cannot_translate(tiny_model_dir, tmp_path):
    from tunesmith.export import ExportError, export

    run = make_run(tmp_path / "run", tiny_model_dir)
    cfg_path = run / "model" / "tokenizer_config.json"
    alpaca = "{% for m in messages %}### {{ m['role'] }}:\n{{ m['content'] }}\n{% endfor %}"
    jinja = run / "model" / "chat_template.jinja"
    if jinja.exists():
        jinja.write_text(alpaca)
    else:
        cfg = json.loads(cfg_path.read_text())
        cfg["chat_template"] = alpaca
        cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ExportError, match="not ChatML"):
        export(run, "ollama", tmp_path / "ollama")
    assert not (tmp_path / "ollama").exists()


def test_default_system_prompt_of_template_is_kept(tmp_path):
    from tunesmith.export.ollama import chatml_default_system

    tok = build_tiny_tokenizer(tmp_path)
    # SmolLM2's template shape: a default system turn when the conversation has none.
    tok.chat_template = (
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\nYou are SmolLM.<|im_end|>\n' }}{% endif %}" + CHATML[len("{% for message in messages %}"):]
    )
    assert chatml_default_system(tok) == "You are SmolLM."
    tok.chat_template = CHATML
    assert chatml_default_system(tok) is None


GO_RENDER = """package main
import ("encoding/json"; "os"; "text/template")
func main() {
  src, _ := os.ReadFile(os.Args[1])
  var data map[string]any
  json.NewDecoder(os.Stdin).Decode(&data)
  t := template.Must(template.New("m").Parse(string(src)))
  if err := t.Execute(os.Stdout, data); err != nil { panic(err) }
}
"""


def test_ollama_template_renders_like_the_chat_template(tmp_path, tiny_tokenizer_dir):
    """Ollama's TEMPLATE is Go text/template: render it with Go itself and compare with transformers' rendering."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go toolchain not installed (apt-get install golang-go); cannot render the Ollama template")
    from transformers import AutoTokenizer

    from tunesmith.export.ollama import CHATML_TEMPLATE

    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    (tmp_path / "render.go").write_text(GO_RENDER)
    (tmp_path / "t.tmpl").write_text(CHATML_TEMPLATE)
    env = {"HOME": str(tmp_path), "GOCACHE": str(tmp_path / "gocache"), "PATH": "/usr/bin:/bin", "GOFLAGS": "-mod=mod"}
    subprocess.run([go, "build", "-o", str(tmp_path / "render"), str(tmp_path / "render.go")], check=True, env=env, cwd=tmp_path)
    convs = [
        [{"role": "user", "content": "U1"}],
        [{"role": "system", "content": "S"}, {"role": "user", "content": "U1"}],
        [{"role": "system", "content": "S"}, {"role": "user", "content": "U1"}, {"role": "assistant", "content": "A1"},
         {"role": "user", "content": "U2"}],
    ]
    for msgs in convs:
        # Ollama passes the system prompt as .System and keeps it among .Messages too.
        system = "\n\n".join(m["content"] for m in msgs if m["role"] == "system")
        data = {"System": system, "Messages": [{"Role": m["role"], "Content": m["content"]} for m in msgs]}
        got = subprocess.run([str(tmp_path / "render"), str(tmp_path / "t.tmpl")], input=json.dumps(data),
                             capture_output=True, text=True, check=True).stdout
        assert got == tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


def test_staging_dirs_of_killed_exports_are_cleaned_up(tiny_run, tmp_path):
    from tunesmith.export import export

    dead = tmp_path / ".a.partial-999999999-xyz"  # as left by an export killed with SIGKILL
    dead.mkdir()
    (dead / "model.gguf").write_bytes(b"half")
    export(tiny_run, "adapter", tmp_path / "a")
    assert not dead.exists() and (tmp_path / "a" / "adapter_config.json").exists()


def test_cli_export_and_its_errors(tiny_run, tmp_path):
    from typer.testing import CliRunner

    from tunesmith.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["export", "--run", str(tiny_run), "--format", "adapter", "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "a" / "adapter_config.json").exists()
    again = runner.invoke(app, ["export", "--run", str(tiny_run), "--format", "adapter", "--out", str(tmp_path / "a")])
    assert again.exit_code == 1 and "already exists" in again.output
    forced = runner.invoke(app, ["export", "--run", str(tiny_run), "--format", "adapter", "--out", str(tmp_path / "a"), "--force"])
    assert forced.exit_code == 0, forced.output
    bad = runner.invoke(app, ["export", "--run", str(tiny_run), "--format", "onnx", "--out", str(tmp_path / "b")])
    assert bad.exit_code != 0 and "onnx" in bad.output
    missing = runner.invoke(app, ["export", "--run", str(tmp_path / "nope"), "--format", "gguf", "--out", str(tmp_path / "c")])
    assert missing.exit_code == 1 and "run dir not found" in missing.output
    no_leftovers(tmp_path)
