"""The category prior: same probabilities as scikit-learn, saved and loaded intact, and it steers the Category line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.logs.analyze import Analyzer
from tunesmith.logs.prior import PRIOR_FILES, CategoryPrior
from tunesmith.models.generate import StartsWith

TEXTS = [
    "[ERROR] COMPILATION ERROR : cannot find symbol maven-compiler-plugin Compilation failure",
    "error: expected ';' before '}' token make: *** [all] Error 1 compilation terminated",
    "[ERROR] src/A.java:[12] (whitespace) Trailing spaces maven-checkstyle-plugin violations",
    "flake8 E501 line too long; 3 style violations found, lint failed",
    "FAILED tests/test_api.py::test_login - AssertionError: 401 != 200",
    "Tests run: 12, Failures: 1 junit expected:<3> but was:<4> FAILED",
] * 3
LABELS = ["build_error", "build_error", "lint", "lint", "test_failure", "test_failure"] * 3


def test_log_proba_matches_scikit_learn_on_new_text():
    """Inference is hand-written numpy: it must give scikit-learn's own probabilities, or the prior silently drifts."""
    pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    prior = CategoryPrior.fit(TEXTS, LABELS, max_features=200, c=10.0)
    vec = TfidfVectorizer(token_pattern=r"[a-z][a-z0-9_\-]+", ngram_range=(1, 2), sublinear_tf=True, min_df=2,
                          max_features=200, dtype=np.float32)
    lr = LogisticRegression(C=10.0, max_iter=5000).fit(vec.fit_transform(TEXTS), LABELS)
    new = ["Compilation failure: cannot find symbol in A.java", "nothing the prior has seen", "lint lint FAILED style"]
    want = lr.predict_proba(vec.transform(new))
    assert list(lr.classes_) == prior.classes
    np.testing.assert_allclose(np.exp(prior.log_proba(new)), want, atol=1e-5)
    assert prior.classes[int(np.argmax(prior.log_proba([new[0]])[0]))] == "build_error"


def test_saved_prior_loads_to_the_same_answers_and_a_bad_file_is_named(tmp_path):
    pytest.importorskip("sklearn")
    prior = CategoryPrior.fit(TEXTS, LABELS)
    prior.save(tmp_path)
    again = CategoryPrior.load(tmp_path)
    np.testing.assert_allclose(again.log_proba(TEXTS[:3]), prior.log_proba(TEXTS[:3]), atol=1e-6)
    assert CategoryPrior.load(tmp_path / "elsewhere") is None  # a run without a prior: the model decides alone
    meta = json.loads((tmp_path / PRIOR_FILES[0]).read_text())
    meta["terms"] = meta["terms"][:-1]
    (tmp_path / PRIOR_FILES[0]).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not match"):
        CategoryPrior.load(tmp_path)
    with pytest.raises(ValueError, match="at least two categories"):
        CategoryPrior.fit(TEXTS[:2], ["lint", "lint"])


def _scores(favoured: dict[int, float], vocab: int = 10):
    import torch

    s = torch.zeros(1, vocab)
    for t, v in favoured.items():
        s[0, t] = v
    return s


def test_starts_with_bias_multiplies_the_prior_into_the_branch_choice():
    """Starts [1,2], [1,3], [4]: the model prefers token 4 (log-odds 1.0); a prior 10:1 for [1,3] overturns that,
    and below the shared token 1 the choice between 2 and 3 follows the prior's conditional mass."""
    import torch

    starts = [[1, 2], [1, 3], [4]]
    no_bias = StartsWith(starts, prompt_len=0)
    first = no_bias(torch.zeros(1, 0, dtype=torch.long), _scores({4: 1.0}))
    assert int(first.argmax()) == 4
    assert torch.isinf(first[0, 0]) and first[0, 0] < 0  # tokens outside every start are masked
    bias = [[np.log(0.05), np.log(0.9), np.log(0.05)]]
    with_prior = StartsWith(starts, prompt_len=0, bias=bias)
    first = with_prior(torch.zeros(1, 0, dtype=torch.long), _scores({4: 1.0}))
    assert int(first.argmax()) == 1  # log 0.95 + 0 > log 0.05 + 1
    second = with_prior(torch.tensor([[1]]), _scores({2: 1.0}))
    assert int(second.argmax()) == 3  # 0.9 / 0.95 of the mass below token 1 is on [1, 3]
    after = with_prior(torch.tensor([[1, 3]]), _scores({7: 1.0}))
    assert int(after.argmax()) == 7  # past the start: free again


