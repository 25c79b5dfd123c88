"""The run dir in one place: its layout, its `tunesmith.json`, what kind of dir a path is, and loading its model.

`tunesmith train` writes a run dir; `generate`, `eval`, `analyze`, `serve` and `export` read it. All of them go through
this module, so a file name, the rule that tells an adapter from a merged export, or the set of stop tokens cannot
drift between a writer and a reader. It sits in the models stage so that every later stage may import it.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

# The layout (docs/CONTRACTS.md, "run dir"). Runs written by earlier versions use these same names: never rename one.
META = "tunesmith.json"  # in every model dir: base model, method, system prompt, step, provenance
MODEL = "model"  # RUN/model/: the result
CHECKPOINTS = "checkpoints"  # RUN/checkpoints/step-NNNNNN/
STEP_PREFIX = "step-"
BEST = "best"  # RUN/best/ or RUN/last/: the other of the best and the final step, when they differ
LAST = "last"
CONFIG = "config.yaml"  # the resolved training config
METRICS = "metrics.jsonl"  # one JSON object per logged step
RUN_LOG = "run.log"  # what the run decided and why (length chosen, resume changes, early stop), one line each
LOSS_PLOT = "loss.png"
SUMMARY = "summary.md"
STATE = "state.json"  # in a checkpoint: step, history, config, fingerprint, file manifest

# What is in a model dir: the ecosystem's formats (PEFT adapter dir, HF model dir) plus tokenizer files.
ADAPTER_CONFIG = "adapter_config.json"
HF_CONFIG = "config.json"
TOKENIZER_CONFIG = "tokenizer_config.json"

# What `dir_kind` answers.
ADAPTER = "adapter"  # a PEFT adapter over a base model: a LoRA-style run's model/, or an `adapter` export
FULL = "full"  # a full fine-tune's HF model dir with tunesmith.json
MERGED = "merged"  # a `merged` export: base + adapter folded into one HF model dir
PLAIN = "plain"  # an HF model dir tunesmith did not write (no tunesmith.json): a base model, loaded by spec

# Versions every artifact records: training's flat keys, an export's `versions` section (it adds the converters').
TRAIN_LIBRARIES = ("torch", "transformers", "peft")
EXPORT_LIBRARIES = ("torch", "transformers", "peft", "safetensors", "gguf", "tokenizers")

# End-of-turn tokens of other families' chat templates: a tokenizer whose own template renders none (a base model's
# fallback template) still stops where a chat model of those families would.
_KNOWN_ENDS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|endoftext|>")


class RunDirError(FileNotFoundError):
    """A path that is not a usable run dir; the message names the file and what is wrong with it.

    A FileNotFoundError, so each CLI that refuses a missing file by name (exit 1, no traceback) refuses a broken run
    dir the same way; the exporter turns it into its own ExportError.
    """


def checkpoint_dir(run: str | os.PathLike, step: int) -> Path:
    """RUN/checkpoints/step-NNNNNN: six digits, so that names sort in step order."""
    return Path(run) / CHECKPOINTS / f"{STEP_PREFIX}{step:06d}"


def find_model_dir(path: str | os.PathLike | None) -> Path | None:
    """The dir holding tunesmith.json for `path`: a run dir's model/, or `path` itself when it is a model dir (a
    best/, last/ or checkpoint's model/, an export). None for anything else: a registry name, a .gguf, a plain HF
    dir."""
    if path is None:
        return None
    path = Path(path)
    for cand in (path / MODEL, path):
        if (cand / META).is_file():
            return cand
    return None


def is_run_dir(path: str | os.PathLike) -> bool:
    """True for a dir `tunesmith train` wrote (RUN/model/tunesmith.json), not for a model dir on its own."""
    return (Path(path) / MODEL / META).is_file()


def read_meta(model_dir: str | os.PathLike) -> dict:
    """A model dir's tunesmith.json; RunDirError naming the file when it is missing, not JSON, or not an object."""
    path = Path(model_dir) / META
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunDirError(f"{path} not found: {model_dir} is not a tunesmith model dir") from None
    except OSError as e:
        raise RunDirError(f"{path}: cannot be read ({e.strerror or e})") from e
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as e:
        raise RunDirError(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from e
    if not isinstance(meta, dict):
        raise RunDirError(f"{path}:1: expected a JSON object")
    return meta


def run_meta(path: str | os.PathLike | None) -> dict:
    """The meta of a run dir or model dir (base model, method, system prompt, step); {} for a model spec that is
    not one (a registry name, a .gguf, a plain HF dir), which has nothing to say about how it was trained."""
    mdir = find_model_dir(path)
    return read_meta(mdir) if mdir is not None else {}


def write_meta(model_dir: str | os.PathLike, meta: dict) -> None:
    """Write tunesmith.json whole or not at all (a checkpoint's, an export's and model/'s are the same file)."""
    from tunesmith.atomic import write_json

    write_json(Path(model_dir) / META, meta)


def save_model_dir(path: str | os.PathLike, model, tokenizer, meta: dict) -> None:
    """The ecosystem's formats: a PEFT adapter dir or an HF model dir, plus the tokenizer and tunesmith.json."""
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    write_meta(path, meta)


def dir_kind(path: str | os.PathLike) -> str | None:
    """ADAPTER, FULL, MERGED or PLAIN for a model dir (or a run dir, by its model/); None when it is none of them.

    An adapter needs its base model to load; the other three load on their own. A merged export and a full run differ
    only in their meta (the export records its format), which is what says whether the base model was trained."""
    mdir = find_model_dir(path)
    if mdir is None:
        return PLAIN if (Path(path) / HF_CONFIG).is_file() else None
    if (mdir / ADAPTER_CONFIG).is_file():
        return ADAPTER
    if not (mdir / HF_CONFIG).is_file():
        return None
    export = read_meta(mdir).get("export")
    return MERGED if isinstance(export, dict) and export.get("format") == MERGED else FULL


@dataclass(frozen=True)
class RunDir:
    """A run dir (or a model dir given directly) that has been checked to hold a loadable model."""

    root: Path  # what was named: the run dir, or the model dir itself
    model_dir: Path  # where tunesmith.json, the weights and the tokenizer are
    meta: dict

    @property
    def is_adapter(self) -> bool:
        return (self.model_dir / ADAPTER_CONFIG).is_file()

    @property
    def kind(self) -> str:
        return dir_kind(self.model_dir) or FULL

    @property
    def system_prompt(self) -> str | None:
        return self.meta.get("system_prompt") or None

    @property
    def step(self) -> int | None:
        """The training step the weights are from (runs before best/last were kept do not record it)."""
        return self.meta.get("step")

    def local_base(self) -> Path | None:
        """The base model's HF dir as recorded at training time, when it still exists on this machine."""
        path = self.meta.get("base_model_path")
        return Path(path) if path and Path(path).is_dir() else None

    def base_dir(self) -> Path:
        """The HF dir of the base model an adapter was trained on: the recorded local path, else the base model spec
        resolved again (the recorded path is machine-specific; the bundled adapter records none)."""
        local = self.local_base()
        if local is not None:
            return local
        where = self.model_dir / META
        spec = self.meta.get("base_model") or self.meta.get("base_model_path")
        if not spec:
            raise RunDirError(f"{where}: no base_model_path or base_model; cannot find the base model")
        from tunesmith.models.loader import resolve  # a registry name or .gguf: cached HF dir, no download

        try:
            return resolve(spec)
        except FileNotFoundError as e:
            raise RunDirError(f"{where}: base model {spec!r} not found: {e}") from e


def open_run(path: str | os.PathLike) -> RunDir:
    """A run dir, or a model dir directly, checked for what loading needs; RunDirError naming what is missing."""
    root = Path(path)
    if not root.exists():
        raise RunDirError(f"run dir not found: {root}")
    model_dir = find_model_dir(root)
    if model_dir is None:
        expected = (root / MODEL if (root / MODEL).is_dir() else root) / META
        raise RunDirError(f"{expected} not found: {root} is not a tunesmith run (expected RUN/{MODEL}/{META})")
    meta = read_meta(model_dir)
    if not (model_dir / ADAPTER_CONFIG).is_file() and not (model_dir / HF_CONFIG).is_file():
        raise RunDirError(f"{model_dir}: neither a PEFT adapter ({ADAPTER_CONFIG}) nor an HF model dir ({HF_CONFIG})")
    if not (model_dir / TOKENIZER_CONFIG).is_file():
        raise RunDirError(f"{model_dir}: no tokenizer files ({TOKENIZER_CONFIG}); the run dir is incomplete")
    return RunDir(root=root, model_dir=model_dir, meta=meta)


def git_revision() -> str | None:
    """The git commit of the tunesmith source tree, with `-dirty` when it has local changes (the commit alone would
    claim code that did not run); None outside git, e.g. an installed package."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10)
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def library_versions(names=EXPORT_LIBRARIES) -> dict[str, str]:
    """tunesmith's version and each installed library's among `names`, read from package metadata (no imports)."""
    from importlib.metadata import PackageNotFoundError, version

    from tunesmith import __version__

    found = {"tunesmith": __version__}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def provenance() -> dict:
    """What a run's tunesmith.json records about the code that trained it: library versions and git revision."""
    return {**library_versions(TRAIN_LIBRARIES), "git_revision": git_revision()}


def end_of_turn_ids(tokenizer) -> list[int]:
    """The ids of the tokens that end an assistant turn, the template's own first (e.g. `<|im_end|>`), then EOS:
    what an exported model's generation_config stops at."""
    from tunesmith.models.loader import end_of_turn_tokens

    ids = [tokenizer.convert_tokens_to_ids(t) for t in end_of_turn_tokens(tokenizer)]
    return [i for i in dict.fromkeys(ids) if i is not None and i != tokenizer.unk_token_id]


def stop_token_ids(tokenizer) -> list[int]:
    """Every id generation stops at: EOS, the template's end-of-turn token (Phi-3's <|end|>, Gemma's <end_of_turn>,
    ...), and the usual end-of-turn tokens of other families' templates that the vocabulary has."""
    ids = {tokenizer.eos_token_id}
    try:
        ids.update(end_of_turn_ids(tokenizer))
    except Exception:  # a template that cannot render a plain user/assistant exchange: the fixed list below
        pass
    vocab = tokenizer.get_vocab()
    for tok in _KNOWN_ENDS:
        tid = tokenizer.convert_tokens_to_ids(tok) if tok in vocab else None
        if tid is not None and tid != tokenizer.unk_token_id:
            ids.add(tid)
    return sorted(i for i in ids if i is not None)


def _quantized(model) -> bool:
    return bool(getattr(model, "is_quantized", False)) or getattr(model.config, "quantization_config", None) is not None


def load_run_model(run: RunDir, dtype=None, merge: bool = True):
    """(model, tokenizer) of a run, eval mode: a full or merged model dir as saved, or an adapter on its base model.

    Every weight is checked (tunesmith.models.weights refuses missing or unexpected keys). With `merge`, an adapter is
    folded into the base weights unless the base is quantized: plain linear layers instead of base + two small adapter
    matmuls per layer, 1.15x faster prefill and 1.3x faster decoding for the CI analyzer on 2 CPU cores
    (benchmarks/README.md), same answers. The tokenizer is the run's own, as saved.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.models.weights import load_full, load_peft

    dtype = dtype or torch.float32
    tokenizer = AutoTokenizer.from_pretrained(run.model_dir)
    if not run.is_adapter:
        return load_full(run.model_dir, dtype=dtype).eval(), tokenizer
    base = AutoModelForCausalLM.from_pretrained(run.base_dir(), dtype=dtype)
    if base.get_input_embeddings().weight.shape[0] < len(tokenizer):
        # The run added tokens; the adapter's saved embedding rows only fit a base resized the same way.
        base.resize_token_embeddings(len(tokenizer))
    model = load_peft(base, run.model_dir)
    if merge and not _quantized(base):
        model = model.merge_and_unload()
    return model.eval(), tokenizer


__all__ = [
    "META", "MODEL", "CHECKPOINTS", "STEP_PREFIX", "BEST", "LAST", "CONFIG", "METRICS", "RUN_LOG", "LOSS_PLOT",
    "SUMMARY", "STATE", "ADAPTER_CONFIG", "HF_CONFIG", "TOKENIZER_CONFIG", "ADAPTER", "FULL", "MERGED", "PLAIN",
    "TRAIN_LIBRARIES", "EXPORT_LIBRARIES", "RunDirError", "RunDir", "checkpoint_dir", "find_model_dir", "is_run_dir",
    "read_meta", "run_meta", "write_meta", "save_model_dir", "dir_kind", "open_run", "git_revision",
    "library_versions", "provenance", "end_of_turn_ids", "stop_token_ids", "load_run_model",
]
