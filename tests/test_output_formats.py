"""`label --keep/--keep-all` and `--output-format` (issue 14, items 5, 6): kept fields, CSV, Parquet."""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest
from typer.testing import CliRunner

from tests.conftest import TOPICS
from toolkit.cli import app
from toolkit.errors import ToolkitError, UsageError
from toolkit.io import CsvWriter, flat_columns, kept_name
from toolkit.labelling import label_file, run_record_path

runner = CliRunner()
_TEXT = "The start-up raised {i} million dollars for AI chips, and robots learn in the factory."


def _feed(path, n=30, start=0):
    """JSONL records with the fields a scraper gives: url, published (a number), tags (a list), a summary."""
    lines = [
        json.dumps(
            {
                "id": f"r{i}",
                "text": _TEXT.format(i=i),
                "url": f"https://news.example/{i}",
                "published": 1700000000 + i,
                "tags": ["ai", str(i)],
                "summary": f"first line {i}\nsecond line",
            }
        )
        for i in range(start, start + n)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _csv_feed(path, n=30):
    rows = [["id", "text", "url", "labels", "score_x", "input_y"]]
    rows += [[f"c{i}", _TEXT.format(i=i), f"https://x/{i}", "chips", "7", "y"] for i in range(n)]
    path.write_text(_csv_text(rows), encoding="utf-8")
    return path


def _csv_text(rows):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _csv_rows(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _label(model_file, *args, input=None):
    return runner.invoke(app, ["label", *map(str, args), "--model", str(model_file)], input=input)


def _one_line_error(result):
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def _stop_after(records):
    """An on_progress callback that interrupts the job once ``records`` are written, like Ctrl-C."""

    def progress(done):
        if done >= records:
            raise KeyboardInterrupt

    return progress


def _cut_inside_last_record(path):
    """Leave the file ending in the middle of its last record, as a kill during a write does."""
    data = path.read_bytes()
    last_start = data.rstrip(b"\r\n").rfind(b"\n") + 1
    path.write_bytes(data[: last_start + (len(data) - last_start) // 2])


# ---- keeping the user's fields -------------------------------------------------------------------------


def test_kept_fields_keep_their_json_types_in_jsonl(model_file, tmp_path):
    source, out = _feed(tmp_path / "in.jsonl", 5), tmp_path / "out.jsonl"
    result = _label(model_file, source, "--output", out, "--keep", "url,published", "--keep", "tags")
    assert result.exit_code == 0, result.output
    records = _jsonl(out)
    assert [r["url"] for r in records] == [f"https://news.example/{i}" for i in range(5)]
    assert records[2]["published"] == 1700000002 and records[2]["tags"] == ["ai", "2"]
    assert records[0]["status"] == "ok" and set(records[0]["scores"]) == set(TOPICS)


def test_a_missing_field_is_left_out_and_error_records_keep_what_could_be_read(model_file, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"id": "a", "text": _TEXT.format(i=1)})
        + "\n"
        + json.dumps({"id": "b", "url": "https://b", "published": None})
        + "\nnot json\n",
        encoding="utf-8",
    )
    result = _label(model_file, source, "--keep", "url,published")
    first, second, third = (json.loads(line) for line in result.stdout.splitlines())
    assert "url" not in first and "published" not in first
    assert second == {
        "id": "b",
        "status": "error",
        "error": "missing 'text'",
        "line": 2,
        "url": "https://b",
        "published": None,
    }
    assert "url" not in third and third["status"] == "error"


def test_kept_fields_never_overwrite_ours(model_file, tmp_path):
    source = tmp_path / "in.jsonl"
    record = {"id": "a", "text": _TEXT.format(i=1), "labels": ["gold"], "language": "xx", "status": "new"}
    source.write_text(json.dumps({**record, "input_labels": "mine", "score_chips": 1}) + "\n", "utf-8")
    result = _label(model_file, source, "--keep-all")
    out = json.loads(result.stdout)
    assert out["status"] == "ok" and out["language"] == "en" and out["labels"] != ["gold"]
    assert out["input_labels"] == ["gold"] and out["input_language"] == "xx" and out["input_status"] == "new"
    assert out["input_input_labels"] == "mine" and out["input_score_chips"] == 1
    assert "text" not in out and "input_id" not in out and "input_text" not in out


def test_the_renaming_rule_gives_every_field_its_own_name():
    names = ["url", "labels", "input_labels", "input_input_labels", "score_chips", "scores", "line"]
    renamed = [kept_name(name) for name in names]
    assert renamed[:3] == ["url", "input_labels", "input_input_labels"]
    assert len(set(renamed)) == len(renamed)
    assert not set(renamed) & set(flat_columns(TOPICS, evidence=True))


def test_csv_input_fields_are_kept_as_strings(model_file, tmp_path):
    source = _csv_feed(tmp_path / "feed.csv", 3)
    out = tmp_path / "out.jsonl"
    assert _label(model_file, source, "--output", out, "--keep-all").exit_code == 0
    first = _jsonl(out)[0]
    assert first["url"] == "https://x/0" and first["input_labels"] == "chips"
    assert first["input_score_x"] == "7" and first["input_input_y"] == "y"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keep", "id"], "--keep 'id': that is the id field"),
        (["--keep", "url,text"], "--keep 'text': that is the text field"),
        (["--keep", "url,"], "--keep takes field names separated by commas"),
        (["--keep", "url", "--keep-all"], "--keep and --keep-all cannot go together"),
        (["--output-format", "xml"], "unknown output format 'xml'"),
        (["--output-format", "parquet"], "parquet output needs --output FILE"),
        (["--keep-all", "--output-format", "csv"], "--keep-all with CSV or Parquet output needs a CSV input"),
    ],
)
def test_option_mistakes_are_one_line_usage_errors(model_file, tmp_path, args, message):
    source = _feed(tmp_path / "in.jsonl", 2)
    result = _label(model_file, source, *args)
    assert result.exit_code == 2
    assert message in _one_line_error(result)


