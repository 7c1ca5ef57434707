"""Why a label: evidence sentences with offsets into the input, uncertainty, and the user's own thresholds."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import ROOT, SHARED_SEEDS
from toolkit.classifier import TopicClassifier
from toolkit.cleaning import clean
from toolkit.cli import app
from toolkit.evidence import BodyMap, _line_spans
from toolkit.io import Record
from toolkit.labelling import label_batch

runner = CliRunner()
_CHIP_WORDS = re.compile(r"chip|gpu|semiconductor|fab\b|foundr|processor|wafer", re.IGNORECASE)

_CHROME_ARTICLE = (
    "Home | World | Business | Tech\r\n"
    "Trending: The foundry will produce semiconductors on a new 3 nanometre process.\r\n"
    "\r\n"
    "Chipmaker expands in the north\r\n"
    "\r\n"
    "  The city council met on Tuesday to discuss the budget for parks.  \r\n"
    "The foundry will produce semiconductors on a new 3 nanometre process. Rain is expected later.\r\n"
    "Read also: Local football fans celebrated a late winning goal\r\n"
    "The museum opened an exhibition of early twentieth century painting.\r\n"
    "\r\n"
    "Subscribe to our newsletter | Privacy | Contact\r\n"
)


def _removed_spans(text: str) -> list[tuple[int, int]]:
    """Where each block the cleaner removed lies in ``text`` (a whole line, or a site prefix of one)."""
    spans = []
    for block in clean(text).removed:
        start, end = _line_spans(text)[block.line]
        at = start + text[start:end].index(block.text)
        spans.append((at, at + len(block.text)))
    return spans


def _check_spans(text: str, found: dict) -> None:
    removed = _removed_spans(text)
    for spans in found.values():
        for span in spans:
            assert text[span["start"] : span["end"]] == span["text"]
            assert all(span["end"] <= start or span["start"] >= end for start, end in removed), span
    for spans in found.values():
        assert len(spans) <= 3


def test_evidence_points_into_the_body_not_at_the_same_words_in_chrome(fitted):
    found = fitted.explain([_CHROME_ARTICLE])[0]
    assert "chips" in found and found["chips"]
    best = found["chips"][0]
    assert best["text"] == "The foundry will produce semiconductors on a new 3 nanometre process."
    assert best["start"] == _CHROME_ARTICLE.rindex("The foundry")  # the body's copy, not the ticker's
    _check_spans(_CHROME_ARTICLE, found)


def test_a_sentence_naming_a_topic_term_is_ranked_up(fitted):
    from toolkit.evidence import _sentences_with_terms, _term_pattern

    chips = next(topic for topic in fitted.topics.topics if topic.name == "chips")
    pattern = _term_pattern(chips, "ja")
    assert pattern is not None and pattern.search("They bought GPUs.".lower())
    assert pattern.search("半導体の工場") and _term_pattern(chips, None).search("رقائق")
    found = fitted.explain([_CHROME_ARTICLE])[0]
    assert pattern.search(found["chips"][0]["text"].lower())
    body = "Microchipsets are new. Then they bought chips."
    assert _sentences_with_terms(body, [[(0, 22), (23, len(body))]], pattern) == [(23, len(body))]


def test_body_map_follows_stripped_lines_and_a_cut_site_prefix():
    text = "  Menu | News  \n\nexample.com - The chip maker opened a fab in Dresden today.\nMore text here.\n"
    result = clean(text)
    where = BodyMap(text, result)
    at = result.body.index("The chip maker")
    start, end = where.to_text(at, at + len("The chip maker"))
    assert text[start:end] == "The chip maker"


@pytest.fixture(scope="module", params=["fast", "default"])
def shipped(request):
    return TopicClassifier.load(ROOT / "models" / f"{request.param}.safetensors")


def _seeds() -> list:
    files = sorted(SHARED_SEEDS.glob("*.txt"))
    if not files:
        pytest.skip("../shared/seeds is not beside the repository")
    return files


def test_every_label_on_the_seed_articles_has_evidence_in_the_body(shipped):
    texts = [path.read_text(encoding="utf-8") for path in _seeds()]
    for text, labels, found in zip(texts, shipped.predict(texts), shipped.explain(texts), strict=True):
        assert sorted(found) == sorted(labels)
        assert all(found[name] for name in labels)
        _check_spans(text, found)


@pytest.mark.parametrize("seed", ["000", "001", "002", "003", "004"])
def test_the_chips_evidence_on_a_seed_names_a_chip(shipped, seed):
    path = next(path for path in _seeds() if path.name.startswith(seed))
    found = shipped.explain([path.read_text(encoding="utf-8")])[0]
    if "chips" not in found:
        pytest.skip(f"this model does not label seed {seed} chips")
    assert _CHIP_WORDS.search(found["chips"][0]["text"]), found["chips"][0]["text"]


def test_label_evidence_is_what_explain_gives_and_only_with_the_flag(fitted):
    record = Record("a", _CHROME_ARTICLE, 1)
    plain, with_evidence = label_batch(fitted, [record])[0], label_batch(fitted, [record], evidence=True)[0]
    assert "evidence" not in plain
    assert with_evidence["evidence"] == fitted.explain([_CHROME_ARTICLE])[0]
    assert {k: v for k, v in with_evidence.items() if k != "evidence"} == plain


def test_uncertain_topics_are_those_near_their_threshold(fitted):
    margin = fitted.uncertainty_margin_
    assert 0 < margin < 0.5
    proba = np.array([fitted.thresholds_ + margin / 2, np.clip(fitted.thresholds_ + 3 * margin, 0, 1)])
    flagged = fitted.uncertain_labels(proba)
    assert flagged[0] == [str(name) for name in fitted.classes_] and flagged[1] == []


def test_the_margin_flags_about_a_tenth_of_cross_validated_decisions(corpus, taxonomy):
    from toolkit.classifier import _uncertainty_margin

    rng = np.random.default_rng(0)
    proba = rng.uniform(size=(400, 4))
    thresholds = np.full(4, 0.5)
    margin = _uncertainty_margin(proba, thresholds)
    share = (np.abs(proba - thresholds) < margin).mean()
    assert 0.08 <= share <= 0.12


def test_the_margin_survives_save_and_load(fitted, tmp_path):
    path = fitted.save(tmp_path / "m.safetensors")
    assert TopicClassifier.load(path).uncertainty_margin_ == pytest.approx(fitted.uncertainty_margin_)


def test_a_very_short_text_says_so(fitted):
    out = label_batch(fitted, [Record("s", "Chips.", 1)])[0]
    assert out["status"] == "ok" and out["note"] == "too short to judge"
    long = label_batch(fitted, [Record("l", _CHROME_ARTICLE, 1)])[0]
    assert "note" not in long and isinstance(long["uncertain"], list)


def test_classify_shows_the_evidence_and_json_carries_offsets(model_file, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(_CHROME_ARTICLE.replace("\r\n", "\n"), encoding="utf-8")
    text = path.read_text(encoding="utf-8")
    shown = runner.invoke(app, ["classify", str(path), "--model", str(model_file)])
    assert shown.exit_code == 0 and "The foundry will produce semiconductors" in shown.output
    out = json.loads(runner.invoke(app, ["classify", str(path), "--model", str(model_file), "--json"]).output)
    for spans in out["evidence"].values():
        for span in spans:
            assert text[span["start"] : span["end"]] == span["text"]


def test_thresholds_and_min_score_move_the_decision_for_one_run(model_file, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(_CHROME_ARTICLE, encoding="utf-8")

    def labels(*extra):
        result = runner.invoke(app, ["classify", str(path), "--model", str(model_file), "--json", *extra])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)["labels"]

    assert "chips" in labels()
    assert "chips" not in labels("--threshold", "chips=1.0")
    assert labels("--min-score", "0") == ["funding", "consortium", "chips", "physical_ai"]
    assert labels("--min-score", "0", "--threshold", "funding=1") == ["consortium", "chips", "physical_ai"]
    for bad in (["--threshold", "chips"], ["--threshold", "nope=0.5"], ["--threshold", "chips=2"]):
        result = runner.invoke(app, ["classify", str(path), "--model", str(model_file), *bad])
        assert result.exit_code == 2 and "Traceback" not in result.output


def test_label_with_evidence_writes_the_field_to_every_ok_record(model_file, tmp_path):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"id": "a", "text": _CHROME_ARTICLE}, {"id": "b", "text": ""}]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    result = runner.invoke(
        app, ["label", str(source), "--output", str(out), "--model", str(model_file), "--evidence"]
    )
    assert result.exit_code == 3, result.output
    first, second = (json.loads(line) for line in out.read_text(encoding="utf-8").splitlines())
    assert set(first["evidence"]) == set(first["labels"]) and "evidence" not in second