def _word_prior() -> CategoryPrior:
    """A prior without scikit-learn: "dns" means network, "header" means license."""
    vocab = {"dns": 0, "header": 1}
    coef = np.array([[6.0, -6.0], [-6.0, 6.0]], np.float32)
    return CategoryPrior(vocab, np.ones(2, np.float32), coef, np.zeros(2, np.float32), ["network", "license"],
                         {"format": 1})


def test_analyzer_category_follows_a_confident_prior_on_a_real_generator(tiny_model_dir):
    """The tiny random model picks whatever; with the prior each log's Category is the one its words point to, in one
    batched call, and the model still writes the rest of the answer."""
    from tunesmith.models.generate import load_generator

    gen = load_generator(tiny_model_dir)
    logs = ["setup\nERROR: dns lookup failed for registry\nexit code 1", "setup\nERROR: header missing in A.java\nexit code 1"]
    analyses = Analyzer(kb=False, generator=gen, max_new_tokens=10, prior=_word_prior()).analyze_many(logs)
    assert [a.category for a in analyses] == ["network", "license"]
    assert all(a.raw.startswith(f"Category: {a.category_name}\n") for a in analyses)
    alone = Analyzer(kb=False, generator=gen, max_new_tokens=10, prior=None)
    assert alone.category_bias(["dns"]) is None
    bias = Analyzer(kb=False, generator=gen, prior=_word_prior(), prior_weight=1.0).category_bias(["dns"])[0]
    assert len(bias) == 14 and max(bias) == pytest.approx(np.log(1 / (1 + np.exp(-12))), abs=1e-6)


def test_fit_prior_cli_writes_the_run_files_and_names_unusable_lines(tmp_path):
    pytest.importorskip("sklearn")
    data = tmp_path / "train.jsonl"
    rows = [{"input": t, "output": f"Category: {lab}\nRoot Cause: x.\nFix: y."} for t, lab in zip(TEXTS, LABELS)]
    rows.append({"input": "no category here", "output": "Just some prose."})
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = tmp_path / "run"
    run.mkdir()
    r = CliRunner().invoke(app, ["logs", "fit-prior", str(data), "--run", str(run)])
    assert r.exit_code == 0, r.output
    assert "1 example(s) name no known category (lines 19)" in r.output
    prior = CategoryPrior.load(run)
    assert sorted(prior.classes) == ["build_error", "lint", "test_failure"]
    data.write_text(data.read_text() + "{not json\n")
    run2 = tmp_path / "run2"
    run2.mkdir()
    # The data layer's problem table names file and line (wide terminal: rich wraps tables to its width).
    r = CliRunner().invoke(app, ["logs", "fit-prior", str(data), "--run", str(run2)], env={"COLUMNS": "200"})
    assert r.exit_code == 1 and "train.jsonl:20" in r.output and "nothing written" in r.output
    assert not any(run2.iterdir())


def test_prior_travels_with_the_run_through_export(tiny_model_dir, tmp_path):
    """A user who exports the analyzer run and serves the export gets the same analyzer, prior included."""
    from test_export_formats import make_run

    from tunesmith.export import export

    run = make_run(tmp_path / "run", tiny_model_dir)
    _word_prior().save(run)
    out = tmp_path / "exported"
    meta = export(run, "adapter", out, carry=PRIOR_FILES)
    assert meta["export"]["carried"] == sorted(PRIOR_FILES)
    analyzer = Analyzer(run=out, max_new_tokens=12)
    assert analyzer.prior is not None and analyzer.prior.classes == ["network", "license"]
    assert analyzer.analyze("ERROR: dns lookup failed\nexit code 1").category == "network"
    bare = make_run(tmp_path / "bare", tiny_model_dir)
    assert export(bare, "adapter", tmp_path / "bare-out", carry=PRIOR_FILES)["export"]["carried"] == []
