"""`--endpoint`: `tunesmith analyze`, `ci-report`, `eval` and `compare` asking an OpenAI-compatible server.

The server is a real `tunesmith serve` process on the tiny random llama, or (to see exactly what a server receives) a
fake OpenAI server in this process that records every request.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from serve_fakes import FAILING_LOG, KEY, serve_process
from test_eval_e2e import _Letters, _data, _run_dir
from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.evaluate import cli as evaluate_cli
from tunesmith.logs.categories import CATEGORIES, IDS
from tunesmith.models.remote import EndpointError, RemoteGenerator, api_base
from tunesmith.serve.runner import free_port

TUNESMITH = str(Path(sys.executable).parent / "tunesmith")
SECRET = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
# A failure no knowledge-base entry knows, so the model is asked; the secret sits in the failure line itself.
UNKNOWN_LOG = FAILING_LOG.replace("ModuleNotFoundError: No module named 'pandas'",
                                  f"FrobnicationError: widget token={SECRET} would not reticulate")
ANSWER = "Category: dependency\nRoot Cause: the widget package is missing.\nFix: Add it to requirements.txt."


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TUNESMITH_API_KEY", "OPENAI_API_KEY")}
    return {**env, **extra}


# -- a real `tunesmith serve` ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tiny_model_dir, tmp_path_factory):
    """(url, log file) of `tunesmith serve` on the tiny random llama, with an API key, on a free loopback port."""
    tmp = tmp_path_factory.mktemp("served")
    log_file = tmp / "serve.log"
    with serve_process(["--run", str(tiny_model_dir), "--log-file", str(log_file)], _env(TUNESMITH_API_KEY=KEY),
                       tmp) as url:
        yield url, log_file


def test_analyze_answers_through_a_real_tunesmith_serve(served, tmp_path):
    url, log_file = served
    log = tmp_path / "build.log"
    log.write_text(UNKNOWN_LOG)
    r = CliRunner().invoke(app, ["analyze", str(log), "--endpoint", url, "--json", "--max-new-tokens", "12"],
                           env=_env(TUNESMITH_API_KEY=KEY))
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    # The random model's words came back from the server; they name no category, so the bundled run's prior does
    # (a server cannot be made to start its answer with a taxonomy name) and the analysis says so.
    assert body["found"] and not body["kb"] and body["evidence"]
    assert body["category"] in IDS and body["category"] != "unknown"
    assert any("the category is the run's prior's" in n for n in body["notes"])
    assert not body["valid"] and body["repaired"]
    assert "POST /v1/chat/completions 200" in log_file.read_text()
    assert SECRET not in r.stdout and "[REDACTED" in r.stdout  # the evidence is the redacted excerpt's


def test_the_key_comes_from_the_environment_and_a_wrong_one_is_one_line(served, tmp_path):
    url, _ = served
    log = tmp_path / "build.log"
    log.write_text(UNKNOWN_LOG)
    args = ["analyze", str(log), "--endpoint", url, "--max-new-tokens", "4"]
    r = CliRunner().invoke(app, args, env=_env())  # serve requires a key; none is set
    assert r.exit_code == 1
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.output, r.stderr
    assert f"the model server at {url}/v1/models answered 401" in r.stderr
    assert "$TUNESMITH_API_KEY, which is not set" in r.stderr
    # --api-key-env names another variable (here OPENAI_API_KEY, which is never read unless named).
    r = CliRunner().invoke(app, [*args, "--api-key-env", "OPENAI_API_KEY"], env=_env(OPENAI_API_KEY=KEY))
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("Category: ")


def test_an_unreachable_endpoint_is_a_one_line_error(tmp_path):
    log = tmp_path / "build.log"
    log.write_text(UNKNOWN_LOG)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    done = subprocess.run([TUNESMITH, "analyze", str(log), "--endpoint", url, "--timeout", "5"], env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"error: could not reach the model server at {url}/v1/models: ConnectError")
    assert done.stdout == ""


def test_eval_through_the_server_gives_the_in_process_answers(served, tmp_path, tiny_model_dir, write_jsonl):
    url, _ = served
    train, held = _data(write_jsonl)
    runs = {}
    for name, args in (("here", ["--run", str(tiny_model_dir)]), ("served", ["--endpoint", url])):
        out = tmp_path / name
        r = CliRunner().invoke(app, ["eval", *args, "--data", str(held), "--train", str(train), "--out", str(out),
                                     "--max-new-tokens", "4", "--no-semantic"], env=_env(TUNESMITH_API_KEY=KEY))
        assert r.exit_code == 0, r.output
        runs[name] = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    # Same model, same chat template, greedy: the server's answers are the ones generated here, token for token.
    assert [(p["prediction"], p["stopped"]) for p in runs["served"]] == [(p["prediction"], p["stopped"])
                                                                         for p in runs["here"]]
    metrics = json.loads((tmp_path / "served" / "metrics.json").read_text())
    assert metrics["endpoint"] == url + "/v1" and metrics["model"] == Path(tiny_model_dir).name


def test_compare_with_both_endpoints_matches_the_in_process_rows(served, tmp_path, tiny_model_dir, write_jsonl,
                                                                  monkeypatch):
    url, _ = served
    monkeypatch.setattr(evaluate_cli, "_embedder", _Letters)
    train, held = _data(write_jsonl)
    run = _run_dir(tmp_path, tiny_model_dir)
    reports = {}
    for name, args in (("here", ["--no-forgetting"]), ("served", ["--endpoint", url, "--base-endpoint", url])):
        out = tmp_path / name
        r = CliRunner().invoke(app, ["compare", "--run", str(run), "--train", str(train), "--eval", str(held),
                                     "--k", "2", "--max-new-tokens", "4", "--out", str(out), *args],
                               env=_env(TUNESMITH_API_KEY=KEY))
        assert r.exit_code == 0, r.output
        reports[name] = json.loads((out / "report.json").read_text())
    served_report = reports["served"]
    assert served_report["forgetting"] is None and "forgetting check needs both models" in r.stderr
    assert served_report["settings"]["endpoint"] == {"url": url + "/v1", "model": Path(tiny_model_dir).name}
    assert served_report["settings"]["base_endpoint"]["url"] == url + "/v1"
    assert served_report["rows"] == reports["here"]["rows"]
    for row in (tmp_path / "here" / "predictions").iterdir():  # every row's every answer, not only the scores
        assert (tmp_path / "served" / "predictions" / row.name).read_text() == row.read_text()


# -- a fake OpenAI server that records what it receives ----------------------------------------------------------------
class _Recorder(BaseHTTPRequestHandler):
    def log_message(self, *a):  # quiet
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.server.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers), "body": ""})
        self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in self.server.models]})

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.server.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers), "body": raw})
        status, answer = self.server.replies.pop(0) if self.server.replies else (200, ANSWER)
        if status != 200:
            return self._send(status, {"error": {"message": answer, "type": "server_error"}})
        self._send(200, {"id": "x", "object": "chat.completion", "model": json.loads(raw).get("model"),
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": 17, "total_tokens": 27}})


@contextlib.contextmanager
def fake_openai(models=("big-model",), replies=()):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.requests, server.models, server.replies = [], list(models), list(replies)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()


def test_the_log_is_redacted_before_it_reaches_the_server(tmp_path):
    log = tmp_path / "build.log"
    log.write_text(UNKNOWN_LOG + f"\nexport AWS_SECRET_ACCESS_KEY={SECRET[4:]}\n")
    with fake_openai(models=("big-model", "other")) as (url, server):
        r = CliRunner().invoke(app, ["analyze", str(log), "--endpoint", url + "/v1/", "--model", "big-model",
                                     "--api-key-env", "TEAM_LLM_KEY", "--json"], env=_env(TEAM_LLM_KEY="team-key-123"))
    assert r.exit_code == 0, r.output
    (req,) = server.requests  # --model given: no /v1/models question, one completion
    assert req["path"] == "/v1/chat/completions" and req["headers"]["Authorization"] == "Bearer team-key-123"
    sent = json.loads(req["body"])
    assert SECRET not in req["body"] and SECRET[4:] not in req["body"] and "[REDACTED" in req["body"]
    assert "FrobnicationError" in req["body"]  # the failure itself does go
    assert sent["model"] == "big-model" and sent["max_tokens"] == 160 and sent["temperature"] == 0
    system, user = sent["messages"]
    # The run's system prompt, and the taxonomy a server's model cannot be forced into.
    assert system["role"] == "system" and system["content"].startswith("You analyze failed CI logs.")
    assert all(c.name in system["content"] for c in CATEGORIES)
    assert user["role"] == "user" and "FrobnicationError" in user["content"]
    body = json.loads(r.stdout)
    assert body["category"] == "dependency" and body["valid"] and body["raw"] == ANSWER
    assert body["root_cause"].startswith("the widget package is missing.")
    assert SECRET not in r.output


def test_a_log_the_knowledge_base_answers_never_reaches_the_server(tmp_path):
    log = tmp_path / "build.log"
    log.write_text(FAILING_LOG)  # the built-in dependency entry fits it
    with fake_openai() as (url, server):
        r = CliRunner().invoke(app, ["analyze", str(log), "--endpoint", url, "--json"], env=_env())
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["kb"] and server.requests == []


def test_server_errors_and_several_models_are_one_line(tmp_path):
    log = tmp_path / "build.log"
    log.write_text(UNKNOWN_LOG)
    with fake_openai(replies=[(500, "CUDA out of memory\nat layer 3")]) as (url, _):
        r = CliRunner().invoke(app, ["analyze", str(log), "--endpoint", url], env=_env())
    assert r.exit_code == 1 and r.stderr == (f"error: the model server at {url}/v1/chat/completions answered 500: "
                                             "CUDA out of memory at layer 3\n")
    with fake_openai(models=("llama3", "qwen2.5")) as (url, _):
        r = CliRunner().invoke(app, ["analyze", str(log), "--endpoint", url], env=_env())
    assert r.exit_code == 1 and "serves 2 models (llama3, qwen2.5): pass --model NAME" in r.stderr
    r = CliRunner().invoke(app, ["analyze", str(log), "--endpoint", "localhost:11434"], env=_env())
    assert r.exit_code == 1 and r.stderr.startswith("error: --endpoint 'localhost:11434' is not an http(s) URL")


def test_asking_an_endpoint_loads_no_torch_or_transformers(tmp_path):
    """Only the tokenizer.json counts the excerpt's tokens: a CI runner asking a server needs no model libraries."""
    log = tmp_path / "build.log"
    log.write_text(UNKNOWN_LOG)
    code = textwrap.dedent("""\
        import sys
        BLOCKED = {"torch", "transformers", "peft", "accelerate", "fastapi", "uvicorn"}
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"blocked in this test: {name}")
        sys.meta_path.insert(0, Block())
        from tunesmith.cli import main
        sys.argv = ["tunesmith", "analyze", sys.argv[1], "--endpoint", sys.argv[2], "--json"]
        main()
    """)
    with fake_openai() as (url, server):
        done = subprocess.run([sys.executable, "-c", code, str(log), url], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120, env=_env())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["category"] == "dependency" and len(server.requests) == 2


