"""Run an app under uvicorn: in the foreground for `tunesmith serve`, or on a background thread for tests and notebooks.

Both use the same uvicorn settings: our own access log (no bodies, no query strings) instead of uvicorn's, a bound on
open connections, and a deadline for a request's headers (uvicorn has none: a client sending a byte now and then, or
nothing, would hold its connection for ever). The app puts the same deadline on the body (`app.read_body`).
"""

from __future__ import annotations

import socket
import threading
import time

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["BackgroundServer", "HeaderDeadlineProtocol", "free_port", "run"]

# Open connections past this get uvicorn's 503: each holds a socket and up to --max-request-mb of body, so this bounds
# memory; 200 concurrent clients (issue 18's load) stay well below it.
MAX_CONNECTIONS = 512
_TIMEOUT_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline: a request's headers must be complete within `read_timeout` seconds of
    the connection opening or the previous response ending, or the client gets 408 and the connection is closed."""

    read_timeout = 10.0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.read_timeout, self._expired)

    def _disarm(self) -> None:
        timer = getattr(self, "_deadline", None)
        if timer is not None:
            timer.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        # IDLE on their side: no complete request line and headers yet (a request being served is past IDLE).
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_TIMEOUT_408)
        self.transport.close()


def _config(app, host: str, port: int) -> uvicorn.Config:
    settings = getattr(app.state, "settings", None)
    protocol = type("HeaderDeadline", (HeaderDeadlineProtocol,),
                    {"read_timeout": getattr(settings, "read_timeout_s", HeaderDeadlineProtocol.read_timeout)})
    # access_log=False: uvicorn's access line includes the query string; the app logs its own redacted line instead.
    return uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None, lifespan="on",
                          timeout_graceful_shutdown=5, http=protocol, limit_concurrency=MAX_CONNECTIONS)


def run(app, host: str, port: int) -> None:
    uvicorn.Server(_config(app, host, port)).run()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class BackgroundServer:
    """`with BackgroundServer(app) as url:` serves `app` on a free loopback port until the block ends."""

    def __init__(self, app, host: str = "127.0.0.1", port: int | None = None):
        self.host, self.port = host, port or free_port(host)
        self.server = uvicorn.Server(_config(app, self.host, self.port))
        self.thread = threading.Thread(target=self.server.run, name="tunesmith-uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(15)
