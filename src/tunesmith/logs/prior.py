"""A category prior learned from the training corpus: which category the words of an excerpt point to.

A small model reads "maven-compiler-plugin ... Compilation failure" and still answers "lint" when its training set holds
many Maven checkstyle logs that look alike; a bag-of-words classifier fitted on the same examples does not, because
it weighs exactly those tokens. The analyzer adds the prior's log-probabilities to the model's own at the point where
the answer's `Category:` line branches (`tunesmith.models.generate.StartsWith`), so the category is the product of
both, and the model then writes the root cause and fix for that category.

Fitting uses scikit-learn (TF-IDF + multinomial logistic regression); using it is a few numpy lines written here, so
the analyzer and the server need neither scikit-learn nor a pickle (which would run code on load and break across
versions). The files: `category_prior.json` (vocabulary, classes, settings) and `category_prior.safetensors`.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from tunesmith.atomic import write_json

if TYPE_CHECKING:
    import numpy as np

__all__ = ["CategoryPrior", "PRIOR_FILES"]

PRIOR_FILES = ("category_prior.json", "category_prior.safetensors")
TOKEN = re.compile(r"[a-z][a-z0-9_\-]+")  # applied to lower-cased text, as scikit-learn's token_pattern is
FORMAT = 1


class CategoryPrior:
    def __init__(self, vocab: dict[str, int], idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 classes: list[str], settings: dict):
        self.vocab, self.idf, self.coef, self.intercept = vocab, idf, coef, intercept
        self.classes, self.settings = classes, settings

    # -- fitting -----------------------------------------------------------------------------------------------------
    @classmethod
    def fit(cls, texts: list[str], labels: list[str], max_features: int = 20_000, c: float = 10.0) -> CategoryPrior:
        """Fit on (excerpt, category id) pairs. Needs scikit-learn (`pip install scikit-learn`)."""
        import numpy as np

        try:
            from sklearn.feature_extraction.text import TfidfVectorizer
            from sklearn.linear_model import LogisticRegression
        except ImportError as e:
            raise SystemExit("fitting a category prior needs scikit-learn: pip install scikit-learn") from e
        if len(set(labels)) < 2:
            raise ValueError(f"a category prior needs examples of at least two categories, got {sorted(set(labels))}")
        vec = TfidfVectorizer(token_pattern=TOKEN.pattern, lowercase=True, ngram_range=(1, 2), sublinear_tf=True,
                              min_df=2, max_features=max_features, dtype=np.float32)
        x = vec.fit_transform(texts)
        lr = LogisticRegression(C=c, max_iter=5000).fit(x, labels)
        vocab = {t: int(i) for t, i in vec.vocabulary_.items()}
        settings = {"format": FORMAT, "ngram_range": [1, 2], "sublinear_tf": True, "max_features": max_features,
                    "C": c, "n_examples": len(texts), "per_class": dict(Counter(labels))}
        coef = lr.coef_.astype(np.float32)
        intercept = lr.intercept_.astype(np.float32)
        if coef.shape[0] == 1:  # two classes: scikit-learn keeps one row (the second class's logit)
            coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2], np.float32)
        return cls(vocab, vec.idf_.astype(np.float32), coef, intercept, [str(k) for k in lr.classes_], settings)

    # -- files -------------------------------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        # numpy (and safetensors) only where a prior is fitted, saved or used: `tunesmith ci-report` in server mode and
        # the CLI's start-up import this module and must run on an install without numpy.
        import numpy as np
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / (PRIOR_FILES[1] + ".tmp")
        # C order: scikit-learn's coef_ may be Fortran-ordered, and safetensors writes the buffer as it lies.
        save_file({k: np.ascontiguousarray(v) for k, v in
                   (("idf", self.idf), ("coef", self.coef), ("intercept", self.intercept))}, str(tmp))
        tmp.replace(folder / PRIOR_FILES[1])
        terms = sorted(self.vocab, key=self.vocab.get)
        write_json(folder / PRIOR_FILES[0], {"classes": self.classes, "settings": self.settings, "terms": terms})

    @classmethod
    def load(cls, folder: str | Path) -> CategoryPrior | None:
        """The prior saved in `folder` (a run dir), or None when it has none."""
        from safetensors.numpy import load_file

        folder = Path(folder)
        meta_path, weights_path = folder / PRIOR_FILES[0], folder / PRIOR_FILES[1]
        if not meta_path.exists() or not weights_path.exists():
            return None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("settings", {}).get("format") != FORMAT:
            raise ValueError(f"{meta_path}: category prior format {meta.get('settings', {}).get('format')}, "
                             f"this tunesmith reads {FORMAT}; fit it again with `tunesmith logs fit-prior`")
        w = load_file(str(weights_path))
        vocab = {t: i for i, t in enumerate(meta["terms"])}
        if w["coef"].shape != (len(meta["classes"]), len(vocab)):
            raise ValueError(f"{weights_path}: weights {w['coef'].shape} do not match {meta_path}")
        return cls(vocab, w["idf"], w["coef"], w["intercept"], meta["classes"], meta["settings"])

    # -- use ---------------------------------------------------------------------------------------------------------
    def features(self, text: str) -> dict[int, float]:
        """TF-IDF of one text, as scikit-learn computes it: 1 + ln(count), times idf, L2-normalised."""
        words = TOKEN.findall(text.lower())
        counts = Counter(words)
        counts.update(" ".join(p) for p in zip(words, words[1:]))
        feats = {self.vocab[t]: (1.0 + math.log(n)) * float(self.idf[self.vocab[t]])
                 for t, n in counts.items() if t in self.vocab}
        norm = math.sqrt(sum(v * v for v in feats.values())) or 1.0
        return {i: v / norm for i, v in feats.items()}

    def log_proba(self, texts: list[str]) -> np.ndarray:
        """log P(class | text) for each text: shape (len(texts), len(self.classes))."""
        import numpy as np

        out = np.empty((len(texts), len(self.classes)), np.float64)
        for row, text in enumerate(texts):
            f = self.features(text)
            idx = np.fromiter(f.keys(), dtype=np.int64, count=len(f))
            val = np.fromiter(f.values(), dtype=np.float64, count=len(f))
            z = self.coef[:, idx].astype(np.float64) @ val + self.intercept
            out[row] = z - z.max() - math.log(np.exp(z - z.max()).sum())
        return out
