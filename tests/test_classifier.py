"""The scikit-learn style API: fit/predict/predict_proba/classes_, thresholds, save/load."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from tests.conftest import TOPICS, make_corpus
from toolkit import TopicClassifier


def test_fit_returns_self_and_sets_fitted_attributes(corpus, taxonomy):
    model = TopicClassifier(encoder="hashing", topics=taxonomy, cv=3)
    assert not hasattr(model, "classes_")
    assert model.fit([d["text"] for d in corpus], [d["labels"] for d in corpus]) is model
    assert list(model.classes_) == TOPICS
    assert model.thresholds_.shape == (len(TOPICS),)
    assert set(model.cv_scores_["labels"]) == set(model.classes_)


def test_predict_shapes_and_types(fitted):
    texts = [
        "The start-up raised 40 million dollars in a funding round led by venture investors.",
        "Rain is expected across the region later this week.",
    ]
    proba = fitted.predict_proba(texts)
    assert proba.shape == (2, len(TOPICS))
    assert ((proba >= 0) & (proba <= 1)).all()
    predicted = fitted.predict(texts)
    assert isinstance(predicted, list) and all(isinstance(row, list) for row in predicted)
    assert "funding" in predicted[0]
    assert predicted[1] == []


def test_learns_held_out_documents(fitted):
    held_out = make_corpus(40, seed=99)
    predicted = fitted.predict([d["text"] for d in held_out])
    exact = sum(sorted(p) == sorted(d["labels"]) for p, d in zip(predicted, held_out, strict=True))
    assert exact / len(held_out) > 0.8


def test_unfitted_model_says_so():
    with pytest.raises(NotFittedError, match="not fitted"):
        TopicClassifier(encoder="hashing").predict(["text"])


def test_unknown_label_is_rejected(taxonomy):
    model = TopicClassifier(encoder="hashing", topics=taxonomy, cv=2)
    with pytest.raises(ValueError, match="not in the topic set: weather"):
        model.fit(["a b c", "d e f", "g h i", "j k l"], [["weather"], [], ["chips"], []])


def test_labels_without_taxonomy_are_sorted_union():
    docs = make_corpus(30)
    model = TopicClassifier(encoder="hashing", cv=2).fit(
        [d["text"] for d in docs], [d["labels"] for d in docs]
    )
    assert list(model.classes_) == sorted({name for d in docs for name in d["labels"]})


def test_same_data_and_seed_give_the_same_model(corpus, taxonomy, fitted):
    again = TopicClassifier(encoder="hashing", topics=taxonomy, cv=3, seed=0)
    again.fit([d["text"] for d in corpus], [d["labels"] for d in corpus])
    np.testing.assert_array_equal(again.coef_, fitted.coef_)
    np.testing.assert_array_equal(again.thresholds_, fitted.thresholds_)
    assert again.training_["data_hash"] == fitted.training_["data_hash"]


def test_save_load_round_trip_gives_same_scores(fitted, model_file, corpus):
    loaded = TopicClassifier.load(model_file)
    texts = [d["text"] for d in corpus[:10]]
    np.testing.assert_allclose(loaded.predict_proba(texts), fitted.predict_proba(texts), rtol=1e-6)
    assert loaded.predict(texts) == fitted.predict(texts)
    assert list(loaded.classes_) == list(fitted.classes_)
    assert loaded.training_ == fitted.training_


@pytest.mark.parametrize("features", ["embedding", "chars"])
def test_single_feature_sets(features, corpus, taxonomy):
    model = TopicClassifier(encoder="hashing", topics=taxonomy, features=features, cv=2)
    model.fit([d["text"] for d in corpus], [d["labels"] for d in corpus])
    assert model.predict_proba(["Demand for GPUs and memory chips strained the wafer supply."]).shape == (
        1,
        len(TOPICS),
    )


def test_no_topic_is_a_valid_answer(fitted):
    assert fitted.predict(["The museum opened an exhibition of early twentieth century painting."]) == [[]]


def test_a_documents_scores_do_not_depend_on_its_batch(fitted, corpus):
    texts = [d["text"] for d in corpus]
    together = fitted.predict_proba(texts)
    alone = np.vstack([fitted.predict_proba([text]) for text in texts[:12]])
    np.testing.assert_array_equal(alone, together[:12])


def test_cv_predictions_are_the_decisions_behind_cv_scores(fitted, corpus):
    from toolkit.metrics import label_scores

    y = np.array([[name in d["labels"] for name in fitted.classes_] for d in corpus])
    assert fitted.cv_predictions_.shape == y.shape
    assert (
        label_scores(y, fitted.cv_predictions_, list(fitted.classes_))["labels"]
        == fitted.cv_scores_["labels"]
    )


def test_score_table_says_n_a_for_a_label_without_positives_and_counts_documents_apart():
    import numpy as np

    from toolkit.metrics import format_table, label_scores

    truth = np.array([[1, 0], [1, 0], [0, 0]])
    predicted = np.array([[1, 1], [0, 0], [0, 0]])
    table = format_table(label_scores(truth, predicted, ["chips", "energy"]))
    energy = next(line for line in table.splitlines() if line.startswith("energy"))
    assert energy.split() == ["energy", "n/a", "n/a", "n/a", "0"]
    macro = next(line for line in table.splitlines() if line.startswith("macro"))
    assert len(macro.split()) == 4 and "(3 documents" in table


def test_threshold_tolerance_takes_the_lowest_threshold_near_the_best_f1():
    from toolkit.classifier import _THRESHOLD_GRID, _best_threshold, _f1_per_threshold

    rng = np.random.default_rng(0)
    truth = (rng.random(400) < 0.4).astype(int)
    scores = np.clip(np.where(truth == 1, rng.normal(0.62, 0.15, 400), rng.normal(0.3, 0.15, 400)), 0, 1)
    f1s = _f1_per_threshold(scores, truth)
    best = _best_threshold(scores, truth)
    lenient = _best_threshold(scores, truth, tolerance=0.02)
    assert lenient < best
    assert f1s[np.flatnonzero(_THRESHOLD_GRID == lenient)[0]] >= f1s.max() - 0.02
    assert all(f1 < f1s.max() - 0.02 for f1 in f1s[_THRESHOLD_GRID < lenient])


def test_threshold_tolerance_is_a_stored_parameter_and_recorded_in_the_file(corpus, taxonomy, tmp_path):
    from sklearn.base import clone

    model = TopicClassifier(
        encoder="hashing", topics=taxonomy, cv=3, paragraph_weight=0.5, threshold_tolerance=0.0
    )
    assert clone(model).get_params()["threshold_tolerance"] == 0.0
    strict = model.fit([d["text"] for d in corpus], [d["labels"] for d in corpus])
    lenient = clone(model).set_params(threshold_tolerance=0.2)
    lenient.fit([d["text"] for d in corpus], [d["labels"] for d in corpus])
    assert (lenient.thresholds_ <= strict.thresholds_).all()
    assert (lenient.thresholds_ < strict.thresholds_).any()
    assert TopicClassifier.load(lenient.save(tmp_path / "m.safetensors")).threshold_tolerance == 0.2
