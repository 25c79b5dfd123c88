"""Ship a trained run: as a merged HF model, the PEFT adapter alone, a round-trip-checked GGUF, or an Ollama dir.

Each format is one function with the same signature, registered by name in `FORMATS`; `export()` adds the atomic
output dir and the resolved config every export carries.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from tunesmith.export.artifact import ExportError, staging, write_meta
from tunesmith.export.gguf import export_gguf
from tunesmith.export.merge import export_adapter, export_merged
from tunesmith.export.ollama import export_ollama
from tunesmith.export.source import Run, open_run
from tunesmith.models.run_dir import RunDirError

# name -> exporter(run, target_dir, *, quant) -> dict of facts for the export's tunesmith.json
FORMATS: dict[str, Callable[..., dict]] = {
    "merged": export_merged,
    "adapter": export_adapter,
    "gguf": export_gguf,
    "ollama": export_ollama,
}


def export(run: str | Path | Run, fmt: str, out: str | Path, *, quant: str | None = None, force: bool = False,
           carry: Sequence[str] = ()) -> dict:
    """Export `run` as `fmt` into `out` (created whole, or not at all). Returns the written tunesmith.json.

    `carry` names files a recipe keeps beside the model in the run dir (or its model/ dir), e.g. the analyzer's
    category prior; merged and adapter exports, the dirs `--run` loads, take along those that exist.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    run = run if isinstance(run, Run) else open_run(run)
    out = Path(out)
    try:
        with staging(out, force=force) as tmp:
            info = FORMATS[fmt](run, tmp, quant=quant)
            if fmt in ("merged", "adapter"):
                info["carried"] = _carry(run, tmp, carry)
            meta = write_meta(tmp, run.meta, {"format": fmt, "run": str(run.root.resolve()), **info})
    except RunDirError as e:  # the run dir's own errors (a base model not found), in the exporter's terms
        raise ExportError(str(e)) from e
    return meta


def _carry(run: Run, target: Path, names: Sequence[str]) -> list[str]:
    """Copy the named files the run dir (or its model/ dir) holds into `target`; the names copied."""
    found = {f: d / f for d in (run.model_dir, run.root) for f in names if (d / f).is_file()}  # the run root wins
    for name, path in found.items():
        shutil.copy2(path, target / name)
    return sorted(found)


__all__ = ["FORMATS", "ExportError", "export", "open_run"]
