"""Tiny random models of the families users fine-tune most, each with its own tokenizer shape: the family's special
tokens, chat template and end-of-turn token, so training, stopping and export meet what the real models ship.

The weights are random and the byte-level BPE vocab is ~400 tokens (trained in a second on a few sentences); the
architecture config is the family's own transformers class with tiny dimensions and the options that matter kept
(Qwen2's q/k/v biases, Qwen3's q/k norms, Gemma 3's sliding-window layers and +1 norms, Phi-3's fused projections).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from conftest import _CORPUS, CHATML

LLAMA3 = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
# Mistral v0.3: no system role of its own, the system text goes in front of the first user turn.
MISTRAL = (
    "{{ bos_token }}{% set sys = namespace(text='') %}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{% set sys.text = message['content'] + '\n\n' %}"
    "{% elif message['role'] == 'user' %}{{ '[INST] ' + sys.text + message['content'] + ' [/INST]' }}{% set sys.text = '' %}"
    "{% else %}{{ ' ' + message['content'] + eos_token }}{% endif %}{% endfor %}"
)
GEMMA3 = (
    "{{ bos_token }}{% set sys = namespace(text='') %}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{% set sys.text = message['content'] + '\n\n' %}"
    "{% else %}{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else 'user') + '\n' }}"
    "{% if message['role'] == 'user' %}{{ sys.text }}{% set sys.text = '' %}{% endif %}"
    "{{ message['content'] + '<end_of_turn>\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
# Phi-3-mini's template as shipped: EOS after the last turn unless a generation prompt follows.
PHI3 = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)


@dataclass(frozen=True)
class FamilySpec:
    name: str  # as the README's table names it
    config_class: str  # transformers config class
    model_class: str
    specials: tuple[str, ...]
    template: str
    end_of_turn: str  # the token the template writes after an assistant turn: generation must stop there
    bos: str | None = None
    eos: str | None = None
    pad: str | None = None
    unk: str | None = None
    config: dict = field(default_factory=dict)
    tokenizer_config: dict = field(default_factory=dict)  # extra tokenizer_config.json keys
    split: str | None = None  # the regex the family's tokenizer.json splits text with before byte-level BPE


# Llama 3's and Qwen2's split regexes, as in their tokenizer.json files.
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = LLAMA3_SPLIT.replace(r"\p{N}{1,3}", r"\p{N}")

_DIMS = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             max_position_embeddings=512)

FAMILIES: dict[str, FamilySpec] = {
    s.name.lower().replace(" ", "").replace("-", ""): s
    for s in [
        FamilySpec("Llama", "LlamaConfig", "LlamaForCausalLM",
                   ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
                   LLAMA3, "<|eot_id|>", bos="<|begin_of_text|>", eos="<|eot_id|>",
                   # Llama 3.2's RoPE scaling; a short original context, so the scaled band lies in the tiny head
                   config=dict(rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=32.0,
                                                    low_freq_factor=1.0, high_freq_factor=4.0,
                                                    original_max_position_embeddings=64)),
                   split=LLAMA3_SPLIT),
        FamilySpec("Mistral", "MistralConfig", "MistralForCausalLM", ("<unk>", "<s>", "</s>", "[INST]", "[/INST]"),
                   MISTRAL, "</s>", bos="<s>", eos="</s>", unk="<unk>",
                   config=dict(head_dim=16, sliding_window=None, rope_theta=1000000.0)),
        FamilySpec("Qwen2", "Qwen2Config", "Qwen2ForCausalLM", ("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
                   CHATML, "<|im_end|>", eos="<|im_end|>", pad="<|endoftext|>",
                   config=dict(tie_word_embeddings=True, rope_theta=1000000.0), split=QWEN2_SPLIT,
                   tokenizer_config=dict(tokenizer_class="Qwen2Tokenizer")),
        FamilySpec("Qwen3", "Qwen3Config", "Qwen3ForCausalLM", ("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
                   CHATML, "<|im_end|>", eos="<|im_end|>", pad="<|endoftext|>",
                   config=dict(head_dim=16, tie_word_embeddings=True, rope_theta=1000000.0), split=QWEN2_SPLIT,
                   tokenizer_config=dict(tokenizer_class="Qwen2Tokenizer")),
        FamilySpec("Gemma 3", "Gemma3TextConfig", "Gemma3ForCausalLM",
                   ("<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"),
                   GEMMA3, "<end_of_turn>", bos="<bos>", eos="<eos>", pad="<pad>", unk="<unk>",
                   # a short sliding window, so the check prompts cross it and the round trip proves the layer pattern
                   # 6 layers: llama.cpp reads Gemma 3's layer pattern as 5 sliding-window layers, then 1 global
                   config=dict(head_dim=16, query_pre_attn_scalar=16, sliding_window=8, num_hidden_layers=6,
                               tie_word_embeddings=True)),
        FamilySpec("Phi-3", "Phi3Config", "Phi3ForCausalLM",
                   ("<unk>", "<s>", "<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>"),
                   PHI3, "<|end|>", bos="<s>", eos="<|endoftext|>", pad="<|endoftext|>", unk="<unk>",
                   config=dict(original_max_position_embeddings=512),
                   # a BPE tokenizer in a Phi3ForCausalLM is Phi-4's layout; llama.cpp's converter keys on this class
                   tokenizer_config=dict(tokenizer_class="GPT2Tokenizer")),
    ]
}


def build_tokenizer(spec: FamilySpec, path: Path):
    """A byte-level BPE tokenizer (vocab ~400) with the family's special tokens and chat template, saved in `path`."""
    import json

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    if spec.split:
        from tokenizers import Regex

        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(spec.split), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=list(spec.specials),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_CORPUS * 20, trainer=trainer)
    named = {k: v for k, v in dict(bos_token=spec.bos, eos_token=spec.eos, pad_token=spec.pad, unk_token=spec.unk).items() if v}
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **named)
    fast.chat_template = spec.template
    fast.save_pretrained(path)
    if spec.tokenizer_config:
        cfg_path = path / "tokenizer_config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg.update(spec.tokenizer_config)
        cfg_path.write_text(json.dumps(cfg, indent=2))
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def build_model(spec: FamilySpec, path: Path, seed: int = 0) -> Path:
    """A run-able HF model dir: the family's tiny random model, its tokenizer, a generation config that stops at the
    family's end-of-turn token."""
    import torch
    import transformers

    path.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(spec, path)
    ids = {k: getattr(tok, f"{k}_id") for k in ("bos_token", "eos_token", "pad_token")}
    kwargs = {**_DIMS, "tie_word_embeddings": False, **{f"{k}_id": v for k, v in ids.items()}, **spec.config}
    cfg = getattr(transformers, spec.config_class)(vocab_size=len(tok), **kwargs)
    torch.manual_seed(seed)
    model = getattr(transformers, spec.model_class)(cfg)
    end = tok.convert_tokens_to_ids(spec.end_of_turn)
    model.generation_config.eos_token_id = sorted({end, tok.eos_token_id})
    model.generation_config.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    model.save_pretrained(path)
    return path


__all__ = ["FAMILIES", "FamilySpec", "build_tokenizer", "build_model"]
