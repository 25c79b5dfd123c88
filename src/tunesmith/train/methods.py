"""Training methods by name, each with the same signature: (model, cfg) → model with only the trained weights trainable.

PEFT provides every adapter; a method here only chooses its config. A new method is a new entry in METHODS.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from tunesmith.train.config import TrainConfig
from tunesmith.train.dropout import use_lane_dropout


def _full(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def _lora_config(cfg: TrainConfig, use_dora: bool = False):
    from peft import LoraConfig

    return LoraConfig(
        task_type="CAUSAL_LM",
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.target_modules,
        use_dora=use_dora,
    )


def _lora(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    from peft import get_peft_model

    return use_lane_dropout(get_peft_model(model, _lora_config(cfg)))


def _dora(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    from peft import get_peft_model

    return use_lane_dropout(get_peft_model(model, _lora_config(cfg, use_dora=True)))


def _qlora(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    from peft import get_peft_model, prepare_model_for_kbit_training

    # Gradient checkpointing would cost ~30% speed on CPU for memory a 135M-1B model does not need here.
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return use_lane_dropout(get_peft_model(model, _lora_config(cfg)))


def _ia3(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    from peft import IA3Config, get_peft_model

    # IA3 needs to know which targets are feed-forward; PEFT's per-architecture default knows, "all-linear" does not.
    targets = None if cfg.target_modules == "all-linear" else cfg.target_modules
    return get_peft_model(model, IA3Config(task_type="CAUSAL_LM", target_modules=targets))


def _other_peft(name: str) -> Callable[[nn.Module, TrainConfig], nn.Module]:
    """Any other PEFT method with its defaults (method_problem has refused those that cannot train here)."""
    def apply(model: nn.Module, cfg: TrainConfig) -> nn.Module:
        from peft import get_peft_model

        return get_peft_model(model, _other_config(name, cfg))

    return apply


METHODS: dict[str, Callable[[nn.Module, TrainConfig], nn.Module]] = {
    "full": _full,
    "lora": _lora,
    "qlora": _qlora,
    "dora": _dora,
    "ia3": _ia3,
}


def method_problem(name: str) -> str | None:
    """Why a method cannot train here, worded for the user; None when it can. Read with the config, before any model
    loads, so a run never spends minutes loading a model to crash on a PEFT config it could not build."""
    from peft import PEFT_TYPE_TO_CONFIG_MAPPING

    name = name.lower()
    if name in METHODS:
        return None
    config_cls = PEFT_TYPE_TO_CONFIG_MAPPING[name.upper()]
    if name == "adalora":
        return ("method adalora needs total_step (the run's optimizer steps) and a rank-reallocation call, "
                "update_and_allocate(step), after every optimizer step, plus its orthogonality loss; tunesmith's loop "
                "makes none of them. Use lora or dora (a fixed rank).")
    probe = config_cls(task_type="CAUSAL_LM")
    if probe.is_prompt_learning:
        needs = "num_virtual_tokens" + (", encoder_hidden_size" if name == "p_tuning" else "")
        return (f"method {name} is a prompt-learning method: it needs {needs} and a forward pass through PEFT's "
                "model, which prepends the virtual tokens; tunesmith's loss runs the base model's layers and computes "
                "logits at label positions only, so the virtual tokens would never be trained. Use lora, dora or ia3.")
    try:
        _other_config(name, None)
    except (TypeError, ValueError) as e:  # a required setting tunesmith does not pass
        return f"method {name}: {e}"
    return None


def _other_config(name: str, cfg: TrainConfig | None):
    from peft import PEFT_TYPE_TO_CONFIG_MAPPING

    config_cls = PEFT_TYPE_TO_CONFIG_MAPPING[name.upper()]
    kwargs = {"task_type": "CAUSAL_LM"}
    if "target_modules" in config_cls.__dataclass_fields__:
        kwargs["target_modules"] = cfg.target_modules if cfg is not None else "all-linear"
    return config_cls(**kwargs)


def apply_method(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    return METHODS.get(cfg.method, _other_peft(cfg.method))(model, cfg)


# `lr: auto`, the peak learning rate by method. The LoRA family's was checked on the recipes with runs that differ only
# in lr, judged on their eval splits (examples/tickets/hparam_check.json, examples/gha-root-causes/lr_check.json):
# 4e-4 beat 2e-4 on both in eval loss and field score, and the CI recipe trains at 4e-4. Other methods keep 2e-4, the
# earlier default for every method, which no recipe has checked (full fine-tuning usually wants far less).
AUTO_LR = {"lora": 4e-4, "qlora": 4e-4, "dora": 4e-4}
FALLBACK_LR = 2e-4


def resolve_lr(lr: float | str, method: str) -> tuple[float, str]:
    """(peak lr, how it was chosen in words) for a config's `lr` and `method`."""
    if lr != "auto":
        return float(lr), f"lr {float(lr):g} (set in the config)"
    if method in AUTO_LR:
        return AUTO_LR[method], f"lr: auto chose {AUTO_LR[method]:g} for {method} (checked on the example recipes)"
    return FALLBACK_LR, f"lr: auto chose {FALLBACK_LR:g} for {method} (not checked for this method: set lr to tune it)"


def needs_4bit(cfg: TrainConfig) -> bool:
    return cfg.method == "qlora"


__all__ = ["AUTO_LR", "FALLBACK_LR", "METHODS", "apply_method", "method_problem", "needs_4bit", "resolve_lr"]
