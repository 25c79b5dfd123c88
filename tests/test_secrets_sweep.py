"""Secrets sweep: a log with a planted secret of every kind the redactor supports goes everywhere a log goes, and none
of the secrets comes out anywhere: the model's prompt and the analyzer's answer (a model that echoes its prompt),
`tunesmith analyze --json`, `logs distill`/`logs redact`, `ci-report`'s summary and artifact, a training dataset built
from the logs and the run dir trained on it, knowledge-base files written by `tunesmith logs kb add`/`import`, the
server's log, its responses and `/metrics`.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import httpx
import pytest
from secret_corpus import ALL, SECRETS, VALUES, leaks, planted_log
from serve_fakes import KEY, ScriptedGenerator, live_server
from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.logs.analyze import Analyzer
from tunesmith.logs.redact import _TOKEN_PATTERNS, find_secrets
from tunesmith.models.generate import Generation

ROOT = Path(__file__).resolve().parents[1]
LOG = planted_log("Run ./ci.sh")
AUTH = {"Authorization": f"Bearer {KEY}"}


class EchoGenerator(ScriptedGenerator):
    """A model that repeats what it was given: whatever reached it comes back in the answer."""

    def generate(self, prompts, max_new_tokens=256, **kw):
        prompts = list(prompts)
        self.prompts += prompts
        out = []
        for p in prompts:
            said = " ".join(json.dumps(p).split())
            out.append(Generation(f"Category: dependency\nRoot Cause: {said}\nFix: {said[-400:]}", True, 10))
        return out


def _files_text(root: Path) -> str:
    """Every file under root, bytes decoded leniently (binary weights included: a secret could hide anywhere)."""
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in sorted(Path(root).rglob("*")) if p.is_file())


def test_corpus_covers_every_kind_the_redactor_knows():
    kinds = {k for k, _, _ in _TOKEN_PATTERNS} | {"secret_assignment", "secret_flag", "high_entropy"}
    assert kinds <= set(SECRETS), f"add a planted secret for: {kinds - set(SECRETS)}"
    found = {f.kind for _, _, line in ALL for f in find_secrets(line)}
    assert set(SECRETS) <= found, f"planted lines no longer detected as their kind: {set(SECRETS) - found}"
    assert len(leaks(LOG)) == len(VALUES)  # every secret is really in the raw log


def test_analyzer_prompt_answer_and_cli_output(monkeypatch):
    gen = EchoGenerator()
    result = Analyzer(kb=False, generator=gen).analyze(LOG)
    assert gen.prompts, "the model was asked"
    assert leaks(json.dumps(gen.prompts)) == [] and leaks(result.to_json()) == []
    assert "[REDACTED:" in json.dumps(gen.prompts)

    with_kb = Analyzer(kb=True, generator=EchoGenerator()).analyze(LOG)  # knowledge-base answers fill entities in
    assert leaks(with_kb.to_json()) == []

    import tunesmith.logs.analyze as mod

    real_init = mod.Analyzer.__init__
    monkeypatch.setattr(mod.Analyzer, "__init__",
                        lambda self, run=None, **kw: real_init(self, generator=EchoGenerator(), **kw))
    for args in (["analyze", "-", "--json"], ["analyze", "-"], ["logs", "distill", "-", "--line-numbers"],
                 ["logs", "redact", "-"]):
        r = CliRunner().invoke(app, args, input=LOG)
        assert r.exit_code == 0, r.output
        assert leaks(r.output) == [], args


def test_ci_report_summary_and_artifact(tmp_path, monkeypatch):
    import tunesmith.logs.analyze as mod

    real_init = mod.Analyzer.__init__
    monkeypatch.setattr(mod.Analyzer, "__init__",
                        lambda self, run=None, **kw: real_init(self, generator=EchoGenerator(), kb=False))
    log = tmp_path / "build.log"
    log.write_text(LOG)
    summary, md = tmp_path / "summary.md", tmp_path / "report.md"
    r = CliRunner().invoke(app, ["ci-report", str(log), "--out", str(tmp_path / "r.json"), "--markdown", str(md)],
                           env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert r.exit_code == 0, r.output
    assert summary.exists() and (tmp_path / "r.json").exists()
    assert leaks(r.output) == [] and leaks(_files_text(tmp_path).replace(LOG, "")) == []


def test_dataset_built_from_logs_and_the_run_dir_trained_on_it(tmp_path, tiny_model_dir):
    sys.path.insert(0, str(ROOT / "examples" / "ci-failures"))
    from build_corpus import excerpt_of

    from tunesmith.data.export import write_jsonl
    from tunesmith.train.loop import main
    from train_helpers import make_cfg

    count = lambda s: len(s) // 4 + 1  # noqa: E731
    records = [{"input": excerpt_of(LOG, 1024, count)[0], "output": "Category: dependency\nRoot Cause: x\nFix: y"},
               {"input": excerpt_of(LOG.replace("ERROR", "FATAL"), 4096, count, pack_repeats=False)[0],
                "output": "Category: dependency\nRoot Cause: x\nFix: y"}] * 4
    data = tmp_path / "data" / "train.jsonl"
    write_jsonl(data, records)
    assert "[REDACTED:" in data.read_text() and leaks(_files_text(tmp_path / "data")) == []

    run = main(make_cfg(tiny_model_dir, data, tmp_path / "run", max_steps=2, eval_every=0, eval_fraction=0.0,
                        max_seq_len=128, save_every=1))
    assert (run / "model").is_dir()
    assert leaks(_files_text(run)) == []


def test_knowledge_base_files_written_by_kb_add_and_import(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "build.log"
    log.write_text(LOG)
    # A fix, cause and title pasted with a credential in them are redacted too, like the log's lines (a secret that
    # only its context gives away, such as a password after `--password=`, is planted with that context).
    r = CliRunner().invoke(app, ["logs", "kb", "add", str(log), "--fix", f"rotate the key: {ALL[0][2]}",
                                 "--cause", f"the job printed {ALL[1][2]}", "--title", f"leak {ALL[2][2]}",
                                 "--category", "dependency"])
    assert r.exit_code == 0, r.output
    kb = tmp_path / ".tunesmith" / "kb.jsonl"
    assert "[REDACTED:" in kb.read_text()
    incidents = tmp_path / "incidents.jsonl"
    incidents.write_text("\n".join(json.dumps({"log": LOG.replace("step", f"stage{i}"), "fix": f"use {ALL[-i - 1][2]}",
                                               "category": "dependency", "id": f"inc-{i}"}) for i in range(3)) + "\n")
    r = CliRunner().invoke(app, ["logs", "kb", "import", str(incidents)])
    assert r.exit_code == 0, r.output
    assert leaks(r.output) == [] and leaks(kb.read_text()) == []
    r = CliRunner().invoke(app, ["logs", "kb", "match", str(log)])
    assert r.exit_code == 0 and leaks(r.output) == []


def test_server_log_responses_and_metrics(tmp_path):
    log_file = tmp_path / "server.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    # the loggers `tunesmith serve --log-file` writes (serve/cli.py); httpx here is the test client's own
    loggers = [logging.getLogger(n) for n in ("tunesmith.serve", "uvicorn", "uvicorn.error")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    some = VALUES[3]
    responses = []
    try:
        with live_server(EchoGenerator(), api_key=KEY) as (url, _, gen):
            responses.append(httpx.post(url + "/v1/analyze", content=LOG, headers=AUTH))
            responses.append(httpx.post(url + f"/v1/analyze?token={some}", json={"log": LOG, "job": f"build {some}",
                                                                                "repo": "o/r"}, headers=AUTH))
            responses.append(httpx.post(url + f"/v1/{some}", content=LOG, headers=AUTH))
            responses.append(httpx.post(url + "/v1/analyze", content=LOG, headers={"Authorization": f"Bearer {some}"}))
            responses.append(httpx.post(url + "/v1/chat/completions", headers=AUTH, json={
                "messages": [{"role": "user", "content": "summarise the failure"}]}))
            responses.append(httpx.post(url + "/v1/analyze", content=b"{not json", headers={
                **AUTH, "content-type": "application/json"}))
            metrics = httpx.get(url + "/metrics", headers=AUTH).text
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeHandler(handler)
            lg.setLevel(level)
        handler.close()
    assert responses[0].status_code == 200 and responses[1].status_code == 200
    assert leaks(json.dumps(gen.prompts)) == []
    for r in responses[:2]:
        assert leaks(r.text) == []
    # what the server writes: its log and its metrics (a 404 echoes the caller's own path back to the caller only)
    assert "POST /v1/analyze 200" in log_file.read_text()
    assert leaks(log_file.read_text()) == [] and leaks(metrics) == []
    assert "tunesmith_requests_total" in metrics or "requests" in metrics


@pytest.mark.parametrize("secret", [s for s in VALUES if len(s) >= 12][:6])
def test_each_secret_alone_in_a_one_line_log_is_never_answered_back(secret):
    kind, line = next((k, ln) for k, s, ln in ALL if s == secret)
    log = f"$ ./release.sh\n{line}\nERROR: release failed: {line.splitlines()[-1]}\n##[error]Process completed with exit code 1.\n"
    gen = EchoGenerator()
    result = Analyzer(kb=False, generator=gen).analyze(log)
    assert secret not in result.to_json() and secret not in json.dumps(gen.prompts), kind
