"""The model transform: one canonical Example → token ids and labels, through the model's chat template.

Labels are -100 everywhere except assistant turns (unless `train_on_inputs`), and they include the end-of-turn token, so
a tuned model learns to stop. Spans are found by character offsets of the rendered template, not by re-tokenising
prefixes, because BPE merges across a prefix boundary would shift tokens by one.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.data.example import Example, Message

IGNORE = -100
# The default token limit of a training example: training's `max_seq_len` and `data validate` both use it.
MAX_SEQ_LEN = 1024
_TRUNC_MARK = "\n[... truncated ...]\n"


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]
    truncated: bool  # True when the example was shortened to fit max_seq_len
    n_tokens: int  # length before any truncation

    @property
    def n_labels(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def as_dicts(messages) -> list[dict]:
    return [{"role": m.role, "content": m.content} for m in messages]


def render(tokenizer, messages, add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(as_dicts(messages), tokenize=False, add_generation_prompt=add_generation_prompt)


def _assistant_spans(tokenizer, messages: tuple[Message, ...]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the character spans of each trained assistant turn (content + end-of-turn marker)."""
    full = render(tokenizer, messages)
    spans = []
    for i, m in enumerate(messages):
        if m.role != "assistant" or m.weight == 0:
            continue
        start = len(render(tokenizer, messages[:i], add_generation_prompt=True))
        end_text = render(tokenizer, messages[: i + 1])
        if not full.startswith(end_text):
            raise ValueError("the chat template renders a prefix of the conversation differently; cannot mask prompts")
        spans.append((start, len(end_text)))
    return full, spans


def _tokenize(tokenizer, messages, train_on_inputs: bool) -> tuple[list[int], list[int]]:
    text, spans = _assistant_spans(tokenizer, messages)
    # Special tokens come from the template text itself, so the tokenizer must not add BOS/EOS again.
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    if train_on_inputs:
        return ids, list(ids)
    labels = [IGNORE] * len(ids)
    for k, (a, b) in enumerate(enc["offset_mapping"]):
        if any(s <= a < e for s, e in spans) and b > a:
            labels[k] = ids[k]
    return ids, labels


def encode(example: Example, tokenizer, max_seq_len: int, train_on_inputs: bool = False) -> Encoded:
    """Token ids and labels for `example`; overlong examples are shortened in the middle of their longest user turn.

    Cutting the middle of the prompt keeps the instruction head and the log tail (where CI failures usually are) and,
    unlike right truncation, never cuts away the answer the loss is computed on.
    """
    messages = example.messages
    ids, labels = _tokenize(tokenizer, messages, train_on_inputs)
    n_tokens = len(ids)
    tries = 0
    while len(ids) > max_seq_len and tries < 6:
        users = [i for i, m in enumerate(messages) if m.role in ("user", "system")]
        if not users:
            break
        i = max(users, key=lambda j: len(messages[j].content))
        content = messages[i].content
        over = len(ids) - max_seq_len
        chars_per_token = max(1.0, len(content) / max(1, len(ids)))
        cut = int(over * chars_per_token * 1.2) + len(_TRUNC_MARK) + 16
        if cut >= len(content):
            content = content[: len(content) // 4]  # cannot fit by trimming this turn; shrink hard and retry
        else:
            head = (len(content) - cut) // 3
            content = content[:head] + _TRUNC_MARK + content[head + cut :]
        messages = messages[:i] + (Message(messages[i].role, content, messages[i].weight),) + messages[i + 1 :]
        ids, labels = _tokenize(tokenizer, messages, train_on_inputs)
        tries += 1
    if len(ids) > max_seq_len:  # last resort: keep the end, where the answer is
        ids, labels = ids[-max_seq_len:], labels[-max_seq_len:]
    return Encoded(ids, labels, truncated=n_tokens > max_seq_len, n_tokens=n_tokens)


def prompt_ids(tokenizer, messages: list[dict] | str, system: str | None = None) -> list[int]:
    """Token ids of a generation prompt (chat template + assistant header) for a string or a list of messages."""
    msgs = [{"role": "user", "content": messages}] if isinstance(messages, str) else list(messages)
    if system and (not msgs or msgs[0]["role"] != "system"):
        msgs = [{"role": "system", "content": system}] + msgs
    text = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


__all__ = ["IGNORE", "MAX_SEQ_LEN", "Encoded", "encode", "render", "prompt_ids", "as_dicts"]
