"""Atomic writes, in one place: every file and dir tunesmith writes appears whole or not at all.

A temp file/dir is filled next to the target (same filesystem), then renamed over it; on any error (disk full,
Ctrl-C) the temp is removed and the previous version, if any, is left untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

# mkstemp makes a private (0600) file; the renamed result should get the mode an ordinary open() would give it, or
# every metrics file, dataset and adapter tunesmith writes ends up unreadable to the rest of a team. Read once, at
# import, because reading the umask means setting it.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


def write_lines(path: str | Path, lines: Iterable[str]) -> int:
    """Write text lines (each gets a newline) atomically, fsync'd; returns the line count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    n = 0
    try:
        os.chmod(tmp, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            for line in lines:
                f.write(line + "\n")
                n += 1
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: str | Path, records: Iterable[dict]) -> int:
    """One JSON object per line, atomically; returns the line count."""
    return write_lines(path, (json.dumps(r, ensure_ascii=False) for r in records))


def write_json(path: str | Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def _fsync_tree(root: Path) -> None:
    """Flush every file under root, then the dirs: a power loss after the rename cannot leave empty or short files."""
    for dirpath, _, names in os.walk(root):
        for name in names:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    for dirpath, _, _ in os.walk(root):
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a dir; the files themselves are flushed
        pass
    finally:
        os.close(fd)


def recover_dir(target: str | Path) -> None:
    """A kill between write_dir's two renames leaves the previous version as .NAME.old and no NAME: put it back."""
    target = Path(target)
    old = target.with_name(f".{target.name}.old")
    if old.is_dir() and not target.exists():
        os.rename(old, target)


def write_dir(target: str | Path, fill: Callable[[Path], None]) -> Path:
    """Call fill(tmp_dir), then rename tmp_dir to target (replacing an existing target only once the new one is whole)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        fill(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the result is an ordinary dir
        _fsync_tree(tmp)
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


__all__ = ["write_lines", "write_text", "write_jsonl", "write_json", "write_dir", "recover_dir"]
