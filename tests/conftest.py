"""Shared fixtures: a test-owned topics file, a small synthetic labelled corpus, and a model trained on it
with the hashing encoder.

The tests use ``tests/data/topics.toml``, not the shipped ``seeds/topics.toml``, so adding a topic to
the shipped file changes no test here; only the tests of the shipped model and data read the shipped file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from toolkit.classifier import TopicClassifier
from toolkit.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parent.parent
SHARED_SEEDS = ROOT.parent / "shared" / "seeds"
TOPICS_FILE = Path(__file__).resolve().parent / "data" / "topics.toml"
TOPICS = load_taxonomy(TOPICS_FILE).names
"""The test-owned topic names, in file order: use these wherever a test means "every topic"."""

_TOPIC_SENTENCES = {
    "funding": [
        "The start-up raised {n} million dollars in a funding round led by venture investors.",
        "The government committed {n} billion to artificial intelligence research over five years.",
        "Investors poured fresh capital into the AI company, valuing it at {n} billion.",
    ],
    "consortium": [
        "Several companies agreed to form a joint venture and pool their engineers.",
        "An alliance of {n} firms will create a new entity to share research.",
        "The partners signed a consortium agreement to build the platform together.",
    ],
    "chips": [
        "The foundry will produce semiconductors on a new {n} nanometre process.",
        "Demand for GPUs and memory chips strained the wafer supply.",
        "Export controls on advanced chips hit the fab equipment makers.",
    ],
    "physical_ai": [
        "Humanoid robots driven by learning models now sort parcels in the warehouse.",
        "The autonomous trucks use sensors and AI to navigate the port.",
        "The factory installed robot arms that learn new assembly tasks from cameras.",
    ],
}
_FILLER = [
    "The city council met on Tuesday to discuss the budget for parks.",
    "Rain is expected across the region later this week.",
    "The museum opened an exhibition of early twentieth century painting.",
    "Local football fans celebrated a late winning goal.",
]
if set(_TOPIC_SENTENCES) != set(TOPICS):
    raise RuntimeError(f"{TOPICS_FILE} and the synthetic corpus in conftest.py must name the same topics")


def make_corpus(n: int = 80, seed: int = 0) -> list[dict]:
    """Deterministic labelled documents whose sentences signal their topics."""
    rng = random.Random(seed)
    names = list(_TOPIC_SENTENCES)
    docs = []
    for i in range(n):
        labels = sorted(rng.sample(names, k=rng.choice([0, 1, 1, 2, 2, 3])))
        sentences = [rng.choice(_TOPIC_SENTENCES[t]).format(n=rng.randint(2, 90)) for t in labels]
        sentences += rng.sample(_FILLER, k=2)
        rng.shuffle(sentences)
        text = f"Headline number {i}\n\n" + "\n\n".join(sentences)
        docs.append({"id": f"d{i:03d}", "text": text, "labels": labels, "language": "en"})
    return docs


@pytest.fixture(scope="session")
def corpus() -> list[dict]:
    return make_corpus()


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory, corpus) -> Path:
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in corpus), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def taxonomy():
    return load_taxonomy(TOPICS_FILE)


@pytest.fixture(scope="session")
def fitted(corpus, taxonomy) -> TopicClassifier:
    model = TopicClassifier(encoder="hashing", topics=taxonomy, cv=3, seed=0)
    return model.fit([d["text"] for d in corpus], [d["labels"] for d in corpus])


@pytest.fixture(scope="session")
def model_file(tmp_path_factory, fitted) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    fitted.save(path)
    return path


def pytest_addoption(parser):
    parser.addoption(
        "--slow",
        action="store_true",
        default=False,
        help="also run the tests marked slow (real sentence-transformers model)",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="real-model test: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_user_paths(monkeypatch):
    """Tests choose their model and topics files: the user's $TOOLKIT_MODEL/$TOOLKIT_TOPICS stay out."""
    monkeypatch.delenv("TOOLKIT_MODEL", raising=False)
    monkeypatch.delenv("TOOLKIT_TOPICS", raising=False)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Keep the embedding cache of test runs away from the user's."""
    import os

    os.environ["TOOLKIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("embedding-cache"))
