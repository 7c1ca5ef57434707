"""Old model files (toolkit 0.1's joblib pickles), read only to convert them to the safetensors format.

A legacy file is read by a pickle machine that can build nothing but plain
values, joblib's array wrappers and numeric dtypes: no global is called except
``numpy.dtype`` on a type string, every wrapper's shape, order and dtype are
checked against the bytes left in the file before its array is read, and the
result goes through the same checks as a safetensors model before it is
written. Loading a model never comes here; ``toolkit convert`` does.
"""

from __future__ import annotations

import io
import math
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler

from toolkit.errors import ModelError
from toolkit.persistence import (
    FORMAT_VERSION,
    check_state,
    check_versions,
    compression,
    join_state,
    read_model_bytes,
    save_state,
    shown_path,
    split_state,
)

_ALLOWED_GLOBALS = {
    ("joblib.numpy_pickle", "NumpyArrayWrapper"): NumpyArrayWrapper,
    ("numpy", "ndarray"): np.ndarray,  # only as a wrapper's ``subclass`` value; never called
    ("numpy", "dtype"): np.dtype,
}
_WRAPPER_FIELDS = {"subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes"}
_DTYPES = {np.dtype(code).newbyteorder(order) for code in ("f4", "f8", "i4", "i8") for order in "<>"}
_MAX_NODES = 200_000
_ARRAY_PLACES = {("thresholds",), ("coef",), ("intercept",), ("chars", "idf")}
_MAX_DEPTH = 32
_LEGACY_DEFAULTS = {"descriptions": {}, "chars": None, "training": {}, "cv_scores": {}, "versions": {}}
"""Fields that early models may lack, with the values that mean "none"."""


def convert_legacy_model(source: str | Path, target: str | Path) -> Path:
    """Read a toolkit 0.1 ``.joblib`` model safely and write it as a safetensors model at ``target``.

    The numbers are copied unchanged, so the converted model predicts exactly
    as the old one did. ``target`` is written atomically.
    """
    if Path(source).resolve() == Path(target).resolve():
        raise ModelError(f"{source}: write the converted model to another file")
    state = read_legacy_state(source)
    return save_state(state, target)


def read_legacy_state(path: str | Path) -> dict:
    """The checked state held by a legacy joblib model file; one-line :class:`ModelError` on any problem."""
    data = read_model_bytes(path)
    where = shown_path(path)
    if compression(data):
        raise ModelError(
            f"{where} is a {compression(data)}-compressed joblib file, which toolkit never wrote; retrain it"
        )
    if not data.startswith(b"\x80"):
        raise ModelError(f"{where} is not a legacy (.joblib) toolkit model")
    try:
        loaded = _LegacyUnpickler(where, data).load()
    except ModelError:
        raise
    except Exception as exc:  # truncated or corrupt pickles raise many different types
        raise ModelError(
            f"{where} is not a readable legacy toolkit model ({type(exc).__name__}); retrain it"
        ) from None
    state = _json_copy(loaded, where)
    if not isinstance(state, dict) or state.get("format") != "toolkit-topic-model":
        raise ModelError(f"{where} is not a toolkit model file")
    if state.get("format_version") != 1:
        raise ModelError(f"{where}: a legacy model has format_version 1, not {state.get('format_version')!r}")
    state = {**_LEGACY_DEFAULTS, **state, "format_version": FORMAT_VERSION}
    if isinstance(state.get("params"), dict):
        state["params"] = {"paragraph_weight": 0.0, **state["params"]}  # models before the paragraph weight
    metadata, tensors = split_state(state)
    check_state(metadata, tensors, where)
    check_versions(metadata, where)
    return join_state(metadata, tensors)


def _json_copy(value: Any, where: str) -> Any:
    """A copy of the unpickled value holding only JSON types, and arrays where a model keeps them.

    Shared references in a pickle can describe a structure far bigger than
    the file; the walk stops after ``_MAX_NODES`` values.
    """
    budget = [_MAX_NODES]

    def walk(item: Any, path: tuple) -> Any:
        budget[0] -= 1
        if budget[0] < 0 or len(path) > _MAX_DEPTH:
            raise ModelError(f"{where} holds a structure no toolkit model has (too deep or too large)")
        if item is None or type(item) in (bool, int, float, str):
            return item
        if type(item) is np.ndarray and path in _ARRAY_PLACES:
            return item
        if type(item) in (list, tuple):
            return [walk(element, (*path, index)) for index, element in enumerate(item)]
        if type(item) is dict and all(type(key) is str for key in item):
            return {key: walk(element, (*path, key)) for key, element in item.items()}
        place = ".".join(map(str, path)) or "the top level"
        raise ModelError(f"{where} holds a {type(item).__name__} at {place}, where no toolkit model does")

    return walk(value, ())


