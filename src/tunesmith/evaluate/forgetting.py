"""The forgetting check: perplexity of the base and the tuned model on a general-text sample shipped with tunesmith.

A fine-tune that makes ordinary prose much less likely has overwritten more than the task needed.
"""

from __future__ import annotations

from importlib import resources

from tunesmith.evaluate.metrics import perplexity

GENERAL_TEXT = "general_text.txt"


def general_text() -> str:
    """The shipped sample: encyclopedic prose on varied topics, written for tunesmith (no third-party text)."""
    return resources.files("tunesmith.evaluate").joinpath(GENERAL_TEXT).read_text(encoding="utf-8")


def text_perplexity(model, tokenizer, text: str, *, window: int = 512, max_tokens: int | None = None,
                    desc: str = "perplexity") -> tuple[float, int]:
    """Perplexity of `text` under `model`, scored in non-overlapping windows; returns (ppl, tokens scored).

    Non-overlapping windows cost one forward pass per window; the first token of each window has no context, so it is
    not scored (a sliding window would be fairer to the model but costs window/stride times more).
    """
    import torch

    from tunesmith.output import progress

    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if max_tokens is not None:
        ids = ids[:max_tokens]
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    window = min(window, limit) if limit else window
    chunks = [ids[i : i + window] for i in range(0, len(ids), window)]
    chunks = [c for c in chunks if len(c) > 1]
    if not chunks:
        raise ValueError("the text is too short to measure perplexity")
    nll, n = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), progress(desc, len(chunks)) as advance:
            for chunk in chunks:
                x = torch.tensor([chunk], device=model.device)
                out = model(input_ids=x, labels=x)
                # HF averages the loss over the len-1 predicted positions; undo it to pool windows token-weighted.
                nll += float(out.loss) * (len(chunk) - 1)
                n += len(chunk) - 1
                advance()
    finally:
        model.train(was_training)
    return perplexity(nll, n), n


def forgetting_check(base, tuned, *, text: str | None = None, max_tokens: int | None = None) -> dict:
    """Perplexity of two generators' models on the same text and the relative increase (in %)."""
    text = text if text is not None else general_text()
    base_ppl, n = text_perplexity(base.model, base.tokenizer, text, max_tokens=max_tokens, desc="perplexity (base)")
    tuned_ppl, _ = text_perplexity(tuned.model, tuned.tokenizer, text, max_tokens=max_tokens, desc="perplexity (tuned)")
    return {
        "base_ppl": base_ppl,
        "tuned_ppl": tuned_ppl,
        "increase_pct": 100.0 * (tuned_ppl - base_ppl) / base_ppl,
        "n_tokens": n,
    }


__all__ = ["GENERAL_TEXT", "forgetting_check", "general_text", "text_perplexity"]
