"""benchmarks/job_log.py: a failure snippet embedded verbatim in a full, realistic CI job log."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from tunesmith.logs.clean import clean_line
from tunesmith.logs.cues import cue_weight
from tunesmith.logs.distill import distill

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from job_log import DIALECTS, ECOSYSTEMS, FAILURE_END, embed  # noqa: E402

ECOS = [*ECOSYSTEMS, "github_actions", "gitlab_ci", "haskell"]  # the last three fall back to a common build
SNIPPETS = {
    "pytest": "    def test_total():\n>       assert total([1, 2]) == 4\nE       assert 3 == 4\n\ntests/test_sum.py:12: AssertionError",
    "npm": "npm ERR! code ERESOLVE\nnpm ERR! ERESOLVE unable to resolve dependency tree\n\x1b[31mnpm ERR!\x1b[0m Found: react@18.2.0   ",
    "docker": '#12 [5/7] COPY dist/ /app/\n#12 ERROR: failed to calculate checksum of ref abc::xyz: "/dist": not found',
    "one": "error: linker `cc` not found",
}


def _lines(log: str) -> list[str]:
    assert log.endswith("\n")
    return log[:-1].split("\n")


@pytest.mark.parametrize("dialect", [*DIALECTS, "travis"])
@pytest.mark.parametrize("name", list(SNIPPETS))
def test_snippet_verbatim_at_returned_lines(dialect, name):
    snippet = SNIPPETS[name]
    log, (first, last) = embed(snippet, dialect, "node", seed=7)
    lines = _lines(log)
    assert lines[first - 1:last] == snippet.split("\n")
    assert 0.9 * len(lines) < last < len(lines)  # near the end: a step tail and end-of-job lines follow
    # a trailing newline is not a line of the snippet
    log2, span2 = embed(snippet + "\n", dialect, "node", seed=7)
    assert (log2, span2) == (log, (first, last))


def test_deterministic_per_seed():
    a = embed(SNIPPETS["pytest"], "github_actions", "python", seed=3)
    assert a == embed(SNIPPETS["pytest"], "github_actions", "python", seed=3)
    assert a[0] != embed(SNIPPETS["pytest"], "github_actions", "python", seed=4)[0]


@pytest.mark.parametrize("n", [300, 2000, 5000])
@pytest.mark.parametrize("dialect", DIALECTS)
def test_length_about_n_lines(dialect, n):
    for eco in ("node", "kubernetes", "rust"):
        log, _ = embed(SNIPPETS["one"], dialect, eco, seed=1, n_lines=n)
        assert abs(len(_lines(log)) - n) <= max(10, n // 50), (eco, len(_lines(log)))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_background_has_no_failure_cue(dialect):
    """Only the snippet and the dialect's end-of-job failure lines are cues of the distiller."""
    for eco in ECOS:
        for seed in range(3):
            log, (first, last) = embed(SNIPPETS["one"], dialect, eco, seed=seed)
            for no, raw in enumerate(_lines(log), 1):
                if first <= no <= last:
                    continue
                clean = clean_line(raw)
                if clean.tag == "drop":
                    continue
                weight = 3.0 if clean.tag == "error" else cue_weight(clean.text)
                assert not weight or no > last and FAILURE_END.search(clean.text), (eco, seed, no, raw)


def test_end_of_job_lines_per_dialect():
    ends = {"github_actions": "Process completed with exit code 1.", "gitlab_ci": "ERROR: Job failed: exit code 1",
            "jenkins": "Finished: FAILURE"}
    for dialect, end in ends.items():
        log, (_, last) = embed(SNIPPETS["pytest"], dialect, "python", seed=2)
        tail = [clean_line(x).text for x in _lines(log)[last:]]
        assert end in tail
    log, _ = embed(SNIPPETS["pytest"], "github_actions", "python", seed=2)
    assert log.count("##[error]Process completed with exit code 1.") == 1
    assert "Cleaning up orphan processes" in _lines(log)[-1]
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z Current runner version: '2\.\d+\.\d+'$", log, re.M)
    assert "##[group]Run actions/checkout@v4" in log and "GITHUB_TOKEN Permissions" in log
    assert "Running with gitlab-runner 16." in embed("x", "gitlab_ci", "go", seed=1)[0]
    jenkins = embed("x", "jenkins", "go", seed=1)[0]
    assert "[Pipeline] stage" in jenkins and "[Pipeline] sh" in jenkins and "\n+ go test -v -race ./...\n" in jenkins


def test_snippet_that_holds_the_end_of_its_step_or_job():
    gha = "2024-05-02T08:00:01.1000000Z E   assert 3 == 4\n2024-05-02T08:00:01.2000000Z ##[error]Process completed with exit code 1."
    log, (first, last) = embed(gha, "github_actions", "python", seed=5)
    assert log.count("Process completed with exit code") == 1
    assert _lines(log)[last].endswith("Post job cleanup.")  # no step tail of ours after the step's end
    stamps = [line[:28] for line in _lines(log)]
    assert stamps == sorted(stamps)  # the background's clock runs into and on from the snippet's
    assert all(re.match(r"\d{4}-\d\d-\d\dT[\d:.]{16}Z ", line) for line in _lines(log))
    gitlab = "$ npm test\nnpm ERR! Test failed.\nERROR: Job failed: exit code 1"
    log, (first, last) = embed(gitlab, "gitlab_ci", "node", seed=5)
    assert last == len(_lines(log))
    # it opens its own step: no `$ npm test` of ours before it
    assert not any(clean_line(x).text.startswith("$ npm test") for x in _lines(log)[:first - 1])
    jenkins = "[2024-05-02T08:00:01.100Z] + make test\n[2024-05-02T08:00:02.200Z] make: *** [test] Error 2"
    log, (first, last) = embed(jenkins, "jenkins", "cpp", seed=5)
    assert all(line.startswith("[2024-") for line in _lines(log))  # the timestamper's style throughout


@pytest.mark.parametrize("dialect", ["github_actions", "gitlab_ci", "jenkins"])
def test_distiller_finds_only_the_snippet_and_the_job_end(dialect):
    log, (first, last) = embed(SNIPPETS["pytest"], dialect, "python", seed=11)
    ex = distill(log, budget=400, count_tokens=lambda s: len(s.split()) + 1)
    assert ex.found
    assert all(first <= no <= last or no > last and FAILURE_END.search(clean_line(_lines(log)[no - 1]).text)
               for no in ex.failure_lines)
    assert first + 2 in ex.failure_lines  # "E       assert 3 == 4"


def test_rejects_an_empty_snippet():
    with pytest.raises(ValueError):
        embed("\n", "local", "go", seed=0)


def test_fast():
    best = min(_timed() for _ in range(3))
    assert best < 0.1, best


def _timed() -> float:
    t = time.perf_counter()
    embed(SNIPPETS["npm"], "github_actions", "node", seed=9, n_lines=2000)
    return time.perf_counter() - t
