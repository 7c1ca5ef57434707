"""Character n-gram features: hashed (no vocabulary to store), sublinear TF-IDF, L2-normalised.

They read every script the same way, which helps languages the English-centric
sentence encoder reads poorly. Only the IDF vector is learned.

The n-grams are hashed with numpy (a rolling polynomial hash over the text's
code points) rather than scikit-learn's HashingVectorizer, whose Python-level
n-gram generation costs about 7 ms on a 4 KB article against about 1 ms here:
the difference between labelling 140 and 300 articles a second.
"""

from __future__ import annotations

import re

import numpy as np
from scipy import sparse

_DEFAULT_N_FEATURES = 2**18
_DEFAULT_NGRAM_RANGE = (2, 4)
_WHITESPACE = re.compile(r"\s+")
_MULTIPLIER = np.uint64(1_000_003)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_SALTS = [np.uint64((n * 0x632BE59BD9B4E019) % 2**64) for n in range(16)]


def hashed_ngrams(text: str, n_features: int, ngram_range: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Bucket indices and counts of the text's character n-grams (lowercased, whitespace collapsed)."""
    normal = " " + _WHITESPACE.sub(" ", text.lower()).strip() + " "
    codes = np.frombuffer(normal.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    shift = np.uint64(64 - (n_features.bit_length() - 1))
    low, high = ngram_range
    rolling = codes.copy()
    pieces = []
    for n in range(1, high + 1):
        if n > 1:
            rolling = rolling[:-1] * _MULTIPLIER + codes[n - 1 :]
        if n >= low and rolling.size:
            pieces.append(((rolling + _SALTS[n]) * _MIX) >> shift)
    if not pieces:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
    indices, counts = np.unique(np.concatenate(pieces).astype(np.int64), return_counts=True)
    return indices.astype(np.int32), counts.astype(np.float32)


class CharNgrams:
    """Hashed character n-gram TF-IDF; ``fit`` learns the IDF vector, ``transform`` is stateless otherwise."""

    def __init__(self, n_features: int = _DEFAULT_N_FEATURES, ngram_range: tuple[int, int] = _DEFAULT_NGRAM_RANGE):
        if n_features & (n_features - 1):
            raise ValueError(f"n_features must be a power of two, not {n_features}")
        if not 1 <= ngram_range[0] <= ngram_range[1] < len(_SALTS):
            raise ValueError(f"ngram_range must satisfy 1 <= low <= high < {len(_SALTS)}, not {ngram_range}")
        self.n_features = n_features
        self.ngram_range = tuple(ngram_range)
        self.idf_: np.ndarray | None = None

    def counts(self, texts: list[str]) -> sparse.csr_matrix:
        """Raw hashed n-gram counts (sparse CSR); fit and transform can reuse them."""
        rows = [hashed_ngrams(text, self.n_features, self.ngram_range) for text in texts]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(indices) for indices, _ in rows], out=indptr[1:])
        indices = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, dtype=np.int32)
        data = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, dtype=np.float32)
        return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), self.n_features))

    def fit(self, texts: list[str]) -> "CharNgrams":
        """Learn smoothed IDF weights from ``texts``."""
        return self.fit_counts(self.counts(texts))

    def fit_counts(self, counts: sparse.csr_matrix) -> "CharNgrams":
        """Learn smoothed IDF weights from a count matrix made by :meth:`counts`."""
        document_frequency = np.bincount(counts.indices, minlength=self.n_features)
        n_docs = counts.shape[0]
        self.idf_ = (np.log((1 + n_docs) / (1 + document_frequency)) + 1.0).astype(np.float32)
        return self

    def transform(self, texts: list[str]) -> sparse.csr_matrix:
        """Return a sparse (n, n_features) matrix of L2-normalised sublinear TF-IDF rows."""
        return self.transform_counts(self.counts(texts))

    def transform_counts(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """:meth:`transform` for a count matrix made by :meth:`counts` (left unchanged)."""
        weighted = counts.astype(np.float32, copy=True)
        weighted.data = np.log1p(weighted.data) * self.idf_[weighted.indices]
        rows = np.repeat(np.arange(weighted.shape[0]), np.diff(weighted.indptr))
        norms = np.sqrt(np.bincount(rows, weights=weighted.data**2, minlength=weighted.shape[0]))
        norms[norms == 0] = 1.0
        weighted.data /= norms[rows].astype(np.float32)
        return weighted

    def state(self) -> dict:
        """Plain values and arrays that rebuild this transformer."""
        return {"n_features": self.n_features, "ngram_range": list(self.ngram_range), "idf": self.idf_}

    @classmethod
    def from_state(cls, state: dict) -> "CharNgrams":
        """Rebuild from :meth:`state`."""
        features = cls(int(state["n_features"]), tuple(state["ngram_range"]))
        features.idf_ = np.asarray(state["idf"], dtype=np.float32)
        return features
