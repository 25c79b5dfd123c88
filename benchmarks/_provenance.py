"""What a benchmark result needs to be read later, stored inside its JSON: the command that made it, the git revision,
the machine (CPU model, cores, AMX, torch version, load) and the date. Every script in benchmarks/ adds it.

    from _provenance import provenance
    write_json(out, {"provenance": provenance(), ...})
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

__all__ = ["provenance"]

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu() -> tuple[str, set[str]]:
    """(model name, flags) from /proc/cpuinfo; (platform's name, no flags) where there is none (macOS, Windows)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), set()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model or platform.machine(), flags


def provenance() -> dict:
    """The record; call it when the result is written, so the load average and date are those of the measurement's end."""
    import torch  # every benchmark has it loaded already; here for its version and AMX check

    model, flags = _cpu()
    amx = any(f.startswith("amx") for f in flags) or bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "command": shlex.join(["python", os.path.relpath(os.path.abspath(sys.argv[0]), ROOT) if sys.argv[0] else "-",
                              *sys.argv[1:]]),
        "git_revision": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,  # uncommitted changes to tracked files
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpu_model": model,
            "cores": os.cpu_count(),
            "amx": amx,
            "avx512_bf16": "avx512_bf16" in flags,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        },
    }