class _LegacyUnpickler(NumpyUnpickler):
    """joblib's numpy unpickler, allowed to build only plain values, numeric dtypes and array wrappers."""

    dispatch = NumpyUnpickler.dispatch.copy()

    def __init__(self, where: str, data: bytes) -> None:
        super().__init__(where, io.BytesIO(data), ensure_native_byte_order=True)
        self._size = len(data)

    def _refuse(self, what: str) -> ModelError:
        return ModelError(
            f"refusing to load {self.filename}: it asks for {what}, which a toolkit model never contains "
            "(the file may be malicious); nothing was executed"
        )

    def find_class(self, module: str, name: str) -> Callable[..., object]:
        """Only the numpy/joblib pieces that rebuild arrays may be named by the file."""
        found = _ALLOWED_GLOBALS.get((module, name))
        if found is None:
            raise self._refuse(f"{module}.{name}")
        return found

    def _instantiate(self, klass: object, args: tuple) -> None:
        """INST and OBJ: calls the file names; a joblib model never uses them."""
        raise self._refuse(f"a call to {getattr(klass, '__name__', type(klass).__name__)}")

    def load_reduce(self) -> None:
        """REDUCE: only ``numpy.dtype`` of a type string, and only plain numeric results."""
        args = self.stack.pop()
        func = self.stack[-1]
        if func is not np.dtype or not isinstance(args, tuple) or not args or type(args[0]) is not str:
            raise self._refuse(f"a call to {getattr(func, '__name__', type(func).__name__)}")
        if len(args[0]) > 8 or any(type(flag) is not bool for flag in args[1:3]) or len(args) > 3:
            raise self._refuse("a malformed dtype")
        dtype = np.dtype(args[0])
        if dtype not in _DTYPES:
            raise ModelError(
                f"refusing to load {self.filename}: it declares a non-numeric or malformed dtype"
            )
        self.stack[-1] = dtype

    def load_newobj(self) -> None:
        """NEWOBJ: only an empty joblib array wrapper, filled by BUILD."""
        args = self.stack.pop()
        cls = self.stack[-1]
        if cls is not NumpyArrayWrapper or args != ():
            raise self._refuse(f"a new {getattr(cls, '__name__', type(cls).__name__)}")
        self.stack[-1] = NumpyArrayWrapper.__new__(NumpyArrayWrapper)

    def load_newobj_ex(self) -> None:
        """NEWOBJ_EX: never in a joblib model."""
        raise self._refuse("an object built with keyword arguments")

    def load_build(self) -> None:
        """BUILD: fill an array wrapper (checked) and read its array; a dtype's state must be its own."""
        state = self.stack.pop()
        target = self.stack[-1]
        if isinstance(target, np.dtype):
            if state != target.__reduce__()[2]:
                raise ModelError(
                    f"refusing to load {self.filename}: it declares a non-numeric or malformed dtype"
                )
            return
        if type(target) is not NumpyArrayWrapper:
            raise self._refuse(f"the state of a {type(target).__name__}")
        self._check_wrapper(state)
        target.__dict__.update(state)
        self.stack[-1] = target.read(self, self.ensure_native_byte_order)

    def _check_wrapper(self, state: object) -> None:
        """A wrapper's fields: a plain C/F-ordered numeric array no bigger than the rest of the file."""
        if (
            not isinstance(state, dict)
            or not {"shape", "order", "dtype", "subclass"} <= set(state) <= _WRAPPER_FIELDS
        ):
            raise self._refuse("an array wrapper with odd fields")
        shape, dtype = state["shape"], state["dtype"]
        if (
            state["subclass"] is not np.ndarray
            or state["order"] not in ("C", "F")
            or state.get("allow_mmap", False) not in (True, False)
            or state.get("numpy_array_alignment_bytes", 16) not in (None, 8, 16, 32, 64)
            or not isinstance(dtype, np.dtype)
            or dtype not in _DTYPES
            or type(shape) is not tuple
            or len(shape) > 2
            or not all(type(side) is int and side >= 0 for side in shape)
        ):
            raise ModelError(f"refusing to load {self.filename}: it holds an array that is not plain numbers")
        left = self._size - self.file_handle.tell()
        if math.prod(shape) * dtype.itemsize > left:
            raise ModelError(
                f"{self.filename} is truncated or damaged: an array claims more bytes than remain"
            )

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.BUILD[0]] = load_build