def test_option_mistakes_leave_an_existing_output_untouched(model_file, tmp_path):
    source, out = _feed(tmp_path / "in.jsonl", 2), tmp_path / "out.csv"
    out.write_text("keep me\n", encoding="utf-8")
    assert _label(model_file, source, "--output", out, "--keep-all").exit_code == 2
    assert out.read_text(encoding="utf-8") == "keep me\n"


# ---- CSV -----------------------------------------------------------------------------------------------


def test_csv_has_a_stable_header_and_the_values_of_the_jsonl(model_file, tmp_path):
    source = _feed(tmp_path / "in.jsonl", 6)
    with open(source, "a", encoding="utf-8") as handle:
        handle.write('{"id": 7, "url": "https://seven"}\n')
    as_json, as_csv = tmp_path / "out.jsonl", tmp_path / "out.csv"
    for out in (as_json, as_csv):
        assert _label(model_file, source, "--output", out, "--keep", "url,tags").exit_code == 3
    header = as_csv.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == [
        "id",
        "status",
        "language",
        "wrapper_language",
        "language_confidence",
        "labels",
        *(f"score_{topic}" for topic in TOPICS),
        "uncertain",
        "note",
        "truncated",
        "id_from",
        "error",
        "line",
        "url",
        "tags",
    ]
    rows = _csv_rows(as_csv)
    for record, row in zip(_jsonl(as_json), rows, strict=True):
        assert row["id"] == str(record["id"]) and row["status"] == record["status"]
        assert row["url"] == record["url"]
        if record["status"] == "ok":
            assert row["labels"] == ";".join(record["labels"])
            assert row["uncertain"] == ";".join(record["uncertain"])
            assert {t: float(row[f"score_{t}"]) for t in TOPICS} == record["scores"]
            assert json.loads(row["tags"]) == record["tags"]
    error = rows[-1]
    assert error["error"] == "missing 'text'" and error["line"] == "7" and error["score_chips"] == ""


