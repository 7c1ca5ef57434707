"""Evidence: the sentences that carried each label, with their place in the text as it was given.

The labelling rule is sentence-level (one sentence stating a fact is enough),
and the model already scores every unit of a body (a passage or a paragraph)
with the same heads as the whole article. For each label given, the best units
are the candidates: a one-sentence unit is evidence as it is; the sentences of a
longer unit are scored one by one. Offsets point into the input text (after
decoding, before cleaning), so ``text[start:end]`` is the evidence, and a span
never reaches into site chrome the cleaner removed: cleaning keeps whole input
lines, and a sentence never crosses a line.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from toolkit.cleaning import CleanResult, prepare
from toolkit.text import sentence_spans, spans_between

_DEFAULT_TOP = 3
_SCORE_DECIMALS = 4
_TERM_BONUS = 0.25  # in ranking only: a sentence naming one of the topic's typical terms comes first
_MAX_TERM_SENTENCES = 3  # sentences with a term, per label, added to the candidates
_LINE_BREAK = re.compile(r"\r\n|\r|\n|\u2028|\u2029")  # as the cleaner splits lines


class Scorer(Protocol):
    """What evidence needs of a model (a fitted :class:`toolkit.classifier.TopicClassifier`)."""

    classes_: np.ndarray
    clean: bool
    topics: object  # a Taxonomy, or None

    def score_units(self, bodies: Sequence[str]) -> tuple[np.ndarray, list[list[str]], list[np.ndarray]]:
        """Document probabilities, and per body its units and their probabilities."""

    def score_passages(self, passages: Sequence[str]) -> np.ndarray:
        """Probabilities of short texts, each scored as one unit."""

    def labels_from_proba(self, proba: np.ndarray) -> list[list[str]]:
        """The labels whose probability reaches their threshold."""


class BodyMap:
    """Where each line of a cleaned body lies in the text it was cleaned from."""

    def __init__(self, text: str, result: CleanResult) -> None:
        self.body_starts: list[int] = []
        self.body_ends: list[int] = []
        self.text_starts: list[int] = []
        kept = result.body.split("\n\n")
        if result.lines and len(kept) == len(result.lines):
            lines = _line_spans(text)
            position = 0
            for piece, index in zip(kept, result.lines, strict=True):
                start, end = lines[index]
                stripped_end = start + len(text[start:end].rstrip())
                # a kept line is its input line stripped, or the end of it after a removed site prefix
                self._add(position, position + len(piece), stripped_end - len(piece))
                position += len(piece) + 2
        elif text.find(result.body) >= 0:  # the body is the stripped text (nothing to clean, cleaning off)
            self._add(0, len(result.body), text.find(result.body))
        else:  # an HTML page: a body paragraph is found where the page holds it verbatim (no inline tags)
            self._find_pieces(text, kept)

    def _find_pieces(self, text: str, pieces: list[str]) -> None:
        position, cursor = 0, 0
        for piece in pieces:
            at = text.find(piece, cursor) if piece else -1
            if at >= 0:
                self._add(position, position + len(piece), at)
                cursor = at + len(piece)
            position += len(piece) + 2

    def _add(self, body_start: int, body_end: int, text_start: int) -> None:
        self.body_starts.append(body_start)
        self.body_ends.append(body_end)
        self.text_starts.append(text_start)

    def to_text(self, start: int, end: int) -> tuple[int, int] | None:
        """The text offsets of a body span that lies within one body line; None if it does not."""
        line = bisect.bisect_right(self.body_starts, start) - 1
        if line < 0 or end > self.body_ends[line]:
            return None
        shift = self.text_starts[line] - self.body_starts[line]
        return start + shift, end + shift


def _line_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every line of ``text``, split at the line breaks the cleaner recognises."""
    return spans_between(_LINE_BREAK, text)


def unit_sentences(body: str, units: Sequence[str]) -> list[list[tuple[int, int]]]:
    """The body spans of each unit's sentences (units are runs of consecutive body sentences)."""
    sentences = sentence_spans(body)
    result, cursor = [], 0
    for unit in units:
        target, taken, spans = _visible(unit), 0, []
        while cursor < len(sentences) and taken < target:
            start, end = sentences[cursor]
            spans.append((start, end))
            taken += _visible(body[start:end])
            cursor += 1
        result.append(spans)
    return result


def _visible(text: str) -> int:
    """Characters of ``text`` that are not white space."""
    return sum(map(len, text.split()))


def explain_texts(
    model: Scorer, texts: Sequence[str], top: int = _DEFAULT_TOP
) -> list[dict[str, list[dict]]]:
    """:meth:`TopicClassifier.explain`: evidence for each label the model gives each text."""
    from toolkit.language import detect_documents

    results = [prepare(text)[0] if model.clean else CleanResult(text) for text in texts]
    proba, units, unit_proba = model.score_units([result.body for result in results])
    labels = model.labels_from_proba(np.round(proba, _SCORE_DECIMALS))
    languages = [found.language for found in detect_documents(results)]
    return evidence(model, texts, results, labels, units, unit_proba, top, languages)


