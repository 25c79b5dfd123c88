"""A Generator that asks an OpenAI-compatible server instead of a model in this process.

Ollama, llama.cpp's server, vLLM and `tunesmith serve` all answer `POST /v1/chat/completions`; `RemoteGenerator` has the
in-process Generator's `generate(prompts, max_new_tokens, ...) -> [Generation(text, stopped, new_tokens)]`, so the
analyzer, `eval` and `compare` use it unchanged. It sends exactly the prompts it is given: whatever must not leave the
machine (a log's secrets) is removed by the caller before (the analyzer's excerpt is redacted line by line).

What a remote server cannot do, and what happens instead:
- `starts` / `start_bias` (the analyzer's constrained `Category:` line and its category prior) need the model's logits
  at each step. The OpenAI API has no portable way to force an answer's prefix or to weigh whole strings: `logit_bias`
  takes single token ids of the server's own tokenizer, and guided decoding is one server's extension. They are
  accepted and ignored, and `constrained = False` says so: the analyzer parses the Category line from the returned
  text and falls back to its prior when the answer names no category.
- The chat template: the server applies its own model's template, so prompts go as chat messages, never as text.
- Token counts: `tokenizer` only estimates (4 characters a token); callers that budget prompts should count with a
  real tokenizer (the analyzer uses its run's).

Errors are one `EndpointError` line naming the URL (unreachable, timeout, an HTTP error with the server's own message,
an answer that is not a chat completion), never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tunesmith.models.generate import Generation

__all__ = ["DEFAULT_TIMEOUT", "ENV_KEY", "EndpointError", "RemoteGenerator", "api_base", "key_from_env"]

# The variable `tunesmith serve` reads its key from, so a client beside it needs no extra setting. Deliberately not
# OPENAI_API_KEY by default: a key for api.openai.com set in a shell would otherwise go to whatever server --endpoint
# names; `--api-key-env OPENAI_API_KEY` says it on purpose.
ENV_KEY = "TUNESMITH_API_KEY"
DEFAULT_TIMEOUT = 120.0  # seconds for one answer; connecting gets at most 10 of them
RETRY_STATUS = (429, 503)  # busy or still loading the model: worth waiting for (Retry-After, capped)
_THINK = re.compile(r"^\s*<think>.*?</think>\s*", re.DOTALL)


class EndpointError(RuntimeError):
    """The server could not be reached or did not answer with a completion; `status` is its HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def key_from_env(name: str | None) -> str | None:
    """The API key in environment variable `name`; blank or unset is none."""
    value = os.environ.get(name or "", "") if name else ""
    return value.strip() or None


def api_base(endpoint: str) -> str:
    """The API's base URL: `http://host:11434` and `http://host:8000/v1/chat/completions` both give `…/v1`; a base
    that already ends in `/v1` (or another version, e.g. `/openai/v1`) is kept."""
    url = endpoint.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        raise EndpointError(f"--endpoint {endpoint!r} is not an http(s) URL, e.g. http://127.0.0.1:11434")
    for tail in ("/chat/completions", "/completions", "/models"):
        if url.endswith(tail):
            url = url[: -len(tail)]
            break
    return url if re.search(r"/v\d+$", url) else url + "/v1"


def _shown(url: str) -> str:
    """The URL as error messages show it: without user:password@."""
    return re.sub(r"^(https?://)[^/@]*@", r"\1", url)


