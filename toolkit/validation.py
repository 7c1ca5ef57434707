"""Checks a labelled dataset before training, in the spirit of spaCy's ``debug data``.

Errors stop training: unknown labels, empty texts, duplicate ids or texts,
near-duplicates shared between the training and test splits. The report also
counts documents per language and label, compares each document's declared
language with the detected language of its cleaned body, and names the thin
topics: too few positives to score or tune a threshold on, positives in one
language only, or no negatives.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from toolkit.cleaning import clean
from toolkit.io import LabelledDoc
from toolkit.language import UNDETERMINED, detect_language
from toolkit.metrics import MIN_RELIABLE_SUPPORT
from toolkit.taxonomy import Taxonomy
from toolkit.text import CJK_CHAR

_DEFAULT_SHINGLE = 8
_DEFAULT_NEAR_DUPLICATE = 0.5
_TOKEN = re.compile(r"\w+", re.UNICODE)
_SHINGLE_MULTIPLIER = np.uint64(0x100000001B3)


@dataclass
class ValidationReport:
    """What :func:`validate` found: errors block training, warnings inform."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    thin_topics: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing blocks training."""
        return not self.errors


def validate(
    docs: list[LabelledDoc],
    topics: Taxonomy,
    test_docs: list[LabelledDoc] | None = None,
    detect: bool = True,
) -> ValidationReport:
    """Check ``docs`` (and, if given, their overlap with ``test_docs``) against the topic set.

    ``thin_topics`` warns about the training documents' topics (:func:`thin_topic_warnings`).
    """
    report = ValidationReport(thin_topics=thin_topic_warnings(docs, topics))
    known = set(topics.names)
    _check_records(docs, known, report)
    if test_docs is not None:
        _check_records(test_docs, known, report, prefix="test: ")
        for train_id, test_id, score in _cached_near_duplicates(docs, test_docs):
            report.errors.append(
                f"near-duplicate across splits: {train_id} ~ {test_id} ({score:.0%} shared shingles)"
            )
    report.counts = _counts(docs + (test_docs or []), topics)
    if detect:
        _check_languages(docs + (test_docs or []), report)
    return report


def thin_topic_warnings(
    docs: list[LabelledDoc], topics: Taxonomy, min_positives: int = MIN_RELIABLE_SUPPORT
) -> list[str]:
    """One warning per topic too thin to train and score well.

    A topic is thin with fewer than ``min_positives`` positives, with every positive in one language
    while the documents are in several, or with no negative (every document carries it).
    """
    languages = {doc.language or UNDETERMINED for doc in docs}
    warnings = []
    for name in topics.names:
        positives = [doc for doc in docs if name in doc.labels]
        found = sorted({doc.language or UNDETERMINED for doc in positives})
        if len(positives) < min_positives:
            warnings.append(
                f"topic {name}: {len(positives)} positive examples, fewer than {min_positives}: "
                "its cross-validated scores and threshold are unreliable"
            )
        if len(found) == 1 and len(languages) > 1:
            warnings.append(f"topic {name}: every positive example is in one language ({found[0]})")
        if docs and len(positives) == len(docs):
            warnings.append(f"topic {name}: no negative examples (every document carries it)")
    return warnings


def _check_records(
    docs: list[LabelledDoc], known: set[str], report: ValidationReport, prefix: str = ""
) -> None:
    ids = Counter(doc.id for doc in docs)
    for doc_id, count in ids.items():
        if count > 1:
            report.errors.append(f"{prefix}id {doc_id!r} appears {count} times")
    texts: dict[str, str] = {}
    for doc in docs:
        unknown = sorted(set(doc.labels) - known)
        if unknown:
            report.errors.append(
                f"{prefix}{doc.id}: unknown labels {', '.join(unknown)} (not in topics file)"
            )
        if not doc.text.strip():
            report.errors.append(f"{prefix}{doc.id}: empty text")
            continue
        key = " ".join(doc.text.split()).lower()
        if key in texts:
            report.errors.append(f"{prefix}{doc.id}: same text as {texts[key]}")
        texts.setdefault(key, doc.id)
        if not doc.language:
            report.warnings.append(f"{prefix}{doc.id}: no declared language")


def _shingles(text: str, size: int = _DEFAULT_SHINGLE) -> np.ndarray:
    """Hashes of the text's runs of ``size`` consecutive lowercased words, unique.

    CJK characters count as words. Words are hashed with Python's ``hash`` (salted per process, which is fine:
    shingles are only compared within one run) and combined in 64-bit
    polynomial arithmetic.
    """
    tokens = [t.lower() for t in _TOKEN.findall(CJK_CHAR.sub(r" \g<0> ", text))]
    words = np.fromiter(map(hash, tokens), dtype=np.int64, count=len(tokens)).view(np.uint64)
    width = min(size, len(words))
    if width == 0:
        return np.zeros(1, dtype=np.uint64)
    combined = np.zeros(len(words) - width + 1, dtype=np.uint64)
    for offset in range(width):
        combined = combined * _SHINGLE_MULTIPLIER + words[offset : len(words) - width + 1 + offset]
    return np.unique(combined)


