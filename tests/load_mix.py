"""A mixed load on a running `tunesmith serve`, shared by tests/test_serve_load.py and benchmarks/serve_load.py --mix:
valid analyze and chat requests beside oversized, malformed, wrongly typed, unknown-path, keyless and slow-sending
(slowloris) clients, all at once. Loopback only; every loop is bounded and every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["EXPECTED", "MIX", "MixResult", "marker", "run_mix"]

# Clients per kind: 200 in all, as issue 18 asks.
MIX = {"analyze": 60, "chat": 30, "oversized": 16, "oversized_streamed": 8, "malformed": 16, "wrong_types": 16,
       "unknown_path": 14, "no_key": 10, "slow_headers": 15, "slow_body": 15}
# What each kind must get: a status code, or "dropped" (the server answered 408 or closed the connection).
EXPECTED = {"analyze": {200}, "chat": {200}, "oversized": {413}, "oversized_streamed": {413, "dropped"}, "malformed": {400},
            "wrong_types": {400, 422}, "unknown_path": {404}, "no_key": {401}, "slow_headers": {408, "dropped"},
            "slow_body": {408, "dropped"}}


def marker(i: int) -> str:
    """Text planted in request i's log: it must never show up in /metrics or on the page."""
    return f"QXZ{i:04d}unmistakablelogtext"


def _log(i: int) -> str:
    lines = [f"Collecting package{j}" for j in range(40)]
    lines += ["Traceback (most recent call last):", '  File "app.py", line 3, in <module>',
              f"FrobnicationError: widget {marker(i)} would not reticulate", "##[error]Process completed with exit code 1."]
    return "\n".join(lines)


@dataclass
class MixResult:
    outcomes: dict[str, list] = field(default_factory=dict)  # kind -> status code or "dropped"/"held"/error name
    seconds: dict[str, list] = field(default_factory=dict)
    wall_s: float = 0.0

    def add(self, kind: str, outcome, seconds: float) -> None:
        self.outcomes.setdefault(kind, []).append(outcome)
        self.seconds.setdefault(kind, []).append(seconds)

    def unexpected(self) -> dict[str, list]:
        """Per kind, the outcomes that are not what that kind must get."""
        return {k: [o for o in v if o not in EXPECTED[k]] for k, v in self.outcomes.items()
                if any(o not in EXPECTED[k] for o in v)}

    def summary(self) -> dict:
        return {k: dict(Counter(str(o) for o in v)) for k, v in self.outcomes.items()}


async def _slow(host: str, port: int, kind: str, key: str | None, read_timeout: float) -> str:
    """Send a request a byte every 0.25 s for at most 4x the server's read timeout: "dropped" or 408 when the server
    cuts it off, "held" when it is still waiting at the end."""
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    if kind == "slow_headers":
        head, trickle = f"POST /v1/analyze HTTP/1.1\r\nHost: {host}\r\n{auth}".encode(), b"X-Slow: " + b"a" * 400
    else:
        body = json.dumps({"log": "x" * 300}).encode()
        head = (f"POST /v1/analyze HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        trickle = body
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    try:
        writer.write(head)
        await writer.drain()
        end = time.monotonic() + 4 * read_timeout
        for b in trickle:
            if time.monotonic() > end:
                return "held"
            try:
                data = await asyncio.wait_for(reader.read(64), 0.25)
            except asyncio.TimeoutError:
                data = None
            if data is not None:  # the server spoke (its answer) or closed (b"")
                return 408 if data.startswith(b"HTTP/1.1 408") else "dropped" if not data else _status(data)
            writer.write(bytes([b]))
            await writer.drain()
        return "held"
    except (ConnectionError, OSError):
        return "dropped"
    finally:
        writer.close()


def _status(data: bytes):
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return "garbled"


async def _one(http, url: str, kind: str, i: int, key: str | None, limit: int):
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    if kind == "analyze":
        r = await http.post(url + "/v1/analyze", json={"log": _log(i), "job": f"j{i}"}, headers=auth)
    elif kind == "chat":
        r = await http.post(url + "/v1/chat/completions", headers=auth,
                            json={"messages": [{"role": "user", "content": f"why did it fail? {marker(i)}"}],
                                  "max_tokens": 4})
    elif kind == "oversized":
        r = await http.post(url + "/v1/analyze", content=b"e" * (limit + 1), headers=auth)
    elif kind == "oversized_streamed":  # no Content-Length: chunked, refused once the bytes pass the limit

        async def chunks():
            for _ in range(limit // 8192 + 2):
                yield b"e" * 8192

        r = await http.post(url + "/v1/analyze", content=chunks(), headers=auth)
    elif kind == "malformed":
        path = "/v1/analyze" if i % 2 else "/v1/chat/completions"
        r = await http.post(url + path, content=b'{"log": "unterminated', headers={**auth, "Content-Type": "application/json"})
    elif kind == "wrong_types":
        path, body = ("/v1/analyze", {"log": 123}) if i % 2 else ("/v1/chat/completions", {"messages": "hello"})
        r = await http.post(url + path, json=body, headers=auth)
    elif kind == "unknown_path":
        r = await http.get(url + f"/v1/nothing-here/{i}", headers=auth)
    else:  # no_key
        r = await http.post(url + "/v1/analyze", json={"log": _log(i)})
    return r.status_code


async def _run(url: str, key: str | None, limit: int, read_timeout: float, mix: dict, deadline: float) -> MixResult:
    import httpx

    result = MixResult()
    parts = urlsplit(url)
    kinds = [k for k, n in mix.items() for _ in range(n)]
    if not key:
        kinds = [k for k in kinds if k != "no_key"]  # without a key every request is allowed
    async with httpx.AsyncClient(timeout=deadline, limits=httpx.Limits(max_connections=len(kinds) + 10)) as http:

        async def client(i: int, kind: str) -> None:
            t0 = time.monotonic()
            try:
                if kind.startswith("slow_"):
                    outcome = await _slow(parts.hostname, parts.port, kind, key, read_timeout)
                else:
                    outcome = await _one(http, url, kind, i, key, limit)
            except (httpx.HTTPError, OSError, asyncio.TimeoutError) as e:
                # A refused oversized upload may see the connection closed mid-send: the server said no.
                outcome = "dropped" if kind == "oversized_streamed" else type(e).__name__
            result.add(kind, outcome, time.monotonic() - t0)

        t0 = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(client(i, k) for i, k in enumerate(kinds))), deadline + 30)
        result.wall_s = time.monotonic() - t0
    return result


def run_mix(url: str, key: str | None, max_request_bytes: int, read_timeout: float, mix: dict | None = None,
            deadline: float = 300.0) -> MixResult:
    """All clients of `mix` (default MIX) at once against `url` (must be loopback); each request gets `deadline` s."""
    assert urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1"), "the mixed load runs on loopback only"
    return asyncio.run(_run(url, key, max_request_bytes, read_timeout, mix or MIX, deadline))
