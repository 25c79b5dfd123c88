"""Stream example files (JSONL, CSV/TSV, Parquet) record by record into `Example`s and `Problem`s.

Memory stays bounded by one line (JSONL/CSV) or one batch of rows (Parquet); every line ends up either as an Example
or in a Problem that names file:line and the reason, so nothing is dropped without a word.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tunesmith.data.example import Example, Problem
from tunesmith.data.formats import apply_mapping, normalise, parse_mapping

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
PARQUET_BATCH_ROWS = 1024  # rows decoded at a time: bounds memory for wide text columns
_BOM = b"\xef\xbb\xbf"
_SHOW_LINES = 8  # line numbers quoted in an aggregated warning; the count is always complete

# A record source yields (line, record) or (line, Problem) for lines that could not be parsed, plus blank line numbers.
Records = Iterator[tuple[int, Any]]


class _Blank:
    """Marker yielded for a blank line (counted and reported once per file, not one problem each)."""


BLANK = _Blank()


def _jsonl_records(path: Path) -> Records:
    # Binary line iteration: one line in memory at a time, and we decode ourselves so a bad byte names its line.
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if lineno == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            raw = raw.rstrip(b"\r\n")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                bad = raw[e.start : e.start + 1]
                msg = f"not valid UTF-8 (byte {e.start} of the line is {bad!r})"
                yield lineno, Problem("error", msg, str(path), lineno)
                continue
            if not text.strip():
                yield lineno, BLANK
                continue
            if lineno == 1 and text.lstrip().startswith("[") and path.suffix == ".json":
                msg = "a JSON array file; write one JSON object per line (JSONL)"
                yield lineno, Problem("error", msg, str(path), 1)
                return
            try:
                yield lineno, json.loads(text)
            except json.JSONDecodeError as e:
                yield lineno, Problem("error", f"malformed JSON: {e.msg} at column {e.colno}", str(path), lineno)
            except RecursionError:  # thousands of nested [ or {: no example is shaped like that
                yield lineno, Problem("error", "malformed JSON: nested too deeply", str(path), lineno)


def _has_surrogates(values) -> bool:
    return any(isinstance(v, str) and any("\udc80" <= c <= "\udcff" for c in v) for v in values)


def _csv_records(path: Path, mapping: Mapping[str, str]) -> Records:
    # CI logs and long answers exceed the csv module's default 128 KiB field limit; lift it (process-wide setting).
    csv.field_size_limit(2**31 - 1)
    delimiter = "\t" if path.suffix == ".tsv" else ","
    with path.open("rb") as fb:
        # surrogateescape keeps undecodable bytes visible as lone surrogates, so a bad row is reported, not fatal.
        text = io.TextIOWrapper(fb, encoding="utf-8-sig", errors="surrogateescape", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        if _has_surrogates(header):
            yield 1, Problem("error", "header is not valid UTF-8", str(path), 1)
            return
        missing = [c for c in mapping.values() if c not in header]
        if missing:
            yield 1, Problem(
                "error",
                f"--map column(s) {', '.join(missing)} not in the header (columns: {', '.join(header)}); file skipped",
                str(path),
                1,
            )
            return
        prev = reader.line_num
        for row in reader:
            lineno, prev = prev + 1, reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                yield lineno, BLANK
            elif _has_surrogates(row):
                yield lineno, Problem("error", "not valid UTF-8", str(path), lineno)
            elif len(row) != len(header):
                msg = f"row has {len(row)} fields, the header has {len(header)}"
                yield lineno, Problem("error", msg, str(path), lineno)
            else:
                yield lineno, dict(zip(header, row))


def _parquet_records(path: Path, mapping: Mapping[str, str]) -> Records:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a file that is not Parquet
        yield 0, Problem("error", f"cannot read as Parquet: {e}", str(path), 0)
        return
    columns = pf.schema_arrow.names
    missing = [c for c in mapping.values() if c not in columns]
    if missing:
        msg = f"--map column(s) {', '.join(missing)} not in the file (columns: {', '.join(columns)}); file skipped"
        yield 0, Problem("error", msg, str(path), 0)
        return
    row = 0
    batches = pf.iter_batches(batch_size=PARQUET_BATCH_ROWS)
    while True:
        try:
            batch = next(batches, None)
            records = [] if batch is None else batch.to_pylist()
        except Exception as e:  # a corrupt page or row group (pyarrow raises OSError, ArrowInvalid, ...)
            msg = f"cannot read rows after row {row} ({type(e).__name__}: {e}); the rest of the file is skipped"
            yield row + 1, Problem("error", msg, str(path), row + 1)
            return
        if batch is None:
            return
        for record in records:
            row += 1
            yield row, record


def _records(path: Path, mapping: Mapping[str, str]) -> Records:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return _jsonl_records(path)
    if suffix in CSV_SUFFIXES:
        return _csv_records(path, mapping)
    if suffix in PARQUET_SUFFIXES:
        return _parquet_records(path, mapping)
    raise ValueError(suffix)


def _lines(lines: list[int], count: int) -> str:
    shown = ", ".join(map(str, lines))
    return f"{shown}, ..." if count > len(lines) else shown


def iter_examples(path: str | Path, mapping: Mapping[str, str] | str | None = None) -> Iterator[Example | Problem]:
    """Stream one file: yield each record as an Example, each unusable line as a Problem, then file-level warnings."""
    path = Path(path)
    src = str(path)
    if isinstance(mapping, str) or mapping is None:
        try:
            mapping = parse_mapping(mapping)
        except ValueError as e:
            yield Problem("error", str(e), src, 0, "--map")
            return
    if not path.is_file():
        yield Problem("error", "file not found" if not path.exists() else "not a file", src)
        return
    if path.suffix.lower() not in JSONL_SUFFIXES + CSV_SUFFIXES + PARQUET_SUFFIXES:
        yield Problem("error", f"unknown file type {path.suffix!r}: expected .jsonl, .csv, .tsv or .parquet", src)
        return
    if path.stat().st_size == 0:
        yield Problem("error", "empty file: no records", src)
        return

    blank: list[int] = []
    n_blank = n_records = n_errors = 0
    # Per format: how many records and the first few line numbers, for the mixed-format warning (bounded memory).
    formats: dict[str, list] = {}
    for lineno, rec in _records(path, mapping):
        if rec is BLANK:
            n_blank += 1
            if len(blank) < _SHOW_LINES:
                blank.append(lineno)
            continue
        if isinstance(rec, Problem):
            n_errors += 1
            yield rec
            continue
        n_records += 1
        example, problems = normalise(apply_mapping(rec, mapping) if isinstance(rec, dict) else rec, src, lineno)
        if example is not None:
            seen = formats.setdefault(example.fmt, [0, []])
            seen[0] += 1
            if len(seen[1]) < _SHOW_LINES:
                seen[1].append(lineno)
            yield example
        yield from problems

    if n_blank:
        yield Problem("warning", f"{n_blank} blank line(s) ignored (lines {_lines(blank, n_blank)})", src, blank[0])
    if n_records == 0 and not n_errors:
        yield Problem("error", "no records (only blank lines or a header)", src)
    if len(formats) > 1:
        parts = [f"{fmt} ({n} records: lines {_lines(lines, n)})" for fmt, (n, lines) in formats.items()]
        yield Problem("warning", "mixed formats in one file: " + "; ".join(parts), src)


def read_examples(
    path: str | Path, mapping: Mapping[str, str] | str | None = None
) -> tuple[list[Example], list[Problem]]:
    """All of one file in memory: (examples, problems). Use `iter_examples` to stream a file too big for that."""
    examples: list[Example] = []
    problems: list[Problem] = []
    for item in iter_examples(path, mapping):
        (examples if isinstance(item, Example) else problems).append(item)
    return examples, problems


__all__ = ["CSV_SUFFIXES", "JSONL_SUFFIXES", "PARQUET_SUFFIXES", "iter_examples", "read_examples"]
