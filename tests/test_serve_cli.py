"""`tunesmith serve` as a user starts it: a real process on the tiny random llama; one slow test with the real model."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from serve_fakes import FAILING_LOG, KEY, serve_process

SECRET = "ghp_" + "M1n2B3v4C5x6Z7l8K9j0H1g2F3d4S5a6P7o8"


def test_serve_command_on_the_tiny_model(tiny_model_dir, tmp_path):
    log_file = tmp_path / "logs" / "serve.log"
    auth = {"Authorization": f"Bearer {KEY}"}
    with serve_process(["--run", str(tiny_model_dir), "--log-file", str(log_file), "--max-new-tokens", "8"],
                       {**os.environ, "TUNESMITH_API_KEY": KEY}, tmp_path) as url:
        assert httpx.post(url + "/v1/analyze", content=FAILING_LOG).status_code == 401
        # A failure no knowledge-base entry knows goes to the model.
        planted = FAILING_LOG.replace("ModuleNotFoundError: No module named 'pandas'",
                                      f"FrobnicationError: widget {SECRET} would not reticulate")
        r = httpx.post(url + "/v1/analyze", content=planted, headers=auth, timeout=60)
        assert r.status_code == 200
        body = r.json()
        # A random model answers gibberish: the analysis must say so (repaired, not valid), not pretend.
        assert body["found"] and not body["valid"] and body["repaired"] and body["evidence"] and not body["kb"]
        # A failure the built-in knowledge base knows is answered from its entry, naming the log's own package.
        body = httpx.post(url + "/v1/analyze", content=FAILING_LOG, headers=auth, timeout=60).json()
        assert body["valid"] and body["kb"] and body["category"] == "dependency" and "pandas" in body["root_cause"]
        r = httpx.post(url + "/v1/chat/completions", headers=auth, timeout=60,
                       json={"messages": [{"role": "user", "content": "hello"}], "max_tokens": 5})
        choice = r.json()["choices"][0]
        used = r.json()["usage"]["completion_tokens"]
        assert r.status_code == 200 and used <= 5 and r.json()["usage"]["prompt_tokens"] > 1
        # OpenAI's meaning: "length" when max_tokens cut the answer, "stop" when the model ended it.
        assert choice["finish_reason"] == ("length" if used == 5 else "stop")
        assert httpx.get(url + "/v1/models", headers=auth).json()["data"][0]["id"] == Path(tiny_model_dir).name
    text = log_file.read_text()
    assert "POST /v1/analyze 200" in text and SECRET not in text and "Collecting package" not in text


@pytest.mark.slow
def test_real_model_answers_through_the_openai_client():
    openai = pytest.importorskip("openai")
    import tunesmith
    from tunesmith.logs.analyze import Analyzer
    from tunesmith.serve.app import Settings, create_app
    from tunesmith.serve.runner import BackgroundServer

    gen = tunesmith.load("smollm2-135m")
    app = create_app(Analyzer(kb=False, generator=gen), Settings(api_key=KEY, model_name="smollm2-135m"))
    with BackgroundServer(app) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)
        out = client.chat.completions.create(model="smollm2-135m", max_tokens=40,
                                             messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert "Paris" in out.choices[0].message.content
    assert out.choices[0].finish_reason == "stop"
    assert 0 < out.usage.completion_tokens < 40 and out.usage.prompt_tokens > 5
