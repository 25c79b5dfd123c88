"""The model families tunesmith is tested with, as data: a family is an entry here, not a code path.

tests/test_families.py runs a tiny random model of every family through every step (train with each method, merge,
generate, eval, GGUF and Ollama export); the README's family table says the same. A step a family cannot do is listed
in its `refused` with the reason, and `check_step` refuses it before any work is done, naming the family and the step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# The steps of the family matrix, as the refusals and the README name them.
STEPS = ("train lora", "train qlora", "train full", "merge", "generate", "eval", "export gguf", "export ollama")


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]  # config.json `model_type` values of the family
    gguf_arch: str  # `general.architecture` that llama.cpp's converter writes for it
    refused: Mapping[str, str] = field(default_factory=dict)  # step -> why it is refused


FAMILIES: tuple[Family, ...] = (
    Family("Llama", ("llama",), "llama"),
    Family("Mistral", ("mistral",), "llama"),  # llama.cpp runs Mistral (no sliding window) as llama
    Family("Qwen2", ("qwen2",), "qwen2"),
    Family("Qwen3", ("qwen3",), "qwen3"),
    Family("Gemma 3", ("gemma3_text", "gemma3"), "gemma3"),
    Family("Phi-3", ("phi3",), "phi3"),
)

# Steps that need a family's verified layout: for a model type outside the table they are refused, because no test
# has shown that their output computes what the trained model computes.
VERIFIED_ONLY = ("export gguf",)


class StepRefused(ValueError):
    """A step this model's family cannot do; the message names the family, the step and why."""


def model_type(config) -> str:
    return config if isinstance(config, str) else str(getattr(config, "model_type", "") or "")


def family_of(config) -> Family | None:
    """The family of a transformers config (or a `model_type` string), or None for a type outside the table."""
    mt = model_type(config)
    return next((f for f in FAMILIES if mt in f.model_types), None)


def family_name(config) -> str:
    """How messages name the model's family: the family's name, or the bare model type."""
    fam = family_of(config)
    return fam.name if fam else f"model type {model_type(config)!r}"


def refusal(config, step: str) -> str | None:
    """Why `step` is refused for this model, or None when it may go ahead."""
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; steps are {', '.join(STEPS)}")
    fam = family_of(config)
    if fam is None:
        if step in VERIFIED_ONLY:
            names = ", ".join(f.name for f in FAMILIES if step not in f.refused)
            return (f"{step} is refused for model type {model_type(config)!r}: it is not one of the families whose "
                    f"{step} is verified ({names}). Export --format merged and convert that by hand.")
        return None
    why = fam.refused.get(step)
    return f"{step} is refused for {fam.name} ({model_type(config)}): {why}" if why else None


def check_step(config, step: str) -> None:
    """Raise StepRefused (family, step, reason) when `step` is refused for this model; return otherwise."""
    why = refusal(config, step)
    if why:
        raise StepRefused(why)


__all__ = ["STEPS", "Family", "FAMILIES", "StepRefused", "family_of", "family_name", "model_type", "refusal",
           "check_step"]
