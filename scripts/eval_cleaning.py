"""Measure the cleaner and language detector on tests/data/wrapped.jsonl.

Reports body retention (share of body characters kept), chrome removal
(share of chrome characters removed), and body/wrapper language accuracy.
Usage: python scripts/eval_cleaning.py [--verbose]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from toolkit.cleaning_eval import evaluate_cleaning  # noqa: E402

_DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "wrapped.jsonl"


def main(argv: list[str] | None = None) -> int:
    """Print the summary (and, with --verbose, every miss)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=_DEFAULT_CORPUS)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    summary, scored = evaluate_cleaning(args.corpus)
    if args.verbose:
        for doc, score in scored:
            if score["misses"] or not score["language_ok"] or not score["wrapper_ok"]:
                print(
                    f"{doc['id']} expected {doc['language']}/{doc['wrapper_language']} found {score['found']}"
                )
                for kind, line in score["misses"]:
                    print(f"   {kind}: {line[:90]}")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in summary.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
