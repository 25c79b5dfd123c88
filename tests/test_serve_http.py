"""The server over real loopback HTTP with a scripted model: auth, limits, back-pressure, batching, OpenAI client, metrics."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from serve_fakes import ANSWER, FAILING_LOG, KEY, ScriptedGenerator, live_server
from typer.testing import CliRunner

from tunesmith.cli import app as cli_app
from tunesmith.serve.auth import is_loopback

AUTH = {"Authorization": f"Bearer {KEY}"}
SECRET = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"


def test_key_required_on_every_route_but_healthz_and_the_page():
    with live_server(api_key=KEY) as (url, _, gen):
        for method, path in [("POST", "/v1/analyze"), ("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("GET", "/metrics")]:
            r = httpx.request(method, url + path, content=FAILING_LOG)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", path
            r = httpx.request(method, url + path, content=FAILING_LOG, headers={"Authorization": "Bearer wrong-key-xxxxxxxxxx"})
            assert r.status_code == 401, path
        assert gen.prompts == []  # nothing unauthenticated reached the model
        assert httpx.get(url + "/healthz").status_code == 200
        assert "<textarea" in httpx.get(url + "/").text
        r = httpx.post(url + "/v1/analyze", content=FAILING_LOG, headers=AUTH)
        assert r.status_code == 200
        body = r.json()
        assert body["category"] == "dependency" and body["root_cause"].startswith("pandas is not installed.")
        assert any("No module named 'pandas'" in e["text"] for e in body["evidence"])
        r = httpx.post(url + "/v1/analyze", json={"log": FAILING_LOG, "job": "build", "repo": "o/r"}, headers=AUTH)
        assert r.status_code == 200 and (r.json()["job"], r.json()["repo"]) == ("build", "o/r")
        r = httpx.post(url + "/v1/analyze", json={"logs": "x"}, headers=AUTH)
        assert r.status_code == 400 and "log" in r.json()["error"]["message"]


def test_non_loopback_bind_without_key_is_refused_before_loading_a_model(monkeypatch):
    import tunesmith.logs.analyze as analyze_mod

    monkeypatch.delenv("TUNESMITH_API_KEY", raising=False)
    monkeypatch.setattr(analyze_mod.Analyzer, "__init__", lambda *a, **k: pytest.fail("the model must not load"))
    r = CliRunner().invoke(cli_app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert r.exit_code == 2 and "without an API key" in r.output
    r = CliRunner().invoke(cli_app, ["serve", "--host", "0.0.0.0", "--api-key", "short"])
    assert r.exit_code == 2 and "shorter than 16" in r.output
    assert [is_loopback(h) for h in ["127.0.0.1", "localhost", "::1", "0.0.0.0", "::", "10.0.0.5", "example.com"]] == [
        True, True, True, False, False, False, False]


def test_oversized_body_gets_413_declared_or_streamed():
    with live_server(max_request_bytes=1000) as (url, _, gen):
        r = httpx.post(url + "/v1/analyze", content="E" * 2000)
        assert r.status_code == 413 and "1000 bytes" in r.json()["error"]["message"]
        r = httpx.post(url + "/v1/analyze", content=iter([b"E" * 600, b"E" * 600]))  # chunked: no Content-Length
        assert r.status_code == 413
        assert gen.prompts == []


def test_full_queue_gets_429_with_retry_after():
    with live_server(ScriptedGenerator(delay=0.5), max_batch=1, max_queue=2, batch_wait_ms=0) as (url, _, gen):
        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(lambda _: httpx.post(url + "/v1/analyze", content=FAILING_LOG, timeout=30), range(8)))
        codes = sorted(r.status_code for r in responses)
        assert codes.count(429) >= 3 and codes.count(200) >= 2, codes
        for r in responses:
            if r.status_code == 429:
                assert int(r.headers["retry-after"]) >= 1 and r.json()["error"]["type"] == "rate_limit_error"
        assert len(gen.prompts) == codes.count(200)  # rejected requests never reached the model


def test_slow_model_gets_504_and_the_server_keeps_serving():
    with live_server(ScriptedGenerator(delay=1.0), request_timeout_s=0.2) as (url, app, _):
        r = httpx.post(url + "/v1/analyze", content=FAILING_LOG, timeout=10)
        assert r.status_code == 504 and "0.2 s" in r.json()["error"]["message"]
        assert httpx.get(url + "/healthz").status_code == 200


def test_sixteen_parallel_requests_are_batched():
    gen = ScriptedGenerator(delay=0.2)
    with live_server(gen, max_batch=8, batch_wait_ms=50) as (url, _, _g):
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(lambda _: httpx.post(url + "/v1/analyze", content=FAILING_LOG, timeout=30), range(16)))
    assert [r.status_code for r in responses] == [200] * 16
    assert sum(gen.batches) == 16 and max(gen.batches) > 1, gen.batches
    assert all(r.json()["category"] == "dependency" for r in responses)


def test_openai_client_chat_models_and_errors():
    openai = pytest.importorskip("openai")
    with live_server(api_key=KEY, model_name="ci-analyzer") as (url, _, gen):
        client = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)
        assert [m.id for m in client.models.list()] == ["ci-analyzer"]
        out = client.chat.completions.create(model="ci-analyzer", messages=[{"role": "user", "content": "why did it fail?"}])
        assert out.choices[0].message.content == ANSWER
        assert out.choices[0].finish_reason == "stop"
        assert out.usage.completion_tokens == len(ANSWER.split()) and out.usage.prompt_tokens == 4
        assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens
        cut = client.chat.completions.create(model="ci-analyzer", messages=[{"role": "user", "content": "hi"}], max_tokens=3)
        assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 3
        chunks = list(client.chat.completions.create(model="ci-analyzer", messages=[{"role": "user", "content": "hi"}],
                                                     stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert gen.prompts[0] == [{"role": "user", "content": "why did it fail?"}]
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url + "/v1", api_key="wrong-key-0000000000", max_retries=0).models.list()
        with pytest.raises(openai.BadRequestError, match="only text content parts"):
            client.chat.completions.create(model="x", messages=[{"role": "user", "content": [{"type": "image_url"}]}])


def test_metrics_count_requests_tokens_batches_and_queue():
    with live_server(api_key=KEY) as (url, _, _g):
        httpx.post(url + "/v1/analyze", content=FAILING_LOG, headers=AUTH)
        httpx.post(url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
                   headers=AUTH)
        httpx.get(url + "/v1/models")  # 401
        text = httpx.get(url + "/metrics", headers=AUTH).text
    assert 'tunesmith_requests_total{method="POST",route="/v1/analyze",status="200"} 1.0' in text
    assert 'tunesmith_requests_total{method="GET",route="/v1/models",status="401"} 1.0' in text
    assert 'tunesmith_request_seconds_count{route="/v1/analyze"} 1.0' in text
    assert 'tunesmith_generated_tokens_total{kind="chat"} 4.0' in text
    assert f'tunesmith_generated_tokens_total{{kind="analyze"}} {float(len(ANSWER.split()))}' in text
    assert 'tunesmith_batch_size_count{kind="analyze"} 1.0' in text
    assert "tunesmith_queue_depth 0.0" in text


class Boom(ScriptedGenerator):
    def generate(self, prompts, max_new_tokens=256, **kw):
        raise RuntimeError(f"CUDA-free explosion while holding {SECRET}")


def test_server_log_has_no_bodies_and_no_secrets(tmp_path):
    log_file = tmp_path / "server.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    loggers = [logging.getLogger(n) for n in ("tunesmith.serve", "uvicorn", "uvicorn.error")]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    planted = FAILING_LOG.replace("No module named 'pandas'", f"No module named 'pandas' token={SECRET}")
    try:
        with live_server(api_key=KEY) as (url, _, _g):
            r = httpx.post(url + f"/v1/analyze?token={SECRET}", content=planted, headers=AUTH)
            assert r.status_code == 200 and SECRET not in r.text
            httpx.post(url + f"/v1/{SECRET}", content=planted, headers=AUTH)
            httpx.post(url + "/v1/analyze", content=planted, headers={"Authorization": f"Bearer {SECRET}"})
            httpx.post(url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": planted}]}, headers=AUTH)
        with live_server(Boom()) as (url, _, _g):
            assert httpx.post(url + "/v1/analyze", content=planted).status_code == 500
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
        handler.close()
    text = log_file.read_text()
    assert "POST /v1/analyze 200" in text and "category=dependency" in text
    assert "model call failed" in text and "[REDACTED" in text
    assert SECRET not in text and "Collecting package" not in text  # no secret, no body


def test_help_lists_serve_and_ci_report():
    out = CliRunner().invoke(cli_app, ["--help"]).output
    assert "serve" in out and "ci-report" in out
    for verb, option in [("serve", "--max-queue"), ("ci-report", "--server")]:
        r = CliRunner().invoke(cli_app, [verb, "--help"])
        assert r.exit_code == 0 and option in r.output
