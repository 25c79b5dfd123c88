"""examples/gha-root-causes/build.py: labels → train/eval/test with no project (or same input) in two splits, the
two-line answer compare scores per field, the source URL kept; and the committed split matches ../shared's data."""

from __future__ import annotations

import importlib.util
import json
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import shared_data
from tunesmith.data.readers import read_examples
from tunesmith.evaluate.fields import compare_fields, detect_schema

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gha_build", ROOT / "examples" / "gha-root-causes" / "build.py")
gha = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gha)

TAGS = {"P1": ("Compilation", "Project compilation fails due to issues in the source code"),
        "P8": ("Testing", "Software tests fail"),
        "P5": ("Quality", "Code failing predefined quality checks"),
        "W3": ("Environment/Configurations", "Workflow execution fails due to network connection issues")}


def _row(job_id: int, project: str, tag: str, cause: str, job: str = "build") -> dict:
    category, sub = TAGS[tag]
    return {"job_id": job_id, "url": f"https://github.com/{project}/actions/runs/1/job/{job_id}",
            "project_name": project, "job_name": job, "workflow_name": "CI", "step": "Build with Maven",
            "root cause": cause, "sub-category-tag": tag, "sub-category": sub, "category": category,
            "action/script": "script"}


def _labels(tmp_path: Path, rows: list, name: str = "src") -> Path:
    src = tmp_path / name
    src.mkdir()
    (src / "labels.jsonl").write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return src


def _fabricated() -> list[dict]:
    rows, k = [], 1
    causes = {"P1": "Maven build failure due to compilation failure in module {i}",
              "P8": "Gradle test failure due to unit test failure number {i}",
              "P5": "Maven build failure due to checkstyle violation {i}",
              "W3": "Connection reset while downloading artifact {i}"}
    for p in range(12):
        for tag in list(TAGS)[p % 4 : p % 4 + 2]:
            rows.append(_row(k, f"org{p}/repo{p}", tag, causes[tag].format(i=k), job=f"job{p}"))
            k += 1
    # The same input in two projects: the two must land in one split, or the test part would hold a training input.
    rows.append(_row(100, "twin-a/x", "P8", "Maven test failure due to Unit test failure", job="build"))
    rows.append(_row(101, "twin-b/y", "P8", "Maven test failure due to Unit test failure", job="build"))
    return rows


def _read(out: Path) -> dict[str, list[dict]]:
    return {s: [json.loads(line) for line in (out / f"{s}.jsonl").read_text().splitlines()] for s in gha.SPLITS}


def test_builder_splits_by_project_keeps_the_url_and_writes_the_two_line_answer(tmp_path):
    rows = _fabricated()
    src, out, split = _labels(tmp_path, rows), tmp_path / "out", tmp_path / "split.json"
    assert gha.main(["--source", str(src), "--out", str(out), "--split", str(split), "--new-split"]) == 0
    parts = _read(out)
    assert sorted(r["meta"]["job_id"] for recs in parts.values() for r in recs) == sorted(r["job_id"] for r in rows)
    assert all(parts[s] for s in gha.SPLITS), {s: len(v) for s, v in parts.items()}
    where = defaultdict(set)
    for s, recs in parts.items():
        for r in recs:
            where[r["meta"]["project"]].add(s)
            assert r["meta"]["split"] == s
    assert all(len(v) == 1 for v in where.values()), where
    assert where["twin-a/x"] == where["twin-b/y"]
    by_id = {r["job_id"]: r for r in rows}
    for r in (r for recs in parts.values() for r in recs):
        src_row = by_id[r["meta"]["job_id"]]
        assert r["meta"]["source"] == src_row["url"]
        assert r["output"] == f"Category: {src_row['category']}\nSub-category: {src_row['sub-category']}"
        assert r["input"].endswith(f"Root cause: {src_row['root cause']}") and "Failing step: Build with Maven" in r["input"]
    # The written split is what a second build reads back: same files, no recomputation.
    committed = json.loads(split.read_text())
    assert {s: committed[s] for s in gha.SPLITS} == {s: sorted(r["meta"]["job_id"] for r in parts[s]) for s in gha.SPLITS}
    assert gha.main(["--source", str(src), "--out", str(tmp_path / "again"), "--split", str(split)]) == 0
    assert _read(tmp_path / "again") == parts


