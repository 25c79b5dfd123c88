"""`tunesmith data validate|split|export` end to end through the CLI: printed report, JSON, files and exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tunesmith.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "200"}  # rich wraps tables to the terminal width; keep rows on one line for the assertions


def run(*args):
    return runner.invoke(app, ["data", *map(str, args)], env=WIDE)


def rows(n: int, start: int = 0) -> list[dict]:
    return [
        {"input": f"build {i} failed: step {i % 7} exited with code {i}", "output": f"Category: {'test' if i % 3 else 'build'}"}
        for i in range(start, start + n)
    ]


@pytest.fixture()
def train_file(write_jsonl):
    return write_jsonl("train.jsonl", rows(30))


def test_help_lists_the_verbs():
    result = run("--help")
    assert result.exit_code == 0
    for verb in ("validate", "split", "export"):
        assert verb in result.output


def test_validate_prints_one_report_and_exits_0_on_warnings(train_file):
    result = run("validate", train_file, "--no-tokens")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Examples" in out and "input_output: 30" in out
    assert "Labels" in out and "category_line; majority 67%" in out
    assert "small dataset (30 examples)" in out
    assert "0 error(s)" in out and "token lengths not checked" in out


def test_validate_json_and_exit_1_on_errors(write_jsonl):
    p = write_jsonl("bad.jsonl", rows(5) + ['{"input": "x"}', "{nope"])
    result = run("validate", p, "--no-tokens", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["n_errors"] == 2
    errs = [(x["line"], x["key"]) for x in report["problems"] if x["level"] == "error"]
    assert errs == [(6, "output"), (7, "")]
    assert report["stats"]["examples"]["train"] == 5


def test_validate_tokens_and_leakage_with_a_model(train_file, write_jsonl, tiny_model_dir):
    ev = write_jsonl("eval.jsonl", rows(1, start=4) + rows(2, start=100))
    result = run("validate", train_file, "--eval", ev, "--model", tiny_model_dir, "--max-seq-len", "24")
    assert result.exit_code == 1, result.output  # eval line 1 repeats a train input
    out = result.output
    assert "Tokens per example" in out and "train" in out
    assert "train/eval leakage: 1 exact" in out
    assert "are longer than max_seq_len=24" in out
    assert "eval.jsonl:1" in out


def test_validate_csv_with_mapping(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("question,answer\n" + "".join(f"q{i} is here,a{i}\n" for i in range(12)), encoding="utf-8")
    result = run("validate", p, "--no-tokens", "--map", "input=question,output=answer", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stats"]["formats"]["train"] == {"input_output": 12}


def test_validate_unknown_model_is_a_clear_error(train_file, tmp_path):
    result = run("validate", train_file, "--model", tmp_path / "no-such-model")
    assert result.exit_code == 1
    assert "cannot load the tokenizer" in result.output


def test_split_writes_deterministic_grouped_files(write_jsonl, tmp_path):
    recs = [dict(r, repo=f"r{i % 5}") for i, r in enumerate(rows(50))]
    src = write_jsonl("all.jsonl", recs)
    outs = []
    for k in range(2):
        result = run("split", src, "--out", tmp_path / f"s{k}", "--eval-fraction", "0.2", "--seed", "3", "--group-key", "repo")
        assert result.exit_code == 0, result.output
        assert "train: 40 examples" in result.output and "eval: 10 examples" in result.output
        outs.append([(tmp_path / f"s{k}" / n).read_bytes() for n in ("train.jsonl", "eval.jsonl")])
    assert outs[0] == outs[1]
    train = [json.loads(x) for x in outs[0][0].decode().splitlines()]
    evals = [json.loads(x) for x in outs[0][1].decode().splitlines()]
    assert {r["repo"] for r in train}.isdisjoint({r["repo"] for r in evals})
    assert set(evals[0]) == {"messages", "repo"}


def test_split_refuses_input_with_errors(write_jsonl, tmp_path):
    result = run("split", write_jsonl("bad.jsonl", rows(5) + ["{nope"]), "--out", tmp_path / "s")
    assert result.exit_code == 1 and "nothing written" in result.output
    assert not (tmp_path / "s").exists()


def test_export_openai(train_file, tmp_path, tiny_model_dir):
    out = tmp_path / "openai.jsonl"
    result = run("export", train_file, "--format", "openai", "--out", out, "--model", tiny_model_dir, "--max-tokens", "20")
    assert result.exit_code == 0, result.output
    assert "wrote 30 examples in openai format" in result.output
    assert "OpenAI truncates examples over its token limit" in result.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 30 and set(lines[0]) == {"messages"}
    assert [m["role"] for m in lines[0]["messages"]] == ["user", "assistant"]


def test_export_refuses_bad_records_and_unknown_formats(write_jsonl, tmp_path):
    out = tmp_path / "o.jsonl"
    bad = write_jsonl("b.jsonl", rows(12) + [{"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}]}])
    result = run("export", bad, "--out", out)
    assert result.exit_code == 1 and "not written" in result.output and "b.jsonl:13" in result.output
    assert not out.exists()
    result = run("export", bad, "--format", "alpaca", "--out", out)
    assert result.exit_code == 2 and "unknown --format" in result.output


def test_piped_validate_prints_each_problem_whole_as_file_line_level_key_message(tmp_path):
    """Off a terminal (`| cat`, a CI log) problems are compiler-style lines, never a table cut at 80 columns."""
    import subprocess
    import sys

    deep = tmp_path / "a" / "rather" / "deep" / "folder" / "of" / "datasets"
    deep.mkdir(parents=True)
    (deep / "bad.jsonl").write_text('{"input": "a", "output": "b"}\n{"input": "x"}\n{nope\n')
    rel = deep.relative_to(tmp_path) / "bad.jsonl"
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS")}
    res = subprocess.run([sys.executable, "-m", "tunesmith", "data", "validate", str(rel), "--no-tokens"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 1, res.stderr
    lines = res.stdout.splitlines()
    assert f"{rel}:2: error: output: missing key 'output'" in lines
    assert any(line.startswith(f"{rel}:3: error: malformed JSON") for line in lines), res.stdout
    assert "warning: small dataset (1 examples): fine-tuning may overfit; consider few-shot prompting or RAG" in lines
    assert "┃" not in res.stdout and "│" not in res.stdout  # no table drawing
    assert max(map(len, lines)) > 80  # long lines stay whole


def test_piped_tables_are_tab_separated_rows():
    from rich.console import Console
    from rich.table import Table

    from tunesmith.output import print_table

    t = Table("name", "value", title="Things")
    t.add_row("[red]a[/]", "x" * 100)
    buf = __import__("io").StringIO()
    print_table(Console(file=buf, width=80), t)
    assert buf.getvalue().splitlines() == ["Things:", "name\tvalue", "a\t" + "x" * 100]
