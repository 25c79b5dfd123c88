"""Turn a model spec (registry name, local HF dir, or local GGUF file) into a loaded model and tokenizer.

GGUF weights are dequantized once by transformers and cached as a safetensors HF dir: later loads are fast, and
bitsandbytes 4-bit (QLoRA) can load that dir (transformers refuses `quantization_config` together with `gguf_file`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

from tunesmith.models.registry import DEFAULT_MODEL, gguf_path, lookup

log = logging.getLogger(__name__)

# Used when a base model ships no chat template (e.g. Gemma 3 270M base). Plain-text markers a base model can learn;
# the assistant turn ends with the EOS token so a tuned model learns to stop.
FALLBACK_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'user' %}### Input:\n{{ message['content'] }}\n\n"
    "{% else %}### Response:\n{{ message['content'] }}{{ eos_token }}\n\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}### Response:\n{% endif %}"
)


def cache_root() -> Path:
    """Where converted models live: $TUNESMITH_CACHE, else ~/.cache/tunesmith."""
    return Path(os.environ.get("TUNESMITH_CACHE", Path.home() / ".cache" / "tunesmith"))


def resolve(spec: str | os.PathLike | None = None) -> Path:
    """An HF model dir for `spec`, converting a GGUF (registry or local file) into the cache on first use."""
    spec = str(spec or DEFAULT_MODEL)
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{path} is a directory but not a Hugging Face model dir (no config.json)")
        return path
    if path.suffix == ".gguf":
        if not path.exists():
            raise FileNotFoundError(f"GGUF file not found: {path}")
        stat = path.stat()
        key = hashlib.sha1(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
        return _convert_gguf(path, cache_root() / "models" / f"{path.stem}-{key}")
    entry = lookup(spec)
    if entry is None:
        from tunesmith.models.registry import REGISTRY

        raise FileNotFoundError(
            f"unknown model '{spec}': not a registry name ({', '.join(REGISTRY)}), a local HF model dir, or a .gguf file. "
            "tunesmith never downloads from a model hub; see `tunesmith models list`."
        )
    return _convert_gguf(gguf_path(entry), cache_root() / "models" / entry.name)


def _convert_gguf(gguf: Path, target: Path) -> Path:
    """Dequantize a GGUF into a safetensors HF dir once; written to a temp dir and renamed so a crash leaves nothing half-done."""
    if (target / "config.json").exists():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to a cached model dir %s (once)", gguf, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # A GGUF-loaded model refuses save_pretrained until its quantizer bookkeeping is cleared; the weights are
        # already dequantized to float32 at this point.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.config.name_or_path = str(target)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is an ordinary dir
        try:
            os.rename(tmp, target)
        except OSError:  # another process converted it first: theirs is as good as ours
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def ensure_chat_template(tokenizer) -> bool:
    """Give a tokenizer without a chat template the fallback one. Returns True when the fallback was applied."""
    if tokenizer.pad_token is None:
        # Padding is masked out of attention and labels, so reusing EOS as pad changes nothing the model sees.
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(tokenizer, "chat_template", None):
        tokenizer.init_kwargs.setdefault("tunesmith_fallback_template", False)
        return False
    tokenizer.chat_template = FALLBACK_TEMPLATE
    tokenizer.init_kwargs["tunesmith_fallback_template"] = True
    return True


def load_tokenizer(spec: str | os.PathLike | None = None):
    """The tokenizer of `spec`, always with a chat template and a pad token."""
    from transformers import AutoTokenizer

    path = Path(str(spec)) if spec is not None else None
    # A tokenizer-only dir (no config.json) is enough for counting tokens; anything else goes through resolve().
    is_tok_dir = path is not None and path.is_dir() and (path / "tokenizer_config.json").exists()
    tok = AutoTokenizer.from_pretrained(path if is_tok_dir else resolve(spec))
    ensure_chat_template(tok)
    return tok


def load_model(spec: str | os.PathLike | None = None, *, dtype=None, load_in_4bit: bool = False):
    """(model, tokenizer) for `spec`. `load_in_4bit` quantizes the base to NF4 with bitsandbytes (QLoRA); runs on CPU."""
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve(spec)
    kwargs: dict = {"dtype": dtype or torch.float32}
    if load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    tok = load_tokenizer(path)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok


def end_of_turn_tokens(tokenizer) -> list[str]:
    """The tokens that end an assistant turn: the special token the chat template writes right after the
    assistant's text (e.g. `<|im_end|>`), then EOS. Found by rendering the template, not by guessing from names."""
    probe = "\x01tunesmith-probe\x01"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": probe}], tokenize=False
    )
    found: list[str] = []
    after = text[text.index(probe) + len(probe) :] if probe in text else ""
    specials = sorted({str(t) for t in tokenizer.added_tokens_decoder.values()}, key=len, reverse=True)
    stripped = after.lstrip()
    for tok in specials:
        if stripped.startswith(tok):
            found.append(tok)
            break
    if tokenizer.eos_token and tokenizer.eos_token not in found:
        found.append(tokenizer.eos_token)
    return found


__all__ = ["FALLBACK_TEMPLATE", "cache_root", "resolve", "ensure_chat_template", "load_tokenizer", "load_model", "end_of_turn_tokens"]
