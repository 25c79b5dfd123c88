"""Load a trained run (or a base model) and generate, batched: what `tunesmith generate`, eval and serve all use.

Prompts go through the same chat template as training; generation stops at the end-of-turn token, and a generation
that hit max_new_tokens instead is reported as such (`stopped=False`) rather than hidden.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tunesmith.models.run_dir import find_model_dir, load_run_model, open_run, stop_token_ids


@dataclass(frozen=True)
class Generation:
    text: str
    stopped: bool  # False when max_new_tokens was reached before the end-of-turn token
    new_tokens: int


class StartsWith:
    """A logits processor that makes every answer begin with one of a fixed set of token sequences, then runs free.

    The analyzer uses it so the `Category:` line is always one of the taxonomy's names: greedy decoding picks the
    likeliest allowed continuation instead of an invented label ("Category: error"). HF's prefix_allowed_tokens_fn
    would do the masking too, but wants the full allowed list on every step, also after the prefix, which costs a
    49k-entry list per row per token; this one touches only the rows still inside a prefix.

    `bias` (one row of log-weights over `starts` per batch row, optional) multiplies a prior into the choice: where
    the sequences branch, each allowed token gets log(prior mass of the sequences below it / mass of those still
    possible), so the chosen start maximises model probability x prior over the whole sequence one branch at a time.
    """

    def __init__(self, starts: list[list[int]], prompt_len: int, bias=None):
        # A trie node: (children by token, indices of the starts that pass through it).
        self.root: tuple[dict, list[int]] = ({}, list(range(len(starts))))
        for k, seq in enumerate(starts):
            node = self.root
            for t in seq:
                node = node[0].setdefault(t, ({}, []))
                node[1].append(k)
        self.prompt_len = prompt_len
        self.bias = None if bias is None else [list(map(float, row)) for row in bias]

    def __call__(self, input_ids, scores):
        import torch

        for row in range(input_ids.shape[0]):
            node = self.root
            for t in input_ids[row, self.prompt_len :].tolist():
                node = node[0].get(t)
                if not node or not node[0]:  # past the end of a start sequence (or off it): free from here
                    node = None
                    break
            if node:
                masked = torch.full_like(scores[row], float("-inf"))
                allowed = list(node[0])
                masked[allowed] = scores[row, allowed]
                if self.bias is not None and len(allowed) > 1:
                    b = self.bias[row]
                    here = torch.logsumexp(torch.tensor([b[k] for k in node[1]]), 0)
                    for t in allowed:
                        below = torch.logsumexp(torch.tensor([b[k] for k in node[0][t][1]]), 0)
                        masked[t] += (below - here).to(masked.dtype)
                scores[row] = masked
        return scores


class Generator:
    def __init__(self, model, tokenizer, meta: dict | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.meta = meta or {}
        self.tokenizer.padding_side = "left"  # batched generation appends on the right
        self.stop_ids = stop_token_ids(tokenizer)
        # Prompt-lookup decoding (transformers' `prompt_lookup_num_tokens`) for a batch of one, greedy: the answer's
        # runs that repeat the prompt are verified in one forward pass. None = plain decoding (the default until
        # benchmarks/prompt_lookup.py shows it pays on this CPU).
        self.prompt_lookup: int | None = None

    def prompt_text(self, prompt) -> str:
        msgs = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        system = self.meta.get("system_prompt")
        if system and msgs[0]["role"] != "system":
            msgs = [{"role": "system", "content": system}] + msgs
        return self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)

    def generate(self, prompts, max_new_tokens: int = 256, batch_size: int = 8, temperature: float = 0.0,
                 progress=None, starts: list[str] | None = None, start_bias=None) -> list[Generation]:
        """Answers to `prompts`; with `starts`, every answer begins with one of those strings (see StartsWith), chosen
        with the per-prompt log-weights `start_bias` (len(prompts) x len(starts)) added when given."""
        import torch
        from transformers import LogitsProcessorList

        single = isinstance(prompts, str)
        prompts = [prompts] if single else list(prompts)
        out: list[Generation] = []
        for i in range(0, len(prompts), batch_size):
            texts = [self.prompt_text(p) for p in prompts[i : i + batch_size]]
            enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.model.device)
            kwargs = {"do_sample": temperature > 0, "max_new_tokens": max_new_tokens, "eos_token_id": self.stop_ids,
                      "pad_token_id": self.tokenizer.pad_token_id}
            if temperature > 0:
                kwargs["temperature"] = temperature
            elif self.prompt_lookup and len(texts) == 1:
                kwargs["prompt_lookup_num_tokens"] = self.prompt_lookup
            if starts:
                ids = [self.tokenizer(s, add_special_tokens=False)["input_ids"] for s in starts]
                bias = None if start_bias is None else start_bias[i : i + batch_size]
                kwargs["logits_processor"] = LogitsProcessorList([StartsWith(ids, enc["input_ids"].shape[1], bias)])
            with torch.no_grad():
                cache = _prefill_rows(self.model, enc, max_new_tokens)
                if cache is not None:
                    kwargs[_cache_kwarg()] = cache
                seqs = self.model.generate(**enc, **kwargs)
            for row in seqs[:, enc["input_ids"].shape[1] :].tolist():
                stop_at = next((k for k, t in enumerate(row) if t in self.stop_ids), None)
                new = row if stop_at is None else row[:stop_at]
                out.append(Generation(self.tokenizer.decode(new, skip_special_tokens=True).strip(), stop_at is not None, len(new)))
            if progress is not None:
                progress(len(texts))
        return out


def _cache_kwarg() -> str:
    """generate()'s name for a prefilled cache: `cache` since transformers renamed it (`past_key_values` then warns on
    every call and goes in v6); older 5.x releases know only `past_key_values`."""
    import transformers.generation.utils as gen_utils

    return "cache" if "cache" in getattr(gen_utils, "ALL_CACHE_NAMES", ()) else "past_key_values"


def _prefill_rows(model, enc, max_new_tokens: int):
    """The prompt's KV cache computed one row at a time, for a batch generate() then decodes together; None if B == 1.

    Why by hand: a batched prefill of B ~1,000-token prompts was 1.3x (B=4) to 1.7x (B=8) slower per prompt than one
    prompt at a time on the 2-core CPU (activations of B x 1,000 tokens fall out of cache; the matmuls, SiLU and the
    products all slow down), while decoding is where batching pays. Each row runs on its own tokens without padding
    (the positions a left-padded batch gives them, 0..n-1), its keys/values are left-padded with zeros that the
    attention mask hides, and generate() goes on from the last prompt token of every row. The cache is preallocated
    (StaticCache): a growing cache copies all of itself at every decoded token, which made a batch-8 decode step 109
    instead of 85 ms here. Models with sliding-window layers (their cache keeps only the window) and right-padded
    batches take the ordinary batched path.
    """
    import torch
    from transformers import StaticCache

    ids, mask = enc["input_ids"], enc.get("attention_mask")
    left_padded = mask is not None and bool(mask[:, -1].all())
    if ids.shape[0] < 2 or not left_padded or getattr(model.config, "sliding_window", None) or \
            any(t != "full_attention" for t in getattr(model.config, "layer_types", None) or []):
        return None
    width = ids.shape[1] - 1  # generate() feeds the last prompt token itself
    layers: list[tuple[list, list]] | None = None
    for row in range(ids.shape[0]):
        real = ids[row, :width][mask[row, :width].bool()].unsqueeze(0)
        if real.shape[1] == 0:
            return None  # a row whose only real token is the last one: nothing to prefill
        out = model(input_ids=real, use_cache=True, logits_to_keep=1)
        kv = [(layer.keys, layer.values) for layer in getattr(out, _cache_kwarg()).layers]  # the output's name too
        layers = layers or [([], []) for _ in kv]
        for (ks, vs), (k, v) in zip(layers, kv):
            pad = width - k.shape[2]
            ks.append(torch.nn.functional.pad(k, (0, 0, pad, 0)))
            vs.append(torch.nn.functional.pad(v, (0, 0, pad, 0)))
    cache = StaticCache(config=model.config, max_cache_len=ids.shape[1] + max_new_tokens)
    for i, (ks, vs) in enumerate(layers):
        cache.update(torch.cat(ks), torch.cat(vs), i)
    return cache


def load_generator(source: str | os.PathLike | None = None, dtype=None, merge: bool = True) -> Generator:
    """A Generator for a run dir, a tunesmith model dir, or a base model spec (registry name, HF dir, GGUF).

    A run's model loads through tunesmith.models.run_dir (an adapter merged into its base unless `merge=False` or the
    base is quantized; the merged weights are cached on disk by tunesmith.models.merged_cache); anything else is a base
    model spec.
    """
    import torch

    from tunesmith.models.loader import ensure_chat_template, load_model

    dtype = dtype or torch.float32
    if find_model_dir(source) is None:
        model, tok = load_model(source, dtype=dtype)
        return Generator(model, tok, {"base_model": str(source)})
    run = open_run(source)
    if merge and run.is_adapter:
        from tunesmith.models.merged_cache import load_merged

        model, tok = load_merged(run, dtype)  # the merge, cached on disk after the first load
    else:
        model, tok = load_run_model(run, dtype=dtype, merge=merge)
    ensure_chat_template(tok)
    return Generator(model, tok, run.meta)


__all__ = ["Generation", "Generator", "StartsWith", "load_generator"]
