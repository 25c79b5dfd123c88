"""Fakes shared by the server, ci-report and browser tests: a scripted generator and a live app on a loopback port."""

from __future__ import annotations

import contextlib
import threading
import time

from tunesmith.logs.analyze import Analyzer
from tunesmith.models.generate import Generation
from tunesmith.serve.app import Settings, create_app
from tunesmith.serve.runner import BackgroundServer

FAILING_LOG = "\n".join(
    [f"Collecting package{i}" for i in range(60)]
    + ["Traceback (most recent call last):", '  File "app.py", line 3, in <module>',
       "ModuleNotFoundError: No module named 'pandas'", "##[error]Process completed with exit code 1."]
    + [f"Post job cleanup {i}" for i in range(10)]
)
ANSWER = "Category: dependency\nRoot Cause: pandas is not installed.\nFix: Add pandas to requirements.txt."
KEY = "test-key-0123456789abcdef"


class WordTokenizer:
    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": text.split()}


class ScriptedGenerator:
    """Answers every prompt with `answer` after `delay` seconds per call; records each call's batch size."""

    def __init__(self, answer: str = ANSWER, delay: float = 0.0, stopped: bool = True):
        self.answer, self.delay, self.stopped = answer, delay, stopped
        self.tokenizer = WordTokenizer()
        self.batches: list[int] = []
        self.prompts: list = []
        self._lock = threading.Lock()

    def generate(self, prompts, max_new_tokens=256, **kw):
        prompts = list(prompts)
        with self._lock:
            self.batches.append(len(prompts))
            self.prompts += prompts
        time.sleep(self.delay)
        words = self.answer.split()
        fits = len(words) <= max_new_tokens
        text = self.answer if fits else " ".join(words[:max_new_tokens])
        stopped = self.stopped and fits
        return [Generation(text, stopped, len(text.split())) for _ in prompts]


@contextlib.contextmanager
def live_server(gen: ScriptedGenerator | None = None, **settings):
    """Yields (url, app, generator) for an app over `gen` served on a free loopback port."""
    gen = gen or ScriptedGenerator()
    app = create_app(Analyzer(kb=False, generator=gen), Settings(**settings))
    with BackgroundServer(app) as url:
        yield url, app, gen


@contextlib.contextmanager
def serve_process(args: list[str], env: dict, tmp):
    """`tunesmith serve ARGS` as a real process on a free loopback port: yields its URL once /healthz answers (90 s at
    most), and stops it when the block ends. Its output goes to tmp/stdout.txt (a file, not a pipe: an unread pipe
    could fill and stall the server), shown when it dies before coming up."""
    import subprocess
    import sys
    from pathlib import Path

    import httpx

    from tunesmith.serve.runner import free_port

    port, stdout = free_port(), Path(tmp) / "stdout.txt"
    with stdout.open("w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "tunesmith"), "serve", "--port", str(port), *args],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                assert proc.poll() is None, stdout.read_text()
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server did not come up in 90 s"
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            proc.wait(20)
