"""Write a merged model as a GGUF file (F16 or Q8_0) for llama.cpp / Ollama with llama.cpp's own converter
(`convert_hf_to_gguf.py`, see llamacpp.py), then prove it: reload the file through transformers' GGUF reader, set up
as llama.cpp reads the file, and compare logits and tokenization with the in-memory model.

Only the families whose export is verified (tunesmith/models/families.py, tested in tests/test_families.py) are
exported, and a model whose settings llama.cpp would read differently is refused before any work, with the reason.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tunesmith.export.artifact import ExportError
from tunesmith.export.source import Run, load_merged, source_gguf

GGUF_NAME = "model.gguf"
QUANTS = ("f16", "q8_0")
# Max |logit difference| allowed after the round trip, relative to the largest |logit| (at least 1). F16 rounds each
# weight to 11 significant bits; Q8_0 to 8 bits per block of 32, so its error is ~20x larger. Measured on SmolLM2-135M
# + LoRA: 0.0018 (F16) and 0.047 (Q8_0) of the logit scale; the tiny test llama: 0.0013 and 0.044.
TOLERANCE = {"f16": 1e-2, "q8_0": 1e-1}
# Prompts for the check. No multi-digit numbers: transformers' GGUF tokenizer reader does not apply SmolLM's
# digit-splitting pre-tokenizer (llama.cpp does), so the two tokenizers would disagree on those for reasons not ours.
CHECK_PROMPTS = (
    "What is the capital of France?",
    "ERROR: build failed with exit code 1 after npm install",
    "Traceback (most recent call last): ImportError: cannot import name foo",
)
# llama.cpp's pre-tokenizer names for a tokenizer.json that splits with one of these regexes before byte-level BPE
# (llama.cpp's src/llama-vocab.cpp quotes each original next to its own rewrite).
SPLIT_REGEXES = {
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+": "llama-bpe",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+": "qwen2",
}
# llama.cpp's default Gemma 3 layer pattern when the GGUF names none (the converter writes none): 5 sliding-window
# layers, then one global (llama.cpp src/models/gemma3.cpp, `load_swa_pattern(ml, 6)`).
GEMMA3_SWA_PATTERN = 6


@dataclass(frozen=True)
class Check:
    quant: str
    max_abs_diff: float
    logit_scale: float
    tolerance: float
    argmax_agreement: float
    tokenizer_agrees: bool
    rope_agrees: bool = True  # the RoPE frequencies llama.cpp will use are the trained model's

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance * self.logit_scale and self.tokenizer_agrees and self.rope_agrees


def _swa_layers(n_layers: int, pattern: int) -> list[str]:
    """llama.cpp's `set_swa_pattern`: layer i uses the sliding window unless it is the last of each `pattern`."""
    return ["sliding_attention" if pattern == 0 or i % pattern < pattern - 1 else "full_attention" for i in range(n_layers)]


def _gemma3_query_scale(n_layers: int, hidden: int, heads: int, head_dim: int) -> float:
    """The `query_pre_attn_scalar` llama.cpp uses for Gemma 3: hidden/heads for the 62-layer 27B, head_dim otherwise."""
    return hidden / heads if n_layers == 62 else head_dim


def llamacpp_differences(config) -> list[str]:
    """Settings of `config` that llama.cpp would read differently from transformers after conversion."""
    problems = []
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    # Gemma 3 keeps one entry per attention kind ({"full_attention": {...}, "sliding_attention": {...}})
    entries = list(rope.values()) if rope and all(isinstance(v, dict) for v in rope.values()) else [rope]
    # Llama 3's scaling is carried by the file's rope_freqs tensor, which the check compares with the model's own
    # frequencies (_apply_rope_freqs); no other scaling is checked.
    checked = {"default", "llama3"} if getattr(config, "model_type", "") in ("llama", "mistral") else {"default"}
    scaled = sorted({e.get("rope_type") or "default" for e in entries} - checked)
    if scaled:
        problems.append(f"RoPE scaling {', '.join(scaled)} is not covered by the round-trip check (transformers' GGUF "
                        "reader ignores it, so a wrong file would pass)")
    mt = getattr(config, "model_type", "")
    window = getattr(config, "sliding_window", None)
    if mt.startswith("gemma3"):
        if window:
            want = _swa_layers(config.num_hidden_layers, GEMMA3_SWA_PATTERN)
            if list(getattr(config, "layer_types", want)) != want:
                problems.append(f"its sliding-window layer pattern {config.layer_types} is not the one llama.cpp assumes "
                                f"for Gemma 3 (every {GEMMA3_SWA_PATTERN}th layer global)")
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        scale = _gemma3_query_scale(config.num_hidden_layers, config.hidden_size, config.num_attention_heads, head_dim)
        if getattr(config, "query_pre_attn_scalar", scale) != scale:
            problems.append(f"query_pre_attn_scalar {config.query_pre_attn_scalar} is not the {scale:g} llama.cpp uses")
    elif window and getattr(config, "use_sliding_window", True) and window < getattr(config, "max_position_embeddings", 0):
        # llama.cpp's llama (Mistral v0.1) and qwen2 have none; its phi3 reads the window and then disables it
        problems.append(f"sliding_window {window}: llama.cpp runs {mt} without a sliding window, so answers past "
                        f"{window} tokens would differ")
    return problems


