"""Language of an article's body, and of the site chrome around it.

Deterministic and bounded: at most ``_DEFAULT_SAMPLE_CHARS`` characters are
examined, taken from the start, middle and end of the text. Exact script
shortcuts skip the detector: kana means Japanese, hangul means Korean.

The detector is py3langid's model (naive Bayes over byte n-grams, numpy only),
evaluated for a whole batch at once (:class:`_BatchIdentifier`): about 0.2 ms
per 600-character sample here, against 1 ms for py3langid's own per-text
``classify`` and 6 ms for langdetect. ``TOOLKIT_LANGUAGE_DETECTOR=langdetect``
switches to langdetect (seeded).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from toolkit.cleaning import CleanResult
from toolkit.text import script_of

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    from langdetect import DetectorFactory

UNDETERMINED = "und"
_DEFAULT_SAMPLE_CHARS = 600
_DEFAULT_MIN_LETTERS = 20
_DEFAULT_MIN_BLOCK_LETTERS = 12
_FOREIGN_SCRIPT_BOOST = 3.0
_LETTER = re.compile(r"[^\W\d_]")
_ASCII_NON_LETTERS = dict.fromkeys(code for code in range(128) if not chr(code).isalpha())
# Detector labels that are not ISO 639-1: regional variants and ISO 639-3 members of a macro-language
# that has a 639-1 code report as that code (Moroccan and Egyptian Arabic as ar, Wu and Cantonese as
# zh). Labels with no 639-1 code at all stay ISO 639-3 (for example kab, pcm); zxx means no language.
_CODE_MAP = {
    "zh-cn": "zh",
    "zh-tw": "zh",
    "ary": "ar",
    "arz": "ar",
    "wuu": "zh",
    "yue": "zh",
    "gug": "gn",
    "uzs": "uz",
    "sdh": "ku",
    "hbo": "he",
    "fuv": "ff",
    "kik": "ki",
    "ltg": "lv",
}
_SCRIPT_SHORTCUTS = {"japanese": "ja", "hangul": "ko"}
_UNPACKED_FORMAT = "v2"
_factory = None
_identifier = None


@dataclass(frozen=True)
class LanguageResult:
    """Body language, its confidence, and the chrome's language (the body's when no chrome says otherwise)."""

    language: str
    confidence: float
    wrapper_language: str


def iso639_1(code: str) -> str:
    """The ISO 639-1 code of a detector label where one exists (the macro-language's), else the label."""
    return _CODE_MAP.get(code, code)


def detect_language(text: str) -> tuple[str, float]:
    """Return ``(iso639_1, confidence)`` for ``text``, or ``("und", 0.0)`` when it is too short to call."""
    sample, answer = _body_query(text)
    return answer if answer is not None else _identify([sample])[0]


def detect_document(result: CleanResult) -> LanguageResult:
    """Detect the body's language and the wrapper's from a cleaning result."""
    return detect_documents([result])[0]


def detect_documents(results: Sequence[CleanResult]) -> list[LanguageResult]:
    """:func:`detect_document` for many results, with one detector call for all their samples."""
    bodies = [_body_query(result.body) for result in results]
    groups = [_wrapper_groups(result) for result in results]
    queries = [sample for sample, answer in bodies if answer is None]
    queries += [group.sample for found in groups for group in found if group.code is None]
    answers = iter(_identify(queries))
    bodies = [answer if answer is not None else next(answers) for _, answer in bodies]
    detected = []
    for (language, confidence), found in zip(bodies, groups, strict=True):
        votes: dict[str, float] = {}
        for group in found:
            code = group.code if group.code is not None else next(answers)[0]
            votes[code] = votes.get(code, 0.0) + group.weight
        votes.pop(UNDETERMINED, None)
        wrapper = max(votes, key=votes.get) if votes else language
        detected.append(LanguageResult(language, round(confidence, 3), wrapper))
    return detected


def _body_query(text: str) -> tuple[str, tuple[str, float] | None]:
    """The sample to give the detector, or the answer when the text is too short or its script decides."""
    sample = _sample(text)
    if _count_letters(sample) < _DEFAULT_MIN_LETTERS:
        return sample, (UNDETERMINED, 0.0)
    script = script_of(sample)
    if script in _SCRIPT_SHORTCUTS:
        return sample, (_SCRIPT_SHORTCUTS[script], 1.0)
    return sample, None


@dataclass(frozen=True)
class _Group:
    """Removed text of one script: its sample, its vote weight, and its language when the script decides."""

    sample: str
    weight: float
    code: str | None


def _wrapper_groups(result: CleanResult) -> list[_Group]:
    """The removed text grouped by script; foreign-script chrome weighs more in the vote."""
    texts_by_script: dict[str, list[str]] = {}
    for block in result.removed:
        texts_by_script.setdefault(script_of(block.text), []).append(block.text)
    body_script = script_of(_sample(result.body))
    has_kana = "japanese" in texts_by_script
    groups = []
    for script, texts in texts_by_script.items():
        joined = _sample("\n".join(texts))
        letters = _count_letters(joined)
        if script in _SCRIPT_SHORTCUTS:
            code = _SCRIPT_SHORTCUTS[script]
        elif script == "han":
            code = "ja" if has_kana else "zh"
        elif script == "none" or letters < _DEFAULT_MIN_BLOCK_LETTERS:
            continue
        else:
            code = None
        groups.append(
            _Group(joined, letters * (_FOREIGN_SCRIPT_BOOST if script != body_script else 1.0), code)
        )
    return groups


def _count_letters(text: str) -> int:
    """How many letters ``text`` has (``_LETTER`` matches); ASCII text is counted without a regex."""
    if text.isascii():
        return len(text.translate(_ASCII_NON_LETTERS))
    return len(_LETTER.findall(text))


def _sample(text: str) -> str:
    if len(text) <= _DEFAULT_SAMPLE_CHARS:
        return text
    third = _DEFAULT_SAMPLE_CHARS // 3
    middle = len(text) // 2
    return " ".join((text[:third], text[middle - third // 2 : middle + third // 2], text[-third:]))


def load_detector() -> None:
    """Load the configured detector now rather than on first use (say, before forking worker processes)."""
    if os.environ.get("TOOLKIT_LANGUAGE_DETECTOR", "py3langid") == "langdetect":
        _get_factory()
    else:
        _get_identifier()


def _identify(texts: list[str]) -> list[tuple[str, float]]:
    """The configured detector's best language and its probability, for each text."""
    if not texts:
        return []
    if os.environ.get("TOOLKIT_LANGUAGE_DETECTOR", "py3langid") == "langdetect":
        return [_seeded_langdetect(text) for text in texts]
    return [(iso639_1(code), probability) for code, probability in _get_identifier().classify_many(texts)]


def _get_identifier() -> _BatchIdentifier:
    """Load py3langid's model once (see :class:`_BatchIdentifier`)."""
    global _identifier
    if _identifier is None:
        import numpy as np

        with np.load(_unpacked_model(), allow_pickle=False) as data:
            _identifier = _BatchIdentifier({name: np.asarray(data[name]) for name in data.files})
    return _identifier


class _BatchIdentifier:
    """py3langid's naive Bayes model, applied to many texts with a handful of numpy operations.

    py3langid finds a text's byte n-gram features by walking its automaton one
    byte at a time in Python, about 1 ms for a 600-character sample: the
    largest single cost of labelling a batch. The automaton is an Aho-Corasick
    machine whose patterns are at most ``depth`` bytes long, so its state after
    any byte is the state reached by reading just the last ``depth`` bytes from
    the start state. That lets every position of every text in a batch advance
    together, ``depth`` steps in all. Scoring (log1p counts times the model's
    per-feature log probabilities, length-tempered softmax, aliased labels
    folded together) follows py3langid's ``classify`` with ``norm_probs``; a
    test checks the answers against py3langid's own on a corpus.
    """

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        import numpy as np

        self.ptc = arrays["ptc"]
        self.pc = arrays["pc"].astype(np.float32)
        self.classes = [str(name) for name in arrays["classes"].tolist()]
        self.nextmove = arrays["nextmove"]
        self.rowbase = arrays["nextmove_row"].astype(np.int64) << 8
        self.output = arrays["out_feat"].astype(np.int64)
        self.depth = int(arrays["depth"])
        if self.nextmove[self.rowbase[0]] != 0 or self.output[0] >= 0:
            raise ValueError("py3langid's model has changed shape: a zero byte must keep the start state")
        self.aliases = _alias_pairs(self.classes)

    def classify_many(self, texts: list[str]) -> list[tuple[str, float]]:
        """``(language, probability)`` for each text, as py3langid's ``classify`` gives them."""
        import numpy as np

        encoded = [_langid_bytes(text) for text in texts]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        pad = b"\0" * (self.depth - 1)
        data = np.frombuffer(pad + pad.join(encoded), dtype=np.uint8)
        real = np.ones(len(data), dtype=bool)
        real[: len(pad)] = False
        starts = np.cumsum(lengths + len(pad)) - lengths
        for start in starts[1:].tolist():
            real[start - len(pad) : start] = False
        features = self.output[self._states(data)[real[len(pad) :]]]
        owner = np.repeat(np.arange(len(encoded)), lengths)
        found = features >= 0
        scores = self._scores(owner[found], features[found], len(encoded))
        scores *= (1.0 / np.sqrt(np.maximum(lengths, 1)))[:, None].astype(np.float32)
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)
        for keep, fold in self.aliases:
            scores[:, keep] += scores[:, fold]
            scores[:, fold] = 0.0
        best = scores.argmax(axis=1)
        return [(self.classes[i], float(scores[row, i])) for row, i in enumerate(best.tolist())]

    def _states(self, data: np.ndarray) -> np.ndarray:
        """The automaton's state after each byte from position ``depth - 1`` on, each read from a fresh start.

        Texts are separated by ``depth - 1`` zero bytes, which leave the start
        state where it is, so no window reads across two texts.
        """
        import numpy as np

        lead = self.depth - 1
        states = np.zeros(len(data) - lead, dtype=np.int64)
        for back in range(lead, -1, -1):
            states = self.nextmove[self.rowbase[states] + data[lead - back : len(data) - back]]
        return states

    def _scores(self, owners: np.ndarray, features: np.ndarray, n_texts: int) -> np.ndarray:
        """Naive Bayes log scores per text.

        A text with no feature scores all zeros (py3langid's abstention).
        """
        import numpy as np
        from scipy import sparse

        used, columns = np.unique(features, return_inverse=True)
        counts = sparse.csr_matrix(
            (np.ones(len(features), dtype=np.float32), (owners, columns)),
            shape=(n_texts, len(used)),
        )
        counts.sum_duplicates()
        counts.data = np.log1p(counts.data)
        scores = np.asarray(counts @ self.ptc[used].astype(np.float32), dtype=np.float32) + self.pc
        scores[np.diff(counts.indptr) == 0] = 0.0
        return scores


def _alias_pairs(classes: list[str]) -> list[tuple[int, int]]:
    """``(first, later)`` column pairs of labels that appear more than once.

    py3langid maps two scripts to one code.
    """
    first: dict[str, int] = {}
    pairs = []
    for column, name in enumerate(classes):
        if name in first:
            pairs.append((first[name], column))
        else:
            first[name] = column
    return pairs


def _langid_bytes(text: str) -> bytes:
    """The bytes py3langid reads for a text: lowercased when all upper case, NFC, UTF-8."""
    if text.isupper():
        text = text.lower()
    return unicodedata.normalize("NFC", text).encode("utf-8", "surrogatepass")


def _automaton_depth(nextmove: np.ndarray, rows: np.ndarray) -> int:
    """The longest pattern of py3langid's automaton.

    That is, the largest breadth-first distance from the start state.
    """
    import numpy as np

    rowbase = rows.astype(np.int64) << 8
    seen = np.zeros(len(rows), dtype=bool)
    seen[0] = True
    frontier, depth = np.array([0]), 0
    while True:
        reached = np.zeros(len(rows), dtype=bool)
        reached[nextmove[(rowbase[frontier][:, None] + np.arange(256)[None, :]).ravel()]] = True
        frontier = np.flatnonzero(reached & ~seen)
        if not frontier.size:
            return depth
        seen[frontier] = True
        depth += 1


def _unpacked_model() -> Path | IO[bytes]:
    """Path (or open file) of py3langid's model as a plain .npz (plus the automaton's depth).

    It is unpacked once into the cache.
    """
    import tempfile
    from importlib.metadata import version

    from toolkit.cache import cache_dir

    folder = cache_dir()
    target = (
        folder / f"py3langid-{version('py3langid')}-{_UNPACKED_FORMAT}.npz" if folder is not None else None
    )
    if target is not None and target.exists():
        return target
    arrays = _packaged_model()
    if target is not None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".tmp", delete=False) as partial:
                _write_npz(partial, arrays)
            os.replace(partial.name, target)
            return target
        except OSError:  # a read-only or missing cache folder: unpack into a temporary file instead
            pass
    unpacked = tempfile.TemporaryFile(suffix=".npz")
    _write_npz(unpacked, arrays)
    unpacked.seek(0)
    return unpacked


def _packaged_model() -> dict:
    """py3langid's LZMA-compressed model as arrays, with the automaton depth added."""
    import io
    import lzma

    import numpy as np
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    with lzma.open(MODEL_DIR / MODEL_FILE) as source:
        packed = io.BytesIO(source.read())
    with np.load(packed, allow_pickle=False) as data:
        arrays = {name: np.asarray(data[name]) for name in data.files}
    arrays["depth"] = np.asarray(_automaton_depth(arrays["nextmove"], arrays["nextmove_row"]))
    return arrays


def _write_npz(handle: IO[bytes], arrays: dict[str, np.ndarray]) -> None:
    import numpy as np

    np.savez(handle, **arrays)


def _seeded_langdetect(text: str) -> tuple[str, float]:
    factory = _get_factory()
    detector = factory.create()
    detector.append(text)
    try:
        best = detector.get_probabilities()[0]
    except Exception:  # langdetect raises LangDetectException (and others) on featureless text
        return UNDETERMINED, 0.0
    return _CODE_MAP.get(best.lang, best.lang), float(best.prob)


def _get_factory() -> DetectorFactory:
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
