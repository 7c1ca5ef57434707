"""Every command through the CLI runner, and the output contract."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.conftest import TOPICS, TOPICS_FILE
from toolkit.cli import EXIT_FAILURE, EXIT_PARTIAL, app

runner = CliRunner()
CONTRACT_KEYS = {"id", "status", "language", "wrapper_language", "labels", "scores"}


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def _json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@pytest.fixture()
def article(tmp_path):
    path = tmp_path / "article.txt"
    path.write_text(
        "MARKETS\nLoading quotes...\n\nFoundry expands\n\n"
        "The foundry will produce semiconductors on a new 3 nanometre process, "
        "the company said on Monday.\n\n"
        "Demand for GPUs and memory chips strained the wafer supply across the industry this year.\n\n"
        "Stay Updated\nGet the latest news delivered to your inbox.\n",
        encoding="utf-8",
    )
    return path


def test_help_lists_every_command():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("train", "classify", "label", "eval", "info", "validate", "detect", "clean"):
        assert command in result.output


def test_train_writes_model_and_prints_cv_table(corpus_file, tmp_path):
    out = tmp_path / "m.joblib"
    result = run(
        "train",
        "--data",
        corpus_file,
        "--out",
        out,
        "--encoder",
        "hashing",
        "--cv",
        "3",
        "--seed",
        "1",
        "--topics",
        TOPICS_FILE,
    )
    assert result.exit_code == 0, result.output
    assert out.exists()
    assert "precision" in result.output and "macro" in result.output and str(out) in result.output


def test_train_stops_on_invalid_data(tmp_path):
    # no --topics: the shipped topics file is the default, and "weather" is in neither file
    data = tmp_path / "bad.jsonl"
    data.write_text('{"id": "1", "text": "x", "labels": ["weather"], "language": "en"}\n', encoding="utf-8")
    result = run("train", "--data", data, "--out", tmp_path / "m.joblib", "--encoder", "hashing")
    assert result.exit_code == EXIT_FAILURE
    assert "unknown labels weather" in result.output
    assert "Traceback" not in result.output


def test_classify_text_output(model_file, article):
    result = run("classify", article, "--model", model_file)
    assert result.exit_code == 0, result.output
    assert "language en" in result.output
    assert "chips" in result.output and "threshold" in result.output


def test_classify_json_contract(model_file, article):
    result = run("classify", article, "--model", model_file, "--json")
    record = json.loads(result.output)
    assert CONTRACT_KEYS <= set(record)
    assert record["id"] == str(article) and record["status"] == "ok"
    assert set(record["scores"]) == set(TOPICS)
    assert "chips" in record["labels"]
    assert all(0.0 <= v <= 1.0 for v in record["scores"].values())


def test_classify_missing_file_is_an_error_record(model_file, article, tmp_path):
    result = run("classify", article, tmp_path / "missing.txt", "--model", model_file, "--json")
    assert result.exit_code == EXIT_PARTIAL
    records = _json_lines(result.output)
    assert records[1] == {
        "id": str(tmp_path / "missing.txt"),
        "status": "error",
        "error": f"no such file: {tmp_path / 'missing.txt'}",
    }


def test_label_jsonl_keeps_order_and_turns_bad_records_into_errors(model_file, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"id": 1, "text": "Demand for GPUs and memory chips strained the wafer supply."}\n'
        "not json\n"
        '{"id": 2, "text": "   "}\n'
        '{"id": 3, "text": "Rain is expected across the region later this week."}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    result = run("label", source, "--output", out, "--model", model_file, "--batch-size", "2")
    assert result.exit_code == EXIT_PARTIAL
    records = _json_lines(out.read_text(encoding="utf-8"))
    assert [r["status"] for r in records] == ["ok", "error", "error", "ok"]
    assert [r["id"] for r in records] == [1, None, 2, 3]
    assert records[1]["error"].startswith("malformed JSON") and records[1]["line"] == 2
    assert records[2]["error"] == "text is empty"
    assert CONTRACT_KEYS <= set(records[0])


def test_label_csv_from_stdin(model_file):
    data = (
        'key,body\nx1,"The start-up raised 40 million dollars in a funding round led by venture investors."\n'
    )
    result = run(
        "label",
        "-",
        "--model",
        model_file,
        "--format",
        "csv",
        "--id-field",
        "key",
        "--text-field",
        "body",
        input=data,
    )
    assert result.exit_code == 0, result.output
    record = _json_lines(result.stdout)[0]
    assert record["id"] == "x1" and "funding" in record["labels"]


def test_eval_reports_per_label_and_language(model_file, corpus_file):
    result = run("eval", "--data", corpus_file, "--model", model_file, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report["overall"]["labels"]) == set(TOPICS)
    assert "en" in report["by_language"]
    assert 0.5 < report["overall"]["macro"]["f1"] <= 1.0
    text = run("eval", "--data", corpus_file, "--model", model_file)
    assert "macro-F1 by language: en" in text.output


def test_info_shows_model_contents(model_file):
    result = run("info", model_file, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert list(info["labels"]) == TOPICS
    assert info["encoder"]["kind"] == "hashing"
    assert {"toolkit", "numpy", "scikit-learn"} <= set(info["versions"])
    assert len(info["training"]["data_hash"]) == 16
    assert "macro" in info["cv_scores"]
    assert "threshold" in run("info", model_file).output


def test_info_on_a_bad_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.joblib"
    bad.write_bytes(b"\x80\x04garbage")
    result = run("info", bad)
    assert result.exit_code == EXIT_FAILURE
    assert result.output.startswith("error: ") and result.output.count("\n") == 1


def test_validate_counts_and_errors(corpus_file, tmp_path):
    result = run("validate", corpus_file, "--topics", TOPICS_FILE)
    assert result.exit_code == 0, result.output
    assert "funding" in result.output and "0 errors" in result.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "1", "text": "", "labels": [], "language": "en"}\n'
        '{"id": "1", "text": "x y", "labels": ["nope"], "language": "en"}\n'
        '{"id": "2", "text": "x z", "labels": ["nope"], "language": "en"}\n',
        encoding="utf-8",
    )
    result = run("validate", bad)  # the shipped topics file, the default, knows no "nope" either
    assert result.exit_code == EXIT_FAILURE
    assert (
        "empty text" in result.output
        and "duplicate id" in result.output
        and "unknown labels nope" in result.output
    )


def test_validate_finds_near_duplicates_across_splits(corpus_file, tmp_path):
    test = tmp_path / "test.jsonl"
    first = json.loads(corpus_file.read_text().splitlines()[0])
    first["id"] = "copy"
    test.write_text(json.dumps(first) + "\n", encoding="utf-8")
    result = run("validate", corpus_file, "--test", test, "--topics", TOPICS_FILE)
    assert result.exit_code == EXIT_FAILURE
    assert "near-duplicate across splits: d000 ~ copy" in result.output


def test_detect_and_clean(article):
    result = run("detect", article, "--show-removed")
    assert result.exit_code == 0
    assert "language en" in result.output and "Loading quotes" in result.output
    body = run("clean", article).output
    assert "Foundry expands" in body and "Loading quotes" not in body and "inbox" not in body


def test_usage_error_exit_code():
    assert run("label").exit_code == 2


def test_train_needs_enough_documents_and_an_existing_test_file(corpus_file, tmp_path):
    tiny = tmp_path / "tiny.jsonl"
    tiny.write_text(
        '{"id": "1", "text": "a chip plant", "labels": ["chips"], "language": "en"}\n', encoding="utf-8"
    )
    result = run(
        "train",
        "--data",
        tiny,
        "--out",
        tmp_path / "m.joblib",
        "--encoder",
        "hashing",
        "--topics",
        TOPICS_FILE,
    )
    assert result.exit_code == EXIT_FAILURE and "needs at least" in result.output
    result = run(
        "train",
        "--data",
        corpus_file,
        "--out",
        tmp_path / "m.joblib",
        "--encoder",
        "hashing",
        "--test",
        tmp_path / "missing.jsonl",
        "--topics",
        TOPICS_FILE,
    )
    assert result.exit_code == EXIT_FAILURE and "no such file" in result.output
    assert "Traceback" not in result.output


def test_labels_agree_with_the_printed_scores(fitted, monkeypatch):
    """A score printed at its topic's threshold always comes with the label, and one below never does."""
    import copy

    import numpy as np

    from toolkit.io import Record
    from toolkit.labelling import label_batch

    model = copy.copy(fitted)
    just_under = fitted.thresholds_ - 4e-6  # prints as the threshold itself
    far_under = fitted.thresholds_ - 0.01
    monkeypatch.setattr(
        model, "score_bodies", lambda bodies: np.vstack([just_under, far_under][: len(bodies)])
    )
    records = [Record("a", "Chips and robots.", 1), Record("b", "Funding news.", 2)]
    first, second = label_batch(model, records)
    for name, threshold in zip(fitted.classes_, fitted.thresholds_, strict=True):
        assert first["scores"][name] == round(float(threshold), 4)
    assert sorted(first["labels"]) == sorted(fitted.classes_)
    assert second["labels"] == []