def check_exportable(config) -> None:
    """Refuse, before any work, a model whose GGUF export is not verified or would not compute what it computes."""
    from tunesmith.export.llamacpp import ConverterMissing, converter_dir
    from tunesmith.models.families import StepRefused, check_step, family_name

    try:
        check_step(config, "export gguf")
    except StepRefused as e:
        raise ExportError(str(e)) from e
    problems = llamacpp_differences(config)
    if problems:
        raise ExportError(f"export gguf is refused for {family_name(config)}: " + "; ".join(problems))
    try:
        converter_dir()
    except ConverterMissing as e:
        raise ExportError(str(e)) from e


def pretokenizer_name(tokenizer, source_gguf: Path | None = None) -> str:
    """llama.cpp's name for how text is split before BPE (`tokenizer.ggml.pre`), for tokenizers its converter does not
    know by hash. Taken from the GGUF the base came from when there is one; otherwise recognised from tokenizer.json.
    Unknown splitting raises, because llama.cpp would tokenize differently from training."""
    if source_gguf is not None:
        from gguf import GGUFReader

        field = GGUFReader(source_gguf).fields.get("tokenizer.ggml.pre")
        if field is not None:
            return field.contents()
    pre = json.loads(tokenizer.backend_tokenizer.to_str()).get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [(s.get("type"), s.get("use_regex", s.get("individual_digits"))) for s in steps]
    if kinds == [("ByteLevel", True)]:
        return "gpt2"
    if kinds == [("Digits", True), ("ByteLevel", True)]:
        return "smollm"
    if kinds == [("Split", None), ("ByteLevel", False)]:
        name = SPLIT_REGEXES.get(steps[0].get("pattern", {}).get("Regex"))
        if name:
            return name
    raise ExportError(f"the tokenizer's pre-tokenizer {kinds} has no known llama.cpp equivalent; cannot write GGUF")


