"""Articles that probably carry a topic but are not labelled with it, for relabelling.

After a topic is added to the topics file, the articles labelled before are
negatives for it until someone looks again. ``suggest`` ranks them from what
the topics file says about the topic: its typical terms, in every language the
file gives, looked up in each article's cleaned body (site chrome out). An
article naming more distinct terms ranks higher, and each suggestion carries the
sentence naming most of them, so a reviewer can decide without opening the
article. The encoders are not used: on the team's corpus, which is all about AI
infrastructure, the static tier's sentence similarity to a topic's description
hardly separates the articles that name its terms from the others.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import InputError
from toolkit.io import LabelledDoc, iter_records
from toolkit.taxonomy import Topic
from toolkit.text import script_of, sentence_spans

_DEFAULT_TOP = 20
_TERM_SATURATION = 0.5  # each further distinct term closes half of what is left of the score
_LATIN_ENDINGS = ("", "s", "es")  # a Latin-script term may be plural ("chip" finds "chips")


@dataclass(frozen=True)
class Suggestion:
    """One article worth a second look for a topic.

    ``score`` is ``1 - 0.5 ** len(terms)`` (one distinct term 0.5, two 0.75, three 0.875...);
    ``terms`` are the distinct terms found, in order of appearance; ``mentions`` counts every
    occurrence; ``sentence`` is the first sentence naming most distinct terms.
    """

    id: str
    score: float
    terms: list[str] = field(default_factory=list)
    mentions: int = 0
    sentence: str = ""


def read_documents(path: str | Path) -> tuple[list[LabelledDoc], list[str]]:
    """Articles of a labelled or unlabelled JSONL/CSV file (no ``labels``: none); one line per bad record."""
    docs, problems = [], []
    for record in iter_records(path):
        labels = record.extra.get("labels", []) if record.error is None else None
        if isinstance(labels, str):
            labels = [part.strip() for part in labels.replace(";", ",").split(",") if part.strip()]
        if record.error is not None or not isinstance(labels, list):
            problems.append(f"{path}:{record.line}: {record.error or 'labels must be a list of strings'}")
            continue
        docs.append(LabelledDoc(str(record.id), record.text or "", [str(label) for label in labels]))
    return docs, problems


def suggest(
    docs: Sequence[LabelledDoc], topic: Topic, top: int | None = _DEFAULT_TOP
) -> tuple[list[Suggestion], int]:
    """The ``top`` articles most likely to carry ``topic`` among those not labelled with it, best first.

    An article is flagged when its cleaned body names at least one of the topic's terms. Returns the
    suggestions and how many articles were flagged in all (``top=None``: return all of them).
    """
    from toolkit.classifier import clean_bodies

    if not any(term.strip() for group in topic.terms.values() for term in group):
        raise InputError(f"topic {topic.name!r} has no terms to look for: add [topic.terms] to its block")
    candidates = [doc for doc in docs if topic.name not in doc.labels]
    pattern = term_pattern(topic)
    found = []
    for doc, body in zip(candidates, clean_bodies([doc.text for doc in candidates]), strict=True):
        suggestion = _suggestion(doc.id, body, pattern)
        if suggestion is not None:
            found.append(suggestion)
    found.sort(key=lambda s: (-s.score, -s.mentions, s.id))
    return (found if top is None else found[:top]), len(found)


def term_pattern(topic: Topic) -> re.Pattern:
    """One lower-case alternation of the topic's terms in every language, longest first."""
    terms = {term.strip().lower() for group in topic.terms.values() for term in group if term.strip()}
    return re.compile("|".join(map(re.escape, sorted(terms, key=lambda t: (-len(t), t)))))


def term_mentions(body: str, pattern: re.Pattern) -> list[tuple[int, str]]:
    """(offset, term) of every term ``pattern`` finds in ``body`` standing as a word.

    A term written in Latin letters must be a whole word (or its plural); in other scripts a term
    matches anywhere: words there are not separated by spaces, or take attached prefixes (Arabic).
    """
    lowered = body.lower()
    if len(lowered) != len(body):  # a few letters lower-case to two characters: keep offsets exact
        lowered = "".join(char.lower()[:1] for char in body)
    return [(match.start(), match.group()) for match in pattern.finditer(lowered) if _whole(lowered, match)]


def _whole(text: str, match: re.Match) -> bool:
    """Whether a match stands as a word: a Latin-script term bounded by non-letters, others anywhere."""
    if script_of(match.group()) != "latin":
        return True
    if match.start() and text[match.start() - 1].isalnum():
        return False
    for ending in _LATIN_ENDINGS:
        end = match.end() + len(ending)
        if text.startswith(ending, match.end()) and (end == len(text) or not text[end].isalnum()):
            return True
    return False


def _suggestion(doc_id: str, body: str, pattern: re.Pattern) -> Suggestion | None:
    """Score one article by the distinct terms its body names; None when it names none."""
    mentions = term_mentions(body, pattern)
    if not mentions:
        return None
    spans = sentence_spans(body) or [(0, len(body))]
    starts = [start for start, _ in spans]
    per_sentence: dict[int, set[str]] = {}
    for offset, term in mentions:
        per_sentence.setdefault(max(bisect.bisect_right(starts, offset) - 1, 0), set()).add(term)
    shown = max(per_sentence, key=lambda index: (len(per_sentence[index]), -index))
    start, end = spans[shown]
    terms = list(dict.fromkeys(term for _, term in mentions))
    return Suggestion(
        id=doc_id,
        score=round(1.0 - _TERM_SATURATION ** len(terms), 4),
        terms=terms,
        mentions=len(mentions),
        sentence=" ".join(body[start:end].split()),
    )
