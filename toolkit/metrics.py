"""Precision, recall and F1 per label, macro averages, and per-group breakdowns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_CURVE_DECIMALS = 4

MIN_RELIABLE_SUPPORT = 30
"""Fewer positive examples than this make a label's figures unreliable (and its topic thin to train on)."""


def label_scores(truth: np.ndarray, predicted: np.ndarray, names: Sequence[str]) -> dict:
    """Per-label precision/recall/F1/support and their macro average, as plain floats."""
    truth = np.asarray(truth).astype(bool)
    predicted = np.asarray(predicted).astype(bool)
    rows = {}
    for j, name in enumerate(names):
        tp = int(np.sum(truth[:, j] & predicted[:, j]))
        fp = int(np.sum(~truth[:, j] & predicted[:, j]))
        fn = int(np.sum(truth[:, j] & ~predicted[:, j]))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows[name] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": int(truth[:, j].sum()),
        }
    present = [row for row in rows.values() if row["support"] > 0] or list(rows.values())
    macro = {
        key: round(float(np.mean([row[key] for row in present])), 4) for key in ("precision", "recall", "f1")
    }
    return {"labels": rows, "macro": macro, "n": int(len(truth))}


def grouped_scores(
    truth: np.ndarray, predicted: np.ndarray, names: Sequence[str], groups: Sequence[str]
) -> dict:
    """:func:`label_scores` for each distinct value of ``groups`` (e.g. the document language)."""
    groups = np.asarray(groups)
    return {
        group: label_scores(truth[groups == group], predicted[groups == group], names)
        for group in sorted(set(groups.tolist()))
    }


def pr_curves(
    truth: np.ndarray, proba: np.ndarray, names: Sequence[str], thresholds: Sequence[float]
) -> dict:
    """Per label: the precision-recall curve of its scores, average precision and the stored threshold.

    ``precision`` and ``recall`` hold one point per distinct score, by rising
    threshold (``thresholds``), then the end point (precision 1, recall 0), as
    :func:`sklearn.metrics.precision_recall_curve` gives them. A label with no
    positive example has no curve (``null`` points and average precision).
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    truth = np.asarray(truth).astype(bool)
    curves = {}
    for j, name in enumerate(names):
        curve: dict = {"threshold": round(float(thresholds[j]), _CURVE_DECIMALS)}
        if truth[:, j].any():
            precision, recall, cuts = precision_recall_curve(truth[:, j], proba[:, j])
            curve["average_precision"] = round(float(average_precision_score(truth[:, j], proba[:, j])), 4)
            curve["precision"] = _rounded(precision)
            curve["recall"] = _rounded(recall)
            curve["thresholds"] = _rounded(cuts)
        else:
            curve.update(average_precision=None, precision=None, recall=None, thresholds=None)
        curves[name] = curve
    return curves


def co_predictions(truth: np.ndarray, predicted: np.ndarray, names: Sequence[str]) -> dict:
    """For each true label, how often each label is predicted for its documents (the confusions view).

    ``counts[i][j]`` counts documents carrying label ``i`` that are given label
    ``j`` and ``rates[i][j]`` divides it by those carrying ``i`` (its diagonal is
    recall). ``wrong_rates[i][j]`` (``i != j``) is the share of documents carrying
    ``i`` but not ``j`` that are nevertheless given ``j``: where one topic drags
    another in. Rates are null where no document is counted.
    """
    truth = np.asarray(truth).astype(np.int64)
    predicted = np.asarray(predicted).astype(np.int64)
    counts = truth.T @ predicted
    wrong = truth.T @ (predicted * (1 - truth))
    without = truth.T @ (1 - truth)
    support = truth.sum(axis=0)
    size = len(names)
    return {
        "labels": list(names),
        "support": [int(n) for n in support],
        "counts": counts.astype(int).tolist(),
        "rates": [[_share(counts[i, j], support[i]) for j in range(size)] for i in range(size)],
        "wrong_counts": [[0 if i == j else int(wrong[i, j]) for j in range(size)] for i in range(size)],
        "wrong_rates": [
            [None if i == j else _share(wrong[i, j], without[i, j]) for j in range(size)] for i in range(size)
        ],
    }


def _share(count: int, total: int) -> float | None:
    return round(float(count) / int(total), _CURVE_DECIMALS) if total else None


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(value), _CURVE_DECIMALS) for value in values]


def format_table(scores: dict, title: str = "", min_support: int = 0) -> str:
    """Render :func:`label_scores` output as a fixed-width text table.

    A label with no positive example shows ``n/a``: recall and F1 are undefined
    there, not zero (and the macro average leaves it out). A label with fewer
    than ``min_support`` positives has its F1 marked ``*``: too few to trust.
    Label rows count positive examples; the line under the table counts documents.
    """
    lines = [title] if title else []
    lines.append(f"{'label':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    thin = False
    for name, row in scores["labels"].items():
        if row["support"] == 0:
            lines.append(f"{name:<16}{'n/a':>10}{'n/a':>10}{'n/a':>10}{0:>10}")
            continue
        f1 = f"{row['f1']:.3f}" + ("*" if row["support"] < min_support else "")
        thin = thin or f1.endswith("*")
        lines.append(f"{name:<16}{row['precision']:>10.3f}{row['recall']:>10.3f}{f1:>10}{row['support']:>10}")
    macro = scores["macro"]
    lines.append(f"{'macro':<16}{macro['precision']:>10.3f}{macro['recall']:>10.3f}{macro['f1']:>10.3f}")
    lines.append(
        f"({scores['n']} documents; support = documents carrying the label; "
        "macro = the mean over labels with support)"
    )
    if thin:
        lines.append(f"* fewer than {min_support} positives: too few for a reliable figure")
    return "\n".join(lines)