def test_csv_cells_survive_commas_quotes_line_breaks_and_formulas(model_file, tmp_path):
    source = tmp_path / "in.jsonl"
    awkward = ['a, "quoted"\nsecond line', "carriage\rreturn", "=HYPERLINK(1)", "+1", "-2", "@x"]
    source.write_text(
        "".join(
            json.dumps({"id": f"=id{i}", "text": _TEXT.format(i=i), "note_from_user": value}) + "\n"
            for i, value in enumerate(awkward)
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    assert _label(model_file, source, "--output", out, "--keep", "note_from_user").exit_code == 0
    rows = _csv_rows(out)
    assert [row["note_from_user"] for row in rows] == awkward  # written as they are, formulas not escaped
    assert [row["id"] for row in rows] == [f"=id{i}" for i in range(len(awkward))]


def test_csv_on_stdout_starts_with_its_header(model_file, tmp_path):
    source = _feed(tmp_path / "in.jsonl", 3)
    result = _label(model_file, source, "--output-format", "csv", "--keep", "url")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert result.exit_code == 0 and [row["id"] for row in rows] == ["r0", "r1", "r2"]
    assert rows[0]["url"] == "https://news.example/0"


def test_the_suffix_picks_the_format_and_the_option_overrides_it(model_file, tmp_path):
    source = _feed(tmp_path / "in.jsonl", 2)
    as_csv, forced = tmp_path / "a.csv", tmp_path / "b.csv"
    assert _label(model_file, source, "--output", as_csv).exit_code == 0
    assert _label(model_file, source, "--output", forced, "--output-format", "jsonl").exit_code == 0
    assert as_csv.read_text(encoding="utf-8").startswith("id,status,")
    assert _jsonl(forced)[0]["id"] == "r0"


def test_csv_with_workers_is_the_same_file(fitted, tmp_path):
    source = _feed(tmp_path / "in.jsonl", 60)
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    label_file(fitted, source, one, batch_size=7, keep=["url", "tags"])
    label_file(fitted, source, two, batch_size=7, keep=["url", "tags"], workers=2)
    assert one.read_bytes() == two.read_bytes()


@pytest.mark.parametrize("where", ["mid_row", "in_the_last_cell", "inside_a_quoted_cell", "in_the_header"])
def test_csv_resume_after_a_kill_mid_row_gives_each_record_once(fitted, tmp_path, where):
    source = _feed(tmp_path / "in.jsonl", 50)
    whole, out = tmp_path / "whole.csv", tmp_path / "out.csv"
    keep = ["summary", "url"]
    label_file(fitted, source, whole, batch_size=8, keep=keep)
    with pytest.raises(KeyboardInterrupt):
        label_file(fitted, source, out, batch_size=8, keep=keep, on_progress=_stop_after(20))
    data = out.read_bytes()
    if where == "mid_row":
        _cut_inside_last_record(out)
    elif where == "in_the_last_cell":  # every field there, the url cut short
        out.write_bytes(data[:-4])
    elif where == "inside_a_quoted_cell":  # just after the line break inside the last row's summary
        out.write_bytes(data[: data.rindex(b"first line") + len(b"first line 23\n")])
    else:
        out.write_bytes(data[:10])
    counts = label_file(fitted, source, out, batch_size=8, keep=keep, resume=True)
    expected_skip = 0 if where == "in_the_header" else 23
    assert counts["skipped"] == expected_skip
    assert out.read_bytes() == whole.read_bytes()


def test_csv_resume_refuses_a_file_with_another_header(fitted, tmp_path):
    source, out = _feed(tmp_path / "in.jsonl", 20), tmp_path / "out.csv"
    label_file(fitted, source, out, batch_size=8)
    data = out.read_bytes()
    out.write_bytes(data.replace(b"id,status", b"key,status", 1)[: len(data) - 5])
    before = out.read_bytes()
    with pytest.raises(UsageError, match="its CSV header is not this run's"):
        label_file(fitted, source, out, batch_size=8, resume=True)
    assert out.read_bytes() == before


def test_csv_writer_counts_only_whole_rows(tmp_path):
    writer = CsvWriter(["id", "note"])
    path = tmp_path / "out.csv"
    path.write_text(writer.header() + writer.serialise([{"id": "a", "note": "x\ny"}, {"id": "b"}]) + "c,")
    assert writer.completed(path) == 2
    assert list(writer.stored_ids(path)) == ["a", "b"]
    assert path.read_bytes() == b'id,note\r\na,"x\ny"\r\nb,\r\n'


# ---- resume refuses other formats and kept fields ------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"keep": ["url", "published"]},
        {"keep": ["tags", "url"]},
        {"keep": ["url"]},
        {"output_format": "jsonl"},
        {"output_format": "parquet"},
    ],
)
def test_resume_with_other_format_or_kept_fields_is_refused(fitted, tmp_path, change):
    if change.get("output_format") == "parquet":
        pytest.importorskip("pyarrow.parquet")
    source, out = _feed(tmp_path / "in.jsonl", 40), tmp_path / "out.csv"
    options = {"keep": ["url", "tags"], "output_format": "csv"}
    with pytest.raises(KeyboardInterrupt):
        label_file(fitted, source, out, batch_size=8, on_progress=_stop_after(16), **options)
    before = out.read_bytes()
    with pytest.raises(UsageError, match="other options"):
        label_file(fitted, source, out, batch_size=8, resume=True, **{**options, **change})
    assert out.read_bytes() == before
    options_recorded = json.loads(run_record_path(out).read_text(encoding="utf-8"))["options"]
    assert options_recorded["output_format"] == "csv" and options_recorded["keep"] == ["url", "tags"]


