"""The static tier: a model2vec lookup table, numpy only (no torch)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from toolkit.encoders.base import _one_line, folder_hash, normalise_rows
from toolkit.errors import EncoderError, InputError
from toolkit.resources import shipped_model

if TYPE_CHECKING:
    from model2vec import StaticModel
    from tokenizers import Encoding, Tokenizer

STATIC_ENCODER = "static-minilm"
_DEFAULT_CHUNK_CACHE = 50_000
_DEFAULT_MAX_CACHED_CHUNK = 64
_PER_CHARACTER_NORMALIZERS = {None, "BertNormalizer", "Lowercase", "NFD", "NFKD", "StripAccents"}
_SPACE_SPLITTING_PRE_TOKENIZERS = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit"}


def static_model_path(name: str = STATIC_ENCODER) -> Path:
    """Where a static model lives: the shipped one by its name, any other as a folder path."""
    try:
        path = shipped_model(name) if name == STATIC_ENCODER else Path(name)
    except InputError as exc:
        raise EncoderError(str(exc)) from None
    if not path.is_dir():
        raise EncoderError(
            f"static encoder {name!r} not found at {path}: "
            "rebuild it with `python scripts/distill_static.py` in a checkout, or reinstall toolkit"
        )
    return path


class StaticEncoder:
    """A model2vec static model: token vectors averaged over the whole text, numpy only (no torch)."""

    def __init__(self, name: str = STATIC_ENCODER) -> None:
        self.name = name
        self._model: StaticModel | None = None
        self._vectors: np.ndarray | None = None
        self._tokens: _ChunkTokenizer | None = None
        self._hash: str | None = None

    def __getstate__(self) -> dict:
        """Pickle the name and fingerprint only.

        The table and tokenizer are reloaded where it is unpickled.
        """
        state = dict(self.__dict__)
        state.update(_model=None, _vectors=None, _tokens=None)
        return state

    def _load(self) -> StaticModel:
        if self._model is None:
            try:
                from model2vec import StaticModel
            except ImportError:
                raise EncoderError("the static encoder needs model2vec: pip install model2vec") from None
            try:
                model = _load_static(StaticModel, static_model_path(self.name))
                # whole texts, as model2vec's encode(max_length=None) reads them
                model.tokenizer.no_truncation()
                model.tokenizer.no_padding()  # a text's tokens never depend on the rest of its batch
                self._model = model
            except EncoderError:
                raise
            except Exception as exc:  # a damaged folder raises many types
                raise EncoderError(f"cannot load static model {self.name!r}: {_one_line(exc)}") from None
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed whole texts (no token limit): the mean of their token vectors, L2-normalised."""
        if not texts:
            return np.zeros((0, self._dim()), dtype=np.float32)
        model = self._load()
        if model.token_mapping is None and model.weights is None:
            if self._vectors is None:
                self._vectors = np.asarray(model.embedding, dtype=np.float32)
                self._tokens = _ChunkTokenizer(model.tokenizer)
            return normalise_rows(
                _summed_token_vectors(self._tokens, model.unk_token_id, self._vectors, list(texts))
            )
        vectors = model.encode(list(texts), max_length=None, use_multiprocessing=False)
        return normalise_rows(np.asarray(vectors, dtype=np.float32))

    def _dim(self) -> int:
        return int(self._load().dim)

    def fingerprint(self) -> str:
        """A hash of the model folder's files."""
        if self._hash is None:
            self._hash = folder_hash(static_model_path(self.name))
        return self._hash

    def identity(self, dim: int | None = None) -> dict:
        """Kind, name, fingerprint and dimension."""
        return {
            "kind": "model2vec",
            "name": self.name,
            "hash": self.fingerprint(),
            "dim": int(dim or self._dim()),
        }


def _summed_token_vectors(
    tokens: _ChunkTokenizer, unk_token_id: int | None, vectors: np.ndarray, texts: list[str]
) -> np.ndarray:
    """The sum of each text's token vectors, as one sparse (texts x vocabulary) product.

    Equal in direction to model2vec's mean (the caller normalises), without its
    per-length grouping and fancy indexing. Unknown tokens are dropped, as
    model2vec does.
    """
    from scipy import sparse

    flat, lengths = tokens.ids(texts)
    owners = np.repeat(np.arange(len(texts)), lengths)
    if unk_token_id is not None:
        known = flat != unk_token_id
        flat, owners = flat[known], owners[known]
    counts = sparse.csr_matrix(
        (np.ones(len(flat), dtype=np.float32), (owners, flat)),
        shape=(len(texts), vectors.shape[0]),
    )
    return np.asarray(counts @ vectors, dtype=np.float32)


