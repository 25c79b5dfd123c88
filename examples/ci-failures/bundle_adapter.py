"""Copy a trained CI-analyzer run's adapter into the package (src/tunesmith/logs/adapter), so `tunesmith analyze`
works right after set-up. Weights are stored in bf16 (half the size; the adapter is applied in the base model's dtype).

    python examples/ci-failures/bundle_adapter.py runs/ci-failures

The run's category prior, when `tunesmith logs fit-prior` wrote one into the run dir, is copied too.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

import torch

from tunesmith.logs.analyze import BUNDLED_ADAPTER
from tunesmith.logs.prior import PRIOR_FILES
from tunesmith.train.checkpoint import atomic_dir


def bundle(run: Path, target: Path = BUNDLED_ADAPTER) -> Path:
    src = run / "model"
    if not (src / "adapter_config.json").exists():
        raise SystemExit(f"{src} is not a PEFT adapter dir (train the recipe first)")

    def write(tmp: Path) -> None:
        for f in src.iterdir():
            if f.name == "adapter_model.safetensors":
                weights = {k: v.to(torch.bfloat16).contiguous() for k, v in load_file(f).items()}
                save_file(weights, tmp / f.name, metadata={"format": "pt"})
            elif f.is_file() and f.name != "README.md":
                shutil.copy2(f, tmp / f.name)
        meta = json.loads((tmp / "tunesmith.json").read_text())
        meta["base_model_path"] = ""  # machine-specific; the registry name in base_model is what a user's install resolves
        (tmp / "tunesmith.json").write_text(json.dumps(meta, indent=2))
        for name in PRIOR_FILES:  # the category prior (`tunesmith logs fit-prior DATA --run RUN`) goes with it
            if (run / name).exists():
                shutil.copy2(run / name, tmp / name)
        for name in ("config.yaml", "metrics.jsonl", "summary.md", "loss.png"):
            if (run / name).exists():
                shutil.copy2(run / name, tmp / f"run-{name}")

    return atomic_dir(target, write)


if __name__ == "__main__":
    print(bundle(Path(sys.argv[1])))
