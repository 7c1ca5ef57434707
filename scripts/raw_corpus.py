"""Parse the team's hand-written raw corpus files (datasets/raw/*.txt).

Format: documents are separated by a header line ``### <id>``, followed by
``key: value`` lines (labels, language, region, kind), a blank line, then the
document text (headline, blank line, paragraphs separated by blank lines).

Run ``python scripts/raw_corpus.py --check FILE...`` to validate files and
print counts per language, label and kind.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path

_KNOWN_LABELS = {"funding", "consortium", "chips", "physical_ai"}
_KNOWN_KINDS = {
    "news",
    "brief",
    "feature",
    "near_miss",
    "analysis",
    "opinion",
    "interview",
    "wire",
    "press_release",
    "listicle",
    "cut",
}
_LANGUAGE = re.compile(r"^[a-z]{2}$")
_HEADER = re.compile(r"^### (\S+)\s*$")


def parse_raw(path: Path) -> list[dict]:
    """Return the documents of one raw corpus file as dicts."""
    docs: list[dict] = []
    current: dict | None = None
    body: list[str] = []
    in_meta = False

    def finish() -> None:
        if current is not None:
            current["text"] = "\n".join(body).strip()
            docs.append(current)

    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = _HEADER.match(line)
        if match:
            finish()
            current = {"id": match.group(1), "_line": lineno}
            body = []
            in_meta = True
            continue
        if current is None:
            if line.strip():
                raise ValueError(f"{path}:{lineno}: text before the first '### id' header")
            continue
        if in_meta:
            if not line.strip():
                in_meta = False
                continue
            key, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"{path}:{lineno}: expected 'key: value' in header, got {line!r}")
            key = key.strip().lower()
            value = value.strip()
            if key == "labels":
                current["labels"] = [v.strip() for v in value.split(",") if v.strip() and v.strip() != "none"]
            else:
                current[key] = value
            continue
        body.append(line)
    finish()
    return docs


def check(docs: list[dict], path: Path) -> list[str]:
    """Return problems found in parsed documents."""
    problems = []
    for doc in docs:
        where = f"{path}:{doc['_line']} {doc['id']}"
        for key in ("labels", "language", "kind"):
            if key not in doc:
                problems.append(f"{where}: missing '{key}:' line")
        unknown = set(doc.get("labels", [])) - _KNOWN_LABELS
        if unknown:
            problems.append(f"{where}: unknown labels {sorted(unknown)}")
        if doc.get("kind") and doc["kind"] not in _KNOWN_KINDS:
            problems.append(f"{where}: unknown kind {doc['kind']!r}")
        if doc.get("language") and not _LANGUAGE.match(doc["language"]):
            problems.append(f"{where}: language must be an ISO 639-1 code, got {doc['language']!r}")
        paragraphs = [p for p in doc.get("text", "").split("\n\n") if p.strip()]
        if len(paragraphs) < 2:
            problems.append(
                f"{where}: needs a headline and at least 1 paragraph, found {len(paragraphs)} blocks"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    """Check raw corpus files and print their counts."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", nargs="+", type=Path, required=True)
    args = parser.parse_args(argv)
    all_docs, problems = [], []
    for path in args.check:
        docs = parse_raw(path)
        problems += check(docs, path)
        all_docs += docs
    ids = collections.Counter(d["id"] for d in all_docs)
    problems += [f"duplicate id {i}" for i, n in ids.items() if n > 1]
    print(f"{len(all_docs)} documents")
    for key in ("language", "kind", "region"):
        print(key, dict(collections.Counter(d.get(key, "?") for d in all_docs).most_common()))
    labels = collections.Counter(label for d in all_docs for label in d.get("labels", []))
    print("labels", dict(labels), "none", sum(1 for d in all_docs if not d.get("labels")))
    combos = collections.Counter("+".join(sorted(d.get("labels", []))) or "none" for d in all_docs)
    print("combos", dict(combos.most_common()))
    words = sorted(len(d.get("text", "").split()) for d in all_docs)
    if words:
        print("words min/median/max", words[0], words[len(words) // 2], words[-1])
    for p in problems:
        print("PROBLEM", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
