"""Line normalisation for CI logs: strip colours, progress redraws, timestamps and CI-system markers.

One raw line in, one `Clean(text, tag)` out, so the distiller, the benchmark and the label comparison all see the same text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Clean", "MAX_LINE_CHARS", "clean_line", "normalise", "strip_ansi", "truncate"]

# A 10 MB minified-JS line is useless to the model and would blow the budget: keep its head and say how much went.
MAX_LINE_CHARS = 1000

# CSI (colours, erase-line), OSC (hyperlinks, titles) and the short two-byte escapes.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
_BACKSPACE = re.compile(r"[^\x08\n]\x08")
# Control characters other than tab; \r is handled separately (progress redraws).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WS = re.compile(r"\s+")

# Travis writes `travis_fold:start:install\r\x1b[0K` and `travis_time:end:id:start=..,finish=..,duration=..` in-line.
_TRAVIS = re.compile(r"travis_(?:fold|time):(?:start|end):[\w.,=:-]*")
# GitLab: `section_start:1560896352:build_script[collapsed=true]\r\x1b[0K`.
_GITLAB = re.compile(r"section_(?:start|end):\d+:[\w.-]+(?:\[[^\]]*\])?")
# GitHub Actions workflow-command markers as they appear in downloaded logs.
_GHA = re.compile(r"^##\[(group|endgroup|error|warning|notice|debug|command|section)\]")
# Leading timestamps: GitHub Actions (`2024-01-01T00:00:00.0000000Z `), Jenkins timestamper, log4j-style, `[12:00:01]`.
_TIMESTAMP = re.compile(
    r"^\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]?\s?"
    r"|^\[\d\d:\d\d:\d\d(?:[.,]\d+)?\]\s?"
)
_JENKINS = re.compile(r"^\[Pipeline\] ")


@dataclass(frozen=True)
class Clean:
    """A normalised line. `tag` is "" (ordinary), "drop" (pure marker, no content), "step" (a step/group starts,
    text is its title) or "error" (the CI system itself flagged the line as an error, e.g. `##[error]`)."""

    text: str
    tag: str = ""


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def truncate(text: str, limit: int = MAX_LINE_CHARS, dropped: int = 0) -> str:
    """Cut `text` to `limit` characters and say how much went (`dropped`: characters the reader already skipped)."""
    if len(text) <= limit and not dropped:
        return text
    return f"{text[:limit]} [... line truncated: {max(0, len(text) - limit) + dropped} more characters]"


def _last_redraw(text: str) -> str:
    """A line redrawn with carriage returns (progress bars) shows its last non-empty state on a terminal: keep that."""
    if "\r" not in text:
        return text
    parts = [p for p in text.split("\r") if strip_ansi(p).strip()]
    return parts[-1] if parts else ""


def clean_line(raw: str, dropped: int = 0) -> Clean:
    """Normalise one raw log line (its trailing newline is ignored); `dropped` counts characters of an over-long line
    the reader did not even load, so the truncation note stays honest."""
    text = raw.rstrip("\r\n")
    had_marker = False
    if "travis_" in text:
        new = _TRAVIS.sub("", text)
        had_marker, text = new != text, new
    if "section_" in text:
        new = _GITLAB.sub("", text)
        had_marker, text = had_marker or new != text, new
    text = _last_redraw(text)
    # The guards on each substitution skip a regex scan on the plain lines most logs are made of.
    if "\x1b" in text:
        text = strip_ansi(text)
    if "\x08" in text:
        # Spinners draw with backspaces ("| \b\bdone"): apply them like a terminal would.
        for _ in range(64):
            new = _BACKSPACE.sub("", text)
            if new == text:
                break
            text = new
    if not text.isprintable():  # control characters are not printable
        text = _CONTROL.sub("", text)
    text = text.rstrip()
    if text[:1] == "[" or text[:1].isdigit():
        text = _TIMESTAMP.sub("", text, count=1)
    tag = ""
    m = _GHA.match(text) if text.startswith("##[") else None
    if m:
        kind, text = m.group(1), text[m.end():]
        if kind == "endgroup":
            return Clean("", "drop")
        tag = {"group": "step", "error": "error"}.get(kind, "")
    elif text.startswith("[Pipeline] "):
        # Jenkins pipeline bookkeeping; `[Pipeline] { (Build)` names a stage.
        rest = _JENKINS.sub("", text)
        return Clean(rest[3:-1], "step") if rest.startswith("{ (") and rest.endswith(")") else Clean("", "drop")
    if had_marker and not text.strip():
        return Clean("", "drop")
    return Clean(truncate(text, dropped=dropped), tag)


def normalise(text: str) -> str:
    """Comparison key for a line: cleaned, whitespace collapsed (used to match labelled chunks against excerpts)."""
    return _WS.sub(" ", clean_line(text).text).strip()