def test_compare_scores_category_and_sub_category_as_fields(tmp_path):
    src, out = _labels(tmp_path, _fabricated()), tmp_path / "out"
    assert gha.main(["--source", str(src), "--out", str(out), "--split", str(tmp_path / "s.json"), "--new-split"]) == 0
    examples, problems = read_examples(out / "train.jsonl")
    assert not [p for p in problems if p.level == "error"] and examples
    assert examples[0].meta["meta"]["source"].startswith("https://github.com/")
    schema = detect_schema([e.completion for e in examples])
    assert (schema.kind, schema.keys) == ("lines", ("category", "sub-category"))
    ref = "Category: Testing\nSub-category: Software tests fail"
    assert compare_fields("category: testing\nSub-category: Software tests fail", ref, schema) == (
        {"category": True, "sub-category": True}, True)
    assert compare_fields("Category: Testing\nSub-category: Software tests fail.x", ref, schema) == (
        {"category": True, "sub-category": False}, True)
    assert compare_fields("Category: Testing", ref, schema) == ({"category": True, "sub-category": False}, False)


def test_a_bad_labels_line_is_named_with_its_file_and_line(tmp_path, capsys):
    rows = _fabricated()[:4]
    no_category = {k: v for k, v in rows[3].items() if k != "category"}
    src = _labels(tmp_path, [rows[0], rows[1], '{"job_id": 7, "url": ', no_category, {**rows[2], "job_id": rows[0]["job_id"]}])
    code = gha.main(["--source", str(src), "--out", str(tmp_path / "out"), "--split", str(tmp_path / "s.json"),
                     "--new-split"])
    err = capsys.readouterr().err
    labels = src / "labels.jsonl"
    assert code == 2
    assert f"{labels}:3: malformed JSON" in err
    assert f"{labels}:4: missing key(s) 'category'" in err
    assert f"{labels}:5: job_id {rows[0]['job_id']} repeats line 1" in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "s.json").exists()


def test_a_split_that_does_not_cover_the_data_is_refused(tmp_path, capsys):
    rows = _fabricated()
    src, split = _labels(tmp_path, rows), tmp_path / "split.json"
    gha.write_split(split, {"train": [r["job_id"] for r in rows[:-1]], "eval": [], "test": [999]}, 0)
    assert gha.main(["--source", str(src), "--out", str(tmp_path / "out"), "--split", str(split)]) == 2
    err = capsys.readouterr().err
    assert "job ids not in the data: [999]" in err and f"in no split: [{rows[-1]['job_id']}]" in err


def test_the_committed_split_matches_the_shared_data():
    src = shared_data("gha_workflow_failure")
    rows = gha.read_labels(src / "labels.jsonl")
    committed = json.loads(gha.DEFAULT_SPLIT.read_text())
    ids = gha.read_split(gha.DEFAULT_SPLIT, rows)  # every job in exactly one split, none the data lacks
    assert gha.new_split(rows, committed["seed"]) == ids, "the split no longer follows from the data: rebuild it"
    parts = gha.build(rows, ids)
    projects = {s: {r["meta"]["project"].casefold() for r in recs} for s, recs in parts.items()}
    assert not projects["train"] & projects["test"] and not projects["eval"] & projects["test"]
    assert not projects["train"] & projects["eval"]
    train_inputs = {" ".join(r["input"].split()).casefold() for r in parts["train"]}
    assert not [r for r in parts["test"] if " ".join(r["input"].split()).casefold() in train_inputs]
    assert len(parts["test"]) >= 100  # enough for compare's interval to separate rows ~0.15 apart
