"""Language of an article's body, and of the site chrome around it.

Deterministic (langdetect is seeded) and bounded: at most
``_DEFAULT_SAMPLE_CHARS`` characters are examined, taken from the start,
middle and end of the text. Exact script shortcuts skip langdetect: kana means
Japanese, hangul means Korean.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.cleaning import CleanResult, script_of

UNDETERMINED = "und"
_DEFAULT_SAMPLE_CHARS = 1500
_DEFAULT_MIN_LETTERS = 20
_DEFAULT_MIN_BLOCK_LETTERS = 12
_FOREIGN_SCRIPT_BOOST = 3.0
_CODE_MAP = {"zh-cn": "zh", "zh-tw": "zh"}
_SCRIPT_SHORTCUTS = {"japanese": "ja", "hangul": "ko"}
_factory = None


@dataclass(frozen=True)
class LanguageResult:
    """Body language, its confidence, and the chrome's language (the body's when no chrome says otherwise)."""

    language: str
    confidence: float
    wrapper_language: str


def detect_language(text: str) -> tuple[str, float]:
    """Return ``(iso639_1, confidence)`` for ``text``, or ``("und", 0.0)`` when it is too short to call."""
    letters = sum(1 for ch in text if ch.isalpha())
    if letters < _DEFAULT_MIN_LETTERS:
        return UNDETERMINED, 0.0
    script = script_of(text)
    if script in _SCRIPT_SHORTCUTS:
        return _SCRIPT_SHORTCUTS[script], 1.0
    return _langdetect(_sample(text))


def detect_document(result: CleanResult) -> LanguageResult:
    """Detect the body's language and the wrapper's from a cleaning result."""
    language, confidence = detect_language(result.body)
    return LanguageResult(language, round(confidence, 3), _wrapper_language(result, language))


def _wrapper_language(result: CleanResult, body_language: str) -> str:
    """Vote over the removed text, grouped by script; foreign-script chrome weighs more."""
    groups: dict[str, list[str]] = {}
    for block in result.removed:
        groups.setdefault(script_of(block.text), []).append(block.text)
    body_script = script_of(result.body)
    has_kana = any(script == "japanese" for script in groups)
    votes: dict[str, float] = {}
    for script, texts in groups.items():
        joined = "\n".join(texts)
        letters = sum(1 for ch in joined if ch.isalpha())
        if script in _SCRIPT_SHORTCUTS:
            code = _SCRIPT_SHORTCUTS[script]
        elif script == "han":
            code = "ja" if has_kana else "zh"
        elif script == "none" or letters < _DEFAULT_MIN_BLOCK_LETTERS:
            continue
        else:
            code, _ = _langdetect(_sample(joined))
        if script == body_script and body_script not in ("han", "japanese"):
            weight = float(letters)
        else:
            weight = letters * (_FOREIGN_SCRIPT_BOOST if script != body_script else 1.0)
        votes[code] = votes.get(code, 0.0) + weight
    votes.pop(UNDETERMINED, None)
    return max(votes, key=votes.get) if votes else body_language


def _sample(text: str) -> str:
    if len(text) <= _DEFAULT_SAMPLE_CHARS:
        return text
    third = _DEFAULT_SAMPLE_CHARS // 3
    middle = len(text) // 2
    return " ".join((text[:third], text[middle - third // 2 : middle + third // 2], text[-third:]))


def _langdetect(text: str) -> tuple[str, float]:
    factory = _get_factory()
    detector = factory.create()
    detector.append(text)
    try:
        best = detector.get_probabilities()[0]
    except Exception:  # langdetect raises LangDetectException (and others) on featureless text
        return UNDETERMINED, 0.0
    return _CODE_MAP.get(best.lang, best.lang), float(best.prob)


def _get_factory():
    """Load langdetect's profiles once, with a fixed seed so answers never vary."""
    global _factory
    if _factory is None:
        from langdetect import DetectorFactory
        from langdetect.detector_factory import PROFILES_DIRECTORY

        factory = DetectorFactory()
        factory.load_profile(PROFILES_DIRECTORY)
        factory.set_seed(0)
        _factory = factory
    return _factory