def test_ci_report_with_an_endpoint_writes_the_report_and_sends_no_secret(tmp_path):
    log = tmp_path / "build.log"
    log.write_text(UNKNOWN_LOG)
    summary = tmp_path / "summary.md"
    with fake_openai() as (url, server):
        r = CliRunner().invoke(app, ["ci-report", str(log), "--endpoint", url, "--out", str(tmp_path / "r.json")],
                               env=_env(GITHUB_STEP_SUMMARY=str(summary), TUNESMITH_API_KEY="ci-key-456"))
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["errors"] == [] and report["endpoint"] == url and report["analysis"]["category"] == "dependency"
    assert [q["path"] for q in server.requests] == ["/v1/models", "/v1/chat/completions"]
    assert all(q["headers"]["Authorization"] == "Bearer ci-key-456" for q in server.requests)
    assert SECRET not in "".join(q["body"] for q in server.requests) and SECRET not in summary.read_text()
    assert "**Category:** dependency" in summary.read_text()
    # Unreachable: a note in the report, and still exit 0 (the job is already red for its own reason).
    r = CliRunner().invoke(app, ["ci-report", str(log), "--endpoint", url, "--out", str(tmp_path / "r2.json")],
                           env=_env(GITHUB_STEP_SUMMARY=""))
    assert r.exit_code == 0
    assert json.loads((tmp_path / "r2.json").read_text())["errors"][0].startswith("could not reach the model server")


