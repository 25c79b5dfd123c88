"""`data validate` and the log distiller keep what their report needs, not their input: the Python heap's peak grows
by a small share of the bytes added when the input grows fourfold (tracemalloc, in-process, a few MB of input).

The share is the point: holding every example (or every log line) costs more than the bytes read, so it would grow by
over 100%; hashes and a MinHash signature per distinct example cost well under that."""

from __future__ import annotations

import gzip
import json
import tracemalloc

from tunesmith.data.validate import validate_files
from tunesmith.logs.distill import distill

from test_data_validate import sentence

_FILLER = 6_000  # characters of input per example: a CI-failure excerpt is a few KB


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _dataset(path, n: int) -> int:
    with path.open("w") as f:
        for i in range(n):
            text = (sentence(i, 60) + "\n") * (_FILLER // 600)
            f.write(json.dumps({"input": text, "output": f"Category: test\nRoot Cause: r{i % 7}\nFix: f"}) + "\n")
    return path.stat().st_size


def test_validate_memory_grows_by_a_small_share_of_the_input(tmp_path):
    small, big = tmp_path / "small.jsonl", tmp_path / "big.jsonl"
    added = _dataset(big, 2000) - _dataset(small, 500)  # ~3 MB -> ~12 MB
    # The first call also warms caches (regexes, numpy); measure the small file after it so both start alike.
    validate_files(small, keep_examples=False)
    peaks = [_peak(lambda p=p: validate_files(p, keep_examples=False)) for p in (small, big)]
    growth = peaks[1] - peaks[0]
    assert growth < 0.25 * added, f"peak grew {growth:,} B for {added:,} B more input ({peaks})"


def test_validate_lists_at_most_max_listed_problems_but_counts_all(tmp_path, monkeypatch):
    from tunesmith.data import tally

    monkeypatch.setattr(tally, "MAX_LISTED", 5)
    p = tmp_path / "bad.jsonl"
    p.write_text("{broken\n" * 12 + json.dumps({"input": "a", "output": "b"}) + "\n")
    report = validate_files(p, keep_examples=False)
    assert len(report.errors) == 5 and report.n_errors == 12 and report.to_dict()["n_errors"] == 12
    assert "7 more errors from the read train checks not listed" in " ".join(report.notes)
    assert report.examples == []


def _log(n_lines: int) -> str:
    body = "".join(f"[{i:07d}] compiling module_{i % 977}.c -O2 -Wall {sentence(i, 8)}\n" for i in range(n_lines))
    return body + "error: undefined reference to `frobnicate'\nProcess completed with exit code 1\n"


def test_distill_memory_does_not_grow_with_the_log(tmp_path):
    small, big = tmp_path / "small.log", tmp_path / "big.log.gz"
    small.write_text(_log(20_000))  # ~2.6 MB
    with gzip.open(big, "wt") as f:  # ~10 MB uncompressed, read through gzip as `analyze x.log.gz` does
        f.write(_log(80_000))
    distill(small)
    peaks = [_peak(lambda p=p: distill(p)) for p in (small, big)]
    assert peaks[1] - peaks[0] < 2_000_000, peaks
    assert "frobnicate" in distill(big).text


def test_distill_reads_a_huge_line_in_pieces(tmp_path):
    """A 20 MB log with no newline at all: read 64 KiB at a time, never held as one line."""
    p = tmp_path / "one.log"
    with p.open("w") as f:
        for i in range(20 * 1024):
            f.write(f"{i:06d} " + "x" * 1017)
    with p.open("rb") as f:  # a file object, as `analyze -` passes stdin
        peak = _peak(lambda: distill(f))
    assert peak < 3_000_000, peak


def test_analyze_reads_gzip_from_stdin(monkeypatch):
    """`analyze -` hands the stream to distill (never read whole) and recognises gzip by its magic bytes."""
    from typer.testing import CliRunner

    import tunesmith.logs.analyze as mod
    from test_analyze import FAILING_LOG, GOOD, ScriptedGenerator
    from tunesmith.cli import app

    real_init = mod.Analyzer.__init__
    monkeypatch.setattr(mod.Analyzer, "__init__",
                        lambda self, run=None, **kw: real_init(self, generator=ScriptedGenerator(GOOD), **kw))
    for data in (FAILING_LOG.encode(), gzip.compress(FAILING_LOG.encode())):
        r = CliRunner().invoke(app, ["analyze", "-", "--json"], input=data)
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["evidence"]


def test_length_percentiles_are_numpys_while_exact_and_within_a_percent_after(monkeypatch):
    import numpy as np

    from tunesmith.data import tally

    rng = np.random.default_rng(0)
    for values in (rng.integers(1, 5000, 1001), rng.integers(0, 40, 10), np.array([7])):
        lengths = tally.Lengths()
        for v in values.tolist():
            lengths.add(v)
        s = lengths.summary()
        assert (s["min"], s["max"], s["median"], s["p95"]) == (
            values.min(), values.max(), float(np.median(values)), float(np.percentile(values, 95)))
        assert "approximate" not in s
    monkeypatch.setattr(tally, "EXACT_VALUES", 100)
    values = rng.integers(1000, 10**6, 5000)
    lengths = tally.Lengths()
    for v in values.tolist():
        lengths.add(v)
    s = lengths.summary()
    assert s["approximate"] and len(lengths.counts) < 1500 and (s["min"], s["max"]) == (values.min(), values.max())
    assert abs(s["p95"] / np.percentile(values, 95) - 1) < 0.011
    assert abs(s["median"] / np.median(values) - 1) < 0.011


def test_near_duplicate_check_past_its_cap_says_so(tmp_path, monkeypatch):
    from tunesmith.data import scan

    monkeypatch.setattr(scan, "NEAR_MAX", 50)
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps({"input": sentence(i), "output": f"o{i}"}) + "\n" for i in range(120)))
    report = validate_files(p, keep_examples=False)
    assert "checked among the first 50 distinct examples" in " ".join(report.notes)
    assert report.stats["examples"]["train"] == 120