def test_encoder_option_supplies_an_encoder_the_model_file_may_not_name(model_file, tmp_path):
    from tests.test_persistence import _changed, _parts

    metadata, _ = _parts(model_file)
    path = _changed(model_file, tmp_path, encoder=dict(metadata["encoder"], name="my-org/private-encoder"))
    article = tmp_path / "a.txt"
    article.write_text("The start-up raised money for AI chips made in a new fab.", encoding="utf-8")
    refused = runner.invoke(app, ["classify", str(article), "--model", str(path)])
    assert refused.exit_code == EXIT_FAILURE and "--encoder my-org/private-encoder" in refused.output
    accepted = runner.invoke(app, ["classify", str(article), "--model", str(path), "--encoder", "hashing"])
    assert accepted.exit_code == 0, accepted.output
    plain = runner.invoke(app, ["classify", str(article), "--model", str(model_file)])
    assert accepted.output.replace(str(path), "") == plain.output.replace(str(model_file), "")


def test_train_keeps_an_existing_model_unless_forced(corpus_file, tmp_path, monkeypatch):
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"keep me")
    refused = run("train", "--data", corpus_file, "--out", out, "--encoder", "hashing", "--cv", "2")
    assert refused.exit_code == 2 and "--force" in refused.output and out.read_bytes() == b"keep me"
    forced = run("train", "--data", corpus_file, "--out", out, "--encoder", "hashing", "--cv", "2", "--force")
    assert forced.exit_code == 0, forced.output
    assert out.read_bytes() != b"keep me"
    monkeypatch.chdir(tmp_path)
    fresh = run("train", "--data", corpus_file, "--encoder", "hashing", "--cv", "2")
    assert fresh.exit_code == 0, fresh.output
    assert [p.name for p in (tmp_path / "models").iterdir()][0].startswith("model-")
