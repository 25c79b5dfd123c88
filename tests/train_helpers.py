"""Helpers shared by the training tests: a small seeded dataset and a config for the tiny random llama."""

from __future__ import annotations

import json
import random
from pathlib import Path

PACKAGES = ["numpy", "pandas", "flask", "torch", "requests", "scipy"]


def write_dataset(path: Path, n: int = 40, seed: int = 0) -> Path:
    r = random.Random(seed)
    with path.open("w") as f:
        for i in range(n):
            pkg = r.choice(PACKAGES)
            f.write(json.dumps({"input": f"error: module {pkg} not found (build {i})", "output": f"Fix: add {pkg}"}) + "\n")
    return path


def make_cfg(tiny_model_dir, dataset, out, **kw):
    """A fast config: 64-token rows, 4 per batch, a high lr, fp32 (bitwise-repeatable on CPU)."""
    from tunesmith.train.config import load_config

    base = dict(model=str(tiny_model_dir), train_file=str(dataset), output_dir=str(out), max_seq_len=64, batch_size=4,
                lr=5e-3, max_steps=6, eval_every=3, save_every=0, log_every=1, lora_dropout=0.1, precision="fp32")
    base.update(kw)
    return load_config(None, [f"{k}={'null' if v is None else v}" for k, v in base.items()])
