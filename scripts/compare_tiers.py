"""Compare encoder tiers and feature sets on the fixed split: train on train, score on test, per language.

Usage: python scripts/compare_tiers.py [--configs static+chars,transformer+chars,...]
Each configuration is trained exactly as `toolkit train` would (thresholds and
paragraph weight tuned by cross-validation on the training split only).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))

CONFIGS = {
    "static+chars": ("static-minilm", "embedding+chars"),
    "transformer+chars": ("all-MiniLM-L6-v2", "embedding+chars"),
    "static": ("static-minilm", "embedding"),
    "transformer": ("all-MiniLM-L6-v2", "embedding"),
    "chars": ("hashing", "chars"),
}


def main(argv: list[str] | None = None) -> int:
    """Train and evaluate each configuration; print a markdown table."""
    import numpy as np

    from toolkit.classifier import TopicClassifier
    from toolkit.io import load_dataset
    from toolkit.metrics import grouped_scores, label_scores
    from toolkit.taxonomy import load_taxonomy

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    args = parser.parse_args(argv)
    train, _ = load_dataset(_ROOT / "datasets" / "train.jsonl")
    test, _ = load_dataset(_ROOT / "datasets" / "test.jsonl")
    topics = load_taxonomy()
    names = topics.names
    print(
        "| configuration | CV macro-F1 (train) | test macro-F1 | en | ar | ja | other languages | fit (s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for config in args.configs.split(","):
        encoder, features = CONFIGS[config]
        started = time.perf_counter()
        model = TopicClassifier(encoder=encoder, topics=topics, features=features)
        model.fit([d.text for d in train], [d.labels for d in train])
        seconds = time.perf_counter() - started
        predicted = model.predict([d.text for d in test])
        truth = [[n in d.labels for n in names] for d in test]
        marks = [[n in row for n in names] for row in predicted]
        overall = label_scores(truth, marks, names)["macro"]["f1"]
        groups = [d.language if d.language in ("en", "ar", "ja") else "other" for d in test]
        by = {
            k: v["macro"]["f1"]
            for k, v in grouped_scores(np.array(truth), np.array(marks), names, groups).items()
        }
        print(
            f"| {config} | {model.cv_scores_['macro']['f1']:.3f} | {overall:.3f} | "
            f"{by['en']:.3f} | {by['ar']:.3f} | {by['ja']:.3f} | {by['other']:.3f} | {seconds:.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
