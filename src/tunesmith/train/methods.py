"""Training methods by name, each with the same signature: (model, cfg) → model with only the trained weights trainable.

PEFT provides every adapter; a method here only chooses its config. A new method is a new entry in METHODS.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from tunesmith.train.config import TrainConfig


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


class DropoutThenLinear(nn.Linear):
    """lora_A(dropout(x)) without keeping the dropped copy of x: backward regenerates the same mask from the saved RNG
    state. PEFT's Dropout → lora_A keeps two fp32 copies of every adapted layer's input (CPU dropout saves its mask as
    floats, lora_A its dropped input): 56% of SmolLM2-135M's activation memory at LoRA r=16 (benchmarks/README.md).
    Recomputing them costs an r-wide matmul per layer. Same RNG stream, so the same masks and gradients as PEFT's."""

    p: float = 0.0

    def forward(self, x):
        if self.training and self.p > 0 and torch.is_grad_enabled():
            return checkpoint(self._dropped_linear, x, use_reentrant=False)
        return F.linear(F.dropout(x, self.p, self.training), self.weight, self.bias)

    def _dropped_linear(self, x):
        return F.linear(F.dropout(x, self.p, True), self.weight, self.bias)


def _dropout_keeps_no_copy(model: nn.Module) -> nn.Module:
    """Fuse each plain LoRA layer's dropout into its lora_A (DropoutThenLinear); weights and state-dict keys unchanged."""
    from peft.tuners.lora import LoraLayer

    for layer in model.modules():
        if not isinstance(layer, LoraLayer):
            continue
        for name, drop in list(layer.lora_dropout.items()):
            a = layer.lora_A[name]
            if type(drop) is not nn.Dropout or type(a) is not nn.Linear or name in getattr(layer, "lora_variant", {}):
                continue
            fused = DropoutThenLinear(a.in_features, a.out_features, bias=a.bias is not None, device="meta")
            fused.weight, fused.bias, fused.p = a.weight, a.bias, drop.p
            fused.train(a.training)
            layer.lora_A[name], layer.lora_dropout[name] = fused, nn.Identity()
    return model


def _lora(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    from peft import get_peft_model

    return _dropout_keeps_no_copy(get_peft_model(model, _lora_config(cfg)))


def _dora(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    from peft import get_peft_model

    return get_peft_model(model, _lora_config(cfg, use_dora=True))


def _qlora(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    from peft import get_peft_model, prepare_model_for_kbit_training

    # Gradient checkpointing would cost ~30% speed on CPU for memory a 135M-1B model does not need here.
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return _dropout_keeps_no_copy(get_peft_model(model, _lora_config(cfg)))


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
