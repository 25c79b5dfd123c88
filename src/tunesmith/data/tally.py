"""Bounded summaries of a stream of examples, for `data validate`: length distributions, hash columns, capped
problem lists and "where" lists. What they keep does not grow with the size of the examples, only (for hashes) by a
few bytes per example, so a dataset of any size is checked without holding it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tunesmith.data.example import Problem

__all__ = ["Column", "Lengths", "ProblemLog", "Where", "key64"]

# Distinct lengths counted one by one: every real dataset stays below this, and then percentiles are exact. Past it
# the counts merge into bins 1% wide (at most ~4,400 bins for any 64-bit value) and the figures say "approximate".
EXACT_VALUES = 50_000
BIN_WIDTH = 0.01
SHOW = 8  # locations quoted in an aggregated problem
MAX_LISTED = 1000  # problems listed per check and level; the rest are counted in a note


def key64(digest: bytes) -> int:
    """The first 8 bytes of a hash as an unsigned int: 64 bits keep collisions unlikely (~n²/2^65: 3e-6 at 10M)."""
    return int.from_bytes(digest[:8], "little")


class Lengths:
    """Count, min, max and percentiles of integer lengths from counts per value: exact while the lengths take fewer
    than EXACT_VALUES distinct values, within BIN_WIDTH after."""

    def __init__(self) -> None:
        self.n = 0
        self.min: int | None = None
        self.max: int | None = None
        self.counts: dict[int, int] = {}
        self.approximate = False

    def add(self, value: int) -> None:
        self.n += 1
        self.min = value if self.min is None else min(self.min, value)
        self.max = value if self.max is None else max(self.max, value)
        key = self._bin(value) if self.approximate else value
        self.counts[key] = self.counts.get(key, 0) + 1
        if not self.approximate and len(self.counts) > EXACT_VALUES:
            self.approximate = True
            merged: dict[int, int] = {}
            for v, c in self.counts.items():
                merged[self._bin(v)] = merged.get(self._bin(v), 0) + c
            self.counts = merged

    @staticmethod
    def _bin(value: int) -> int:
        return int(math.log1p(max(value, 0)) / math.log1p(BIN_WIDTH))

    def _values(self) -> tuple[np.ndarray, np.ndarray]:
        keys = np.array(sorted(self.counts), dtype=np.float64)
        cum = np.cumsum([self.counts[int(k)] for k in keys])
        if self.approximate:  # a bin stands for its geometric middle
            keys = np.expm1((keys + 0.5) * math.log1p(BIN_WIDTH))
        return keys, cum

    def _at(self, keys: np.ndarray, cum: np.ndarray, rank: int) -> float:
        """The value of the rank-th smallest length (0-based)."""
        return float(keys[int(np.searchsorted(cum, rank, side="right"))])

    def percentile(self, q: float) -> float:
        """numpy's default (linear) percentile, computed from the counts."""
        keys, cum = self._values()
        pos = q / 100 * (self.n - 1)
        lo = math.floor(pos)
        a, b, t = self._at(keys, cum, lo), self._at(keys, cum, min(lo + 1, self.n - 1)), pos - lo
        # numpy's _lerp: from the nearer end, so the result is the same to the last bit.
        return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t

    def median(self) -> float:
        keys, cum = self._values()
        half = (self.n - 1) // 2
        a = self._at(keys, cum, half)
        return a if self.n % 2 else (a + self._at(keys, cum, half + 1)) / 2

    def summary(self) -> dict:
        """The report's {n, min, median, p95, max} (+ approximate: true when the percentiles are binned)."""
        if not self.n:
            return {"n": 0}
        out = {"n": self.n, "min": int(self.min), "median": self.median(), "p95": self.percentile(95),
               "max": int(self.max)}
        return out | ({"approximate": True} if self.approximate else {})


class Column:
    """A growing numpy column (one value, or one row of `width`, per example): 8 bytes an example for a hash instead of
    a Python object each."""

    def __init__(self, dtype=np.uint64, width: int | None = None) -> None:
        self._data = np.empty((1024,) if width is None else (1024, width), dtype=dtype)
        self.n = 0

    def append(self, value) -> None:
        if self.n == len(self._data):  # doubling: amortised O(1), at most 1.5x the final size while it copies
            grown = np.empty((2 * len(self._data), *self._data.shape[1:]), dtype=self._data.dtype)
            grown[: self.n] = self._data
            self._data = grown
        self._data[self.n] = value
        self.n += 1

    def array(self) -> np.ndarray:
        return self._data[: self.n]


class Where:
    """The first SHOW (source, line) locations of something and how many there were, as `_where` printed them."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, int]] = []
        self.count = 0

    def add(self, source: str, line: int) -> None:
        self.count += 1
        if len(self.shown) < SHOW:
            self.shown.append((source, line))

    def __str__(self) -> str:
        # File name only: the full path is in the problem's own location and would repeat in every item of a list.
        text = ", ".join(f"{Path(s).name}:{n}" for s, n in self.shown)
        return text + (f" and {self.count - SHOW} more" if self.count > SHOW else "")


class ProblemLog:
    """Problems in report order (one section per check), at most MAX_LISTED per section and level; the others are
    counted, so the totals and the exit code stay right while memory stays bounded."""

    def __init__(self, order: list[str]) -> None:
        self.sections: dict[str, list[Problem]] = {name: [] for name in order}
        self.kept: dict[tuple[str, str], int] = {}
        self.omitted: dict[tuple[str, str], int] = {}

    def add(self, section: str, problem: Problem) -> None:
        key = (section, problem.level)
        if self.kept.get(key, 0) < MAX_LISTED:
            self.kept[key] = self.kept.get(key, 0) + 1
            self.sections.setdefault(section, []).append(problem)
        else:
            self.omitted[key] = self.omitted.get(key, 0) + 1

    def problems(self) -> list[Problem]:
        return [p for ps in self.sections.values() for p in ps]

    def omitted_counts(self) -> dict[str, int]:
        out = {"error": 0, "warning": 0}
        for (_, level), n in self.omitted.items():
            out[level] += n
        return out

    def notes(self) -> list[str]:
        return [f"{n} more {level}s from the {section.replace(':', ' ')} checks not listed (the first {MAX_LISTED} are)"
                for (section, level), n in self.omitted.items()]