# -- the generator itself ----------------------------------------------------------------------------------------------
def test_api_base_accepts_the_usual_spellings():
    assert api_base("http://127.0.0.1:11434") == "http://127.0.0.1:11434/v1"
    assert api_base("http://h:8000/v1/") == "http://h:8000/v1"
    assert api_base("http://h:8000/v1/chat/completions") == "http://h:8000/v1"
    assert api_base("https://example.test/openai/v1") == "https://example.test/openai/v1"
    with pytest.raises(EndpointError, match="not an http"):
        api_base("ollama")


def test_remote_generator_keeps_order_retries_a_busy_server_and_honours_the_system_prompt():
    replies = [(429, "busy")] + [(200, f"answer {i}") for i in range(3)]
    with fake_openai(replies=replies) as (url, server), RemoteGenerator(url, system_prompt="Be brief.") as gen:
        gens = gen.generate(["only one", [{"role": "system", "content": "own"}, {"role": "user", "content": "q"}]],
                            max_new_tokens=7, batch_size=1)
        assert gen.constrained is False and gen.meta["model"] == "big-model"
    assert [g.text for g in gens] == ["answer 0", "answer 1"] and all(g.stopped and g.new_tokens == 17 for g in gens)
    posts = [json.loads(q["body"]) for q in server.requests if q["method"] == "POST"]
    assert len(posts) == 3  # the 429 was retried
    assert posts[1]["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "only one"}]
    assert posts[2]["messages"][0] == {"role": "system", "content": "own"}  # a conversation's own system prompt stays

