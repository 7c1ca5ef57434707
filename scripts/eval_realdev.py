"""Score a model on the real-news dev set, read the way `toolkit label` reads it.

The dev set's labels are in ``../shared/realdev/labels.jsonl`` (url, language,
labels, the fact behind each; no text). The texts are stored public pages read
through the team's search tool and kept in a git-ignored cache
(``.cache/realdev/*.jsonl``: id, text); they never enter the repository.
Articles without a cached text are skipped and counted.

Groups: en, ar, ja and every other language together ("other"), as in the
project's real-news evaluation. Macro-F1 averages the four topics.

Usage: python scripts/eval_realdev.py [--model models/default.safetensors] [--json] [--errors]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

_ROOT = Path(__file__).resolve().parent.parent
_LABELS = _ROOT.parent / "shared" / "realdev" / "labels.jsonl"
_CACHE = _ROOT / ".cache" / "realdev"
_GROUPS = ("en", "ar", "ja")


def group_of(language: str) -> str:
    """The reporting group of a language: en, ar, ja or other."""
    return language if language in _GROUPS else "other"


def load_devset(labels_path: Path = _LABELS, cache: Path = _CACHE) -> tuple[list[dict], int]:
    """Dev rows that have a cached text (each with ``text``), and how many rows have none."""
    texts = {}
    for path in sorted(cache.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                texts[row["id"]] = row["text"]
    rows, missing = [], 0
    for line in labels_path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row["id"] in texts:
            rows.append({**row, "text": texts[row["id"]]})
        else:
            missing += 1
    return rows, missing


def score_rows(model, rows: list[dict]) -> dict:
    """Label the rows through the batch labeller and score them overall, per group and per topic."""
    from toolkit.io import Record
    from toolkit.labelling import label_batch
    from toolkit.metrics import label_scores

    names = [str(name) for name in model.classes_]
    outputs = label_batch(model, [Record(row["id"], row["text"], i + 1) for i, row in enumerate(rows)])
    truth = np.array([[name in row["labels"] for name in names] for row in rows])
    predicted = np.array([[name in out.get("labels", []) for name in names] for out in outputs])
    groups = np.array([group_of(row["lang"]) for row in rows])
    result = {"n": len(rows), "all": label_scores(truth, predicted, names)}
    for group in (*_GROUPS, "other"):
        mask = groups == group
        result[group] = label_scores(truth[mask], predicted[mask], names)
    result["errors"] = [
        {
            "id": row["id"],
            "lang": row["lang"],
            "truth": row["labels"],
            "predicted": out.get("labels"),
            "scores": out.get("scores"),
        }
        for row, out in zip(rows, outputs, strict=True)
        if sorted(row["labels"]) != sorted(out.get("labels", []))
    ]
    return result


def main(argv: list[str] | None = None) -> int:
    """Print the dev-set scores of a model."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=_ROOT / "models" / "default.safetensors")
    parser.add_argument("--json", action="store_true", help="Print the full result as JSON.")
    parser.add_argument("--errors", action="store_true", help="List the articles whose labels differ.")
    args = parser.parse_args(argv)
    from toolkit.classifier import TopicClassifier

    rows, missing = load_devset()
    if not rows:
        print(f"no cached dev-set texts in {_CACHE}: see this script's docstring", file=sys.stderr)
        return 1
    result = score_rows(TopicClassifier.load(args.model), rows)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    print(f"real-news dev set: {len(rows)} articles with text ({missing} without), model {args.model}")
    names = list(result["all"]["labels"])
    print(f"{'group':<8}{'n':>5}{'macro-F1':>10}" + "".join(f"{name:>13}" for name in names))
    for group in ("all", *_GROUPS, "other"):
        scores = result[group]
        print(
            f"{group:<8}{scores['n']:>5}{scores['macro']['f1']:>10.3f}"
            + "".join(f"{scores['labels'][name]['f1']:>13.3f}" for name in names)
        )
    if args.errors:
        for error in result["errors"]:
            print(
                f"  {error['id']} [{error['lang']}] truth={error['truth']} predicted={error['predicted']} "
                + " ".join(f"{k}={v:.2f}" for k, v in (error["scores"] or {}).items())
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
