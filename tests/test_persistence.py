"""Model files: safe loading, clear errors, atomic saves."""

from __future__ import annotations

import os
import pickle

import joblib
import pytest

from toolkit import TopicClassifier
from toolkit.errors import ModelError
from toolkit.persistence import FORMAT_VERSION, read_state

load_model = TopicClassifier.load


class _Planted:
    """Unpickling this would create a marker file and run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_planted_pickle_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.joblib"
    joblib.dump({"format": "toolkit-topic-model", "payload": _Planted(marker)}, path)
    with pytest.raises(ModelError, match=r"refusing to load .*posix\.system|refusing to load .*os\.system"):
        load_model(path)
    assert not marker.exists()


def test_planted_plain_pickle_with_builtins_eval(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (eval, (f"open({str(marker)!r}, 'w')",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ModelError, match="builtins.eval"):
        load_model(path)
    assert not marker.exists()


def test_object_arrays_are_refused(tmp_path):
    import numpy as np

    path = tmp_path / "objects.joblib"
    joblib.dump({"format": "toolkit-topic-model", "coef": np.array([{"a": 1}], dtype=object)}, path)
    with pytest.raises(ModelError, match="refusing to load .*(object array|non-numeric)"):
        load_model(path)


def test_truncated_file(model_file, tmp_path):
    path = tmp_path / "cut.joblib"
    path.write_bytes(model_file.read_bytes()[:5000])
    with pytest.raises(ModelError, match="not a readable toolkit model.*retrain"):
        load_model(path)


def test_not_a_model(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("just some notes\n")
    with pytest.raises(ModelError, match="not a readable toolkit model"):
        load_model(path)
    other = tmp_path / "dict.joblib"
    joblib.dump({"hello": 1}, other)
    with pytest.raises(ModelError, match="not a toolkit model file"):
        load_model(other)


def test_missing_file_says_how_to_get_one(tmp_path):
    with pytest.raises(ModelError, match="toolkit train"):
        load_model(tmp_path / "absent.joblib")


def _rewrite(model_file, tmp_path, **changes):
    state = read_state(model_file)
    state.update(changes)
    path = tmp_path / "changed.joblib"
    joblib.dump(state, path)
    return path


def test_newer_format_is_refused(model_file, tmp_path):
    path = _rewrite(model_file, tmp_path, format_version=FORMAT_VERSION + 1)
    with pytest.raises(ModelError, match="newer than this toolkit reads.*upgrade"):
        load_model(path)


def test_other_library_major_version_is_refused(model_file, tmp_path):
    state = read_state(model_file)
    versions = dict(state["versions"], **{"scikit-learn": "0.24.2"})
    path = _rewrite(model_file, tmp_path, versions=versions)
    with pytest.raises(ModelError, match=r"scikit-learn==0\.24\.2.*pip install"):
        load_model(path)


def test_encoder_mismatch_is_detected_on_use(model_file, tmp_path):
    state = read_state(model_file)
    path = _rewrite(model_file, tmp_path, encoder=dict(state["encoder"], hash="0000"))
    model = load_model(path)
    with pytest.raises(ModelError, match="trained with encoder .*retrain"):
        model.predict(["some text"])


def test_failed_save_keeps_the_previous_model(fitted, tmp_path, monkeypatch):
    path = tmp_path / "model.joblib"
    fitted.save(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(joblib, "dump", crash)
    with pytest.raises(OSError):
        fitted.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]
    assert TopicClassifier.load(path).predict(["x"]) is not None


class _ForgedDtype:
    """A dtype whose pickled state adds an object field while claiming plain-data flags."""

    def __reduce__(self):
        import numpy as np

        return (np.dtype, ("V8", False, True), (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 0))


def test_forged_dtype_is_refused_before_any_data_is_read(tmp_path):
    path = tmp_path / "forged.joblib"
    joblib.dump({"format": "toolkit-topic-model", "x": _ForgedDtype()}, path)
    with pytest.raises(ModelError, match="malformed dtype"):
        load_model(path)


def test_damaged_inner_structure_is_one_line(model_file, tmp_path):
    state = read_state(model_file)
    path = _rewrite(model_file, tmp_path, params={"features": "embedding+chars"})
    with pytest.raises(ModelError, match="damaged"):
        load_model(path)
    path = _rewrite(model_file, tmp_path, coef=state["coef"][:, :10])
    with pytest.raises(ModelError, match="damaged"):
        load_model(path)
