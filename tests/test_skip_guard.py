"""The CI skip guard (tests/skip_guard.py) on a throwaway test file: an unlisted skip fails a --strict-skips run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _pytest(tmp_path, body: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_throwaway.py").write_text(body)
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "skip_guard",
                           "-c", os.devnull, "--rootdir", str(tmp_path), *args, str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


SKIPPING = """
import pytest

def test_runs():
    pass

def test_guard():
    pytest.skip("Go toolchain not installed")

@pytest.mark.xfail(reason="known")
def test_known():
    assert False
"""


def test_an_unlisted_skip_fails_a_strict_run_and_is_named(tmp_path):
    strict = _pytest(tmp_path, SKIPPING, "--strict-skips")
    assert strict.returncode == 1, strict.stdout
    assert "test_throwaway.py::test_guard: Go toolchain not installed" in strict.stdout
    assert "test_known" not in strict.stdout.split("allow-list")[-1]  # an expected failure is not a skip
    relaxed = _pytest(tmp_path, SKIPPING)  # a user's run: skips are reported, not failures
    assert relaxed.returncode == 0, relaxed.stdout


def test_the_shared_data_skip_is_allowed_only_where_shared_data_is_absent(tmp_path):
    import skip_guard

    reason = "real CI log data not present at /x/y (only in the development workspace)"
    assert skip_guard.allowed(reason) is (not skip_guard.SHARED_DATA.exists())
    assert not skip_guard.allowed("needs chromium and /usr/bin/chromedriver")
    body = f"import pytest\n\ndef test_data():\n    pytest.skip({reason!r})\n"
    res = _pytest(tmp_path, body, "--strict-skips")
    assert res.returncode == (1 if skip_guard.SHARED_DATA.exists() else 0), res.stdout
