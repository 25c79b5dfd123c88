"""The server's settings and their defaults, in one light module: `tunesmith serve`'s options read their defaults
here without importing fastapi.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    api_key: str | None = None  # None: no auth (only allowed on loopback; the CLI enforces that)
    max_request_bytes: int = 5 * 1024 * 1024  # a failed job's log past 5 MB is mostly noise the distiller drops anyway
    request_timeout_s: float = 120.0  # one request's wait for the model, queue time included
    max_batch: int = 8  # requests per generate() call
    batch_wait_ms: float = 10.0  # how long the worker waits to fill a batch
    # Queued requests beyond this get 429 + Retry-After. 256: 200 concurrent clients (issue 18's load test) all wait
    # their turn instead of being turned away; each queued job holds its log, at most max_request_bytes.
    max_queue: int = 256
    read_timeout_s: float = 10.0  # a request's headers, and then its body, must arrive within this (else 408)
    chat_max_tokens: int = 256  # chat completion length when the request does not say
    model_name: str = "tunesmith"
