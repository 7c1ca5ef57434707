"""Character n-gram features: exact buckets, no n-gram across texts, TF-IDF rows."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.features import CharNgrams

_MASK = 2**64 - 1


def _reference_counts(text: str, n_features: int, ngram_range: tuple[int, int]) -> dict[int, int]:
    """The documented hash written out in plain Python, one n-gram at a time."""
    normal = " " + re.sub(r"\s+", " ", text.lower()).strip() + " "
    codes = [ord(char) for char in normal]
    shift = 64 - (n_features.bit_length() - 1)
    counts: dict[int, int] = {}
    for n in range(ngram_range[0], ngram_range[1] + 1):
        salt = (n * 0x632BE59BD9B4E019) % 2**64
        for start in range(len(codes) - n + 1):
            value = 0
            for code in codes[start : start + n]:
                value = (value * 1_000_003 + code) & _MASK
            bucket = (((value + salt) & _MASK) * 0x9E3779B97F4A7C15 & _MASK) >> shift
            counts[bucket] = counts.get(bucket, 0) + 1
    return counts


def _row(matrix, index: int) -> dict[int, int]:
    row = matrix.getrow(index)
    return {int(col): int(value) for col, value in zip(row.indices, row.data, strict=True)}


TEXTS = ["Chip fab", "  GPU\n\nsupply  ", "", "x", "Ａ ロボット工場 مصنع", "ab" * 40]


def test_counts_match_the_plain_python_reference():
    matrix = CharNgrams(2**12, (2, 4)).counts(TEXTS)
    assert matrix.shape == (len(TEXTS), 2**12)
    for index, text in enumerate(TEXTS):
        assert _row(matrix, index) == _reference_counts(text, 2**12, (2, 4))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=6))
def test_each_row_is_its_text_alone(texts):
    """Hashing texts together never lets an n-gram straddle two of them."""
    together = CharNgrams(2**10, (1, 3)).counts(texts)
    for index, text in enumerate(texts):
        alone = CharNgrams(2**10, (1, 3)).counts([text])
        assert _row(together, index) == _row(alone, 0)


def test_chunks_give_the_same_matrix(monkeypatch):
    texts = [f"article {i} about chips and robots" for i in range(25)]
    whole = CharNgrams().counts(texts)
    monkeypatch.setattr("toolkit.features._DEFAULT_CHUNK", 4)
    assert (CharNgrams().counts(texts) != whole).nnz == 0


def test_character_bounded_chunks_give_the_same_matrix(monkeypatch):
    texts = [f"article {i} about chips and robots " * (i % 5 + 1) for i in range(25)]
    whole = CharNgrams().counts(texts)
    monkeypatch.setattr("toolkit.features._DEFAULT_CHUNK_CHARS", 100)
    assert (CharNgrams().counts(texts) != whole).nnz == 0


def test_transform_rows_are_unit_length_tfidf():
    features = CharNgrams(2**12).fit(TEXTS)
    matrix = features.transform(TEXTS)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1))).ravel()
    assert norms[[0, 1, 3, 4, 5]] == pytest.approx(1.0, abs=1e-5)
    assert matrix.getrow(2).nnz == 0 or norms[2] == pytest.approx(1.0, abs=1e-5)
    assert CharNgrams().counts([]).shape == (0, 2**18)
