"""What `--resume` checks: the config and inputs a checkpoint was trained with against the ones given now.

A resumed run is exact only when every step sees the same data, seed, schedule and model; a change to any of those is
refused with the keys that differ (as torchtune does), unless the change keeps the run exact or the user passes
`--allow-config-change`, which the run log records.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tunesmith.models.run_dir import CONFIG, STATE

# Keys whose change keeps every optimizer step bitwise the same: they say where and how often things are written,
# never what is computed. Everything else (seed, batching, batch size, accumulation, steps/epochs, lr, precision, eval
# settings that decide the best step or when early stopping ends the run, ...) changes the run.
EXACT_KEYS = {
    "output_dir": "where the run dir is",
    "log_every": "how often metrics.jsonl gets a line",
    "report_to": "which experiment tracker also gets the metrics",
    "save_every": "how often a checkpoint is written",
    "keep_checkpoints": "how many checkpoints are kept",
    "save": "which of the best and the last step becomes model/",
}
# Compared by content, not by path: the same file moved or the same model under another name keeps the run exact.
BY_CONTENT = ("train_file", "eval_file", "model")


def file_sha256(path: str | Path | None) -> str | None:
    if path is None or not Path(path).is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_fingerprint(spec: str, samples: int = 32, chunk: int = 1 << 16) -> str | None:
    """The base model's config.json, and each weight file's size and 32 evenly spaced 64 KiB chunks: hashing every
    byte of a 1B model would cost ~10 s per resume, and two different weight sets of one architecture (base and
    instruct, another seed) differ in nearly every chunk. None when the spec does not resolve."""
    from tunesmith.models.loader import resolve

    try:
        path = resolve(spec)
    except (FileNotFoundError, OSError):
        return None
    h = hashlib.sha256((path / "config.json").read_bytes())
    for f in sorted(path.iterdir()):
        if f.suffix in (".safetensors", ".bin"):
            size = f.stat().st_size
            h.update(f"{f.name}:{size}".encode())
            with open(f, "rb") as fh:
                for i in range(samples):
                    fh.seek(size * i // samples)
                    h.update(fh.read(chunk))
    return h.hexdigest()


def fingerprint(cfg) -> dict:
    """What the run's inputs are, by content; stored in every checkpoint (and model/tunesmith.json)."""
    return {"train_file": file_sha256(cfg.train_file), "eval_file": file_sha256(cfg.eval_file),
            "model": model_fingerprint(cfg.model)}


def _short(v) -> str:
    return f"{v[:12]}…" if isinstance(v, str) and len(v) == 64 else repr(v)


def config_changes(ckpt: Path, run: Path, cfg) -> tuple[list[str], list[str]]:
    """(changes that keep the run exact, changes that do not), each worded as `key: old → new`.

    The old config is the checkpoint's own (state.json), else the run's config.yaml (checkpoints before this check).
    """
    import yaml

    state = json.loads((Path(ckpt) / STATE).read_text(encoding="utf-8"))
    old = state.get("config")
    if old is None and (Path(run) / CONFIG).exists():
        old = yaml.safe_load((Path(run) / CONFIG).read_text(encoding="utf-8")) or {}
    old = old or {}
    new = cfg.model_dump(mode="json")
    old_fp, new_fp = state.get("fingerprint") or {}, fingerprint(cfg)
    exact, breaking = [], []
    for key, value in new.items():
        if key not in old:  # a key newer than the checkpoint: the total-steps check in setup still guards it
            continue
        if key in BY_CONTENT and old_fp:
            if old_fp.get(key) != new_fp.get(key):
                breaking.append(f"{key}: content changed ({_short(old_fp.get(key))} → {_short(new_fp.get(key))})")
            elif old[key] != value:
                exact.append(f"{key}: {old[key]!r} → {value!r} (same content)")
            continue
        if old[key] != value:
            (exact if key in EXACT_KEYS else breaking).append(f"{key}: {old[key]!r} → {value!r}")
    return exact, breaking


def refusal(run: Path, ckpt: Path, breaking: list[str]) -> str:
    return (f"cannot resume {run} from {Path(ckpt).name}: the config differs from the checkpoint's in keys that change "
            "the run:\n  " + "\n  ".join(breaking) + "\nChanges that keep the run exact are allowed: "
            + ", ".join(EXACT_KEYS) + ", or a data file or model at another path with the same content.\n"
            "Pass --allow-config-change to resume anyway (recorded in run.log), or --overwrite to start over.")


def check_resume(cfg, run: Path, latest: Path, allow_config_change: bool) -> str | None:
    """The refusal message when the config or inputs differ from the checkpoint's in a way that changes the run (and
    no override was given); otherwise None, with every change recorded in run.log and config.yaml updated."""
    from tunesmith.train import checkpoint as ck
    from tunesmith.train.config import dump_config

    exact, breaking = config_changes(latest, run, cfg)
    if breaking and not allow_config_change:
        return refusal(run, latest, breaking)
    for change in exact:
        ck.log_line(run, f"resume from {latest.name}: {change} (keeps the run exact)")
    for change in breaking:
        ck.log_line(run, f"resume from {latest.name}: {change} (run no longer exact; allowed by --allow-config-change)")
    if exact or breaking:
        ck.atomic_write_text(run / CONFIG, dump_config(cfg))
    return None


__all__ = ["check_resume", "EXACT_KEYS", "BY_CONTENT", "file_sha256", "model_fingerprint", "fingerprint", "config_changes", "refusal"]
