"""What every encoder shares: the interface, row normalisation, and fingerprints of model folders."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import numpy as np

from toolkit.errors import ModelError


class Encoder(Protocol):
    """What the classifier needs from an encoder."""

    def encode(self, texts: list[str]) -> np.ndarray:
        """Return one L2-normalised float32 row per text."""

    def fingerprint(self) -> str:
        """A short content hash that tells this encoder's weights apart from any other's."""

    def identity(self, dim: int | None = None) -> dict:
        """Return ``kind``, ``name``, ``hash`` and ``dim``: enough to find and verify the encoder."""


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to unit L2 length (all-zero rows stay zero), as float32."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32)


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


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def file_fingerprint_hash(path: str | Path, extra: str = "") -> str:
    """A short SHA-256 of one weights file (sampled when large, as in :func:`folder_hash`) and ``extra``."""
    digest = hashlib.sha256(extra.encode())
    digest.update(_file_fingerprint(Path(path)))
    return digest.hexdigest()[:16]


class VerifiedEncoder:
    """Wraps an encoder and checks, on first use, that it is the one the model was trained with."""

    def __init__(self, encoder: Encoder, expected: dict, path: str | Path) -> None:
        self._encoder = encoder
        self._expected = expected
        self._path = path
        self._verified = False

    def encode(self, texts: list[str]) -> np.ndarray:
        """Verify the encoder once, then embed (vectors of the recorded dimension)."""
        if not self._verified:
            actual = {"hash": self._encoder.fingerprint()}
            if actual["hash"] != self._expected.get("hash"):
                raise ModelError(
                    f"{self._path} was trained with encoder {self._expected.get('name')!r} "
                    f"(hash {self._expected.get('hash')}), but the installed one hashes to {actual['hash']}: "
                    "install the encoder it was trained with, or retrain with `toolkit train --encoder ...`"
                )
            self._verified = True
        vectors = self._encoder.encode(texts)
        if vectors.ndim != 2 or vectors.shape[1] != self._expected.get("dim"):
            raise ModelError(
                f"{self._path} records encoder dimension {self._expected.get('dim')}, but the encoder gives "
                f"{vectors.shape[1:]}: the file is damaged; retrain it"
            )
        return vectors

    def split_units(self, body: str) -> list[str]:
        """The wrapped encoder's own split of a body into units (paragraph units when it has none)."""
        from toolkit.text import paragraph_units

        return getattr(self._encoder, "split_units", paragraph_units)(body)

    @property
    def fork_safe(self) -> bool:
        """Whether worker processes may be forked after this encoder ran."""
        return getattr(self._encoder, "fork_safe", True)

    def fingerprint(self) -> str:
        """The fingerprint recorded in the model file."""
        return str(self._expected.get("hash"))

    def identity(self, dim: int | None = None) -> dict:
        """The identity recorded in the model file."""
        return dict(self._expected)
