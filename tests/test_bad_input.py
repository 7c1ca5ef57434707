"""Bad input through the CLI: one-line errors or error records, never a traceback, nothing else lost."""

from __future__ import annotations

import codecs
import json
import os

import pytest
from typer.testing import CliRunner

from tests.conftest import TOPICS
from toolkit.cli import EXIT_FAILURE, app

runner = CliRunner()
ARTICLE = (
    "Chip plant opens\n\nThe foundry will make memory chips for AI servers from next year, the company said."
)


def classify(model_file, path):
    result = runner.invoke(app, ["classify", str(path), "--json", "--model", str(model_file)])
    assert "Traceback" not in result.output
    return result, json.loads(result.stdout)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "text is empty"),
        (b"   \n\t\n  ", "text is empty"),
        (b"\x00\x01\x02binary\x00", "NUL bytes"),
        (b"caf\xe9 au lait", "not valid UTF-8"),
    ],
)
def test_unusable_files_give_error_records(model_file, tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    result, record = classify(model_file, path)
    assert result.exit_code == EXIT_FAILURE
    assert record["status"] == "error" and message in record["error"] and "\n" not in record["error"]


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: codecs.BOM_UTF8 + t.encode("utf-8"),
        lambda t: t.encode("utf-16"),
        lambda t: t.replace("\n", "\r\n").encode("utf-8"),
        lambda t: t.replace("\n", "\r").encode("utf-8"),
    ],
    ids=["utf8-bom", "utf16-bom", "crlf", "cr"],
)
def test_encodings_and_line_ends_are_read(model_file, tmp_path, encode):
    path = tmp_path / "article.txt"
    path.write_bytes(encode(ARTICLE))
    result, record = classify(model_file, path)
    assert result.exit_code == 0 and record["status"] == "ok" and record["language"] == "en"
    assert "chips" in record["labels"]


@pytest.mark.parametrize(
    "text",
    [
        "😀🚀🤖 🔥🔥",
        "1234567890 42 3.14 2025",
        "https://example.com/a https://example.org/b?x=1",
        "Chips 半導体 رقائق 반도체 puces",
        "\u200f\u202eمرحبا بالعالم\u202c",
        "zero\u200bwidth\u200bjoiners\u200d here",
        "\ufeff\u200b\u200c\u200d",
    ],
    ids=["emoji", "digits", "urls", "mixed-scripts", "rtl-marks", "zero-width", "invisible-only"],
)
def test_odd_texts_are_labelled(model_file, tmp_path, text):
    path = tmp_path / "odd.txt"
    path.write_text(text, encoding="utf-8")
    result, record = classify(model_file, path)
    assert result.exit_code in (0, EXIT_FAILURE)
    if record["status"] == "ok":
        assert set(record["scores"]) == set(TOPICS)
    else:
        assert record["error"] == "text is empty"


def test_missing_directory_and_unreadable_paths(model_file, tmp_path, monkeypatch):
    result, record = classify(model_file, tmp_path / "absent.txt")
    assert record["error"].startswith("no such file")
    result, record = classify(model_file, tmp_path)
    assert "is a directory" in record["error"]
    locked = tmp_path / "locked.txt"
    locked.write_text(ARTICLE, encoding="utf-8")
    if os.geteuid() != 0:
        locked.chmod(0)
    else:  # root reads anything: make the read fail the way it would for a user
        real_open = os.open

        def refuse(path, *args, **kwargs):
            if str(path) == str(locked):
                raise PermissionError(13, "Permission denied")
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse)
    result, record = classify(model_file, locked)
    assert record["error"].startswith("permission denied")


def test_fifty_megabyte_file_is_bounded(model_file, tmp_path):
    path = tmp_path / "huge.txt"
    paragraph = (
        "The foundry will make memory chips for AI servers from next year, the company said. " * 20 + "\n\n"
    )
    with open(path, "w", encoding="utf-8") as handle:
        while handle.tell() < 50 * 2**20:
            handle.write(paragraph * 100)
    result, record = classify(model_file, path)
    assert result.exit_code == 0 and record["status"] == "ok"
    assert record["truncated"] is True and "chips" in record["labels"]


