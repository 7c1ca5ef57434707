"""The shipped corpus and taxonomy: counts, split hygiene, no publisher text.

These tests check the shipped files against one another, so they read ``seeds/topics.toml`` (not the
test-owned topics file): the corpus must cover every shipped topic, and the shipped model must have been
trained on the shipped topics. Adding a topic fails them until its examples are labelled and the model
retrained, by design.
"""

from __future__ import annotations

import importlib.util
import re
from collections import Counter

import pytest

from tests.conftest import ROOT, SHARED_SEEDS
from toolkit.classifier import TopicClassifier
from toolkit.cli import default_model_path
from toolkit.io import load_dataset
from toolkit.taxonomy import load_taxonomy
from toolkit.validation import near_duplicates


@pytest.fixture(scope="module")
def shipped_topics() -> list[str]:
    """The topic names of the shipped ``seeds/topics.toml``."""
    return load_taxonomy().names


@pytest.fixture(scope="module")
def splits():
    train, problems_train = load_dataset(ROOT / "datasets" / "train.jsonl")
    test, problems_test = load_dataset(ROOT / "datasets" / "test.jsonl")
    assert problems_train == [] and problems_test == []
    return train, test


def test_corpus_counts(splits, shipped_topics):
    docs = splits[0] + splits[1]
    languages = Counter(doc.language for doc in docs)
    assert len(languages) >= 20
    for language in ("en", "ar", "ja", "zh", "ko", "de", "fr", "es", "pt", "ru", "it", "tr"):
        assert languages[language] >= 60, language
    assert min(languages.values()) >= 25
    labels = Counter(label for doc in docs for label in doc.labels)
    assert all(labels[topic] >= 150 for topic in shipped_topics)
    assert sum(1 for doc in docs if not doc.labels) >= 0.25 * len(docs)


def test_every_article_has_a_story_and_stories_do_not_cross_the_split(splits):
    train, test = splits
    assert all(doc.story for doc in train + test)
    assert not {doc.story for doc in train} & {doc.story for doc in test}


def test_every_label_combination_occurs(splits, shipped_topics):
    combos = {tuple(sorted(doc.labels)) for doc in splits[0] + splits[1]}
    assert {label for combo in combos for label in combo} <= set(shipped_topics)
    assert len(combos) == 2 ** len(shipped_topics)
    single_or_none = sum(len(doc.labels) <= 1 for doc in splits[0] + splits[1])
    assert single_or_none >= 0.55 * len(splits[0] + splits[1])


def test_split_is_disjoint_and_each_language_near_the_share(splits):
    train, test = splits
    assert not {d.id for d in train} & {d.id for d in test}
    assert near_duplicates(train, test) == []
    for language in ("en", "ar", "ja", "zh", "ko", "de", "fr", "es"):
        share = sum(d.language == language for d in test) / sum(d.language == language for d in train + test)
        assert 0.18 <= share <= 0.32, language


def test_adding_articles_moves_no_earlier_story_across_the_split():
    spec = importlib.util.spec_from_file_location("build_dataset", ROOT / "scripts" / "build_dataset.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    docs = [{"id": f"d{i}", "story": f"story-{i // 2}"} for i in range(400)]
    extra = [{"id": f"e{i}", "story": f"new-{i}"} for i in range(100)]
    before = {doc["id"] for doc in build.split(docs, 0.25, 13)[1]}
    after = {doc["id"] for doc in build.split(docs + extra, 0.25, 13)[1]}
    assert before == {doc_id for doc_id in after if doc_id.startswith("d")}
    assert 0.15 <= len(before) / len(docs) <= 0.35


def test_taxonomy_has_terms_in_three_languages():
    taxonomy = load_taxonomy()
    assert taxonomy.names == list(TopicClassifier.load(default_model_path()).classes_)
    for topic in taxonomy.topics:
        assert len(topic.description) > 100
        assert {"en", "ar", "ja"} <= set(topic.terms)


def _eight_grams(text: str) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i : i + 8]) for i in range(len(words) - 7)}


@pytest.mark.skipif(not SHARED_SEEDS.is_dir(), reason="../shared/seeds is not present")
def test_no_seed_sentence_is_copied():
    seed_grams = set()
    for path in SHARED_SEEDS.glob("*.txt"):
        seed_grams |= _eight_grams(path.read_text(encoding="utf-8"))
    ours = [
        p
        for p in (ROOT / "datasets").rglob("*")
        if p.is_file() and p.suffix in (".jsonl", ".txt", ".toml", ".md")
    ]
    ours += [p for p in (ROOT / "seeds").rglob("*") if p.is_file()]
    for path in ours:
        shared = _eight_grams(path.read_text(encoding="utf-8")) & seed_grams
        assert not shared, f"{path} shares text with the seed articles: {sorted(shared)[:3]}"


def test_excluded_stories_are_in_neither_split(splits):
    lines = (ROOT / "datasets" / "raw" / "excluded_stories.tsv").read_text(encoding="utf-8").splitlines()[1:]
    excluded = {line.split("\t")[0] for line in lines if line.strip()}
    assert excluded
    assert not excluded & {doc.story for doc in splits[0] + splits[1]}
