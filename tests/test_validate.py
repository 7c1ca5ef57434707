"""Thin topics: `validate` and `train` warn, and `train` marks figures resting on too few positives."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.conftest import TOPICS_FILE, make_corpus
from toolkit.cli import app
from toolkit.io import LabelledDoc
from toolkit.metrics import MIN_RELIABLE_SUPPORT, format_table, label_scores
from toolkit.taxonomy import load_taxonomy
from toolkit.validation import thin_topic_warnings, validate

runner = CliRunner()

_ENERGY_BLOCK = """
[[topic]]
name = "energy"
description = "Electricity and power for AI data centres."
"""


@pytest.fixture()
def energy_topics(tmp_path):
    """The test topics plus a new topic, `energy`."""
    path = tmp_path / "topics.toml"
    path.write_text(TOPICS_FILE.read_text(encoding="utf-8") + _ENERGY_BLOCK, encoding="utf-8")
    return path


@pytest.fixture()
def thin_data(tmp_path):
    """The synthetic corpus with 8 English articles about energy, and 20 French ones without it."""
    docs = make_corpus(80)
    for doc in docs[:8]:
        doc["text"] += "\n\nThe data centre will draw 300 megawatts of electricity from a new power plant."
        doc["labels"] = sorted([*doc["labels"], "energy"])
    for doc in docs[60:]:
        doc["language"] = "fr"
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(doc) + "\n" for doc in docs), encoding="utf-8")
    return path


def _doc(i: int, labels: list[str], language: str = "en") -> LabelledDoc:
    return LabelledDoc(f"d{i}", f"text {i}", labels, language)


def test_few_positives_one_language_and_no_negatives_are_named():
    taxonomy = load_taxonomy(TOPICS_FILE)
    docs = [_doc(i, ["funding", "chips"] + (["consortium"] if i < 8 else [])) for i in range(40)]
    docs += [_doc(40 + i, ["funding", "chips"], "fr") for i in range(40)]
    warnings = thin_topic_warnings(docs, taxonomy)
    assert [w for w in warnings if w.startswith("topic consortium")] == [
        f"topic consortium: 8 positive examples, fewer than {MIN_RELIABLE_SUPPORT}: "
        "its cross-validated scores and threshold are unreliable",
        "topic consortium: every positive example is in one language (en)",
    ]
    assert "topic funding: no negative examples (every document carries it)" in warnings
    assert not [w for w in warnings if w.startswith("topic chips: every")]  # in en and fr
    assert not [w for w in warnings if w.startswith("topic chips") and "positive examples," in w]


def test_one_language_is_not_a_warning_when_the_whole_dataset_has_one():
    docs = [_doc(i, ["funding"] if i % 2 else []) for i in range(80)]
    assert not any("language" in w for w in thin_topic_warnings(docs, load_taxonomy(TOPICS_FILE)))


def test_the_report_carries_them_apart_from_record_warnings():
    docs = [_doc(i, ["funding"] if i % 2 else []) for i in range(10)]
    report = validate(docs, load_taxonomy(TOPICS_FILE), detect=False)
    assert report.ok
    assert any(w.startswith("topic funding: 5 positive examples") for w in report.thin_topics)
    assert not any(w.startswith("topic ") for w in report.warnings)


def test_validate_warns_on_stderr_and_keeps_its_exit_code(thin_data, energy_topics):
    result = runner.invoke(app, ["validate", str(thin_data), "--topics", str(energy_topics)])
    assert result.exit_code == 0, result.output
    assert "warning: topic energy: 8 positive examples" in result.stderr
    assert "warning: topic energy: every positive example is in one language (en)" in result.stderr
    assert "topic energy" not in result.stdout
    as_json = runner.invoke(app, ["validate", str(thin_data), "--topics", str(energy_topics), "--json"])
    assert as_json.exit_code == 0
    assert any(w.startswith("topic energy") for w in json.loads(as_json.stdout)["thin_topics"])


def test_train_warns_and_marks_the_thin_topics_f1(thin_data, energy_topics, tmp_path):
    result = runner.invoke(
        app,
        ["train", "--data", str(thin_data), "--topics", str(energy_topics), "--out", str(tmp_path / "m"),
         "--encoder", "hashing", "--cv", "3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "warning: topic energy: 8 positive examples" in result.stderr
    energy = next(line for line in result.stdout.splitlines() if line.startswith("energy"))
    assert energy.split()[3].endswith("*") and energy.split()[4] == "8"
    assert f"* fewer than {MIN_RELIABLE_SUPPORT} positives" in result.stdout
    funding = next(line for line in result.stdout.splitlines() if line.startswith("funding"))
    assert not funding.split()[3].endswith("*") and int(funding.split()[4]) >= MIN_RELIABLE_SUPPORT


def test_the_table_marks_only_labels_under_the_support_asked_for():
    import numpy as np

    truth = np.array([[1, 1]] * 3 + [[1, 0]] * 40)
    table = format_table(label_scores(truth, truth, ["big", "small"]), min_support=30)
    rows = {line.split()[0]: line.split() for line in table.splitlines()[1:3]}
    assert rows["big"][3] == "1.000" and rows["small"][3] == "1.000*" and rows["small"][4] == "3"
    assert "macro = the mean over labels with support" in table
    assert "*" not in format_table(label_scores(truth, truth, ["big", "small"]))
