"""Evidence hit rate: sample label/evidence pairs from the corpus test split for a reader to judge.

``--sample OUT.jsonl`` labels the test split with evidence (as `toolkit label --evidence` does)
and writes a seeded sample of correctly given labels, each with its top evidence sentence and
``"accept": null`` for the reader to fill in (true: the sentence states a fact of that topic by
LABELLING.md; false: it does not). ``--score OUT.jsonl`` reports the share accepted.

Usage:
  python scripts/evidence_sample.py --sample docs/evidence_review.jsonl [--model default] [--n 100]
  python scripts/evidence_sample.py --score docs/evidence_review.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


def sample(model_path: Path, data: Path, n: int, seed: int, n_docs: int) -> list[dict]:
    """Correctly given labels of ``data`` with their top evidence, ``n`` of them drawn with ``seed``.

    Only ``n_docs`` documents drawn with ``seed`` are labelled (the default model reads about one
    article a second here); the pairs are drawn from their correctly given labels.
    """
    sys.path.insert(0, str(_ROOT))
    from toolkit.classifier import TopicClassifier
    from toolkit.io import Record, load_dataset
    from toolkit.labelling import label_batch

    model = TopicClassifier.load(model_path)
    docs, _ = load_dataset(data)
    docs = random.Random(seed).sample(docs, min(n_docs, len(docs)))
    pairs = []
    for start in range(0, len(docs), 64):
        chunk = docs[start : start + 64]
        outputs = label_batch(
            model, [Record(doc.id, doc.text, i) for i, doc in enumerate(chunk)], evidence=True
        )
        for doc, out in zip(chunk, outputs, strict=True):
            for name in sorted(set(out.get("labels", [])) & set(doc.labels)):
                best = out["evidence"][name][0]
                pairs.append(
                    {
                        "id": doc.id,
                        "language": doc.language,
                        "label": name,
                        "evidence": best["text"],
                        "score": best["score"],
                        "accept": None,
                    }
                )
    return random.Random(seed).sample(pairs, min(n, len(pairs)))


def score(path: Path) -> str:
    """The accepted share of the judged pairs, overall and per label."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    judged = [row for row in rows if row["accept"] is not None]
    lines = [
        f"{sum(r['accept'] for r in judged)} of {len(judged)} accepted "
        f"({sum(r['accept'] for r in judged) / max(len(judged), 1):.0%}); {len(rows) - len(judged)} unjudged"
    ]
    for name in sorted({row["label"] for row in judged}):
        mine = [row for row in judged if row["label"] == name]
        lines.append(f"  {name:<12} {sum(r['accept'] for r in mine)}/{len(mine)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Sample or score."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sample", type=Path)
    parser.add_argument("--score", type=Path)
    parser.add_argument("--model", type=Path, default=_ROOT / "models" / "default.safetensors")
    parser.add_argument("--data", type=Path, default=_ROOT / "datasets" / "test.jsonl")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--docs", type=int, default=150, help="documents labelled to draw the pairs from")
    args = parser.parse_args(argv)
    if args.sample:
        rows = sample(args.model, args.data, args.n, args.seed, args.docs)
        args.sample.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), "utf-8")
        print(f"{len(rows)} pairs -> {args.sample}")
    if args.score:
        print(score(args.score))
    return 0


if __name__ == "__main__":
    sys.exit(main())
