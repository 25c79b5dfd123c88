"""The failure knowledge base: entries read with every bad line reported, signatures that name the log's own entity,
past incidents that apply only to the same failure, and the analyzer answering from an entry that fits."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.logs.analyze import Analyzer, degenerate
from tunesmith.logs.kb import BUILTIN, KnowledgeBase, fill, read_entries
from tunesmith.models.generate import Generation

DOCKER = {"id": "docker-copy", "category": "container", "title": "COPY source not in the build context",
          "signatures": [r"COPY (?:failed: )?(?P<file>[\w./-]+) not found"],
          "cause": "COPY cannot find {file|the source file} in the Docker build context.",
          "fix": "Make sure {file|the file} exists in the build context, or correct the path.", "source": "https://docs"}
DOCKER_TOO = {**DOCKER, "id": "docker-copy-2", "cause": "Another reading of the same line.", "fix": "Another fix."}


class FakeTokenizer:
    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": text.split()}


class ScriptedGenerator:
    def __init__(self, answer: str):
        self.answer, self.prompts, self.tokenizer = answer, [], FakeTokenizer()

    def generate(self, prompts, max_new_tokens=256, **kw):
        self.prompts += list(prompts)
        return [Generation(self.answer, True, 10) for _ in prompts]


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_bad_lines_are_reported_by_number_and_good_ones_kept(tmp_path):
    f = write(tmp_path / "kb.jsonl", [DOCKER, "{not json", {"id": "x", "category": "nope", "cause": "a", "fix": "b",
                                                          "signatures": ["a"]},
                                      {"id": "y", "category": "network", "cause": "c", "fix": "d", "signatures": ["(unclosed"]},
                                      {"id": "z", "category": "network", "cause": "{host}", "fix": "d", "signatures": ["x"]},
                                      {**DOCKER}])
    entries, problems = read_entries(f)
    assert [e.id for e in entries] == ["docker-copy"]
    assert [(p.line, p.message.split(" ")[0]) for p in problems] == [
        (2, "malformed"), (3, "unknown"), (4, "signature"), (5, "placeholder"), (6, "duplicate")]
    assert str(problems[0]).startswith(f"{f}:2: error: malformed JSON")


def test_placeholders_take_the_entity_or_the_default_words():
    assert fill("{file|the file} is missing", {"file": "requirements.txt"}) == "requirements.txt is missing"
    assert fill("{file|the file} is missing", {}) == "the file is missing"


def test_signature_match_names_the_logs_own_entity(tmp_path):
    kb = KnowledgeBase.load([write(tmp_path / "kb.jsonl", [DOCKER])], builtin=False)
    m = kb.match([(1, "#7 ERROR: failed to compute cache key"), (2, "COPY failed: config/app.yaml not found")])
    assert m[0].entry.id == "docker-copy" and m[0].line == 2
    assert "config/app.yaml" in m[0].cause and "config/app.yaml" in m[0].fix


def test_analyzer_answers_from_the_entry_that_fits_without_the_model(tmp_path):
    gen = ScriptedGenerator("Category: test failure\nRoot Cause: a test failed.\nFix: fix the test.")
    kb = KnowledgeBase.load([write(tmp_path / "kb.jsonl", [DOCKER])], builtin=False)
    a = Analyzer(generator=gen, kb=kb).analyze("Step 4/9 : COPY requirements.txt .\nCOPY failed: requirements.txt not found\n")
    assert a.category == "container" and "requirements.txt" in a.root_cause and not gen.prompts
    assert a.kb[0]["id"] == "docker-copy" and "Knowledge base: docker-copy" in a.to_text()
    assert any(e.line == 2 for e in a.evidence)


def test_two_entries_that_fit_equally_are_both_said(tmp_path):
    kb = KnowledgeBase.load([write(tmp_path / "kb.jsonl", [DOCKER, DOCKER_TOO])], builtin=False)
    a = Analyzer(generator=ScriptedGenerator(""), kb=kb).analyze("COPY failed: a.txt not found")
    assert {k["id"] for k in a.kb} == {"docker-copy", "docker-copy-2"}
    other = a.kb[1]["id"]
    assert any(other in n for n in a.notes)


def test_log_no_entry_fits_goes_to_the_model(tmp_path):
    gen = ScriptedGenerator("Category: dependency\nRoot Cause: pandas is missing.\nFix: add pandas.")
    kb = KnowledgeBase.load([write(tmp_path / "kb.jsonl", [DOCKER])], builtin=False)
    a = Analyzer(generator=gen, kb=kb).analyze("ModuleNotFoundError: No module named 'pandas'")
    assert gen.prompts and a.category == "dependency" and not a.kb


def test_a_looping_answer_is_replaced_by_the_failure_line_and_flagged():
    loop = "Category: container\nRoot Cause: `docker build -t src src-build src-build-build src-build-build-build " \
           + "src/" * 30 + "`\nFix: the model's answer did not state a fix"
    log = "Step 1/3 : FROM python:3.12\nERROR: failed to solve: process \"/bin/sh -c make\" did not complete: exit code: 2\n"
    a = Analyzer(generator=ScriptedGenerator(loop), kb=False).analyze(log)
    assert a.degenerate and not a.valid and not degenerate(a.root_cause)
    assert "did not complete: exit code: 2" in a.root_cause and "line 2" in a.root_cause
    assert any("repeated itself" in n for n in a.notes)


def test_degenerate_detects_loops_not_ordinary_sentences():
    assert degenerate("exec/exec/exec/exec/exec")
    assert degenerate("the the the the the the the the the the the the the")
    assert not degenerate("COPY cannot find requirements.txt in the build context; check .dockerignore.")
    assert not degenerate("npm ci needs package-lock.json in sync with package.json: run npm install and commit it.")


INCIDENT_LOG = "Run python -m app\nTraceback (most recent call last):\nModuleNotFoundError: No module named 'requests'\n"


def test_incident_added_from_a_log_answers_the_same_failure_again(tmp_path):
    kb_file = tmp_path / "kb.jsonl"
    log = tmp_path / "ci.log"
    log.write_text(INCIDENT_LOG)
    r = CliRunner().invoke(app, ["logs", "kb", "add", str(log), "--fix", "Add requests to requirements.txt.",
                                 "--category", "dependency", "--kb", str(kb_file)])
    assert r.exit_code == 0, r.output
    kb = KnowledgeBase.load([kb_file], builtin=False)
    again = kb.match([(7, "ModuleNotFoundError: No module named 'requests'")])
    assert again and again[0].how == "incident" and again[0].fix == "Add requests to requirements.txt."
    # The same shape of line about another package: the incident's fix (add requests) would be wrong, so it is not used.
    assert not kb.match([(7, "ModuleNotFoundError: No module named 'numpy'")])


def test_import_with_a_bad_line_writes_nothing(tmp_path):
    data = write(tmp_path / "past.jsonl", [{"log": INCIDENT_LOG, "fix": "add requests"}, "{oops", {"log": "x"},
                                           {"log": "all good\n", "fix": "none"}])
    kb_file = tmp_path / "kb.jsonl"
    r = CliRunner().invoke(app, ["logs", "kb", "import", str(data), "--kb", str(kb_file)])
    assert r.exit_code == 1 and not kb_file.exists()
    for line in (2, 3, 4):
        assert f"{data}:{line}: error" in r.output
    good = write(tmp_path / "good.jsonl", [{"log": INCIDENT_LOG, "fix": "add requests", "category": "dependency"}])
    r = CliRunner().invoke(app, ["logs", "kb", "import", str(good), "--kb", str(kb_file)])
    assert r.exit_code == 0 and len(read_entries(kb_file)[0]) == 1


def test_adding_to_a_file_with_bad_lines_is_refused_and_the_file_kept(tmp_path):
    kb_file = write(tmp_path / "kb.jsonl", [DOCKER, "{broken"])
    before = kb_file.read_text()
    log = tmp_path / "ci.log"
    log.write_text(INCIDENT_LOG)
    r = CliRunner().invoke(app, ["logs", "kb", "add", str(log), "--fix", "x", "--category", "dependency",
                                 "--kb", str(kb_file)])
    assert r.exit_code == 1 and f"{kb_file}:2" in r.output and kb_file.read_text() == before


def test_builtin_knowledge_base_is_clean_and_answers_the_documents_examples():
    entries, problems = read_entries(BUILTIN)
    assert not problems and len(entries) >= 50
    kb = KnowledgeBase.load()
    docker = kb.match([(1, "ERROR: Docker build failed COPY requirements.txt not found")])
    assert docker[0].entry.category == "container" and "requirements.txt" in docker[0].cause + docker[0].fix
    npm = kb.match([(1, "ERROR: npm install failed package.json missing")])
    assert "package.json" in npm[0].cause + npm[0].fix


def test_the_quoted_failure_line_is_the_error_not_the_runners_closing_line():
    # In a job log the distiller often flags only the runner's closing line; the quote must name what failed.
    setup = [f"2024-05-01T10:00:{i % 60:02d}.0000000Z added {i} packages in 3s" for i in range(40)]
    log = "\n".join(setup + [
        "2024-05-01T10:01:00.0000000Z ##[group]Run npm ci",
        "2024-05-01T10:01:01.0000000Z npm error code EUSAGE",
        "2024-05-01T10:01:01.0000000Z npm error `npm ci` can only install packages when your package.json and "
        "package-lock.json are in sync.",
        "2024-05-01T10:01:01.0000000Z npm error Invalid: lock file's left-pad@1.3.0 does not satisfy left-pad@1.4.0",
        "2024-05-01T10:01:02.0000000Z ##[error]Process completed with exit code 1.",
    ]) + "\n"
    gen = ScriptedGenerator("Category: dependency\nRoot Cause: The lock file is stale.\nFix: Run npm install.")
    a = Analyzer(generator=gen, kb=False).analyze(log)
    quote = a.root_cause.split("The log says: `", 1)[1]
    assert "npm error" in quote and "Process completed" not in quote, a.root_cause


def test_a_log_with_no_words_matches_nothing_and_does_not_crash(tmp_path):
    # Found by the slow fuzz target: a log whose lines shape to no words (here "0") left BM25 with no scores to rank
    # the past incidents by, and match() raised IndexError.
    incident = {"id": "a", "category": "test_failure", "cause": "the {pkg|package} is missing", "fix": "fix it",
                "examples": ["ModuleNotFoundError: No module named 'requests'"]}
    kb = KnowledgeBase.load([write(tmp_path / "kb.jsonl", [incident])], builtin=False)
    assert kb.match([(1, "0"), (2, "--- 12")]) == []
    assert kb.match([(1, "ModuleNotFoundError: No module named 'requests'")])[0].entry.id == "a"
