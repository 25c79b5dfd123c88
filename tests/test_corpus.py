"""The CI-failure corpus: every family renders a parseable answer, generation is seeded, no test-split case leaks in."""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

import pytest

from conftest import shared_data
from tunesmith.logs.categories import BY_ID, parse_answer

ROOT = Path(__file__).resolve().parents[1]
CI_DIR = ROOT / "examples" / "ci-failures"
sys.path.insert(0, str(CI_DIR))

import build_corpus  # noqa: E402
from families import FAMILIES, NO_FAILURE, render  # noqa: E402
from real_cases import TEST_SPLIT_FILE, classify_text, hashed_test_split, source_hash  # noqa: E402

DATA = CI_DIR / "data"
ANSI = re.compile(r"\x1b\[")


def _words(s: str) -> int:
    return len(s.split())  # a cheap stand-in tokenizer: tests must not load the real one


def test_catalogue_is_broad():
    assert len(FAMILIES) >= 40
    cats = {f.category for f in FAMILIES.values()}
    assert cats == set(BY_ID) - {"unknown"}, "every failure category has at least one family"


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_variant_renders_with_a_valid_answer(name):
    fam = FAMILIES[name]
    for v in range(fam.variants):
        for ci in ("github", "gitlab", "jenkins", "travis"):
            s = render(name, random.Random(f"{name}:{v}:{ci}"), ci=ci, variant=v)
            parsed = parse_answer(s.answer)
            assert parsed is not None, s.answer
            assert parsed["category"] == fam.category
            assert len(s.answer.splitlines()) == 3
            assert s.log.count("\n") > 5
        short = render(name, random.Random(v), short=True, variant=v)
        assert short.log.startswith("$ ") and not ANSI.search(short.log)


GENERIC_FILES = {"package.json", "requirements.txt", "pom.xml", "build.gradle", "Cargo.toml", "go.sum", "yarn.lock",
                 "package-lock.json", "pnpm-lock.yaml", "poetry.lock", "pyproject.toml", "variables.tf", "tests/conftest.py"}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_answers_name_only_specifics_shown_in_the_log(name):
    # The root cause is written from the same parameters as the log: every file or package@version it names must be
    # visible in the log, or the model learns to invent names.
    for v in range(FAMILIES[name].variants):
        s = render(name, random.Random(f"specifics:{v}"), variant=v)
        root = parse_answer(s.answer)["root_cause"]
        named = re.findall(r"[\w./-]+\.(?:py|java|json|txt|yaml|ts|tsx|jar|rs|go|c|cpp|kt|rb|rst|md|tf|sh)\b|[\w-]+@\S+", root)
        missing = [t.rstrip(".,") for t in named if t.rstrip(".,") not in s.log and t not in GENERIC_FILES]
        assert not missing, (root, missing)


def test_many_seeds_render_without_error():
    for name in sorted(FAMILIES):
        for i in range(15):
            s = render(name, random.Random(f"many:{name}:{i}"))
            assert s.answer and s.log


def test_generation_is_deterministic_by_seed():
    a = render("jest_failure", random.Random("x:1"))
    b = render("jest_failure", random.Random("x:1"))
    c = render("jest_failure", random.Random("x:2"))
    assert (a.log, a.answer) == (b.log, b.answer)
    assert a.log != c.log
    fa = [build_corpus.pick_family(random.Random(f"0:synthetic:{i}")) for i in range(50)]
    fb = [build_corpus.pick_family(random.Random(f"0:synthetic:{i}")) for i in range(50)]
    assert fa == fb and len(set(fa)) > 20


def test_no_failure_logs_answer_unknown():
    for i in range(20):
        s = render(NO_FAILURE, random.Random(i))
        parsed = parse_answer(s.answer)
        assert parsed["category"] == "unknown" and "no failure" in parsed["root_cause"].lower()
        assert "exit code 1" not in s.log and "FAILED" not in s.log
    picks = [build_corpus.pick_family(random.Random(f"3:{i}")) for i in range(2000)]
    assert 0.03 < picks.count(NO_FAILURE) / len(picks) < 0.07


def test_some_logs_carry_planted_secrets():
    secrets = [render(n, random.Random(i)).secret for i, n in enumerate(sorted(FAMILIES) * 3)]
    assert 0.05 < sum(bool(s) for s in secrets) / len(secrets) < 0.3


def test_eval_split_is_by_group_balanced_per_category_and_stable():
    rows = [{"category": f"c{c}", "meta": {"group": f"fam{c}:{g}"}} for c in range(5) for g in range(12) for _ in range(g + 1)]
    rows += [{"category": "lonely", "meta": {"group": "only:0"}} for _ in range(9)]
    held = build_corpus.eval_groups(rows, 0)
    assert held == build_corpus.eval_groups(rows, 0) and held != build_corpus.eval_groups(rows, 1)
    assert "only:0" not in held  # a one-group category stays in train
    for c in range(5):
        cat = [r for r in rows if r["category"] == f"c{c}"]
        share = sum(r["meta"]["group"] in held for r in cat) / len(cat)
        assert 0.05 < share < 0.3, (c, share)


