"""A run's adapter merged into its base, cached on disk: later loads read one model dir instead of base + adapter.

Loading an adapter run for inference means: load the base, import PEFT (which imports bitsandbytes, which imports
torch's compiler stack: seconds on 2 cores), apply the adapter, merge it. Every `tunesmith analyze` paid that. The
merged weights are a pure function of the adapter's files, the base model's files and the dtype, so the first load
saves them under the cache (`$TUNESMITH_CACHE/merged/<key>/`, next to the converted base models; elsewhere with
`TUNESMITH_MERGED_CACHE=DIR`, not at all with `TUNESMITH_MERGED_CACHE=off`) and later loads read them back with
transformers alone. The answers are those of the in-memory merge (same weights, same dtype).

The key hashes the adapter's bytes (a few MB) and the base files' names, sizes and modification times (hashing the base's
hundreds of MB on every call would cost what the cache saves): retraining a run, or replacing its base, gives a new key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from tunesmith.models.loader import cache_root
from tunesmith.models.run_dir import RunDir, load_run_model

log = logging.getLogger(__name__)

COMPLETE = "tunesmith-merged.json"  # written last: a dir without it was cut off and is never read
_KEY_VERSION = 1  # bump when what goes into a merged dir changes


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def merged_key(run: RunDir, dtype) -> str:
    """A digest of everything the merged weights depend on."""
    import transformers

    h = hashlib.sha256()
    h.update(json.dumps({"v": _KEY_VERSION, "dtype": _dtype_name(dtype), "transformers": transformers.__version__})
             .encode())
    for f in sorted(run.model_dir.iterdir()):
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    base = run.base_dir()
    for f in sorted(base.iterdir()):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    h.update(str(base.resolve()).encode())
    return h.hexdigest()[:24]


def merged_root() -> Path | None:
    """Where merged models are cached; None when the cache is turned off."""
    where = os.environ.get("TUNESMITH_MERGED_CACHE", "")
    if where.lower() in ("off", "0", "no", "false"):
        return None
    return Path(where).expanduser() if where else cache_root() / "merged"


def load_merged(run: RunDir, dtype):
    """(model, tokenizer) of an adapter run, merged; from the cache when it holds this run, else merged and cached.

    A base that cannot be merged (quantized) or a cache that cannot be written (read-only home) falls back to the
    in-memory path: the cache saves time, it is never needed for an answer.
    """
    import torch  # noqa: F401  (dtype objects)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = merged_root()
    if root is None:
        return load_run_model(run, dtype=dtype, merge=True)
    target = root / merged_key(run, dtype)
    if (target / COMPLETE).exists():
        try:
            model = AutoModelForCausalLM.from_pretrained(target, dtype=dtype).eval()
            return model, AutoTokenizer.from_pretrained(run.model_dir)
        # A damaged entry fails in the reader of whichever file is bad (safetensors, JSON, the filesystem): any
        # failure to read the cache means "rebuild it", never "no answer".
        except Exception as e:  # noqa: BLE001
            log.warning("merged-model cache %s is unreadable (%s); rebuilding it", target, e)
            shutil.rmtree(target, ignore_errors=True)
    model, tok = load_run_model(run, dtype=dtype, merge=True)
    if hasattr(model, "peft_config"):  # not merged (a quantized base): nothing to cache
        return model, tok
    try:
        _store(model, target, run)
    except OSError as e:
        log.warning("could not cache the merged model in %s (%s); it is merged again on each load", target, e)
    return model, tok


def _store(model, target: Path, run: RunDir) -> None:
    """Written to a temp dir and renamed: a crash or a full disk leaves no half-written cache entry."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        (tmp / COMPLETE).write_text(json.dumps({"run": str(run.root), "model_dir": str(run.model_dir)}) + "\n")
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is an ordinary dir
        try:
            os.rename(tmp, target)
        except OSError:  # another process cached it first: theirs is as good as ours
            if not (target / COMPLETE).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["COMPLETE", "load_merged", "merged_key", "merged_root"]
