"""Fuzzing the model format: every damaged or crafted file loads as a working model or is one ModelError line.

Random bytes, truncations, flipped bytes in the header and in the tensor data,
metadata fields rewritten with wrong types, NaN and huge values, and huge
shape claims. A load that succeeds must give finite probabilities. Seeded, so
every run tries the same files; each load is timed.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tests.conftest import ROOT
from toolkit.classifier import TopicClassifier
from toolkit.errors import ModelError
from toolkit.persistence import save_state

TEXTS = ["The foundry will make chips on a new process.\n\nInvestors raised 40 million.", "Rain later."]
_SLOWEST_LOAD_S = 2.0
_WRONG_VALUES = ["2.0", -1, 0, 10**30, 1e308, None, [], {}, True, "x" * 3000, "__NaN__", "__Infinity__"]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory, corpus, taxonomy) -> bytes:
    """A model trained on the hashing encoder, given a small char block so every field is present."""
    model = TopicClassifier(encoder="hashing:32", topics=taxonomy, features="embedding", cv=2, seed=0)
    state = model.fit([d["text"] for d in corpus], [d["labels"] for d in corpus]).to_state()
    rng = np.random.default_rng(0)
    n_classes = len(state["classes"])
    state["params"]["features"] = "embedding+chars"
    state["chars"] = {"n_features": 64, "ngram_range": [2, 3], "idf": np.full(64, 1.5, dtype=np.float32)}
    chars = rng.normal(size=(n_classes, 64)).astype(np.float32)
    state["coef"] = np.hstack([state["coef"], chars])
    state["unit_coef"] = np.hstack([state["unit_coef"], chars[::-1]])
    path = tmp_path_factory.mktemp("fuzz") / "small.safetensors"
    save_state(state, path)
    TopicClassifier.load(path).predict_proba(TEXTS)  # the starting point is a working model
    return path.read_bytes()


def _split(data: bytes) -> tuple[dict, int]:
    size = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + size]), 8 + size


def _with_header(header: dict, tensors: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + tensors


def _with_metadata(data: bytes, metadata: dict) -> bytes:
    header, start = _split(data)
    text = json.dumps(metadata)
    text = text.replace('"__NaN__"', "NaN").replace('"__Infinity__"', "-Infinity")
    header["__metadata__"]["toolkit"] = text
    return _with_header(header, data[start:])


_OPTIONAL_FIELDS = {
    "terms"
}  # a model without the topics' typical terms loads (its evidence ranks by score only)


def _leaves(value: object, path: tuple = ()) -> list[tuple]:
    """Every path to a value in a JSON document (containers included)."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _leaves(item, (*path, index))
    return found


def _replaced(document: object, path: tuple, value: object) -> object:
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


def _load_once(data: bytes, path, what: str) -> str:
    """Load ``data``; 'ok' (and finite scores) or 'refused' (one-line ModelError). Anything else fails."""
    path.write_bytes(data)
    started = time.perf_counter()
    try:
        model = TopicClassifier.load(path)
        proba = model.predict_proba(TEXTS)
        assert proba.shape == (len(TEXTS), len(model.classes_)), what
        assert np.isfinite(proba).all() and (proba >= 0).all() and (proba <= 1).all(), what
        outcome = "ok"
    except ModelError as exc:
        assert "\n" not in str(exc) and str(exc), f"{what}: {exc!r}"
        outcome = "refused"
    except Exception as exc:  # the point of the test: nothing but ModelError may escape
        pytest.fail(f"{what}: {type(exc).__name__}: {exc}")
    elapsed = time.perf_counter() - started
    assert elapsed < _SLOWEST_LOAD_S, f"{what} took {elapsed:.1f} s"
    return outcome