def _reader_config(path: Path):
    """transformers' config for the GGUF, set where its reader reads the file differently from llama.cpp as
    llama.cpp reads it."""
    from gguf import GGUFReader
    from transformers import AutoConfig, LlamaConfig

    fields = {k: f.contents() for k, f in GGUFReader(path).fields.items() if not k.startswith("tokenizer.")}
    arch = fields["general.architecture"]
    get = lambda key, default=None: fields.get(f"{arch}.{key}", default)  # noqa: E731
    out = {}
    if get("attention.key_length"):  # transformers reads it for some architectures only (not Qwen3)
        out["head_dim"] = int(get("attention.key_length"))
    if arch == "gemma3":
        n, hidden, heads = int(get("block_count")), int(get("embedding_length")), int(get("attention.head_count"))
        pattern = get("attention.sliding_window_pattern", GEMMA3_SWA_PATTERN)
        if not get("attention.sliding_window"):
            out["layer_types"] = ["full_attention"] * n
        elif isinstance(pattern, list):
            out["layer_types"] = ["sliding_attention" if b else "full_attention" for b in pattern]
        else:
            out["layer_types"] = _swa_layers(n, int(pattern))
        out["query_pre_attn_scalar"] = _gemma3_query_scale(n, hidden, heads, out.get("head_dim", hidden // heads))
    config = AutoConfig.from_pretrained(path.parent, gguf_file=path.name)
    for key, value in out.items():
        setattr(config, key, value)
    if arch == "llama" and config.model_type != "llama":
        # transformers reads a llama GGUF whose name says "mistral" as Mistral, then finds no GGUF tensor names for
        # that type; llama.cpp runs it as llama, and so does the check.
        config = LlamaConfig(**{k: v for k, v in config.to_dict().items() if k not in ("model_type", "architectures")})
    return config


def _apply_rope_freqs(path: Path, reloaded, model) -> bool:
    """Give the reloaded model the RoPE frequencies llama.cpp uses, and say whether they are the trained model's.

    transformers' GGUF reader ignores `rope_freqs.weight`, the per-frequency divisors that carry Llama 3's RoPE
    scaling (llama.cpp divides each frequency by its factor). Its effect is too small to see in the logits of short
    prompts, so the frequencies are compared directly: the file's (base frequencies / factors) against the model's."""
    import torch
    from gguf import GGUFReader

    factors = next((t for t in GGUFReader(path).tensors if t.name == "rope_freqs.weight"), None)
    mine = {n: b for n, b in model.named_buffers() if n.endswith("inv_freq")}
    theirs = {n: b for n, b in reloaded.named_buffers() if n.endswith("inv_freq")}
    ok = True
    for name, buf in theirs.items():
        if factors is not None:
            buf.copy_(buf / torch.from_numpy(factors.data.astype("float32")).reshape(buf.shape))
        if name in mine:
            ok &= torch.allclose(mine[name].float(), buf.float(), rtol=1e-5, atol=0)
    return ok


def check_gguf(path: Path, model, tokenizer, quant: str, prompts=CHECK_PROMPTS) -> Check:
    """Reload `path` through transformers and compare logits (and tokenization) with `model` on `prompts`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    reloaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, config=_reader_config(path),
                                                    dtype=torch.float32).eval()
    rope_ok = _apply_rope_freqs(path, reloaded, model)
    gtok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    diff = scale = 0.0
    agree = total = 0
    tok_ok = True
    for p in prompts:
        text = tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
        tok_ok &= gtok(text, add_special_tokens=False).input_ids == ids[0].tolist()
        with torch.no_grad():
            ref = model(ids).logits[0]
            got = reloaded(ids).logits[0]
        diff = max(diff, (ref - got).abs().max().item())
        scale = max(scale, ref.abs().max().item())
        agree += (ref.argmax(-1) == got.argmax(-1)).sum().item()
        total += ref.shape[0]
    return Check(quant, diff, max(1.0, scale), TOLERANCE[quant], agree / total, tok_ok, rope_ok)


def _base_tokenizer_files(run: Run, source: Path) -> None:
    """What the converter reads from a tokenizer that transformers' save_pretrained does not write back: the base
    model's SentencePiece `tokenizer.model` (Phi-3 and Gemma's converters read the vocab from it) and the
    `tokenizer_class` its tokenizer_config.json names (Phi3's converter picks the BPE path by it)."""
    base = run.local_base()
    if base is None:
        return
    if (base / "tokenizer.model").is_file() and not (source / "tokenizer.model").exists():
        shutil.copy2(base / "tokenizer.model", source / "tokenizer.model")
    try:
        cls = json.loads((base / "tokenizer_config.json").read_text(encoding="utf-8")).get("tokenizer_class")
        cfg = json.loads((source / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if cls and cfg.get("tokenizer_class") != cls:
        cfg["tokenizer_class"] = cls
        (source / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")


def model_config(run: Run):
    """The run's model config, read without loading weights (an adapter's is its base model's)."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(run.base_dir() if run.is_adapter else run.model_dir)


def export_gguf(run: Run, target: Path, *, quant: str | None = None) -> dict:
    """`target/model.gguf`, checked by a round trip; the export fails (nothing left behind) if the check fails."""
    from tunesmith.export.llamacpp import PACKAGE, VERSION, convert
    from tunesmith.export.merge import set_generation_eos

    quant = quant or "f16"
    if quant not in QUANTS:
        raise ExportError(f"--quant {quant!r}: choose one of {', '.join(QUANTS)}")
    check_exportable(model_config(run))  # before any work
    model, tokenizer = load_merged(run)
    try:
        pre = pretokenizer_name(tokenizer, source_gguf(run))
    except ExportError:
        pre = None  # the converter may still know the tokenizer by its hash; it refuses otherwise
    path = Path(target) / GGUF_NAME
    with tempfile.TemporaryDirectory(prefix=".gguf-source-", dir=Path(target).parent) as tmp:
        # The converter reads an HF dir: the merged model (a full run's own weight files, linked), the run's tokenizer.
        source = Path(tmp)
        if run.is_adapter:
            set_generation_eos(model, tokenizer)
            model.save_pretrained(source)
        else:
            for f in run.model_dir.iterdir():
                if f.suffix == ".safetensors" or f.name in ("config.json", "generation_config.json") or \
                        f.name.endswith(".safetensors.index.json"):
                    (source / f.name).symlink_to(f.resolve())
        tokenizer.save_pretrained(source)
        _base_tokenizer_files(run, source)
        try:
            convert(source, path, outtype=quant, pre_fallback=pre, name=run.root.resolve().name)
        except RuntimeError as e:
            raise ExportError(str(e)) from e
    check = check_gguf(path, model, tokenizer, quant)
    if not check.ok:
        raise ExportError(
            f"GGUF round-trip check failed ({quant}): max |logit diff| {check.max_abs_diff:.4g} vs allowed "
            f"{check.tolerance * check.logit_scale:.4g}; tokenizer agrees: {check.tokenizer_agrees}; RoPE frequencies "
            f"agree: {check.rope_agrees}. Nothing was written."
        )
    return {
        "file": GGUF_NAME,
        "quant": quant,
        "converter": f"llama.cpp convert_hf_to_gguf.py from {PACKAGE}=={VERSION}",
        "check": {
            "prompts": len(CHECK_PROMPTS),
            "max_abs_logit_diff": check.max_abs_diff,
            "allowed": check.tolerance * check.logit_scale,
            "argmax_agreement": check.argmax_agreement,
            "tokenizer_agrees": check.tokenizer_agrees,
            "rope_agrees": check.rope_agrees,
        },
    }


__all__ = ["GGUF_NAME", "QUANTS", "TOLERANCE", "Check", "check_exportable", "llamacpp_differences", "pretokenizer_name",
           "model_config", "check_gguf", "export_gguf"]