def evidence(
    model: Scorer,
    texts: Sequence[str],
    results: Sequence[CleanResult],
    labels: Sequence[Sequence[str]],
    units: Sequence[Sequence[str]],
    unit_proba: Sequence[np.ndarray],
    top: int = _DEFAULT_TOP,
    languages: Sequence[str] | None = None,
) -> list[dict[str, list[dict]]]:
    """Per text, for each of its labels, up to ``top`` sentences with offsets and scores, best first.

    ``units`` and ``unit_proba`` are :meth:`TopicClassifier.score_units`' for the
    texts' cleaned bodies; only the sentences of multi-sentence candidate units
    are embedded again, all texts' together. ``languages`` (the bodies') pick
    which of the topics' terms are looked for (with English ones, which
    articles in every language use); without them, all terms are.
    """
    column = {str(name): j for j, name in enumerate(model.classes_)}
    topics = {topic.name: topic for topic in getattr(getattr(model, "topics", None), "topics", ()) or ()}
    plans, wanted, termed = [], {}, []
    for doc, result in enumerate(results):
        spans = unit_sentences(result.body, units[doc])
        language = languages[doc] if languages is not None else None
        plan, with_terms = {}, {}
        for name in labels[doc]:
            j = column[name]
            candidates = []
            for unit in np.argsort(-unit_proba[doc][:, j], kind="stable")[:top]:
                if len(spans[unit]) == 1:
                    candidates.append((spans[unit][0], float(unit_proba[doc][unit, j])))
                else:
                    for span in spans[unit]:
                        wanted.setdefault((doc, span), len(wanted))
                        candidates.append((span, None))
            pattern = _term_pattern(topics.get(name), language)
            with_terms[name] = _sentences_with_terms(result.body, spans, pattern)
            for span in with_terms[name][:_MAX_TERM_SENTENCES]:
                wanted.setdefault((doc, span), len(wanted))
                candidates.append((span, None))
            plan[name] = candidates
        plans.append(plan)
        termed.append(with_terms)
    keys = list(wanted)
    scored = model.score_passages([results[doc].body[start:end] for doc, (start, end) in keys])
    found = []
    for doc, plan in enumerate(plans):
        where = BodyMap(_cleaned_part(texts[doc], model), results[doc])
        found.append(
            {
                name: _best(
                    texts[doc],
                    where,
                    (doc, candidates),
                    scored,
                    wanted,
                    column[name],
                    top,
                    set(termed[doc][name]),
                )
                for name, candidates in plan.items()
            }
        )
    return found


def _term_pattern(topic: object, language: str | None) -> re.Pattern | None:
    """One pattern for a topic's typical terms in ``language`` and English (all languages if None)."""
    groups = getattr(topic, "terms", None) or {}
    if language is None:
        chosen = [term for group in groups.values() for term in group]
    else:
        chosen = list(groups.get(language, [])) + list(groups.get("en", []))
    return _compiled(tuple(sorted({term for term in chosen if term.strip()}, key=len, reverse=True)))


@functools.lru_cache(maxsize=256)
def _compiled(terms: tuple[str, ...]) -> re.Pattern | None:
    # lower-case literals, matched against the lower-cased body: several times faster than IGNORECASE
    lowered = sorted({term.lower() for term in terms}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, lowered))) if lowered else None


def _sentences_with_terms(
    body: str, spans: list[list[tuple[int, int]]], pattern: re.Pattern | None
) -> list[tuple[int, int]]:
    """The sentences (of the units) that name one of the topic's terms: one scan of the body."""
    if pattern is None:
        return []
    sentences = [span for unit in spans for span in unit]
    starts = [start for start, _ in sentences]
    found: list[tuple[int, int]] = []
    lowered = body.lower()
    if len(lowered) != len(body):  # a few letters lower-case to two characters: keep offsets exact
        lowered = "".join(char.lower()[:1] for char in body)
    for match in pattern.finditer(lowered):
        if match.group()[:1].isascii() and match.start() and lowered[match.start() - 1].isalnum():
            continue  # a Latin-script term must start a word ("fab", not "prefab"); CJK matches anywhere
        at = bisect.bisect_right(starts, match.start()) - 1
        if at >= 0 and match.end() <= sentences[at][1] and (not found or found[-1] != sentences[at]):
            found.append(sentences[at])
    return found


def _cleaned_part(text: str, model: Scorer) -> str:
    """The part of ``text`` the cleaner read (a very long text is cut first)."""
    from toolkit.cleaning import read_part

    return read_part(text) if model.clean else text


def _best(
    text: str,
    where: BodyMap,
    plan: tuple[int, list[tuple[tuple[int, int], float | None]]],
    scored: np.ndarray,
    wanted: dict,
    j: int,
    top: int,
    termed: set[tuple[int, int]],
) -> list[dict]:
    """The ``top`` candidates by score (a sentence naming a topic term ranked up), mapped into ``text``."""
    doc, candidates = plan
    seen, ranked = set(), []
    for span, score in candidates:
        if span in seen:
            continue
        seen.add(span)
        value = float(scored[wanted[(doc, span)], j]) if score is None else score
        ranked.append((value + _TERM_BONUS * (span in termed), value, span))
    ranked.sort(key=lambda item: (-item[0], item[2]))
    out = []
    for _, value, (start, end) in ranked:
        located = where.to_text(start, end)
        if located is None:
            continue
        out.append(
            {
                "text": text[located[0] : located[1]],
                "start": located[0],
                "end": located[1],
                "score": round(value, _SCORE_DECIMALS),
            }
        )
        if len(out) == top:
            break
    return out
