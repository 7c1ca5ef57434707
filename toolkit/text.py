"""Text helpers shared by cleaning, language detection, encoders and the classifier.

Scripts (which writing system a text uses), CJK characters, sentence splitting
and paragraph units live here, so that no module has to import another's
internals to read text the same way.
"""

from __future__ import annotations

import re

_DEFAULT_UNIT_WORDS = 25
CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")  # kana, CJK ideographs, hangul
# Letters with CJK_CHAR characters excluded: the words of a text once its CJK characters are blanked out.
NON_CJK_WORD = re.compile(r"[^\W\d_\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]+", re.UNICODE)
_ASCII_LETTER = re.compile(r"[A-Za-z]")
# A word character outside the Latin ranges of _SCRIPT_RANGES: a letter of another script (or a rare numeral).
_NON_LATIN_WORD_CHAR = re.compile(r"[^\W\d_\u0000-\u024f\u1e00-\u1eff]")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？؟])\s+|(?<=[。！？])|\n+")
_WORDS = re.compile(r"\w+")


def script_of(text: str) -> str:
    """Dominant writing system of ``text``: latin, arabic, cyrillic, hangul, japanese, han, other or none."""
    if text.isascii():  # O(1) in CPython; the only ASCII letters are A-Z and a-z
        return "latin" if _ASCII_LETTER.search(text) else "none"
    if not _NON_LATIN_WORD_CHAR.search(text) and _ASCII_LETTER.search(text):
        return "latin"  # every letter is Latin, and there is one: accented Latin text, the common case
    marks = text.translate(_script_table())
    if not marks:
        return "none"
    counts = {name: marks.count(mark) for mark, name in _SCRIPT_MARKS.items()}
    counts["han"] += counts["kana"]
    kana = counts.pop("kana")
    best = max(counts, key=counts.get)
    if best == "han" and kana:
        return "japanese"
    return best


_SCRIPT_MARKS = {
    "L": "latin",
    "A": "arabic",
    "C": "cyrillic",
    "G": "hangul",
    "K": "kana",
    "H": "han",
    "O": "other",
}
_SCRIPT_RANGES = (
    ("K", 0x3040, 0x30FF),
    ("H", 0x3400, 0x9FFF),
    ("H", 0xF900, 0xFAFF),
    ("G", 0xAC00, 0xD7AF),
    ("G", 0x1100, 0x11FF),
    ("G", 0x3130, 0x318F),
    ("A", 0x0600, 0x06FF),
    ("A", 0x0750, 0x077F),
    ("A", 0xFB50, 0xFEFF),
    ("C", 0x0400, 0x04FF),
    ("L", 0x0000, 0x024F),
    ("L", 0x1E00, 0x1EFF),
)


class _ScriptTable(dict):
    """A str.translate table built on demand: a letter maps to its script's mark, anything else is deleted."""

    def __missing__(self, code: int) -> str | None:
        if not chr(code).isalpha():
            mark = None
        else:
            mark = next((m for m, low, high in _SCRIPT_RANGES if low <= code <= high), "O")
        self[code] = mark
        return mark


_TABLE = _ScriptTable()


def _script_table() -> _ScriptTable:
    return _TABLE


def split_sentences(text: str) -> list[str]:
    """Split text at sentence ends and line breaks; drop empty pieces."""
    return [piece.strip() for piece in _SENTENCE_END.split(text) if piece and piece.strip()]


def spans_between(separator: re.Pattern, text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` offsets of the pieces of ``text`` between the matches of ``separator``."""
    spans, position = [], 0
    for match in separator.finditer(text):
        spans.append((position, match.start()))
        position = match.end()
    spans.append((position, len(text)))
    return spans


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` character offsets of :func:`split_sentences`' pieces in ``text``, stripped."""
    spans = spans_between(_SENTENCE_END, text)
    result = []
    for start, end in spans:
        piece = text[start:end]
        if piece.strip():
            left = len(piece) - len(piece.lstrip())
            result.append((start + left, start + len(piece.rstrip())))
    return result


def word_count(text: str) -> int:
    """Words in ``text``, counting two CJK characters as one word."""
    return len(_WORDS.findall(CJK_CHAR.sub(" ", text))) + len(CJK_CHAR.findall(text)) // 2


def paragraph_units(body: str, min_words: int = _DEFAULT_UNIT_WORDS) -> list[str]:
    """Split a body at blank lines into units of at least ``min_words`` words (CJK: two characters a word)."""
    units: list[tuple[str, int]] = []
    for paragraph in body.split("\n\n"):
        if not paragraph.strip():
            continue
        size = word_count(paragraph)
        if units and (size < min_words or units[-1][1] < min_words):
            units[-1] = (units[-1][0] + "\n\n" + paragraph, units[-1][1] + size)
        else:
            units.append((paragraph, size))
    return [text for text, _ in units] or [body]
