"""An export is a directory that appears whole or not at all, and always carries the run's resolved config.

Everything is written into a hidden staging dir next to the target and renamed into place at the end, so a crash or
a failed check leaves no half-written export behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tunesmith.models import run_dir


class ExportError(RuntimeError):
    """An export that cannot be made correctly; the message says why and what to do."""


@contextlib.contextmanager
def staging(out: Path, *, force: bool = False) -> Iterator[Path]:
    """Yield an empty staging dir; on success it replaces `out`, on any exception it is deleted."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise ExportError(f"{out} already exists and is not empty; pick another --out or pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-{os.getpid()}-", dir=out.parent))
    try:
        yield tmp
        # mkdtemp (and some writers) make files private; an export is an ordinary, shareable dir.
        os.chmod(tmp, 0o755)
        for f in tmp.rglob("*"):
            os.chmod(f, f.stat().st_mode | (0o055 if f.is_dir() else 0o044))
        old = None
        if out.exists():
            # Keep the old export until the new one is in place, so --force never leaves neither.
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.rename(out, old)
        os.rename(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _remove_stale(out: Path) -> None:
    """Delete staging dirs left by exports that were killed outright (SIGKILL skips cleanup): their pid is gone."""
    for stale in out.parent.glob(f".{out.name}.partial-*"):
        pid = stale.name.rsplit(".partial-", 1)[1].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(stale, ignore_errors=True)
        except OSError:  # alive but not ours (EPERM): leave it alone
            pass


def write_meta(target: Path, run_meta: dict, export: dict) -> dict:
    """Write `tunesmith.json`: the run's own meta, plus an `export` section (format, checks, versions, git revision)."""
    meta = dict(run_meta)
    meta["export"] = {**export, "versions": run_dir.library_versions(run_dir.EXPORT_LIBRARIES),
                      "git_revision": run_dir.git_revision()}
    run_dir.write_meta(target, meta)
    return meta


__all__ = ["ExportError", "staging", "write_meta"]
