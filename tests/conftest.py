"""Shared fixtures: a tiny random llama and a tiny ChatML tokenizer, built offline in seconds.

Nothing here touches the real model or a hub; tests that need the real model are marked `slow`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# --strict-skips (CI): a skip not on skip_guard.ALLOWED_SKIPS fails the run.
from skip_guard import SHARED_DATA as SHARED
from skip_guard import (  # noqa: F401  (pytest finds hooks by name in this module)
    pytest_addoption,
    pytest_runtest_logreport,
    pytest_sessionfinish,
    pytest_terminal_summary,
)

@pytest.fixture(scope="session", autouse=True)
def _merged_cache(tmp_path_factory):
    """Merged models the tests' generation makes go to a temporary dir, not the user's cache (the converted base model
    does stay in the user's cache: the slow tests would otherwise convert it again every session)."""
    import os

    os.environ["TUNESMITH_MERGED_CACHE"] = str(tmp_path_factory.mktemp("merged-cache"))
    yield


CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_CORPUS = [
    "Category: test failure. Root Cause: the assertion in test_parse failed. Fix: update the expected value.",
    "Category: dependency. Root Cause: module numpy not found. Fix: add numpy to requirements.txt.",
    "ERROR: build failed with exit code 1 after npm install; error TS2322 type mismatch in src/app.ts",
    "The quick brown fox jumps over the lazy dog. What is the capital of France? Paris.",
    "Traceback (most recent call last): File main.py line 3 ImportError: cannot import name foo",
    "user assistant system hello world answer question input output label yes no positive negative",
]


def build_tiny_tokenizer(path: Path):
    """A byte-level BPE tokenizer (vocab ~400) with ChatML special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(_CORPUS * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    fast.chat_template = CHATML
    fast.save_pretrained(path)
    return fast


def build_tiny_model(path: Path, tokenizer, seed: int = 0):
    """A 2-layer, hidden-64 random llama saved as an HF model dir next to its tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(cfg)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny_tok")
    build_tiny_tokenizer(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """Path to an HF model dir (config, safetensors, tokenizer with chat template) of a tiny random llama."""
    path = tmp_path_factory.mktemp("tiny_llama")
    tok = build_tiny_tokenizer(path)
    build_tiny_model(path, tok)
    return path


@pytest.fixture()
def write_jsonl(tmp_path):
    """Write records (dicts or raw strings) as lines of a JSONL file and return its path."""

    def _write(name: str, records) -> Path:
        p = tmp_path / name
        with p.open("w", encoding="utf-8") as f:
            for r in records:
                f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
        return p

    return _write


def shared_data(sub: str) -> Path:
    """Path to a folder of ../shared/data/ci-logs, or skip the test with the reason when it is absent."""
    p = SHARED / sub
    if not p.exists():
        pytest.skip(f"real CI log data not present at {p} (only in the development workspace)")
    return p
