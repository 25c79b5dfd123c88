"""The HTTP app: /v1/analyze for CI logs, OpenAI-compatible /v1/chat/completions and /v1/models, /healthz, /metrics, /.

`create_app(analyzer, settings)` takes a ready Analyzer (tests pass one over a scripted generator); the model is only
ever touched by the Batcher's worker thread. Request bodies are never logged; the few logged excerpts are redacted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from tunesmith.logs.redact import redact
from tunesmith.serve.auth import PUBLIC_PATHS, bearer_ok
from tunesmith.serve.batching import AnalyzeJob, Batcher, ChatJob, QueueFull
from tunesmith.serve.chat import ChatRequest, completion_body, model_list, stream_events
from tunesmith.serve.metrics import CONTENT_TYPE_LATEST, Metrics
from tunesmith.serve.settings import Settings

__all__ = ["ApiError", "Settings", "create_app"]

log = logging.getLogger("tunesmith.serve")


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.headers = status, message, kind, headers or {}

    def response(self) -> JSONResponse:
        # The OpenAI error shape: the `openai` client turns it into a typed exception with this message.
        body = {"error": {"message": self.message, "type": self.kind, "code": self.status}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


class AnalyzeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    log: str
    job: str | None = None
    repo: str | None = None


async def read_body(request: Request, limit: int, timeout: float | None = None) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` bytes (declared or streamed) — never buffered past it —
    and with 408 when it has not all arrived within `timeout` seconds (a client sending a byte at a time)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body of {int(declared)} bytes is over the limit of {limit} bytes", "request_too_large")

    async def read() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"request body is over the limit of {limit} bytes", "request_too_large")
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        return await asyncio.wait_for(read(), timeout)
    except asyncio.TimeoutError:
        raise ApiError(408, f"the request body did not arrive within {timeout:g} s", "timeout",
                       {"Connection": "close"}) from None


def _excerpt(text: str, width: int = 160) -> str:
    text = redact(text).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def create_app(analyzer, settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    batcher = Batcher(analyzer, settings.max_batch, settings.batch_wait_ms, settings.max_queue)
    metrics = Metrics(batcher.depth)
    batcher.on_batch = metrics.observe_batch
    started = int(time.time())

    @asynccontextmanager
    async def lifespan(app):
        yield
        batcher.stop()

    app = FastAPI(title="tunesmith", version="1", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.batcher, app.state.metrics, app.state.settings = batcher, metrics, settings

    @app.middleware("http")
    async def guard_and_measure(request: Request, call_next):
        t0 = time.monotonic()
        if settings.api_key and request.url.path not in PUBLIC_PATHS and not bearer_ok(
            request.headers.get("authorization"), settings.api_key
        ):
            response = ApiError(401, "missing or wrong API key: send `Authorization: Bearer <key>`",
                                "authentication_error", {"WWW-Authenticate": "Bearer"}).response()
        else:
            try:
                response = await call_next(request)
            except ApiError as e:  # raised in a streaming body or a dependency
                response = e.response()
        # Label by route template, never by raw path: arbitrary paths would make unbounded metric series.
        route = getattr(request.scope.get("route"), "path", None)
        if route is None:
            route = request.url.path if request.url.path in known_paths else "unmatched"
        seconds = time.monotonic() - t0
        metrics.observe_request(route, request.method, response.status_code, seconds)
        # The access log: method, path without the query string, status, time. Never bodies or headers.
        log.info("%s %s %d %.3fs", request.method, _excerpt(request.url.path, 200), response.status_code, seconds)
        return response

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return exc.response()

    async def run_job(job) -> object:
        try:
            fut = batcher.submit(job)
        except QueueFull as e:
            metrics.rejected.inc()
            raise ApiError(429, str(e), "rate_limit_error", {"Retry-After": str(e.retry_after)}) from None
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), settings.request_timeout_s)
        except asyncio.TimeoutError:
            fut.cancel()  # still queued: the worker skips it; already generating: the result is dropped
            raise ApiError(504, f"no answer within {settings.request_timeout_s:g} s", "timeout") from None
        except ApiError:
            raise
        except Exception as e:
            log.error("model call failed: %s", _excerpt(f"{type(e).__name__}: {e}", 300))
            raise ApiError(500, f"the model call failed: {type(e).__name__}", "server_error") from None

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "queue": batcher.depth(), "model": settings.model_name}

    @app.get("/metrics")
    async def metrics_route():
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return HTMLResponse(resources.files("tunesmith.serve").joinpath("page.html").read_text(encoding="utf-8"))

    @app.post("/v1/analyze")
    async def analyze(request: Request):
        raw = await read_body(request, settings.max_request_bytes, settings.read_timeout_s)
        meta: dict = {}
        if request.headers.get("content-type", "").split(";")[0].strip() == "application/json":
            try:
                body = AnalyzeBody.model_validate_json(raw)
            except ValidationError as e:
                raise ApiError(400, "expected JSON {\"log\": str, \"job\"?: str, \"repo\"?: str}: "
                               + "; ".join(f"{'.'.join(map(str, x['loc'])) or 'body'}: {x['msg']}" for x in e.errors())) from None
            # job and repo are echoed in the answer (and so in CI artifacts): redacted like the log
            text, meta = body.log, {k: redact(v) for k, v in (("job", body.job), ("repo", body.repo)) if v is not None}
        else:
            text = raw.decode("utf-8", errors="replace")
        if not text.strip():
            raise ApiError(400, "the log is empty: send the failed job's log as the request body")
        result = await run_job(AnalyzeJob(text))
        first = result.evidence[0].text if result.evidence else ""
        log.info("analyze job=%s bytes=%d category=%s evidence=%r", _excerpt(meta.get("job", "-"), 80), len(raw),
                 result.category, _excerpt(first))
        return {**result.to_dict(), **meta}

    @app.get("/v1/models")
    async def models():
        return model_list(settings.model_name, started)

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        raw = await read_body(request, settings.max_request_bytes, settings.read_timeout_s)
        try:
            req = ChatRequest.model_validate_json(raw)
            messages = req.prompt()
        except ValidationError as e:
            raise ApiError(400, "; ".join(f"{'.'.join(map(str, x['loc'])) or 'body'}: {x['msg']}" for x in e.errors())) from None
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        # The worker counts the prompt's tokens too: a fast tokenizer must not be used from two threads at once.
        gen, n_prompt = await run_job(ChatJob(messages, req.budget(settings.chat_max_tokens), req.temperature))
        if req.stream:
            return StreamingResponse(stream_events(settings.model_name, gen, n_prompt), media_type="text/event-stream")
        return completion_body(settings.model_name, gen, n_prompt)

    known_paths = {getattr(r, "path", None) for r in app.routes}

    @app.exception_handler(404)
    async def _not_found(request: Request, exc):
        return ApiError(404, f"no route {request.method} {request.url.path}", "not_found").response()

    return app