def test_label_missing_input_and_bad_csv_are_one_line_errors(model_file, tmp_path):
    result = runner.invoke(app, ["label", str(tmp_path / "nope.jsonl"), "--model", str(model_file)])
    assert result.exit_code == EXIT_FAILURE and result.output.startswith("error: no such file")
    csv_path = tmp_path / "in.csv"
    csv_path.write_text("id,body\n1,text\n", encoding="utf-8")
    result = runner.invoke(app, ["label", str(csv_path), "--model", str(model_file)])
    assert result.exit_code == EXIT_FAILURE and "no column 'text'" in result.output
    assert result.output.count("\n") == 1


def test_label_utf16_jsonl_with_crlf(model_file, tmp_path):
    path = tmp_path / "in.jsonl"
    lines = [json.dumps({"id": i, "text": ARTICLE}) for i in range(3)]
    path.write_bytes("\r\n".join(lines).encode("utf-16"))
    result = runner.invoke(app, ["label", str(path), "--model", str(model_file)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [0, 1, 2]


def test_unknown_model_file_is_one_line(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    result = runner.invoke(app, ["classify", str(path), "--model", str(tmp_path / "missing.joblib")])
    assert result.exit_code == EXIT_FAILURE
    assert (
        result.output
        == f"error: no model file at {tmp_path / 'missing.joblib'}: train one with `toolkit train`\n"
    )


def test_output_that_is_the_input_is_refused_and_input_kept(model_file, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"id": 1, "text": ARTICLE}) + "\n", encoding="utf-8")
    before = path.read_bytes()
    result = runner.invoke(app, ["label", str(path), "--output", str(path), "--model", str(model_file)])
    assert result.exit_code == 2 and "--output is the input file" in result.output
    assert path.read_bytes() == before


def test_bad_input_fails_before_the_output_is_touched(model_file, tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("previous results\n", encoding="utf-8")
    csv_path = tmp_path / "in.csv"
    csv_path.write_text("id,body\n1,x\n", encoding="utf-8")
    result = runner.invoke(app, ["label", str(csv_path), "--output", str(out), "--model", str(model_file)])
    assert result.exit_code == EXIT_FAILURE
    assert out.read_text(encoding="utf-8") == "previous results\n"


def test_pathological_json_and_ids_become_error_records(model_file, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(
        "[" * 100_000
        + "]" * 100_000
        + "\n"
        + '{"id": "big", "text": "x", "n": '
        + "9" * 5000
        + "}\n"
        + '{"id": "\\ud800", "text": "lone surrogate in the id"}\n'
        + json.dumps({"id": "ok", "text": ARTICLE})
        + "\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["label", str(path), "--model", str(model_file)])
    assert result.exit_code == 3, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in records] == ["error", "error", "error", "ok"]
    assert "not valid UTF-8" in records[2]["error"]


def test_unwritable_places_give_one_line_errors(model_file, tmp_path, monkeypatch):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 1, "text": ARTICLE}) + "\n", encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "label",
            str(source),
            "--output",
            str(tmp_path / "no" / "such" / "dir" / "o.jsonl"),
            "--model",
            str(model_file),
        ],
    )
    assert result.exit_code == EXIT_FAILURE and result.output.startswith("error: ")
    assert result.output.count("\n") == 1
    monkeypatch.setenv("TOOLKIT_CACHE_DIR", "/proc/no-cache-here")
    import toolkit.language

    monkeypatch.setattr(toolkit.language, "_identifier", None)
    path = tmp_path / "a.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    result, record = classify(model_file, path)
    assert result.exit_code == 0 and record["language"] == "en"
