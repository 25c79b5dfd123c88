"""Exact and near-duplicate detection: normalised-text hashing, and MinHash over word 3-gram shingles with LSH banding.

Near duplicates are pairs whose estimated shingle Jaccard similarity is >= 0.9; banding finds candidates without
comparing every pair, so the cost grows with the data size, not its square (see `near_pairs`).
"""

from __future__ import annotations

import hashlib
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

NUM_PERM = 128  # MinHash signature length: the similarity estimate has std ≈ sqrt(s(1-s)/128) ≈ 0.027 at s = 0.9
BANDS, ROWS = 16, 8  # P(candidate) = 1-(1-s^8)^16: 0.9998 at s = 0.9, 0.06 at s = 0.5 — few misses, few false leads
SHINGLE = 3  # words per shingle
MAX_WORDS = 50_000  # only the first 50k words of a text are shingled: bounds time on huge logs
BUCKET_CAP = 64  # a bucket compares each member with at most its first 64 members: templated data cannot go quadratic
THRESHOLD = 0.9

_rng = np.random.default_rng(20241124)  # fixed: signatures (and so reports and splits) are reproducible across runs
_A = _rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)  # odd multipliers (multiply-shift hashing)
_B = _rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)


def normalise_text(text: str) -> str:
    """Unicode NFKC, case-folded, whitespace collapsed: the form both exact and near duplicates are judged on."""
    # str.split() with no argument splits on any whitespace run and is several times faster than a regex sub.
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def text_key(text: str) -> bytes:
    """A 128-bit hash of the normalised text: equal keys mean exact duplicates (up to case and whitespace)."""
    return hashlib.blake2b(normalise_text(text).encode("utf-8"), digest_size=16).digest()


def exact_groups(texts: Iterable[str]) -> list[list[int]]:
    """Indices of texts that are equal after normalisation, one list per group of two or more."""
    groups: dict[bytes, list[int]] = defaultdict(list)
    for i, t in enumerate(texts):
        groups[text_key(t)].append(i)
    return [g for g in groups.values() if len(g) > 1]


def signature(text: str) -> np.ndarray:
    """MinHash signature (NUM_PERM uint32) of the set of word 3-grams of the normalised text."""
    words = normalise_text(text).split(" ")[:MAX_WORDS]
    # crc32 is stable across processes (Python's hash() is salted per run) and fast in C; each distinct word once.
    crc = {w: zlib.crc32(w.encode("utf-8")) for w in set(words)}
    h = np.fromiter((crc[w] for w in words), dtype=np.uint64, count=len(words))
    if len(h) >= SHINGLE:
        sh = h[:-2] * np.uint64(0x9E3779B1) + h[1:-1] * np.uint64(0x85EBCA77) + h[2:]
    else:  # a text shorter than a shingle is one shingle
        sh = np.array([int(h.sum()) if len(h) else 0], dtype=np.uint64)
    sh = np.unique(sh & np.uint64(0xFFFFFFFF))
    sig = np.full(NUM_PERM, np.iinfo(np.uint32).max, dtype=np.uint64)
    for start in range(0, len(sh), 4096):  # chunks bound the temporary (4096 x 128 x 8 B = 4 MiB)
        x = sh[start : start + 4096, None]
        # uint64 arithmetic wraps mod 2^64; the top 32 bits of a*x+b are a multiply-shift hash of x.
        np.minimum(sig, ((x * _A + _B) >> np.uint64(32)).min(axis=0), out=sig)
    return sig.astype(np.uint32)


def signatures(texts: Sequence[str], progress=None) -> np.ndarray:
    """Stack of signatures, shape (len(texts), NUM_PERM); `progress(n)` is called after each text if given."""
    out = np.empty((len(texts), NUM_PERM), dtype=np.uint32)
    for i, t in enumerate(texts):
        out[i] = signature(t)
        if progress:
            progress(1)
    return out


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _band_hashes(sig: np.ndarray, band: int) -> np.ndarray:
    """One uint64 per row for the ROWS values of `band`: equal bands give equal hashes; a 64-bit collision only adds a
    candidate that the full-signature comparison then rejects."""
    cols = sig[:, band * ROWS : (band + 1) * ROWS].astype(np.uint64)
    h = np.full(len(sig), np.uint64(band + 1), dtype=np.uint64)
    for c in range(ROWS):
        h = (h ^ cols[:, c]) * _MIX  # uint64 wraps: a multiply-xor mix, stable across processes
        h ^= h >> np.uint64(29)
    return h


def _buckets(sig: np.ndarray, band: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row order, sorted hashes, start of each run of equal hashes): a band's buckets as arrays, members in row order
    (stable sort). Arrays instead of a dict of lists: 16 bytes a row per band instead of ~100 bytes of Python objects."""
    h = _band_hashes(sig, band)
    order = np.argsort(h, kind="stable")
    hs = h[order]
    starts = np.flatnonzero(np.r_[True, hs[1:] != hs[:-1]])
    return order, hs, starts


def near_pairs(
    sig_a: np.ndarray, sig_b: np.ndarray | None = None, threshold: float = THRESHOLD
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, estimated Jaccard) with similarity >= threshold: within `sig_a` (i < j) or between a[i] and b[j].

    Cost: one sort per band, then per bucket at most BUCKET_CAP comparisons per member, each a 128-value compare.
    Exact duplicates share every bucket; pass one representative per exact group to keep buckets small.
    """
    found: dict[tuple[int, int], float] = {}
    if not len(sig_a) or (sig_b is not None and not len(sig_b)):
        return []
    for band in range(BANDS):
        order, hs, starts = _buckets(sig_a, band)
        if sig_b is None:
            ends = np.r_[starts[1:], len(hs)]
            for s0, e0 in zip(starts[ends - starts > 1].tolist(), ends[ends - starts > 1].tolist()):
                members = order[s0:e0]
                head = members[:BUCKET_CAP]
                for pos in range(1, len(members)):
                    i = int(members[pos])
                    others = head[: min(pos, BUCKET_CAP)]
                    sims = (sig_a[others] == sig_a[i]).mean(axis=1)
                    for j, s in zip(others.tolist(), sims.tolist()):
                        if s >= threshold:
                            found[(min(i, j), max(i, j))] = s
        else:
            hb = _band_hashes(sig_b, band)
            left = np.searchsorted(hs, hb, "left")
            right = np.minimum(np.searchsorted(hs, hb, "right"), left + BUCKET_CAP)
            for j in np.flatnonzero(right > left).tolist():
                idx = order[left[j] : right[j]]
                sims = (sig_a[idx] == sig_b[j]).mean(axis=1)
                for i, s in zip(idx.tolist(), sims.tolist()):
                    if s >= threshold:
                        found[(i, j)] = s
    return [(i, j, s) for (i, j), s in sorted(found.items())]


def clusters(n: int, pairs: Iterable[tuple[int, int]]) -> list[int]:
    """Connected components (union-find) over n items linked by pairs: a cluster id per item (its smallest member)."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in pairs:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return [find(i) for i in range(n)]


__all__ = [
    "THRESHOLD",
    "clusters",
    "exact_groups",
    "near_pairs",
    "normalise_text",
    "signature",
    "signatures",
    "text_key",
]