def test_random_bytes_and_truncations(small_model, tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "fuzzed.safetensors"
    _, start = _split(small_model)
    for trial in range(40):
        blob = rng.integers(0, 256, size=int(rng.integers(0, 3000)), dtype=np.uint8).tobytes()
        assert _load_once(blob, path, f"random bytes {trial}") == "refused"
        claimed = struct.pack("<Q", int(rng.integers(0, 4000))) + b"{" + blob
        assert _load_once(claimed, path, f"random header {trial}") == "refused"
    cuts = sorted(
        {*range(0, start + 16, max(1, start // 80)), *rng.integers(start, len(small_model), 20).tolist()}
    )
    for cut in cuts:
        assert _load_once(small_model[:cut], path, f"truncated at {cut}") == "refused"


def test_flipped_bytes_in_the_header_and_the_data(small_model, tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "fuzzed.safetensors"
    _, start = _split(small_model)
    outcomes = []
    for trial in range(300):
        data = bytearray(small_model)
        low, high = (8, start) if trial < 200 else (start, len(data))
        for position in rng.integers(low, high, size=int(rng.integers(1, 4))):
            data[position] = int(rng.integers(0, 256))
        outcomes.append(_load_once(bytes(data), path, f"flip {trial}"))
    assert "refused" in outcomes and "ok" in outcomes  # data flips that keep numbers sane still load


def test_metadata_fields_rewritten_with_wrong_values(small_model, tmp_path):
    path = tmp_path / "fuzzed.safetensors"
    header, _ = _split(small_model)
    metadata = json.loads(header["__metadata__"]["toolkit"])
    outcomes = {}
    for field, value in [(field, value) for field in _leaves(metadata) for value in _WRONG_VALUES]:
        data = _with_metadata(small_model, _replaced(metadata, field, value))
        outcomes[field, repr(value)] = _load_once(data, path, f"{'.'.join(map(str, field))} = {value!r:.40}")
    for key in list(metadata):
        data = _with_metadata(small_model, {k: v for k, v in metadata.items() if k != key})
        expected = "ok" if key in _OPTIONAL_FIELDS else "refused"
        assert _load_once(data, path, f"without {key}") == expected
    assert list(outcomes.values()).count("refused") > len(outcomes) // 2


@pytest.mark.parametrize(
    ("entry", "value"),
    [
        ("shape", [2**40, 2**40]),
        ("shape", [2**63]),
        ("shape", [-1, 4]),
        ("shape", ["4", 96]),
        ("shape", []),
        ("dtype", "F16"),
        ("dtype", "BOOL"),
        ("dtype", "STR"),
        ("data_offsets", [0, 2**64]),
        ("data_offsets", [-8, 8]),
        ("data_offsets", [0.0, 8.5]),
        ("data_offsets", [8, 0]),
    ],
)
def test_huge_or_odd_tensor_claims_in_the_header(small_model, tmp_path, entry, value):
    header, start = _split(small_model)
    for name in [key for key in header if key != "__metadata__"]:
        changed = json.loads(json.dumps(header))
        changed[name][entry] = value
        data = _with_header(changed, small_model[start:])
        assert _load_once(data, tmp_path / "claim.safetensors", f"{name}.{entry} = {value}") == "refused"


_LIMITED_LOAD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))
from toolkit.classifier import TopicClassifier
from toolkit.errors import ModelError
try:
    TopicClassifier.load(sys.argv[1])
except ModelError as exc:
    print("refused:", exc)
    sys.exit(0)
sys.exit(3)
"""


def test_a_huge_consistent_shape_claim_fails_cleanly_under_a_memory_limit(small_model, tmp_path):
    """Metadata and header agree on a 67 GB head that the file does not hold: refused, nothing allocated."""
    header, start = _split(small_model)
    metadata = json.loads(header["__metadata__"]["toolkit"])
    metadata["classes"] = [f"c{i}" for i in range(1000)]
    metadata["descriptions"], metadata["training"], metadata["cv_scores"], metadata["terms"] = {}, {}, {}, {}
    metadata["chars"]["n_features"] = 2**24
    metadata["encoder"] = {
        **metadata["encoder"],
        "name": "hashing:65536",
        "hash": "hashing-65536",
        "dim": 65536,
    }
    width = 65536 + 2**24
    claims = {"thresholds": ("F64", [1000]), "coef": ("F32", [1000, width]), "intercept": ("F32", [1000])}
    claims["unit_coef"], claims["unit_intercept"] = claims["coef"], claims["intercept"]
    claims["chars.idf"] = ("F32", [2**24])
    offset, entries = 0, {"__metadata__": {"toolkit": json.dumps(metadata)}}
    for name, (dtype, shape) in claims.items():
        size = int(np.prod(shape)) * (8 if dtype == "F64" else 4)
        entries[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    path = tmp_path / "huge.safetensors"
    path.write_bytes(_with_header(entries, small_model[start:]))
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    script = textwrap.dedent(_LIMITED_LOAD)
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("refused:") and "data offsets" in result.stdout
