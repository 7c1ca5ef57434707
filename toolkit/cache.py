"""An on-disk cache of text embeddings, keyed by encoder fingerprint and text.

Retraining after a threshold, label or data change re-embeds only the texts
it has not seen. One SQLite file per encoder under ``$TOOLKIT_CACHE_DIR``
(default ``~/.cache/toolkit/embeddings``); ``TOOLKIT_CACHE_DIR=off`` disables it.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import numpy as np

_DEFAULT_CACHE_DIR = Path.home() / ".cache" / "toolkit" / "embeddings"
_CHUNK = 500


def cache_dir() -> Path | None:
    """The cache folder, or None when caching is switched off."""
    setting = os.environ.get("TOOLKIT_CACHE_DIR")
    if setting and setting.lower() in ("off", "0", "none", "false"):
        return None
    return Path(setting) if setting else _DEFAULT_CACHE_DIR


def _key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()


class CachedEncoder:
    """Wraps an encoder: vectors already computed for (encoder, text) are read back, not recomputed."""

    def __init__(self, encoder, folder: Path):
        self.encoder = encoder
        self.folder = folder
        self._dim: int | None = None

    def _connect(self) -> sqlite3.Connection:
        self.folder.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.folder / f"{self.encoder.fingerprint()}.sqlite")
        connection.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB)")
        connection.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
        return connection

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts``, computing only those missing from the cache."""
        keys = [_key(text) for text in texts]
        with self._connect() as connection:
            found = self._lookup(connection, list(dict.fromkeys(keys)))
            missing = [i for i, key in enumerate(keys) if key not in found]
            if missing:
                fresh = self.encoder.encode([texts[i] for i in missing])
                for i, vector in zip(missing, fresh):
                    found[keys[i]] = np.asarray(vector, dtype=np.float32)
                connection.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                    [(keys[i], found[keys[i]].tobytes()) for i in missing],
                )
                connection.execute("INSERT OR REPLACE INTO meta VALUES ('dim', ?)", (str(fresh.shape[1]),))
            dim = self._dim_from(connection, found)
        if not texts:
            return np.zeros((0, dim or 0), dtype=np.float32)
        return np.vstack([found[key] for key in keys])

    def _lookup(self, connection: sqlite3.Connection, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        found = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for key, blob in connection.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk):
                found[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
        return found

    def _dim_from(self, connection: sqlite3.Connection, found: dict) -> int | None:
        row = connection.execute("SELECT value FROM meta WHERE name = 'dim'").fetchone()
        self._dim = int(row[0]) if row else (len(next(iter(found.values()))) if found else None)
        return self._dim

    def fingerprint(self) -> str:
        """The wrapped encoder's fingerprint."""
        return self.encoder.fingerprint()

    def identity(self) -> dict:
        """The wrapped encoder's identity, without loading it when the cache already knows its dimension."""
        return self.encoder.identity(dim=self._dim)


def with_cache(encoder):
    """Wrap ``encoder`` in the on-disk cache unless caching is off or pointless (the hashing encoder)."""
    folder = cache_dir()
    if folder is None or getattr(encoder, "cacheable", True) is False:
        return encoder
    return CachedEncoder(encoder, folder)
