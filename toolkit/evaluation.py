"""Scoring a fitted model on labelled data, overall and per language.

A dataset is scored once (:func:`score_dataset`); the text table, the JSON of
``toolkit eval --json`` and the HTML report (:mod:`toolkit.report`) all read
that one set of scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from toolkit.errors import DataValidationError
from toolkit.io import load_dataset
from toolkit.metrics import co_predictions, format_table, grouped_scores, label_scores, pr_curves

if TYPE_CHECKING:
    from toolkit.classifier import TopicClassifier
    from toolkit.cleaning import CleanResult

_DEFAULT_CHUNK = 64  # articles scored at a time (progress is reported after each chunk)
_DEFAULT_WORST = 20  # false positives and false negatives listed, each
_SCORE_DECIMALS = 4

ProgressCallback = Callable[[str, int, int], None]


@dataclass
class ScoredData:
    """A labelled dataset scored by one model: truth, probabilities, decisions, and what evidence needs."""

    path: str
    ids: list[str]
    texts: list[str]
    languages: list[str]
    names: list[str]
    truth: np.ndarray
    proba: np.ndarray
    predicted: np.ndarray
    thresholds: np.ndarray
    cleaned: list[CleanResult]
    units: list[list[str]]
    unit_proba: list[np.ndarray]


@dataclass
class Evaluation:
    """What ``toolkit eval`` shows: the result (its JSON) and the scores behind it, for the report."""

    result: dict
    scored: ScoredData
    compared: ScoredData | None = None


def score_dataset(
    model: TopicClassifier,
    path: str | Path,
    progress: ProgressCallback | None = None,
    stage: str = "scoring",
) -> ScoredData:
    """Read a labelled dataset and score every article once with ``model``."""
    from toolkit.cleaning import CleanResult, prepare

    docs = _labelled_docs(model, path)
    names = [str(name) for name in model.classes_]
    texts = [doc.text for doc in docs]
    cleaned = [prepare(text)[0] if model.clean else CleanResult(text) for text in texts]
    probas, units, unit_proba = [], [], []
    for start in range(0, len(cleaned), _DEFAULT_CHUNK):
        chunk = cleaned[start : start + _DEFAULT_CHUNK]
        proba, chunk_units, chunk_unit_proba = model.score_units([result.body for result in chunk])
        probas.append(proba)
        units += chunk_units
        unit_proba += chunk_unit_proba
        if progress is not None:
            progress(stage, start + len(chunk), len(cleaned))
    proba = np.vstack(probas)
    return ScoredData(
        path=str(path),
        ids=[doc.id for doc in docs],
        texts=texts,
        languages=[doc.language or "und" for doc in docs],
        names=names,
        truth=np.array([[name in doc.labels for name in names] for doc in docs], dtype=bool),
        proba=proba,
        predicted=proba >= model.thresholds_[None, :],
        thresholds=np.asarray(model.thresholds_, dtype=np.float64),
        cleaned=cleaned,
        units=units,
        unit_proba=unit_proba,
    )


def _labelled_docs(model: TopicClassifier, path: str | Path) -> list:
    """The dataset's documents, refused with one line if any record is bad or uses an unknown label."""
    docs, problems = load_dataset(path)
    if problems:
        raise DataValidationError(f"{len(problems)} bad records in {path}, first: {problems[0]}")
    if not docs:
        raise DataValidationError(f"{path} holds no documents")
    names = {str(name) for name in model.classes_}
    unknown = sorted({label for doc in docs for label in doc.labels} - names)
    if unknown:
        raise DataValidationError(f"{path} uses labels the model does not know: {', '.join(unknown)}")
    return docs


def summarize(scored: ScoredData) -> dict:
    """Scores, per-language scores, PR curve points and co-predictions of one scored dataset."""
    return {
        "data": scored.path,
        "overall": label_scores(scored.truth, scored.predicted, scored.names),
        "by_language": grouped_scores(scored.truth, scored.predicted, scored.names, scored.languages),
        "curves": pr_curves(scored.truth, scored.proba, scored.names, scored.thresholds),
        "co_predicted": co_predictions(scored.truth, scored.predicted, scored.names),
    }


def run_evaluation(
    model: TopicClassifier,
    path: str | Path,
    compare: TopicClassifier | None = None,
    names: tuple[str, str] | None = None,
    progress: ProgressCallback | None = None,
    worst: int = _DEFAULT_WORST,
) -> Evaluation:
    """Score ``model`` (and ``compare``, if given) on a dataset; ``names`` label the two models."""
    scored = score_dataset(model, path, progress, "scoring")
    result = summarize(scored)
    if names:
        result["model"] = names[0]
    result["worst_errors"] = worst_errors(model, scored, worst)
    compared = None
    if compare is not None:
        if [str(name) for name in compare.classes_] != scored.names:
            raise DataValidationError("--compare needs a model with the same topics in the same order")
        compared = score_dataset(compare, path, progress, "scoring (compared model)")
        result["compare"] = summarize(compared)
        if names:
            result["compare"]["model"] = names[1]
    return Evaluation(result, scored, compared)