def test_a_run_record_from_before_output_formats_still_resumes_jsonl(fitted, tmp_path):
    source, out = _feed(tmp_path / "in.jsonl", 30), tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        label_file(fitted, source, out, batch_size=8, on_progress=_stop_after(16))
    record_path = run_record_path(out)
    record = json.loads(record_path.read_text(encoding="utf-8"))
    for name in ("output_format", "keep", "keep_all"):
        del record["options"][name]
    record_path.write_text(json.dumps(record), encoding="utf-8")
    counts = label_file(fitted, source, out, batch_size=8, resume=True)
    assert counts["skipped"] == 16 and [r["id"] for r in _jsonl(out)] == [f"r{i}" for i in range(30)]


# ---- Parquet -------------------------------------------------------------------------------------------


def test_parquet_round_trip(fitted, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    source = _feed(tmp_path / "in.jsonl", 25)
    with open(source, "a", encoding="utf-8") as handle:
        handle.write('{"id": 99, "url": "https://99"}\n')
    as_json, out = tmp_path / "out.jsonl", tmp_path / "out.parquet"
    for path in (as_json, out):
        label_file(fitted, source, path, batch_size=8, keep=["url", "published", "tags"])
    table = pq.read_table(out)
    assert table.column_names == flat_columns(TOPICS, ["url", "published", "tags"])
    assert str(table.schema.field("score_chips").type) == "double"
    assert str(table.schema.field("labels").type) == "list<element: string>"
    for record, row in zip(_jsonl(as_json), table.to_pylist(), strict=True):
        assert row["id"] == str(record["id"]) and row["url"] == record["url"]
        if record["status"] == "ok":
            assert row["labels"] == record["labels"] and row["uncertain"] == record["uncertain"]
            assert {t: row[f"score_{t}"] for t in TOPICS} == record["scores"]
            assert row["published"] == str(record["published"]) and json.loads(row["tags"]) == record["tags"]
    error = table.to_pylist()[-1]
    assert error["error"] == "missing 'text'" and error["line"] == 26 and error["labels"] is None
    assert error["published"] is None
    assert not (tmp_path / "out.parquet.spool.jsonl").exists()


def test_a_killed_parquet_run_leaves_its_spool_and_no_parquet_file(fitted, tmp_path):
    pytest.importorskip("pyarrow.parquet")
    source, out = _feed(tmp_path / "in.jsonl", 40), tmp_path / "out.parquet"
    spool = tmp_path / "out.parquet.spool.jsonl"
    label_file(fitted, source, out, batch_size=8)  # an earlier run's whole file
    with pytest.raises(KeyboardInterrupt):
        label_file(fitted, source, out, batch_size=8, on_progress=_stop_after(24))
    assert not out.exists()  # the earlier file went when this run began
    assert [r["id"] for r in _jsonl(spool)] == [f"r{i}" for i in range(24)]  # readable as it is
    _cut_inside_last_record(spool)
    counts = label_file(fitted, source, out, batch_size=8, resume=True)
    assert counts["skipped"] == 23 and counts["ok"] == 17
    import pyarrow.parquet as pq

    assert pq.read_table(out).column("id").to_pylist() == [f"r{i}" for i in range(40)]
    assert not spool.exists()


def test_resuming_a_finished_parquet_run_is_refused_and_keeps_the_file(fitted, tmp_path):
    pytest.importorskip("pyarrow.parquet")
    source, out = _feed(tmp_path / "in.jsonl", 10), tmp_path / "out.parquet"
    label_file(fitted, source, out, batch_size=8)
    before = out.read_bytes()
    with pytest.raises(UsageError, match="its run finished"):
        label_file(fitted, source, out, batch_size=8, resume=True)
    assert out.read_bytes() == before and not (tmp_path / "out.parquet.spool.jsonl").exists()


def test_a_second_parquet_run_on_a_busy_output_is_refused(fitted, tmp_path):
    pytest.importorskip("pyarrow.parquet")
    source, out = _feed(tmp_path / "in.jsonl", 20), tmp_path / "out.parquet"

    def second_run(done):
        if done == 8:
            with pytest.raises(ToolkitError, match="being written by another"):
                label_file(fitted, source, out, batch_size=8)

    label_file(fitted, source, out, batch_size=8, on_progress=second_run)
    import pyarrow.parquet as pq

    assert pq.read_table(out).num_rows == 20


def test_parquet_without_pyarrow_is_one_line_with_the_install_hint(model_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    source, out = _feed(tmp_path / "in.jsonl", 2), tmp_path / "out.parquet"
    result = _label(model_file, source, "--output", out)
    assert result.exit_code == 1
    assert "pip install 'toolkit[parquet]'" in _one_line_error(result)
    assert list(tmp_path.iterdir()) == [source]
