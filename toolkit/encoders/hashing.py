"""A tiny deterministic bag-of-words encoder with no model file, for tests and smoke runs."""

from __future__ import annotations

import re
import zlib

import numpy as np

from toolkit.encoders.base import normalise_rows
from toolkit.text import CJK_CHAR

_DEFAULT_HASHING_DIM = 256
_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEncoder:
    """Deterministic hashed bag of words (and CJK characters): no model file, instant, for tests."""

    def __init__(self, dim: int = _DEFAULT_HASHING_DIM) -> None:
        self.dim = dim

    def encode(self, texts: list[str]) -> np.ndarray:
        """Hash each word into ``dim`` signed buckets, then L2-normalise."""
        matrix = np.zeros((len(texts), self.dim), dtype=np.float64)
        for row, text in enumerate(texts):
            for token in _WORD.findall(text.lower()) + CJK_CHAR.findall(text):
                code = zlib.crc32(token.encode("utf-8"))
                matrix[row, code % self.dim] += 1.0 if (code >> 16) & 1 else -1.0
        return normalise_rows(matrix)

    cacheable = False

    def fingerprint(self) -> str:
        """The hashing encoder is fully described by its dimension."""
        return f"hashing-{self.dim}"

    def identity(self, dim: int | None = None) -> dict:
        """Kind, name, fingerprint and dimension."""
        return {"kind": "hashing", "name": f"hashing:{self.dim}", "hash": self.fingerprint(), "dim": self.dim}
