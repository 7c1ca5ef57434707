"""Measuring the cleaner and language detector on pages with known body and chrome spans.

The pages (``tests/data/wrapped.jsonl``) list their segments, each ``body`` or chrome, in order; a
page is assembled, cleaned, and scored by how many body characters survive, how many chrome
characters go, and whether the body and wrapper languages are detected.
"""

from __future__ import annotations

import json
from pathlib import Path

from toolkit.cleaning import clean
from toolkit.language import detect_document


def assemble(segments: list[dict]) -> str:
    """Join segments with the separator each one declares after itself."""
    parts = []
    for position, segment in enumerate(segments):
        parts.append(segment["text"])
        if position < len(segments) - 1:
            parts.append(segment.get("sep", "\n\n"))
    return "".join(parts)


def score_document(doc: dict) -> dict:
    """Characters of body kept and of chrome left, plus detected languages, for one document."""
    result = clean(assemble(doc["segments"]))
    kept_lines = [line.strip() for line in result.body.split("\n\n")]
    kept_text = "\n".join(kept_lines)
    totals = {"body": 0, "body_kept": 0, "chrome": 0, "chrome_left": 0}
    misses = []
    for segment in doc["segments"]:
        for line in (ln.strip() for ln in segment["text"].split("\n")):
            if not line:
                continue
            present = line in kept_lines or (len(line) > 20 and line in kept_text)
            if segment["kind"] == "body":
                totals["body"] += len(line)
                totals["body_kept"] += len(line) if present else 0
                if not present:
                    misses.append(("body dropped", line))
            else:
                totals["chrome"] += len(line)
                totals["chrome_left"] += len(line) if present else 0
                if present:
                    misses.append(("chrome kept", line))
    found = detect_document(result)
    return {
        **totals,
        "language_ok": found.language == doc["language"],
        "wrapper_ok": found.wrapper_language == doc["wrapper_language"],
        "found": (found.language, found.wrapper_language),
        "misses": misses,
    }


def evaluate_cleaning(path: Path) -> tuple[dict, list[tuple[dict, dict]]]:
    """Aggregate rates over the corpus, and the per-document scores."""
    docs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    scored = [(doc, score_document(doc)) for doc in docs]
    body = sum(s["body"] for _, s in scored)
    chrome = sum(s["chrome"] for _, s in scored)
    summary = {
        "documents": len(docs),
        "body_retention": sum(s["body_kept"] for _, s in scored) / body,
        "chrome_removal": 1 - sum(s["chrome_left"] for _, s in scored) / chrome,
        "body_language_accuracy": sum(s["language_ok"] for _, s in scored) / len(docs),
        "wrapper_language_accuracy": sum(s["wrapper_ok"] for _, s in scored) / len(docs),
    }
    return summary, scored
