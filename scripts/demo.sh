#!/usr/bin/env bash
# The main job end to end on the bundled model: set up, check the example data, a short LoRA fine-tune, the tuned model
# against the base model on an unseen example, then the CI failure analyzer on a sample log. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. check the example data"
tunesmith data validate examples/data/ci_failures_small.jsonl

say "2. short LoRA fine-tune of SmolLM2-135M on it (CPU, a few minutes)"
tunesmith train examples/quickstart.yaml --overwrite

UNSEEN="Run pytest
tests/test_api.py::test_login FAILED
E   AssertionError: expected status 200, got 401
==== 1 failed, 41 passed in 3.2s ====
Error: Process completed with exit code 1."
say "3. an unseen log, base model (no fine-tuning)"
tunesmith generate --run smollm2-135m --max-new-tokens 80 "$UNSEEN"
say "   the same log, fine-tuned model (runs/quickstart)"
tunesmith generate --run runs/quickstart --max-new-tokens 80 "$UNSEEN"

# The analyzer uses the recipe's adapter shipped inside tunesmith when this install has one (see
# examples/ci-failures/README.md to train it), and otherwise the quick fine-tune just made.
RUN=()
python -c "import sys; from tunesmith.logs.analyze import BUNDLED_ADAPTER as b; sys.exit(not (b / 'tunesmith.json').exists())" 2>/dev/null \
  || RUN=(--run runs/quickstart)
say "4. the CI failure analyzer on the document's two examples (answered from the failure knowledge base)"
echo "ERROR: Docker build failed COPY requirements.txt not found" | tunesmith analyze - "${RUN[@]}"
echo
echo "ERROR: npm install failed package.json missing" | tunesmith analyze - "${RUN[@]}"
say "5. the CI failure analyzer on a full sample log (redact, distil, knowledge base, model) ${RUN[*]}"
tunesmith analyze examples/ci-failures/sample.log "${RUN[@]}"
say "   the same as JSON"
tunesmith analyze examples/ci-failures/sample.log --json "${RUN[@]}"
