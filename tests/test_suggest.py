"""`toolkit suggest`: articles that probably carry a newly added topic, found from its terms."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from toolkit.cli import EXIT_FAILURE, EXIT_PARTIAL, EXIT_USAGE, app
from toolkit.errors import InputError
from toolkit.suggest import read_documents, suggest, term_mentions, term_pattern
from toolkit.taxonomy import Topic, load_taxonomy

runner = CliRunner()

_ENERGY = """
version = 1

[[topic]]
name = "funding"
description = "Money committed to AI."

[[topic]]
name = "energy"
description = "The power that AI runs on: electricity for data centres, power plants and grids."

[topic.terms]
en = ["electricity", "power plant", "power grid", "megawatt", "grid"]
fr = ["électricité", "centrale"]
ja = ["電力", "発電所"]

[[topic]]
name = "chips"
description = "Semiconductors."
"""

_ARTICLES = [
    # Three that name energy terms: four distinct ones, then two (Japanese), then one (French).
    (
        "plant",
        ["funding"],
        "Data centre deal\n\nThe operator will buy electricity from a new power plant. "
        "The site draws 300 megawatts from the power grid. Investors put in $2 billion.",
    ),
    (
        "fr",
        [],
        "Accord\n\nLe campus consommera autant d'électricité qu'une petite ville, "
        "selon le groupe qui a investi dans l'intelligence artificielle.",
    ),
    ("ja", [], "新しいデータセンター\n\n同社は発電所の近くに施設を建設し、電力を確保する。"),
    # Already labelled energy: never suggested.
    ("labelled", ["energy"], "Grid deal\n\nThe utility will supply electricity from its power plant."),
    # Words that only contain a term ("gridlock", "griddle") do not count.
    ("gridlock", ["chips"], "Traffic\n\nGridlock on the motorway delayed the chip shipments for hours."),
    ("none", [], "Robots\n\nThe humanoid robot learned to sort parcels from camera images."),
]


@pytest.fixture()
def topics_file(tmp_path):
    path = tmp_path / "topics.toml"
    path.write_text(_ENERGY, encoding="utf-8")
    return path


@pytest.fixture()
def data_file(tmp_path):
    path = tmp_path / "train.jsonl"
    rows = [{"id": i, "text": text, "labels": labels} for i, labels, text in _ARTICLES]
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def _energy(topics_file) -> Topic:
    taxonomy = load_taxonomy(topics_file)
    return taxonomy.topics[taxonomy.names.index("energy")]


def test_articles_naming_the_terms_rank_first_and_labelled_ones_are_skipped(topics_file, data_file):
    docs, problems = read_documents(data_file)
    found, flagged = suggest(docs, _energy(topics_file))
    assert problems == []
    assert [s.id for s in found] == ["plant", "ja", "fr"]
    assert flagged == 3
    best = found[0]
    assert best.terms == ["electricity", "power plant", "megawatt", "power grid"]
    assert best.score == pytest.approx(1 - 0.5**4)
    assert best.sentence == "The operator will buy electricity from a new power plant."
    assert found[1].terms == ["発電所", "電力"]


def test_top_limits_the_list_but_not_the_count(topics_file, data_file):
    docs, _ = read_documents(data_file)
    found, flagged = suggest(docs, _energy(topics_file), top=1)
    assert [s.id for s in found] == ["plant"] and flagged == 3


def test_latin_terms_match_whole_words_and_plurals_other_scripts_anywhere():
    topic = Topic("energy", "x", {"en": ["grid", "power plant"], "ar": ["الكهرباء"]})
    pattern = term_pattern(topic)
    text = "Gridlock, a griddle, two power plants, the grid. والكهرباء"
    assert [term for _, term in term_mentions(text, pattern)] == ["power plant", "grid", "الكهرباء"]


def test_a_topic_without_terms_is_refused():
    with pytest.raises(InputError, match="no terms"):
        suggest([], Topic("energy", "x", {}))


def test_cli_prints_id_score_terms_and_sentence(topics_file, data_file):
    result = runner.invoke(app, ["suggest", "energy", "--data", str(data_file), "--topics", str(topics_file)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["plant", "ja", "fr"]
    assert lines[0].split("\t")[1:3] == ["0.938", "electricity, power plant, megawatt, power grid"]
    assert "3 of 5 articles not labelled energy name its terms" in result.stderr


def test_cli_json_and_unlabelled_input_from_stdin(topics_file):
    feed = "".join(json.dumps({"id": i, "text": text}) + "\n" for i, _, text in _ARTICLES)
    result = runner.invoke(
        app, ["suggest", "energy", "--data", "-", "--topics", str(topics_file), "--json"], input=feed
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in records] == ["plant", "labelled", "ja", "fr"]  # no labels: nothing skipped
    assert set(records[0]) == {"id", "score", "terms", "mentions", "sentence"}


def test_cli_bad_records_are_skipped_and_counted(topics_file, data_file):
    with open(data_file, "a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    result = runner.invoke(app, ["suggest", "energy", "--data", str(data_file), "--topics", str(topics_file)])
    assert result.exit_code == EXIT_PARTIAL
    assert len(result.stdout.splitlines()) == 3
    assert "1 bad records skipped" in result.stderr


@pytest.mark.parametrize(
    ("topic", "code", "message"),
    [("nope", EXIT_USAGE, "not in the topics file"), ("chips", EXIT_FAILURE, "no terms")],
)
def test_cli_unknown_topic_or_one_without_terms_is_one_line(topics_file, data_file, topic, code, message):
    result = runner.invoke(app, ["suggest", topic, "--data", str(data_file), "--topics", str(topics_file)])
    assert result.exit_code == code
    assert message in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
