"""Reading files and batch records: encodings, line ends, malformed records."""

from __future__ import annotations

import codecs
import json

import pytest

from toolkit.errors import InputError, UsageError
from toolkit.io import iter_records, load_dataset, read_text_file


def test_bom_and_utf16_are_decoded(tmp_path):
    text = "Chips news\n\nA fab opens."
    cases = {
        "utf8bom.txt": codecs.BOM_UTF8 + text.encode("utf-8"),
        "utf16le.txt": text.encode("utf-16"),
        "utf16be.txt": codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        assert read_text_file(tmp_path / name) == text


def test_line_ends_are_normalised(tmp_path):
    (tmp_path / "win.txt").write_bytes(b"a\r\nb\r\n")
    (tmp_path / "mac.txt").write_bytes(b"a\rb\r")
    assert read_text_file(tmp_path / "win.txt") == "a\nb\n"
    assert read_text_file(tmp_path / "mac.txt") == "a\nb\n"


@pytest.mark.parametrize(
    "data, message",
    [(b"abc\xff\xfe\xfa", "not valid UTF-8"), (b"ab\x00\x00cd", "NUL bytes")],
)
def test_bad_bytes_give_one_line_errors(tmp_path, data, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    with pytest.raises(InputError, match=message) as info:
        read_text_file(path)
    assert "\n" not in str(info.value)


def test_missing_and_directory_paths(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_text_file(tmp_path / "nope.txt")
    with pytest.raises(InputError, match="is a directory"):
        read_text_file(tmp_path)


def test_jsonl_bad_lines_become_error_records(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'{"id": "a", "text": "fine"}\n'
        b'{"id": "b", "text": \n'
        b"[1, 2]\n"
        b'{"text": "no id"}\n'
        b'{"id": "c", "text": 5}\n'
        b'{"id": "a", "text": "again"}\n'
        b'{"id": "d", "text": "bad \xff byte"}\n'
        b"\n"
        b'{"id": "e", "text": "last"}\n'
    )
    records = list(iter_records(path))
    assert [r.error is None for r in records] == [True, False, False, False, False, False, False, True]
    errors = [r.error for r in records if r.error]
    assert errors[0].startswith("malformed JSON")
    assert "not an object" in errors[1]
    assert errors[2] == "missing 'id'"
    assert "must be a string" in errors[3]
    assert "duplicate id" in errors[4]
    assert "UTF-8" in errors[5]
    assert records[-1].text == "last"


def test_csv_quotes_newlines_and_ragged_rows(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text('id,text\n1,"He said ""hi""\nand left"\n2,plain,extra\n3,ok\n', encoding="utf-8")
    records = list(iter_records(path))
    assert records[0].text == 'He said "hi"\nand left'
    assert "fields" in records[1].error
    assert records[2].text == "ok" and records[2].id == "3"


def test_csv_missing_column_is_one_error(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,body\n1,x\n", encoding="utf-8")
    with pytest.raises(InputError, match="no column 'text'.*--text-field"):
        list(iter_records(path))


def test_custom_field_names(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("key,body\nk1,hello\n", encoding="utf-8")
    assert [(r.id, r.text) for r in iter_records(path, id_field="key", text_field="body")] == [
        ("k1", "hello")
    ]


def test_load_dataset_accepts_csv_labels(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(
        'id,text,labels,language\n1,"some text","funding,chips",en\n2,"other",,en\n', encoding="utf-8"
    )
    docs, problems = load_dataset(path)
    assert problems == []
    assert docs[0].labels == ["funding", "chips"] and docs[1].labels == []


def test_dataset_records_need_an_explicit_labels_field(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(
        '{"id": "1", "text": "a", "label": ["chips"]}\n{"id": "2", "text": "b", "labels": []}\n',
        encoding="utf-8",
    )
    docs, problems = load_dataset(path)
    assert [d.id for d in docs] == ["2"]
    assert "missing 'labels'" in problems[0]


def test_stdin_over_the_limit_is_an_error(monkeypatch):
    import io
    import sys

    from toolkit.io import read_text_file

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x" * 2048)))
    with pytest.raises(InputError, match="over the"):
        read_text_file("-", max_bytes=1024)


def test_a_line_of_non_ascii_blanks_is_an_error_record_not_skipped(tmp_path):
    from toolkit.io import iter_records

    path = tmp_path / "in.jsonl"
    path.write_bytes(b'\x1f\n{"id": 1, "text": "x"}\n \t\n\xe2\x80\xa8\n')
    records = list(iter_records(path))
    assert [r.error is not None for r in records] == [True, False, True]


@pytest.mark.parametrize("separator", [";", "\t", "|"])
def test_csv_delimiter_is_found_from_the_header(tmp_path, separator):
    path = tmp_path / "feed.csv"
    rows = [["id", "text"], ["a", "Chips, wafers and fabs."], ["b", "Robots and drones"]]
    path.write_text("".join(separator.join(row) + "\n" for row in rows), encoding="utf-8")
    assert [(r.id, r.text) for r in iter_records(path)] == [("a", rows[1][1]), ("b", rows[2][1])]


def test_an_explicit_delimiter_wins(tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text("id;text\na;one, two\n", encoding="utf-8")
    assert [(r.id, r.text) for r in iter_records(path, delimiter=";")] == [("a", "one, two")]
    with pytest.raises(UsageError):
        iter_records(path, delimiter=";;")


def test_a_json_array_file_is_read_as_records(tmp_path):
    path = tmp_path / "feed.json"
    items = [{"id": "a", "text": "First."}, ["not", "an", "object"], {"id": "c", "text": "Third."}]
    path.write_text(json.dumps(items, indent=2), encoding="utf-8")
    records = list(iter_records(path))
    assert [(r.id, r.text, r.line) for r in records] == [
        ("a", "First.", 1),
        (None, None, 2),
        ("c", "Third.", 3),
    ]
    assert records[1].error == "item is a JSON list, not an object"
    broken = tmp_path / "broken.json"
    broken.write_text('[{"id": "a", "text": "x"},', encoding="utf-8")
    with pytest.raises(InputError, match="not one"):
        list(iter_records(broken))


def test_csv_without_an_id_column_uses_row_numbers_and_says_so(tmp_path, fitted):
    from toolkit.labelling import label_batch

    path = tmp_path / "feed.csv"
    path.write_text('text,url\nFirst article.,http://a\n"Second,\nacross lines",http://b\nThird.,http://c\n')
    records = list(iter_records(path))
    assert [(r.id, r.text, r.id_from_row) for r in records] == [
        (2, "First article.", True),
        (3, "Second,\nacross lines", True),
        (5, "Third.", True),
    ]
    outputs = label_batch(fitted, records)
    assert [out["id_from"] for out in outputs] == ["row", "row", "row"]
    no_text = tmp_path / "bad.csv"
    no_text.write_text("id,body\na,x\n")
    with pytest.raises(InputError, match="no column 'text'"):
        iter_records(no_text)
