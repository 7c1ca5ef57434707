"""Scoring a fitted model on labelled data, overall and per language."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from toolkit.errors import DataValidationError
from toolkit.io import load_dataset
from toolkit.metrics import format_table, grouped_scores, label_scores

if TYPE_CHECKING:
    from toolkit.classifier import TopicClassifier


def evaluate_model(model: TopicClassifier, path: str | Path) -> dict:
    """Per-label and per-language precision/recall/F1 and macro averages of ``model`` on a dataset."""
    docs, problems = load_dataset(path)
    if problems:
        raise DataValidationError(f"{len(problems)} bad records in {path}, first: {problems[0]}")
    if not docs:
        raise DataValidationError(f"{path} holds no documents")
    names = [str(name) for name in model.classes_]
    unknown = sorted({label for doc in docs for label in doc.labels} - set(names))
    if unknown:
        raise DataValidationError(f"{path} uses labels the model does not know: {', '.join(unknown)}")
    truth = np.array([[name in doc.labels for name in names] for doc in docs])
    predicted_labels = model.predict([doc.text for doc in docs])
    predicted = np.array([[name in row for name in names] for row in predicted_labels])
    languages = [doc.language or "und" for doc in docs]
    return {
        "data": str(path),
        "overall": label_scores(truth, predicted, names),
        "by_language": grouped_scores(truth, predicted, names, languages),
    }


def format_evaluation(result: dict) -> str:
    """Text tables: overall, then one per language."""
    parts = [format_table(result["overall"], f"overall ({result['data']})")]
    summary = ", ".join(
        f"{lang} {scores['macro']['f1']:.3f} (n={scores['n']})"
        for lang, scores in result["by_language"].items()
    )
    parts.append(f"macro-F1 by language: {summary}")
    for language, scores in result["by_language"].items():
        parts.append(format_table(scores, f"language {language}"))
    return "\n\n".join(parts)
