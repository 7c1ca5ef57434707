"""The training cache: retraining on unchanged data recomputes nothing,
and changes recompute only what they touch.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import TOPICS
from toolkit.classifier import TopicClassifier
from toolkit.encoders import HashingEncoder


class CountingEncoder(HashingEncoder):
    """The hashing encoder, cacheable, counting the texts it embeds."""

    cacheable = True

    def __init__(self):
        super().__init__()
        self.embedded = 0

    def encode(self, texts):
        self.embedded += len(texts)
        return super().encode(texts)


@pytest.fixture
def fits(monkeypatch, tmp_path):
    """Count head fits; every test gets an empty cache of its own."""
    monkeypatch.setenv("TOOLKIT_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    original = TopicClassifier._fit_head

    def counted(self, design, target):
        calls.append(int(target.sum()))
        return original(self, design, target)

    monkeypatch.setattr(TopicClassifier, "_fit_head", counted)
    return calls


def _fit(corpus, taxonomy, encoder, labels=None, **params):
    model = TopicClassifier(encoder=encoder, topics=taxonomy, cv=3, seed=0, **params)
    return model.fit([d["text"] for d in corpus], labels or [d["labels"] for d in corpus])


def test_second_fit_on_unchanged_data_embeds_and_fits_nothing(corpus, taxonomy, fits):
    encoder = CountingEncoder()
    first = _fit(corpus, taxonomy, encoder)
    # every label x (3 folds + final) x (a document head + a unit head; the unit head's second round
    # picks the same units on these one-paragraph documents, so its fit comes from the cache)
    assert encoder.embedded > 0 and len(fits) == len(TOPICS) * (3 + 1) * 2
    encoder.embedded, fits[:] = 0, []
    second = _fit(corpus, taxonomy, encoder)
    assert encoder.embedded == 0 and fits == []
    np.testing.assert_array_equal(first.coef_, second.coef_)
    np.testing.assert_array_equal(first.thresholds_, second.thresholds_)


def test_a_label_change_refits_only_that_labels_heads(corpus, taxonomy, fits):
    _fit(corpus, taxonomy, CountingEncoder())
    labels = [list(d["labels"]) for d in corpus]
    labels[0] = sorted(set(labels[0]) ^ {"chips"})  # flip one document's chips label
    fits[:] = []
    changed = _fit(corpus, taxonomy, CountingEncoder(), labels=labels)
    # the two folds that train on document 0, and the final fit: a document and a unit head each
    assert len(fits) == (2 + 1) * 2
    fits[:] = []
    fresh = TopicClassifier(encoder=CountingEncoder(), topics=taxonomy, cv=3, seed=0, C=changed.C)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOOLKIT_CACHE_DIR", "off")
        fresh.fit([d["text"] for d in corpus], labels)
    np.testing.assert_array_equal(changed.coef_, fresh.coef_)


def test_other_settings_do_not_reuse_heads(corpus, taxonomy, fits):
    _fit(corpus, taxonomy, CountingEncoder())
    fits[:] = []
    _fit(corpus, taxonomy, CountingEncoder(), C=2.0)
    assert len(fits) == len(TOPICS) * (3 + 1) * 2


def test_cache_off_fits_every_time(corpus, taxonomy, fits, monkeypatch, tmp_path):
    monkeypatch.setenv("TOOLKIT_CACHE_DIR", "off")
    _fit(corpus, taxonomy, CountingEncoder())
    _fit(corpus, taxonomy, CountingEncoder())
    assert len(fits) == 2 * len(TOPICS) * (3 + 1) * (1 + 2)  # a document head and two unit-head rounds
    assert not (tmp_path / "cache").exists()


def test_near_duplicate_check_is_remembered(corpus, taxonomy, fits, monkeypatch):
    from toolkit import validation
    from toolkit.io import LabelledDoc

    docs = [LabelledDoc(d["id"], d["text"], d["labels"], d["language"]) for d in corpus]
    first = validation.validate(docs[:60], taxonomy, docs[60:], detect=False)
    monkeypatch.setattr(validation, "near_duplicates", lambda *a: pytest.fail("recomputed"))
    assert validation.validate(docs[:60], taxonomy, docs[60:], detect=False).errors == first.errors
