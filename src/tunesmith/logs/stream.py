"""Reading a CI log as a stream of lines: bounded reads (a 10 MB line costs 64 KiB), cleaning, collapsed repeats and
progress redraws, cue weights, and the original line numbers; what `distill` ranks and packs.
"""

from __future__ import annotations

import gzip
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tunesmith.logs.clean import clean_line
from tunesmith.logs.cues import maybe_cue, weigh
from tunesmith.logs.redact import LineRedactor, redact_line

__all__ = ["FAIL_END", "Line", "Source", "iter_lines", "stream"]

Source = str | bytes | os.PathLike | Iterable[str] | Iterable[bytes]

READ_LIMIT = 64 * 1024  # bytes read of one physical line; the rest of a longer line is skipped and counted

# The end of a step that failed: everything since the step began is the prime suspect.
FAIL_END = re.compile(r'^The command ".*" (?:exited|failed) with [1-9]|Process completed with exit code [1-9]|'
                      r"ERROR: Job failed|script returned exit code [1-9]|^Finished: FAILURE")
_BINARY = re.compile(r"[\ufffd]")
_LETTERS = re.compile(r"[^\W\d_]+")


@dataclass(slots=True)
class Line:
    seq: int  # position in the cleaned stream (adjacency for "..." markers)
    no: int  # original 1-based line number
    text: str
    weight: float
    fail_end: bool = False
    step: bool = False
    key: str = ""  # the cue's matched text (see cues.weigh)
    part: int = 0  # which CI step the line belongs to: a cue's context stays inside its step
    redacted: bool = False  # redaction waits until the line is a candidate for the excerpt: most lines never are

    def final_text(self) -> str:
        if not self.redacted:
            self.text, self.redacted = redact_line(self.text), True
        return self.text


def _bounded(readline: Callable[[int], str | bytes]) -> Iterator[tuple[str, int]]:
    """(line, characters skipped) from a readline; a line longer than READ_LIMIT is read in pieces and not kept."""
    while True:
        chunk = readline(READ_LIMIT)
        if not chunk:
            return
        text = chunk.decode("utf-8", errors="replace") if isinstance(chunk, bytes) else chunk
        skipped = 0
        while not text.endswith("\n") and len(chunk) >= READ_LIMIT:
            chunk = readline(READ_LIMIT)
            if not chunk:
                break
            ended = chunk.endswith(b"\n") if isinstance(chunk, bytes) else chunk.endswith("\n")
            skipped += len(chunk) - ended
            if ended:
                break
        yield text, skipped


def iter_lines(source: Source) -> Iterator[tuple[str, int]]:
    """Raw lines of `source` (text, bytes, a path — gzip if it ends in .gz — a file object or an iterable of lines),
    each with the number of characters skipped from an over-long line. Undecodable bytes become U+FFFD."""
    if isinstance(source, str):
        yield from _bounded(io.StringIO(source).readline)
    elif isinstance(source, (bytes, bytearray)):
        yield from _bounded(io.BytesIO(source).readline)
    elif isinstance(source, os.PathLike):
        path = Path(source)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            yield from _bounded(f.readline)
    elif hasattr(source, "readline"):
        yield from _bounded(source.readline)
    else:
        for item in source:
            text = item.decode("utf-8", errors="replace") if isinstance(item, (bytes, bytearray)) else item
            yield text, 0


def _redraw_shape(text: str) -> str:
    """The letters of a line drawn mostly with symbols and digits (a progress bar printed line by line, "[▬▬․․] 2
    failing"), else "": consecutive lines of one shape are redraws of one line."""
    if len(text) < 20:
        return ""
    letters = "".join(_LETTERS.findall(text))
    return letters if len(letters) * 3 < len(text) else ""


def _make_line(seq: int, no: int, text: str, tag: str, redacted: bool) -> Line:
    if tag == "error":
        return Line(seq, no, text, 3.0, bool(FAIL_END.search(text)), False, "##[error]", redacted)
    if maybe_cue(text):
        weight, key = weigh(text)
        return Line(seq, no, text, weight, bool(FAIL_END.search(text)), tag == "step", key, redacted)
    return Line(seq, no, text, 0.0, False, tag == "step", "", redacted)


def stream(source: Source, notes: list[str]) -> Iterator[Line]:
    """Cleaned, repeat-collapsed lines with their original line numbers. Secrets are redacted in `Line.final_text`,
    except in lines that open, continue or close a private key block: those need the order of lines, so they are
    redacted here."""
    redactor = LineRedactor()
    binary = 0
    seq = 0
    prev: str | None = None
    last_text, prev_shape = "", None  # the latest line yielded or held, and its shape once computed
    last_head = "\0"  # its first three characters
    repeats, last_no = 0, 0
    # Redraws of a progress line: only the last state is kept (it holds the final count), after a note of how many went.
    similar, held = 0, None

    def pending() -> Iterator[Line]:
        nonlocal seq
        if repeats and prev:
            seq += 1
            yield Line(seq, last_no, f"... (previous line repeated {repeats} more times)", 0.0, redacted=True)
        if similar > 1:
            seq += 1
            yield Line(seq, held[0] - 1, f"... ({similar - 1} similar lines)", 0.0, redacted=True)
        if similar:
            seq += 1
            yield _make_line(seq, *held)

    for no, (raw, skipped) in enumerate(iter_lines(source), 1):
        clean = clean_line(raw, skipped)
        if clean.tag == "drop":
            continue
        text = clean.text
        redacted = redactor.stateful(text)
        if redacted:
            text = redactor(text)
        if "\ufffd" in text and len(_BINARY.findall(text)) * 4 > len(text):
            binary += 1
            continue
        # Redraws share their first characters ("  [▬▬"): only then is the (slower) shape compared.
        shape = ""
        if len(text) >= 20 and text.startswith(last_head) and clean.tag != "error" and (shape := _redraw_shape(text)):
            if prev_shape is None:
                prev_shape = _redraw_shape(last_text)
            if shape == prev_shape:
                similar, held, last_text = similar + 1, (no, text, clean.tag, redacted), text
                continue
        if text == prev:
            repeats, last_no = repeats + 1, no
            continue
        if repeats or similar:
            yield from pending()
        repeats, similar, prev, last_text, last_head, prev_shape = 0, 0, text, text, text[:3], shape or None
        seq += 1
        yield _make_line(seq, no, text, clean.tag, redacted)
    yield from pending()
    if binary:
        notes.append(f"{binary} binary/undecodable lines omitted")