class _ChunkTokenizer:
    """Token ids of texts, remembered per space-separated chunk.

    With a BERT-style tokenizer (per-character normaliser, pre-tokenizer that
    splits at every space) a text's tokens are exactly its chunks' tokens in
    order, so each distinct word is tokenized once: news vocabulary repeats,
    and tokenizing whole paragraphs was the largest single cost of embedding
    (about 1.5 ms a 4 KB article here). Other tokenizers (SentencePiece, for
    instance, marks word starts) get whole texts, uncached. Only chunks of at
    most ``_DEFAULT_MAX_CACHED_CHUNK`` characters are remembered (a paragraph
    of unspaced Chinese or Japanese is one chunk, and rarely repeats), at most
    ``limit`` of them; the memory starts afresh when it is full. A lock makes
    one instance safe to share between threads.
    """

    def __init__(self, tokenizer: Tokenizer, limit: int = _DEFAULT_CHUNK_CACHE) -> None:
        self.tokenizer = tokenizer
        self.limit = limit
        self.chunked = _splits_at_spaces(tokenizer)
        self._known: dict[str, list[int]] = {"": []}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        """Pickle without the lock (and without the remembered chunks)."""
        state = dict(self.__dict__)
        state.update(_known={"": []}, _lock=None)
        return state

    def __setstate__(self, state: dict) -> None:
        """Restore, with a fresh lock."""
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def ids(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """All texts' token ids concatenated, and the number of ids of each text."""
        if not self.chunked:
            rows = [encoding.ids for encoding in self._encode(texts)]
        else:
            split = [text.replace("\n", " ").split(" ") for text in texts]
            with self._lock:
                rows = self._rows(split)
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        flat = np.fromiter((token for row in rows for token in row), dtype=np.int64, count=int(lengths.sum()))
        return flat, lengths

    def _rows(self, split: list[list[str]]) -> list[list[int]]:
        """Each text's ids from its chunks' ids; chunks not remembered yet are tokenized together first.

        When the memory would overflow it is emptied down to this batch's
        chunks; long chunks are forgotten again once the rows are built.
        """
        known = self._known
        distinct = {chunk for chunks in split for chunk in chunks}
        new = [chunk for chunk in distinct if chunk not in known]
        if new:
            if len(known) + len(new) > self.limit:
                survivors = {chunk: known[chunk] for chunk in distinct if chunk in known}
                known.clear()
                known[""] = []
                known.update(survivors)
            known.update(zip(new, (encoding.ids for encoding in self._encode(new)), strict=True))
        rows = [[token for chunk in chunks for token in known[chunk]] for chunks in split]
        for chunk in new:
            if len(chunk) > _DEFAULT_MAX_CACHED_CHUNK:
                del known[chunk]
        return rows

    def _encode(self, texts: list[str]) -> list[Encoding]:
        try:
            return self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        except (
            TypeError
        ):  # the tokenizer refuses lone surrogates (possible from the Python API): replace them
            texts = [text.encode("utf-8", "replace").decode("utf-8") for text in texts]
            return self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)


def _splits_at_spaces(tokenizer: Tokenizer) -> bool:
    """Whether the tokenizer reads a text as it reads the text's space-separated chunks.

    That is: its output for a text is the concatenation of its output for those chunks.
    """
    try:
        spec = json.loads(tokenizer.to_str())
    except Exception:  # a tokenizer that cannot describe itself: take the safe path
        return False
    normalizer = (spec.get("normalizer") or {}).get("type")
    pre_tokenizer = (spec.get("pre_tokenizer") or {}).get("type")
    return normalizer in _PER_CHARACTER_NORMALIZERS and pre_tokenizer in _SPACE_SPLITTING_PRE_TOKENIZERS


def _load_static(model_class: type[StaticModel], folder: Path) -> StaticModel:
    """Build a model2vec StaticModel from a local folder.

    A plain folder (embeddings, tokenizer, config) is read directly: the
    library's own loader imports the model-card machinery of huggingface_hub,
    about 0.6 s of a cold `toolkit classify`. Anything else (quantized
    vocabularies, token mappings) goes through ``from_pretrained``.
    """
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    tensors = load_file(str(folder / "model.safetensors"))
    if set(tensors) != {"embeddings"}:
        return model_class.from_pretrained(str(folder), normalize=True)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return model_class(
        vectors=tensors["embeddings"],
        tokenizer=Tokenizer.from_file(str(folder / "tokenizer.json")),
        config=config,
        normalize=True,
        max_length=config.get("max_length", 512),
    )
