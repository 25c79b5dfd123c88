"""Ship a trained run: as a merged HF model, the PEFT adapter alone, a round-trip-checked GGUF, or an Ollama dir.

Each format is one function with the same signature, registered by name in `FORMATS`; `export()` adds the atomic
output dir and the resolved config every export carries.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from tunesmith.export.artifact import ExportError, staging, write_meta
from tunesmith.export.gguf import export_gguf
from tunesmith.export.merge import export_adapter, export_merged
from tunesmith.export.ollama import export_ollama
from tunesmith.export.source import Run, open_run
from tunesmith.logs.prior import PRIOR_FILES

# name -> exporter(run, target_dir, *, quant) -> dict of facts for the export's tunesmith.json
FORMATS: dict[str, Callable[..., dict]] = {
    "merged": export_merged,
    "adapter": export_adapter,
    "gguf": export_gguf,
    "ollama": export_ollama,
}


def export(run: str | Path | Run, fmt: str, out: str | Path, *, quant: str | None = None, force: bool = False) -> dict:
    """Export `run` as `fmt` into `out` (created whole, or not at all). Returns the written tunesmith.json."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    run = run if isinstance(run, Run) else open_run(run)
    out = Path(out)
    with staging(out, force=force) as tmp:
        info = FORMATS[fmt](run, tmp, quant=quant)
        if fmt in ("merged", "adapter"):  # dirs `tunesmith analyze --run` / `serve --run` load: the prior goes along
            info["category_prior"] = _copy_prior(run, tmp)
        meta = write_meta(tmp, run.meta, {"format": fmt, "run": str(run.root.resolve()), **info})
    return meta


def _copy_prior(run: Run, target: Path) -> bool:
    """Copy the run's category prior (`tunesmith logs fit-prior` writes it in the run dir) into `target`, if any."""
    found = [d / f for d in (run.root, run.model_dir) for f in PRIOR_FILES if (d / f).exists()]
    for path in found:
        shutil.copy2(path, target / path.name)
    return bool(found)


__all__ = ["FORMATS", "ExportError", "export", "open_run"]
