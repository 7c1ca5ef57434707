"""On-disk caches for training: embeddings, cleaned bodies and character n-gram counts, keyed by text.

Retraining after a threshold, label or data change recomputes features only
for texts it has not seen. One SQLite file per namespace (the encoder's
fingerprint, or the toolkit version and feature settings) under
``$TOOLKIT_CACHE_DIR`` (default ``~/.cache/toolkit``); ``TOOLKIT_CACHE_DIR=off``
disables it. Prediction never writes to the cache.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from toolkit.encoders.base import Encoder

_DEFAULT_CACHE_DIR = Path.home() / ".cache" / "toolkit"
_CHUNK = 500


def cache_dir() -> Path | None:
    """The cache folder, or None when caching is switched off."""
    setting = os.environ.get("TOOLKIT_CACHE_DIR")
    if setting and setting.lower() in ("off", "0", "none", "false"):
        return None
    return Path(setting) if setting else _DEFAULT_CACHE_DIR


@functools.cache
def source_hash(module: str) -> str:
    """A short hash of a toolkit module's source: cached values go stale when the code that made them changes.

    ``module`` is a dotted name below ``toolkit`` (``"cleaning"``, ``"encoders.static"``) or the full
    name of an imported module (an encoder defined elsewhere).
    """
    loaded = getattr(sys.modules.get(module), "__file__", None)
    if loaded:
        path = Path(loaded)
    else:
        parts = module.removeprefix("toolkit.").split(".")
        path = Path(__file__).resolve().parent.joinpath(*parts[:-1], f"{parts[-1]}.py")
    return hashlib.sha1(path.read_bytes()).hexdigest()[:12]


def _key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()


class Store:
    """A key-value table of bytes in ``<folder>/<namespace>.sqlite``."""

    def __init__(self, folder: Path, namespace: str) -> None:
        self.path = folder / f"{namespace}.sqlite"

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path)
        connection.execute("CREATE TABLE IF NOT EXISTS items (key BLOB PRIMARY KEY, value BLOB)")
        return connection

    def get_many(self, keys: list[bytes]) -> dict[bytes, bytes]:
        """Values found for ``keys``."""
        found = {}
        with self._connect() as connection:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for key, value in connection.execute(
                    f"SELECT key, value FROM items WHERE key IN ({marks})", chunk
                ):
                    found[bytes(key)] = bytes(value)
        return found

    def put_many(self, items: dict[bytes, bytes]) -> None:
        """Store ``items`` (replacing what was there)."""
        with self._connect() as connection:
            connection.executemany("INSERT OR REPLACE INTO items VALUES (?, ?)", list(items.items()))


def cached_map(
    texts: list[str],
    namespace: str,
    compute: Callable[[list[str]], list],
    encode: Callable[[object], bytes],
    decode: Callable[[bytes], object],
) -> list:
    """``compute(texts)``, reading back values cached under ``namespace`` and computing only the rest."""
    folder = cache_dir()
    if folder is None or not texts:
        return list(compute(texts))
    store = Store(folder, namespace)
    keys = [_key(text) for text in texts]
    try:
        found = {key: decode(value) for key, value in store.get_many(list(dict.fromkeys(keys))).items()}
    except (sqlite3.Error, OSError):  # an unwritable or damaged cache: work without it
        return list(compute(texts))
    first = {}
    for i, key in enumerate(keys):
        if key not in found:
            first.setdefault(key, i)
    if first:
        fresh = compute([texts[i] for i in first.values()])
        new_items = {}
        for key, value in zip(first, fresh, strict=True):
            found[key] = value
            new_items[key] = encode(value)
        try:
            store.put_many(new_items)
        except (sqlite3.Error, OSError):
            pass  # the values are computed; only their reuse is lost
    return [found[key] for key in keys]


class CachedEncoder:
    """Wraps an encoder: vectors already computed for (encoder, text) are read back, not recomputed."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self._dim: int | None = None

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts``, computing only those missing from the cache."""
        settings = getattr(self.encoder, "cache_settings", "")
        code = getattr(self.encoder, "cache_version", None) or source_hash(type(self.encoder).__module__)
        rows = cached_map(
            texts,
            f"embeddings-{self.encoder.fingerprint()}-{code}{settings}",
            lambda missing: list(self.encoder.encode(missing)),
            lambda vector: np.asarray(vector, dtype=np.float32).tobytes(),
            lambda blob: np.frombuffer(blob, dtype=np.float32),
        )
        if rows:
            self._dim = len(rows[0])
            return np.vstack(rows)
        return self.encoder.encode(texts)

    def split_units(self, body: str) -> list[str]:
        """The wrapped encoder's own split of a body into units (paragraph units when it has none)."""
        from toolkit.text import paragraph_units

        return getattr(self.encoder, "split_units", paragraph_units)(body)

    def fingerprint(self) -> str:
        """The wrapped encoder's fingerprint."""
        return self.encoder.fingerprint()

    def identity(self, dim: int | None = None) -> dict:
        """The wrapped encoder's identity, without loading it when the cache already gave the dimension."""
        return self.encoder.identity(dim=dim or self._dim)


def with_cache(encoder: Encoder) -> Encoder:
    """Wrap ``encoder`` in the on-disk cache unless caching is off or pointless (the hashing encoder)."""
    if cache_dir() is None or getattr(encoder, "cacheable", True) is False:
        return encoder
    return CachedEncoder(encoder)
