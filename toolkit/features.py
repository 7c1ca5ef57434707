"""Character n-gram features: hashed (no vocabulary to store), sublinear TF-IDF, L2-normalised.

They read every script the same way, which helps languages the English-centric
sentence encoder reads poorly. Only the IDF vector is learned.
"""

from __future__ import annotations

import numpy as np

_DEFAULT_N_FEATURES = 2**18
_DEFAULT_NGRAM_RANGE = (2, 4)


class CharNgrams:
    """Hashed character n-gram TF-IDF; ``fit`` learns the IDF vector, ``transform`` is stateless otherwise."""

    def __init__(self, n_features: int = _DEFAULT_N_FEATURES, ngram_range: tuple[int, int] = _DEFAULT_NGRAM_RANGE):
        self.n_features = n_features
        self.ngram_range = tuple(ngram_range)
        self.idf_: np.ndarray | None = None

    def counts(self, texts: list[str]):
        """Raw hashed n-gram counts (sparse CSR); fit and transform can reuse them."""
        from sklearn.feature_extraction.text import HashingVectorizer

        vectorizer = HashingVectorizer(
            analyzer="char_wb", ngram_range=self.ngram_range, n_features=self.n_features,
            alternate_sign=False, norm=None, lowercase=True, dtype=np.float32,
        )
        return vectorizer.transform(texts).tocsr()

    def fit(self, texts: list[str]) -> "CharNgrams":
        """Learn smoothed IDF weights from ``texts``."""
        return self.fit_counts(self.counts(texts))

    def fit_counts(self, counts) -> "CharNgrams":
        """Learn smoothed IDF weights from a count matrix made by :meth:`counts`."""
        document_frequency = np.bincount(counts.indices, minlength=self.n_features)
        n_docs = counts.shape[0]
        self.idf_ = (np.log((1 + n_docs) / (1 + document_frequency)) + 1.0).astype(np.float32)
        return self

    def transform(self, texts: list[str]):
        """Return a sparse (n, n_features) matrix of L2-normalised sublinear TF-IDF rows."""
        return self.transform_counts(self.counts(texts))

    def transform_counts(self, counts):
        """:meth:`transform` for a count matrix made by :meth:`counts` (left unchanged)."""
        from sklearn.preprocessing import normalize

        weighted = counts.copy()
        weighted.data = np.log1p(weighted.data) * self.idf_[weighted.indices]
        return normalize(weighted, norm="l2", copy=False)

    def state(self) -> dict:
        """Plain values and arrays that rebuild this transformer."""
        return {"n_features": self.n_features, "ngram_range": list(self.ngram_range), "idf": self.idf_}

    @classmethod
    def from_state(cls, state: dict) -> "CharNgrams":
        """Rebuild from :meth:`state`."""
        features = cls(int(state["n_features"]), tuple(state["ngram_range"]))
        features.idf_ = np.asarray(state["idf"], dtype=np.float32)
        return features