def _one_line(text: str, width: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


class ApproxTokenizer:
    """A stand-in with a tokenizer's call signature: about 4 characters a token. Only estimates."""

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict:
        return {"input_ids": [0] * (len(text) // 4 + 1)}


class RemoteGenerator:
    """`generate()` over an OpenAI-compatible chat-completions endpoint; prompts of one call go out concurrently."""

    constrained = False  # `starts` / `start_bias` cannot be enforced remotely (module docstring)

    def __init__(self, endpoint: str, api_key: str | None = None, model: str | None = None,
                 system_prompt: str | None = None, timeout: float = DEFAULT_TIMEOUT, concurrency: int = 8,
                 retries: int = 2):
        try:
            import httpx
        except ImportError as e:  # pragma: no cover - httpx comes with the serve extra (and with transformers)
            raise EndpointError("--endpoint needs httpx: pip install 'tunesmith[serve]'") from e
        self.url = api_base(endpoint)
        self.api_key, self._model, self.system_prompt = api_key, model, system_prompt
        self.timeout, self.concurrency, self.retries = float(timeout), max(1, concurrency), retries
        self.meta = {"endpoint": _shown(self.url), "model": model, "system_prompt": system_prompt}
        self.tokenizer = ApproxTokenizer()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)))
        self._lock = threading.Lock()

    # -- the wire ----------------------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        import httpx

        url = self.url + path
        for attempt in range(self.retries + 1):
            try:
                r = self._http.request(method, url, json=body)
            except httpx.TimeoutException:
                raise EndpointError(f"the model server at {_shown(url)} did not answer within {self.timeout:g} s "
                                    "(--timeout)") from None
            except httpx.HTTPError as e:
                raise EndpointError(f"could not reach the model server at {_shown(url)}: "
                                    f"{type(e).__name__}: {_one_line(e) or 'no detail'}") from None
            if r.status_code in RETRY_STATUS and attempt < self.retries:
                wait = r.headers.get("retry-after", "")
                time.sleep(min(float(wait), 10.0) if wait.replace(".", "", 1).isdigit() else 1.0 + attempt)
                continue
            break
        if r.status_code != 200:
            raise EndpointError(f"the model server at {_shown(url)} answered {r.status_code}: {_error_message(r)}",
                                r.status_code)
        try:
            return r.json()
        except ValueError:
            raise EndpointError(f"the model server at {_shown(url)} answered 200 but not with JSON: "
                                f"{_one_line(r.text, 200)!r}") from None

    @property
    def model_name(self) -> str | None:
        """--model, else the one model the server lists at /v1/models (asked once); None when it lists none."""
        with self._lock:
            if self._model is None:
                self._model = self._listed_model()
                self.meta["model"] = self._model
            return self._model or None

    def _listed_model(self) -> str:
        try:
            ids = [m["id"] for m in self._request("GET", "/models").get("data") or [] if isinstance(m, dict) and m.get("id")]
        except EndpointError as e:
            if e.status == 404:  # a server without the list: send no model name and let it answer with its own
                return ""
            raise
        if len(ids) > 1:
            shown = ", ".join(ids[:8]) + (f" … (+{len(ids) - 8})" if len(ids) > 8 else "")
            raise EndpointError(f"the model server at {_shown(self.url)} serves {len(ids)} models ({shown}): "
                                "pass --model NAME to choose one")
        return ids[0] if ids else ""

    def messages(self, prompt) -> list[dict]:
        """The chat messages for a prompt, as the in-process Generator builds them: a string is one user turn, and the
        run's system prompt goes first unless the conversation has its own."""
        msgs = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
        if self.system_prompt and (not msgs or msgs[0]["role"] != "system"):
            msgs = [{"role": "system", "content": self.system_prompt}] + msgs
        return msgs

    def _complete(self, prompt, max_new_tokens: int, temperature: float) -> Generation:
        body: dict = {"messages": self.messages(prompt), "max_tokens": int(max_new_tokens),
                      "temperature": float(temperature), "stream": False}
        if self.model_name:
            body["model"] = self.model_name
        data = self._request("POST", "/chat/completions", body)
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise EndpointError(f"the model server at {_shown(self.url + '/chat/completions')} answered without a "
                                f"chat completion: {_one_line(json.dumps(data), 200)}") from None
        text = _THINK.sub("", text).strip()  # a reasoning model's thoughts are not its answer
        usage = data.get("usage") or {}
        n = usage.get("completion_tokens")
        n = int(n) if isinstance(n, (int, float)) else len(self.tokenizer(text)["input_ids"])
        # OpenAI's meaning: "length" when max_tokens cut the answer; anything else ended by itself.
        return Generation(text, choice.get("finish_reason") != "length", n)

    # -- the Generator interface -------------------------------------------------------------------------------------
    def generate(self, prompts, max_new_tokens: int = 256, batch_size: int = 8, temperature: float = 0.0,
                 progress=None, starts: list[str] | None = None, start_bias=None) -> list[Generation]:
        """Answers to `prompts` in order, up to `concurrency` requests at a time (the server batches them).
        `starts` and `start_bias` are ignored: see the module docstring (`constrained = False`)."""
        single = isinstance(prompts, str)
        prompts = [prompts] if single else list(prompts)
        if not prompts:
            return []
        self.model_name  # noqa: B018 - resolve the model once, before the concurrent requests
        out: list[Generation] = []
        step = max(1, batch_size)
        with ThreadPoolExecutor(max_workers=min(self.concurrency, step, len(prompts))) as pool:
            for i in range(0, len(prompts), step):
                chunk = prompts[i : i + step]
                out += list(pool.map(lambda p: self._complete(p, max_new_tokens, temperature), chunk))
                if progress is not None:
                    progress(len(chunk))
        return out

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _error_message(r) -> str:
    """The server's own reason: OpenAI's {"error": {"message"}}, Ollama's {"error": "..."}, FastAPI's {"detail"}, or text."""
    try:
        body = r.json()
    except ValueError:
        return _one_line(r.text or r.reason_phrase or "no detail", 300)
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return _one_line(err["message"])
    if isinstance(err, str):
        return _one_line(err)
    if isinstance(body, dict) and body.get("detail"):
        return _one_line(body["detail"])
    return _one_line(json.dumps(body), 300)