def near_duplicates(
    left: list[LabelledDoc], right: list[LabelledDoc], threshold: float = _DEFAULT_NEAR_DUPLICATE
) -> list[tuple[str, str, float]]:
    """Pairs (left id, right id, share) whose 8-word shingle sets overlap by at least ``threshold``."""
    from toolkit.classifier import clean_bodies

    right_sets = [_shingles(body) for body in clean_bodies([doc.text for doc in right])]
    if not right_sets:
        return []
    sizes = np.array([len(shingles) for shingles in right_sets])
    index = np.concatenate(right_sets)
    owners = np.repeat(np.arange(len(right_sets)), sizes)
    order = np.argsort(index, kind="stable")
    index, owners = index[order], owners[order]
    pairs = []
    for doc, body in zip(left, clean_bodies([doc.text for doc in left]), strict=True):
        own = _shingles(body)
        start, stop = np.searchsorted(index, own, side="left"), np.searchsorted(index, own, side="right")
        hits = np.bincount(owners[_ranges(start, stop)], minlength=len(right_sets))
        shares = hits / np.maximum(1, np.minimum(len(own), sizes))
        for position in np.flatnonzero(shares >= threshold):
            pairs.append((doc.id, right[position].id, float(shares[position])))
    return pairs


def _cached_near_duplicates(
    left: list[LabelledDoc], right: list[LabelledDoc]
) -> list[tuple[str, str, float]]:
    """:func:`near_duplicates`, remembered in the training cache for the same two splits.

    Retraining re-checks them.
    """
    import hashlib
    import json

    from toolkit.cache import cached_map, source_hash

    digest = hashlib.sha1()
    for side in (left, right):
        for doc in side:
            digest.update(repr((doc.id, doc.text)).encode("utf-8", "surrogatepass"))
        digest.update(b"\x00split\x00")
    found = cached_map(
        [digest.hexdigest()],
        f"near-duplicates-{source_hash('validation')}-{source_hash('cleaning')}",
        lambda _: [near_duplicates(left, right)],
        lambda pairs: json.dumps(pairs).encode(),
        lambda blob: [tuple(pair) for pair in json.loads(blob)],
    )
    return found[0]


def _ranges(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """The concatenation of ``range(a, b)`` for each pair (positions of equal hashes in the sorted index)."""
    lengths = stop - start
    if not lengths.any():
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(start - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(lengths.sum())


def _counts(docs: list[LabelledDoc], topics: Taxonomy) -> dict:
    by_language: dict[str, Counter] = defaultdict(Counter)
    for doc in docs:
        language = doc.language or UNDETERMINED
        by_language[language]["documents"] += 1
        by_language[language]["none"] += 0 if doc.labels else 1
        for label in doc.labels:
            by_language[language][label] += 1
    columns = ["documents", *topics.names, "none"]
    table = {lang: {col: counts[col] for col in columns} for lang, counts in sorted(by_language.items())}
    table["all"] = {col: sum(row[col] for row in table.values()) for col in columns}
    return table


def _check_languages(docs: list[LabelledDoc], report: ValidationReport) -> None:
    mismatches = 0
    for doc in docs:
        if not doc.language:
            continue
        found, _ = detect_language(clean(doc.text).body or doc.text)
        if found not in (doc.language, UNDETERMINED):
            mismatches += 1
            report.warnings.append(f"{doc.id}: declared language {doc.language}, detected {found}")
    report.counts["language_mismatches"] = mismatches


def format_report(report: ValidationReport) -> str:
    """Text rendering: the counts table, then warnings and errors."""
    table = {k: v for k, v in report.counts.items() if isinstance(v, dict)}
    lines = []
    if table:
        columns = list(next(iter(table.values())).keys())
        lines.append(f"{'language':<10}" + "".join(f"{c:>13}" for c in columns))
        for language, row in table.items():
            lines.append(f"{language:<10}" + "".join(f"{row[c]:>13}" for c in columns))
    lines += [f"warning: {w}" for w in report.warnings[:50]]
    if len(report.warnings) > 50:
        lines.append(f"... and {len(report.warnings) - 50} more warnings")
    lines += [f"error: {e}" for e in report.errors]
    lines.append(f"{len(report.errors)} errors, {len(report.warnings)} warnings")
    return "\n".join(lines)
