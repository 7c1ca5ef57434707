"""Choose the classifier's C and character n-gram weight by cross-validation on the training split alone.

Usage: python scripts/tune_hyperparameters.py [--C 4,8,16,32] [--char-weight 1,2,3]

For every pair, the default model is trained as `toolkit train` trains it and
its cross-validated macro-F1 (thresholds tuned out of fold, see
``TopicClassifier.cv_scores_``) is reported. The test split is never read.
Prints a markdown table, best first. The training cache makes the features
a one-time cost; every pair still fits its own heads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))


def main(argv: list[str] | None = None) -> int:
    """Train one model per (C, char weight) pair and print their cross-validated scores."""
    from toolkit.classifier import TopicClassifier
    from toolkit.data import load_dataset
    from toolkit.taxonomy import load_taxonomy

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--C", default="4,8,16,32")
    parser.add_argument("--char-weight", default="1,2,3")
    args = parser.parse_args(argv)
    docs, problems = load_dataset(_ROOT / "datasets" / "train.jsonl")
    if problems:
        raise SystemExit(problems[0])
    texts, labels = [doc.text for doc in docs], [doc.labels for doc in docs]
    rows = []
    for c in (float(value) for value in args.C.split(",")):
        for weight in (float(value) for value in args.char_weight.split(",")):
            model = TopicClassifier(topics=load_taxonomy(), C=c, char_weight=weight).fit(texts, labels)
            scores = model.cv_scores_
            rows.append((scores["macro"]["f1"], c, weight, scores))
            print(f"C={c:g} char_weight={weight:g}: CV macro-F1 {scores['macro']['f1']:.3f}", file=sys.stderr)
    names = list(rows[0][3]["labels"])
    print("| C | char weight | CV macro-F1 | " + " | ".join(names) + " | paragraph weight |")
    print("|---|---|---|" + "---|" * len(names) + "---|")
    for f1, c, weight, scores in sorted(rows, key=lambda row: -row[0]):
        cells = " | ".join(f"{scores['labels'][name]['f1']:.3f}" for name in names)
        print(f"| {c:g} | {weight:g} | {f1:.3f} | {cells} | {scores['paragraph_weight']:g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
