"""Parse the team's hand-written raw corpus files (datasets/raw/*.txt).

Format: documents are separated by a header line ``### <id>``, followed by
``key: value`` lines (labels, language, region, kind), a blank line, then the
document text (headline, blank line, paragraphs separated by blank lines).

Run ``python scripts/raw_corpus.py --check FILE... [--topics seeds/topics.toml]`` to validate files
and print counts per language, label and kind. The known labels are the topics file's names, so a topic
added there is accepted here without editing this script.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from toolkit.taxonomy import load_taxonomy  # noqa: E402

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


def known_labels(topics: Path | None = None) -> set[str]:
    """The topic names of a topics file (default: the shipped seeds/topics.toml)."""
    return set(load_taxonomy(topics).names)


def check(docs: list[dict], path: Path, labels: set[str] | None = None) -> list[str]:
    """Return problems found in parsed documents; ``labels`` are the known ones (default: the topics file)."""
    labels = known_labels() if labels is None else labels
    problems = []
    for doc in docs:
        where = f"{path}:{doc['_line']} {doc['id']}"
        for key in ("labels", "language", "kind"):
            if key not in doc:
                problems.append(f"{where}: missing '{key}:' line")
        unknown = set(doc.get("labels", [])) - labels
        if unknown:
            problems.append(f"{where}: unknown labels {sorted(unknown)} (not in the topics file)")
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
    parser.add_argument("--topics", type=Path, default=None, help="topics file (default seeds/topics.toml)")
    args = parser.parse_args(argv)
    labels = known_labels(args.topics)
    all_docs, problems = [], []
    for path in args.check:
        docs = parse_raw(path)
        problems += check(docs, path, labels)
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