def evaluate_model(model: TopicClassifier, path: str | Path) -> dict:
    """Per-label and per-language precision/recall/F1 and macro averages of ``model`` on a dataset.

    Also the precision-recall curve points per label (``curves``), how often each
    other label is predicted for each true label (``co_predicted``) and the most
    confident errors with their evidence sentence (``worst_errors``).
    """
    return run_evaluation(model, path).result


def worst_errors(model: TopicClassifier, scored: ScoredData, top: int = _DEFAULT_WORST) -> dict:
    """The ``top`` most confident false positives (highest scores) and false negatives (lowest scores).

    Each error names the article, its language, the topic, all scores and the
    sentence the model scored highest for that topic (``evidence``; None when the
    body has no sentence to show).
    """
    wrong_positive = np.argwhere(scored.predicted & ~scored.truth)
    wrong_negative = np.argwhere(~scored.predicted & scored.truth)
    fp = sorted(map(tuple, wrong_positive), key=lambda at: (-scored.proba[at], at))[:top]
    fn = sorted(map(tuple, wrong_negative), key=lambda at: (scored.proba[at], at))[:top]
    found = _error_evidence(model, scored, fp + fn)
    return {
        "false_positives": [_error_row(scored, at, found) for at in fp],
        "false_negatives": [_error_row(scored, at, found) for at in fn],
    }


def _error_evidence(
    model: TopicClassifier, scored: ScoredData, errors: list[tuple[int, int]]
) -> dict[tuple[int, int], dict | None]:
    """The best evidence sentence of each (article, topic) error, from the units scored once."""
    from toolkit.evidence import evidence
    from toolkit.language import detect_documents

    docs = sorted({doc for doc, _ in errors})
    if not docs:
        return {}
    topics = {doc: [scored.names[j] for d, j in errors if d == doc] for doc in docs}
    cleaned = [scored.cleaned[doc] for doc in docs]
    found = evidence(
        model,
        [scored.texts[doc] for doc in docs],
        cleaned,
        [topics[doc] for doc in docs],
        [scored.units[doc] for doc in docs],
        [scored.unit_proba[doc] for doc in docs],
        top=1,
        languages=[result.language for result in detect_documents(cleaned)],
    )
    return {
        (doc, scored.names.index(name)): (sentences[0] if sentences else None)
        for doc, per_topic in zip(docs, found, strict=True)
        for name, sentences in per_topic.items()
    }


def _error_row(scored: ScoredData, at: tuple[int, int], found: dict) -> dict:
    doc, j = at
    return {
        "id": scored.ids[doc],
        "language": scored.languages[doc],
        "topic": scored.names[j],
        "score": round(float(scored.proba[doc, j]), _SCORE_DECIMALS),
        "threshold": round(float(scored.thresholds[j]), _SCORE_DECIMALS),
        "scores": {
            name: round(float(value), _SCORE_DECIMALS)
            for name, value in zip(scored.names, scored.proba[doc], strict=True)
        },
        "truth": [name for name, flag in zip(scored.names, scored.truth[doc], strict=True) if flag],
        "predicted": [name for name, flag in zip(scored.names, scored.predicted[doc], strict=True) if flag],
        "evidence": found.get(at),
    }


def format_evaluation(result: dict) -> str:
    """Text tables: overall, then one per language (and the two models side by side with --compare)."""
    parts = [format_table(result["overall"], f"overall ({result['data']})")]
    summary = ", ".join(
        f"{lang} {scores['macro']['f1']:.3f} (n={scores['n']})"
        for lang, scores in result["by_language"].items()
    )
    parts.append(f"macro-F1 by language: {summary}")
    for language, scores in result["by_language"].items():
        parts.append(format_table(scores, f"language {language}"))
    if "compare" in result:
        parts.append(format_comparison(result))
    return "\n\n".join(parts)


def format_comparison(result: dict) -> str:
    """F1 per label, macro-F1 and macro-F1 per language of the two models, side by side."""
    other = result["compare"]
    first, second = result.get("model", "model"), other.get("model", "compared")
    lines = [f"side by side: A = {first}, B = {second}"]
    lines.append(f"{'':<16}{'F1 A':>10}{'F1 B':>10}{'B - A':>10}{'support':>10}")
    rows = [
        (name, row["f1"], other["overall"]["labels"][name]["f1"], row["support"])
        for name, row in result["overall"]["labels"].items()
    ]
    rows.append(("macro", result["overall"]["macro"]["f1"], other["overall"]["macro"]["f1"], None))
    rows += [
        (f"lang {lang}", scores["macro"]["f1"], other["by_language"][lang]["macro"]["f1"], scores["n"])
        for lang, scores in result["by_language"].items()
    ]
    for name, a, b, support in rows:
        count = "" if support is None else support
        lines.append(f"{name:<16}{a:>10.3f}{b:>10.3f}{b - a:>+10.3f}{count:>10}")
    lines.append("(language rows: macro-F1 and the number of documents)")
    return "\n".join(lines)
