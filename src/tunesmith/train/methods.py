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
    def apply(model: nn.Module, cfg: TrainConfig) -> nn.Module:
        from peft import PEFT_TYPE_TO_CONFIG_MAPPING, get_peft_model

        config_cls = PEFT_TYPE_TO_CONFIG_MAPPING[name.upper()]
        kwargs = {"task_type": "CAUSAL_LM"}
        if "target_modules" in config_cls.__dataclass_fields__:
            kwargs["target_modules"] = cfg.target_modules
        return get_peft_model(model, config_cls(**kwargs))

    return apply


METHODS: dict[str, Callable[[nn.Module, TrainConfig], nn.Module]] = {
    "full": _full,
    "lora": _lora,
    "qlora": _qlora,
    "dora": _dora,
    "ia3": _ia3,
}


def apply_method(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    return METHODS.get(cfg.method, _other_peft(cfg.method))(model, cfg)


def needs_4bit(cfg: TrainConfig) -> bool:
    return cfg.method == "qlora"


__all__ = ["METHODS", "apply_method", "needs_4bit"]
