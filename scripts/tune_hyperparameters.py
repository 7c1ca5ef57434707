"""Choose the classifier's C and character n-gram weight by cross-validation on the training split alone.

Usage: python scripts/tune_hyperparameters.py [--C 4,8,16,32] [--char-weight 1,2,3]

For every pair, the default model is trained as `toolkit train` trains it and
its cross-validated macro-F1 (thresholds tuned out of fold, see
``TopicClassifier.cv_scores_``) is reported, overall and per language group
(en, ar, ja, and the small languages together); "balanced" is the mean over
the groups, so English (two thirds of the documents) does not decide alone.
The test split is never read. Prints a markdown table, best balanced score
first. The training cache makes the features a one-time cost; every pair
still fits its own heads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
_OWN_GROUPS = ("en", "ar", "ja")
sys.path.insert(0, str(_ROOT))


def main(argv: list[str] | None = None) -> int:
    """Train one model per (C, char weight) pair and print their cross-validated scores."""
    import numpy as np

    from toolkit.classifier import TopicClassifier
    from toolkit.io import load_dataset
    from toolkit.metrics import grouped_scores
    from toolkit.taxonomy import load_taxonomy

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--C", default="4,8,16,32")
    parser.add_argument("--char-weight", default="1,2,3")
    args = parser.parse_args(argv)
    docs, problems = load_dataset(_ROOT / "datasets" / "train.jsonl")
    if problems:
        raise SystemExit(problems[0])
    texts, labels = [doc.text for doc in docs], [doc.labels for doc in docs]
    groups = np.array([doc.language if doc.language in _OWN_GROUPS else "other" for doc in docs])
    rows = []
    for c in (float(value) for value in args.C.split(",")):
        for weight in (float(value) for value in args.char_weight.split(",")):
            model = TopicClassifier(topics=load_taxonomy(), C=c, char_weight=weight).fit(texts, labels)
            truth = np.array([[name in doc_labels for name in model.classes_] for doc_labels in labels])
            by_group = grouped_scores(truth, model.cv_predictions_, list(model.classes_), groups)
            group_f1 = {group: scores["macro"]["f1"] for group, scores in by_group.items()}
            balanced = float(np.mean(list(group_f1.values())))
            rows.append((balanced, model.cv_scores_["macro"]["f1"], c, weight, group_f1))
            print(
                f"C={c:g} char_weight={weight:g}: CV macro-F1 {rows[-1][1]:.3f}, balanced {balanced:.3f}",
                file=sys.stderr,
            )
    names = sorted(rows[0][4])
    print("| C | char weight | balanced CV macro-F1 | CV macro-F1 | " + " | ".join(names) + " |")
    print("|---|---|---|---|" + "---|" * len(names))
    for balanced, overall, c, weight, group_f1 in sorted(rows, key=lambda row: -row[0]):
        cells = " | ".join(f"{group_f1[name]:.3f}" for name in names)
        print(f"| {c:g} | {weight:g} | {balanced:.3f} | {overall:.3f} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
