"""llama.cpp's own HF -> GGUF converter (`convert_hf_to_gguf.py`), as the GGUF export's writer.

llama.cpp publishes no package of its converter, but the well-kept `llama-cpp-python` source distribution on PyPI
vendors llama.cpp at a pinned commit. `fetch()` downloads that sdist with pip (no model hub, nothing compiled),
checks its sha256, and extracts only the Python conversion code: `convert_hf_to_gguf.py`, `conversion/` and the
matching `gguf-py/`. `convert()` runs it in a subprocess, so its newer `gguf` never meets the `gguf` package that
tunesmith itself imports.

$TUNESMITH_LLAMACPP may name another tree with the same layout (a llama.cpp checkout); it is used as it is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "llama-cpp-python"
VERSION = "0.3.36"  # vendors ggml-org/llama.cpp 0c1e57098bba43ac29e6e3b677cdceebdd22334f
SDIST = f"llama_cpp_python-{VERSION}.tar.gz"
SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
_VENDOR = f"llama_cpp_python-{VERSION}/vendor/llama.cpp/"
_KEEP = ("convert_hf_to_gguf.py", "LICENSE", "conversion/", "gguf-py/gguf/")
FETCH_COMMAND = "python -m tunesmith.export.llamacpp fetch"
_DRIVER = Path(__file__).with_name("_llamacpp_driver.py")


class ConverterMissing(RuntimeError):
    """llama.cpp's converter is not on this machine; the message says how to fetch it."""


def default_dir() -> Path:
    from tunesmith.models.loader import cache_root

    return cache_root() / "llama.cpp" / f"{PACKAGE}-{VERSION}"


def converter_dir() -> Path:
    """The converter tree to use, or ConverterMissing saying how to get it."""
    env = os.environ.get("TUNESMITH_LLAMACPP")
    path = Path(env).expanduser() if env else default_dir()
    if not (path / "convert_hf_to_gguf.py").is_file() or not (path / "gguf-py" / "gguf").is_dir():
        where = f"$TUNESMITH_LLAMACPP={env}" if env else str(path)
        raise ConverterMissing(
            f"llama.cpp's converter (convert_hf_to_gguf.py) is not installed at {where}. Fetch it once with:\n"
            f"  {FETCH_COMMAND}\n(pip downloads the {PACKAGE}=={VERSION} source distribution from PyPI, which "
            "vendors llama.cpp; only its Python conversion code is kept. scripts/setup.sh does this.)"
        )
    return path


def fetch(target: Path | None = None, *, sdist: Path | None = None) -> Path:
    """Download (or take `sdist`), verify and extract the converter into `target` (default: the cache). Idempotent."""
    target = Path(target) if target else default_dir()
    if (target / "convert_hf_to_gguf.py").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".llamacpp-", dir=target.parent) as tmp:
        tmp = Path(tmp)
        if sdist is None:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   "--disable-pip-version-check", "-q", "-d", str(tmp), f"{PACKAGE}=={VERSION}"]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                raise ConverterMissing(f"pip could not download {PACKAGE}=={VERSION}:\n{res.stderr.strip()[-2000:]}")
            sdist = tmp / SDIST
        digest = hashlib.sha256(Path(sdist).read_bytes()).hexdigest()
        if digest != SHA256:
            raise ConverterMissing(f"{sdist}: sha256 {digest} is not the pinned {SHA256}; refusing to use it")
        out = tmp / "tree"
        with tarfile.open(sdist) as tar:
            members = []
            for m in tar.getmembers():
                rel = m.name[len(_VENDOR):] if m.name.startswith(_VENDOR) else None
                if rel and (m.isfile() or m.isdir()) and any(rel == k or rel.startswith(k) for k in _KEEP):
                    m.name = rel
                    members.append(m)
            tar.extractall(out, members=members, filter="data")
        if not (out / "convert_hf_to_gguf.py").is_file():
            raise ConverterMissing(f"{sdist} holds no vendor/llama.cpp/convert_hf_to_gguf.py")
        (out / "SOURCE").write_text(f"{PACKAGE}=={VERSION} sdist from PyPI, sha256 {SHA256}\n", encoding="utf-8")
        os.chmod(out, 0o755)
        try:
            os.rename(out, target)
        except OSError:  # another process fetched it first
            if not (target / "convert_hf_to_gguf.py").is_file():
                raise
    return target


def convert(model_dir: Path, out: Path, *, outtype: str, pre_fallback: str | None = None,
            name: str | None = None) -> str:
    """Run convert_hf_to_gguf.py on an HF model dir. `pre_fallback` is the llama.cpp pre-tokenizer name to use when
    the converter does not recognise the tokenizer's (a fine-tune's own tokenizer, a test's tiny one); tunesmith
    derives it from the tokenizer's structure or the base GGUF. Returns the converter's log; raises RuntimeError with
    its last lines when it fails."""
    root = converter_dir()
    cmd = [sys.executable, "-I", str(_DRIVER), str(root), pre_fallback or "-", str(model_dir),
           "--outfile", str(out), "--outtype", outtype]
    if name:
        cmd += ["--model-name", name]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    log = res.stdout + res.stderr
    if res.returncode != 0 or not Path(out).is_file():
        tail = "\n".join(line for line in log.splitlines() if line.strip())[-3000:]
        raise RuntimeError(f"llama.cpp's convert_hf_to_gguf.py failed (exit {res.returncode}):\n{tail}")
    return log


def supported_architectures() -> set[str]:
    """The HF architecture names (config.json `architectures`) the converter registers a text model for."""
    import ast

    source = (converter_dir() / "conversion" / "__init__.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "TEXT_MODEL_MAP":
            return set(ast.literal_eval(node.value))
    return set()


def _main(argv: list[str]) -> int:
    if argv[:1] != ["fetch"]:
        print(f"usage: {FETCH_COMMAND} [--sdist FILE]   (into $TUNESMITH_CACHE or ~/.cache/tunesmith)")
        return 2
    sdist = Path(argv[argv.index("--sdist") + 1]) if "--sdist" in argv else None
    try:
        path = fetch(sdist=sdist)
    except ConverterMissing as e:
        print(e, file=sys.stderr)
        return 1
    print(f"llama.cpp converter ({PACKAGE}=={VERSION}) at {path}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))


__all__ = ["PACKAGE", "VERSION", "FETCH_COMMAND", "ConverterMissing", "converter_dir", "default_dir", "fetch", "convert",
           "supported_architectures"]
