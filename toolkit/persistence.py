"""Model files: a model's plain-data state to bytes on disk and back, atomically and safely.

This module knows nothing of the classifier: the classifier turns itself into a
state (``to_state``) and back (``from_state``); this module writes and reads it.

A model file is a joblib pickle of one dict holding only plain Python values
(str, int, float, bool, None, lists, dicts) and numpy arrays of numbers. Loading
uses an unpickler that accepts nothing else: any other global (a class, a
function such as ``os.system``) or an object-dtype array is refused before it
can be built, so opening a planted file runs no code.
"""

from __future__ import annotations

import io
import os
import pickle
import platform
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler

from toolkit.errors import ModelError

FORMAT_NAME = "toolkit-topic-model"
FORMAT_VERSION = 1
_ALLOWED_GLOBALS = {
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}
_PLAIN_KINDS = "biufc"
_CHECKED_LIBRARIES = ("numpy", "scikit-learn")


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model file and its features depend on."""
    from importlib.metadata import version

    from toolkit import __version__

    return {
        "toolkit": __version__,
        "numpy": np.__version__,
        "scikit-learn": version("scikit-learn"),
        "python": platform.python_version(),
    }


def _plain(value: Any) -> Any:
    """Numpy scalars (in keys too) to Python values, recursively; arrays stay arrays."""
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_state(state: dict, path: str | Path) -> Path:
    """Write a model's plain-data ``state`` to ``path`` atomically.

    A crash mid-write leaves any previous file intact. The file's format
    name, format version and the library versions are added here.
    """
    import joblib

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = _plain(
        {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **state, "versions": library_versions()}
    )
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            joblib.dump(state, stream)
            stream.flush()
            os.fsync(stream.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600 files; a model is meant to be shared
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_state(path: str | Path) -> dict:
    """Read a model file's dict with the safe unpickler; one-line :class:`ModelError` on any problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"no model file at {path}: train one with `toolkit train`") from None
    except IsADirectoryError:
        raise ModelError(f"{path} is a directory, not a model file") from None
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    try:
        state = _SafeUnpickler(str(path), io.BytesIO(data), ensure_native_byte_order=True).load()
    except ModelError:
        raise
    except Exception as exc:  # truncated or corrupt pickles raise many different types
        raise ModelError(
            f"{path} is not a readable toolkit model ({type(exc).__name__}); retrain it"
        ) from None
    _check_format(state, path)
    return state


def _check_format(state: object, path: Path) -> None:
    if not isinstance(state, dict) or state.get("format") != FORMAT_NAME:
        raise ModelError(f"{path} is not a toolkit model file")
    version = state.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(
            f"{path} uses model format {version}, newer than this toolkit reads ({FORMAT_VERSION}): "
            "upgrade toolkit"
        )
    missing = [
        key for key in ("classes", "thresholds", "coef", "intercept", "params", "encoder") if key not in state
    ]
    if missing:
        raise ModelError(f"{path} is missing {', '.join(missing)}: the file is damaged; retrain it")


def check_versions(state: dict, path: str | Path) -> None:
    """Refuse a model whose numpy or scikit-learn major version differs from the installed one."""
    stored = state.get("versions") or {}
    current = library_versions()
    mismatched = [
        f"{name}=={stored[name]}"
        for name in _CHECKED_LIBRARIES
        if name in stored and stored[name].split(".")[0] != current[name].split(".")[0]
    ]
    if mismatched:
        raise ModelError(
            f"{path} was made with {', '.join(mismatched)}; install those versions "
            f"(pip install {' '.join(mismatched)}) or retrain with `toolkit train`"
        )


def _plain_dtype(dtype: np.dtype) -> bool:
    """True for an ordinary numeric dtype whose description round-trips (no fields, objects or sub-arrays)."""
    try:
        return (
            type(dtype) is type(np.dtype(dtype.str))
            and dtype.names is None
            and dtype.subdtype is None
            and dtype.kind in _PLAIN_KINDS
            and not dtype.hasobject
            and dtype == np.dtype(dtype.str)
        )
    except (TypeError, ValueError, AttributeError):
        return False


class _SafeUnpickler(NumpyUnpickler):
    """joblib's numpy unpickler restricted to an allow-list of globals and numeric arrays."""

    dispatch = NumpyUnpickler.dispatch.copy()

    def find_class(self, module: str, name: str) -> Callable[..., object]:
        """Only the numpy/joblib pieces that rebuild arrays may be named by the file."""
        if (module, name) not in _ALLOWED_GLOBALS:
            raise ModelError(
                f"refusing to load {self.filename}: it asks for {module}.{name}, which a toolkit model never "
                "contains (the file may be malicious); nothing was executed"
            )
        return super().find_class(module, name)

    def load_build(self) -> None:
        """Check every dtype, array and joblib array wrapper as soon as it is built, before any data are read.

        A dtype's pickled state can claim flags that contradict its fields (an
        object field flagged as plain data); such a dtype would let raw file
        bytes be read as object pointers, so only plain numeric dtypes pass.
        """
        pickle._Unpickler.load_build(self)
        top = self.stack[-1]
        if isinstance(top, np.dtype) and not _plain_dtype(top):
            raise ModelError(
                f"refusing to load {self.filename}: it declares a non-numeric or malformed dtype"
            )
        if isinstance(top, np.ndarray) and not _plain_dtype(top.dtype):
            raise ModelError(f"refusing to load {self.filename}: it holds an array that is not plain numbers")
        if isinstance(top, NumpyArrayWrapper):
            if not _plain_dtype(top.dtype) or top.subclass is not np.ndarray:
                raise ModelError(
                    f"refusing to load {self.filename}: it holds an object array, not plain numbers"
                )
            self.stack.append(self.stack.pop().read(self, self.ensure_native_byte_order))

    dispatch[pickle.BUILD[0]] = load_build
