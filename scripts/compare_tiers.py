"""Compare encoder tiers and feature sets: corpus test split and the real-news dev set, per language group.

Usage: python scripts/compare_tiers.py [--configs e5+chars,static+chars,...]

Each configuration is trained exactly as `toolkit train` would (on datasets/train.jsonl, folds grouped
by story, thresholds and paragraph weight tuned by cross-validation on the training split only), then
scored on the corpus test split (datasets/test.jsonl: written by the team) and, where the cached texts
are present (see scripts/eval_realdev.py), on the real-news dev set through the batch labeller.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))
sys.path.insert(0, str(_ROOT / "scripts"))

# name: (encoder spec, features, passages read by the e5 encoder, C, char weight)
CONFIGS = {
    "e5+chars": ("e5", "embedding+chars", 32, 4.0, 1.0),
    "e5": ("e5", "embedding", 32, 4.0, 1.0),
    "e5-lead+chars": ("e5", "embedding+chars", 4, 4.0, 1.0),
    "static+chars": ("static-minilm", "embedding+chars", None, 16.0, 2.0),
    "static": ("static-minilm", "embedding", None, 16.0, 2.0),
    "chars": ("hashing", "chars", None, 16.0, 2.0),
}
_GROUPS = ("en", "ar", "ja", "other")


def _encoder(spec: str, passages: int | None):
    from toolkit.encoders import E5Encoder

    return E5Encoder(max_passages=passages) if passages else spec


def main(argv: list[str] | None = None) -> int:
    """Train and evaluate each configuration; print a markdown table."""
    import numpy as np
    from eval_realdev import load_devset, score_rows

    from toolkit.classifier import TopicClassifier
    from toolkit.io import load_dataset
    from toolkit.metrics import grouped_scores, label_scores
    from toolkit.taxonomy import load_taxonomy

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--configs", default="e5+chars,e5,e5-lead+chars,static+chars,chars")
    args = parser.parse_args(argv)
    train, _ = load_dataset(_ROOT / "datasets" / "train.jsonl")
    test, _ = load_dataset(_ROOT / "datasets" / "test.jsonl")
    dev, _ = load_devset()
    topics = load_taxonomy()
    names = topics.names
    print(
        "| configuration | CV (train) | test | en | ar | ja | other "
        "| real dev | en | ar | ja | other | fit (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for config in args.configs.split(","):
        spec, features, passages, regularisation, char_weight = CONFIGS[config]
        started = time.perf_counter()
        model = TopicClassifier(
            encoder=_encoder(spec, passages),
            topics=topics,
            features=features,
            C=regularisation,
            char_weight=char_weight,
        )
        model.fit([d.text for d in train], [d.labels for d in train], groups=[d.story or d.id for d in train])
        seconds = time.perf_counter() - started
        predicted = model.predict([d.text for d in test])
        truth = np.array([[n in d.labels for n in names] for d in test])
        marks = np.array([[n in row for n in names] for row in predicted])
        overall = label_scores(truth, marks, names)["macro"]["f1"]
        groups = [d.language if d.language in ("en", "ar", "ja") else "other" for d in test]
        by = {k: v["macro"]["f1"] for k, v in grouped_scores(truth, marks, names, groups).items()}
        real = score_rows(model, dev) if dev else None
        real_cells = (
            [f"{real['all']['macro']['f1']:.3f}"] + [f"{real[g]['macro']['f1']:.3f}" for g in _GROUPS]
            if real
            else ["n/a"] * 5
        )
        print(
            f"| {config} | {model.cv_scores_['macro']['f1']:.3f} | {overall:.3f} | "
            + " | ".join(f"{by[g]:.3f}" for g in _GROUPS)
            + " | "
            + " | ".join(real_cells)
            + f" | {seconds:.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
