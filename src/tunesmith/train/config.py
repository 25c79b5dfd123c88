"""The training config: every key, its default and its one-line description live here and nowhere else.

YAML overrides the defaults, `--set key=value` overrides YAML; unknown keys and bad values are errors that name the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tunesmith.data.transform import MAX_SEQ_LEN


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # What to train
    model: str = Field("smollm2-135m", description="Base model: registry name, local HF model dir, or local .gguf file.")
    method: str = Field("lora", description="full | lora | qlora | dora | ia3, or another PEFT method by name.")
    train_file: Path = Field(..., description="Training examples (JSONL/CSV/Parquet; any supported format).")
    eval_file: Path | None = Field(None, description="Held-out examples; when absent, eval_fraction of train is held out.")
    eval_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="Share of train held out for eval when eval_file is absent.")
    output_dir: Path = Field(Path("runs/run"), description="Run dir for config, metrics, checkpoints and the result.")
    max_train_examples: int | None = Field(None, ge=1, description="Train on a seeded sample of this many examples (quick runs).")
    max_eval_examples: int | None = Field(None, ge=1, description="Measure eval loss on a seeded sample of this many examples.")
    system_prompt: str | None = Field(None, description="System message added to every example that has none.")

    # Adapter
    lora_r: int = Field(16, ge=1, description="LoRA/DoRA rank.")
    lora_alpha: float = Field(32.0, gt=0, description="LoRA/DoRA scaling alpha.")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the adapter input.")
    target_modules: str | list[str] | None = Field(
        "all-linear", description="Modules to adapt: 'all-linear', a list of names, or null for PEFT's per-model default."
    )

    # Data → tokens
    max_seq_len: int = Field(MAX_SEQ_LEN, ge=16, description="Longest token sequence fed to the model.")
    on_overflow: Literal["truncate", "drop", "error"] = Field(
        "truncate", description="Examples longer than max_seq_len: shorten the prompt middle, drop them, or stop."
    )
    batching: Literal["grouped", "packed", "random"] = Field(
        "grouped", description="grouped: batches of near-equal length (least padding); packed: short examples share a "
        "row (no attention across them); random: one example per row. Older configs' packing: true/false = packed/random."
    )
    train_on_inputs: bool = Field(False, description="Also compute the loss on prompt tokens (default: completion only).")

    # Optimisation
    epochs: Annotated[float, Field(gt=0)] | Literal["auto"] = Field(
        "auto", description="Passes over the training data (fractions allowed). auto: 3, more for small sets (at least "
        "120 optimizer steps, at most 25 epochs), fewer for large ones (at most 25,000 examples or 10M tokens seen); "
        "run.log says which and why."
    )
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps (overrides epochs).")
    batch_size: int = Field(4, ge=1, description="Rows per micro-batch (per process).")
    grad_accum: int = Field(1, ge=1, description="Micro-batches per optimizer step.")
    lr: Annotated[float, Field(gt=0)] | Literal["auto"] = Field(
        "auto", description="Peak learning rate (AdamW). auto: 4e-4 for lora, qlora and dora (checked on the example "
        "recipes), 2e-4 for other methods; run.log says which."
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    warmup_ratio: float = Field(0.05, ge=0, le=1, description="Share of steps with linear warm-up before cosine decay.")
    max_grad_norm: float = Field(1.0, ge=0, description="Gradient clipping norm (0 disables).")
    precision: Literal["auto", "bf16", "fp32"] = Field("auto", description="auto = bf16 autocast where the hardware has it.")
    seed: int = Field(42, description="Seed for data order, adapter init and dropout.")
    label_logits_only: bool = Field(
        True, description="Compute output logits only where labels exist (same loss, far less memory and time)."
    )
    max_forward_tokens: Annotated[int, Field(ge=1)] | Literal["auto"] | None = Field(
        "auto", description="Split a micro-batch into forward/backward passes of at most this many padded tokens (same "
        "gradients, less activation memory; a longer row runs alone). auto: 512 on CPU, one pass on GPU. null: one pass."
    )
    gradient_checkpointing: bool = Field(
        False, description="Recompute each decoder layer's activations in backward: far less activation memory, "
        "one more forward pass per step."
    )

    # Bookkeeping
    log_every: int = Field(1, ge=1, description="Steps between metrics.jsonl lines.")
    report_to: Literal["none", "tensorboard", "mlflow", "wandb"] = Field(
        "none", description="Also send the metrics to an experiment tracker (accelerate's): tensorboard writes event "
        "files to RUN/tracking/; mlflow writes to MLFLOW_TRACKING_URI, else a local store in RUN/tracking/mlruns; wandb uses "
        "its own settings (wandb login, WANDB_MODE=offline)."
    )
    eval_every: Annotated[int, Field(ge=0)] | Literal["auto"] = Field(
        "auto", description="Steps between eval-loss measurements (0: only at the end). auto: about 10 evaluations "
        "per run (ceil(steps / 10)), so early stopping and compare's checks have a curve; run.log says the value."
    )
    save_every: int = Field(100, ge=0, description="Steps between resumable checkpoints (0: only on interrupt).")
    keep_checkpoints: int = Field(2, ge=1, description="How many recent checkpoints to keep.")
    save: Literal["best", "last"] = Field(
        "best", description="Which step becomes model/: best = lowest eval loss (the final step kept in last/), "
        "last = the final step (the best kept in best/). Without an eval split: the final step."
    )
    early_stopping_patience: Annotated[int, Field(ge=0)] | Literal["auto"] | None = Field(
        "auto", description="Stop after this many evaluations without an eval-loss improvement of more than "
        "early_stopping_min_delta. auto: 3 when epochs is auto (and max_steps unset), else off; 0 or null: off."
    )
    early_stopping_min_delta: float = Field(
        0.0, ge=0, description="An eval loss counts as an improvement for early stopping only below the best by more."
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_packing(cls, data: Any) -> Any:
        """`packing: true/false` (before `batching` existed) still loads, as packed/random; both at once is an error."""
        if isinstance(data, dict) and "packing" in data:
            data = dict(data)
            packing = data.pop("packing")
            if not isinstance(packing, bool):
                raise ValueError(f"packing: expected true or false, got {packing!r} (use batching: grouped|packed|random)")
            if "batching" in data:
                raise ValueError("packing: give batching only (packing is its older spelling)")
            data["batching"] = "packed" if packing else "random"
        return data

    @field_validator("method")
    @classmethod
    def _method_known(cls, v: str) -> str:
        from peft import PeftType

        known = {"full", "lora", "qlora", "dora", "ia3"} | {t.value.lower() for t in PeftType}
        if v.lower() not in known:
            raise ValueError(f"unknown method '{v}'; choose one of full, lora, qlora, dora, ia3 or a PEFT method name")
        from tunesmith.train.methods import method_problem  # here, not at the top: methods imports this module

        problem = method_problem(v)
        if problem:
            raise ValueError(problem)
        return v.lower()

    @model_validator(mode="after")
    def _files_exist(self) -> "TrainConfig":
        for key in ("train_file", "eval_file"):
            p = getattr(self, key)
            if p is not None and not Path(p).exists():
                raise ValueError(f"{key}: file not found: {p}")
        return self


class ConfigError(ValueError):
    """A config problem, already formatted with file and key for the user."""


def _coerce(value: str) -> Any:
    """`--set` values are YAML scalars: 1e-4, true, null, [a, b] all parse as a user would expect."""
    return yaml.safe_load(value)


def load_config(path: Path | None, overrides: list[str] | None = None, base_dir: Path | None = None) -> TrainConfig:
    """Defaults ← YAML file ← `key=value` overrides, validated at once so every problem is reported together."""
    raw: dict[str, Any] = {}
    where = str(path) if path else "--set"
    if path is not None:
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise ConfigError(f"{path}: cannot read config: {e}") from e
        except RecursionError:
            raise ConfigError(f"{path}: cannot read config: nested too deeply") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: a config is a mapping of key: value, got {type(raw).__name__}")
        base_dir = base_dir or Path(path).parent
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, value = item.split("=", 1)
        try:
            raw[key.strip()] = _coerce(value)
        except (yaml.YAMLError, RecursionError) as e:
            raise ConfigError(f"--set {item!r}: the value is not a YAML scalar or list ({type(e).__name__}); "
                              "quote it: --set 'key=\"...\"'") from None
    bad = [k for k in raw if not isinstance(k, str)]
    if bad:  # YAML reads `1:` or `true:` as a number or a boolean, which no config key is
        raise ConfigError("\n".join(f"{where}: {k!r}: unknown key (a key is a name)" for k in bad))
    # Relative data paths in a YAML file are relative to the file, so a recipe works from any working directory.
    if base_dir is not None:
        for key in ("train_file", "eval_file"):
            if isinstance(raw.get(key), str) and not Path(raw[key]).is_absolute() and not Path(raw[key]).exists():
                raw[key] = str(Path(base_dir) / raw[key])
    try:
        return TrainConfig(**raw)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(x) for x in err["loc"]) or "config"
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"{where}: {key}: {msg}")
        raise ConfigError("\n".join(lines)) from None


def dump_config(cfg: TrainConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def describe() -> list[tuple[str, str, str]]:
    """(key, default, description) for every key: what `tunesmith train --help-config` and the docs print."""
    out = []
    for name, f in TrainConfig.model_fields.items():
        default = "required" if f.is_required() else repr(f.default)
        out.append((name, default, f.description or ""))
    return out


__all__ = ["TrainConfig", "ConfigError", "load_config", "dump_config", "describe"]