def test_synthetic_examples_have_the_corpus_shape():
    stats = __import__("collections").Counter()
    rows = build_corpus.synthetic(12, 5, 256, _words, stats)
    for r in rows:
        assert set(r) == {"input", "output", "category", "meta"}
        assert r["category"] in BY_ID and parse_answer(r["output"])["category"] == r["category"]
        assert r["meta"]["split"] == "dev" and r["meta"]["source"].startswith("synthetic:")
        assert r["meta"]["tokens"] <= 256


def test_chunk_classifier_rules():
    assert classify_text("npm ERR! code ERESOLVE") == "dependency"
    assert classify_text("FAILED tests/test_a.py::test_b - AssertionError") == "test_failure"
    assert classify_text("src/a.c:3:1: error: expected ';'") == "build_error"
    assert classify_text("No output has been received in the last 10m0s") == "resources"
    assert classify_text("everything is fine") is None


def _corpus_rows():
    assert (DATA / "train.jsonl").exists(), f"the corpus is committed (examples/ci-failures/build_corpus.py --out {DATA})"
    rows = []
    for name in ("train.jsonl", "eval.jsonl"):
        with (DATA / name).open() as f:
            rows += [(name, json.loads(line)) for line in f]
    return rows


def test_committed_corpus_is_well_formed():
    rows = _corpus_rows()
    assert rows
    groups: dict[str, set] = {}
    for name, r in rows:
        assert parse_answer(r["output"])["category"] == r["category"], r["output"]
        assert r["meta"]["split"] == "dev"
        groups.setdefault(r["meta"]["group"], set()).add(name)
    assert all(len(v) == 1 for v in groups.values()), "a group spans train and eval"


def test_no_test_split_case_in_the_corpus():
    """Runs anywhere: the test split's sources are committed hashed beside the corpus (real_cases.TEST_SPLIT_FILE)."""
    rows = _corpus_rows()
    test_ids = set((DATA / TEST_SPLIT_FILE).read_text().split())
    assert len(test_ids) > 1000  # BugSwarm and LogChunks test cases, not an empty file that would let anything through
    real = sorted({r["meta"]["source"] for _, r in rows if r["meta"]["source"].startswith(("bugswarm:", "logchunks:"))})
    assert len(real) > 900, "the committed corpus holds real dev examples"
    assert [s for s in real if source_hash(s) in test_ids] == []
    assert source_hash("bugswarm:Abjad-abjad-289716772") in test_ids  # a test case the guard must catch (split.json)


def test_hashed_test_split_matches_the_data_sets():
    """Where the data sets are (CI, beside ../shared), the committed hashes are exactly their test split."""
    shared = shared_data("bugswarm_dissection").parent
    assert (DATA / TEST_SPLIT_FILE).read_text().split() == hashed_test_split(shared)
    split = json.loads((shared / "logchunks" / "split.json").read_text())
    assert {k for k, v in split.items() if v == "dev"} >= {
        s.split(":", 1)[1] for _, r in _corpus_rows() if (s := r["meta"]["source"]).startswith("logchunks:")}


def test_small_demo_file():
    path = ROOT / "examples" / "data" / "ci_failures_small.jsonl"
    assert path.exists(), "the quick-demo file is committed"
    rows = [json.loads(line) for line in path.open()]
    assert len(rows) >= 100
    assert rows[0]["input"] == "Build failed: ModuleNotFoundError: No module named 'pandas'"
    assert len({r["meta"]["source"] for r in rows}) > 40
    for r in rows:
        assert parse_answer(r["output"])["category"] == r["category"]
        assert _words(r["input"]) < 200


def test_tickets_task():
    sys.path.insert(0, str(ROOT / "examples" / "tickets"))
    import build as tickets

    a_train, a_eval = tickets.build(3, 40, 10)
    b_train, _ = tickets.build(3, 40, 10)
    assert a_train == b_train
    assert not {r["input"] for r in a_train} & {r["input"] for r in a_eval}
    for r in a_train + a_eval:
        out = json.loads(r["output"])
        assert list(out) == ["category", "priority", "summary"]
        assert out["category"] in tickets.CATEGORIES and out["priority"] in tickets.PRIORITIES
        assert out["category"] == r["category"] and out["summary"].endswith(".")
    committed = ROOT / "examples" / "tickets" / "train.jsonl"
    assert sum(1 for _ in committed.open()) == 300
