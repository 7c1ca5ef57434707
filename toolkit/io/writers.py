"""Writers of labelled records: JSONL, CSV and Parquet behind one interface.

Every writer appends text: a batch of output dicts becomes lines (JSON
objects, or CSV rows under one header) that the labelling job appends and
syncs, so an interrupted run leaves whole records behind and
:meth:`RecordWriter.completed` finds where to go on. Parquet cannot be
appended to, so its records are spooled as JSONL next to the output and
converted into the Parquet file when the run ends (:meth:`ParquetWriter.finish`):
a killed run leaves the spool, never a Parquet file that looks complete.

A writer is a small picklable object, so worker processes serialise their
own batches.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from toolkit.errors import ToolkitError, UsageError

_DEFAULT_FORMAT = "jsonl"
_SUFFIX_FORMATS = {".csv": "csv", ".parquet": "parquet"}
_STREAM_FORMATS = ("jsonl", "csv")  # the formats standard output can take
# Every field an output record of ours may carry: a kept input field never takes one of these names.
OUTPUT_FIELDS = (
    "id",
    "status",
    "language",
    "wrapper_language",
    "language_confidence",
    "labels",
    "scores",
    "uncertain",
    "note",
    "truncated",
    "id_from",
    "evidence",
    "error",
    "line",
)
_KEPT_PREFIX = "input_"
_SCORE_PREFIX = "score_"
_LIST_SEPARATOR = ";"
_LIST_COLUMNS = ("labels", "uncertain")
_CSV_LINE_END = "\r\n"  # RFC 4180; it also makes the csv module quote a bare CR inside a cell
_MAX_CSV_CELL = 2**31 - 1
_SPOOL_SUFFIX = ".spool.jsonl"
_PARQUET_ROWS_PER_GROUP = 10_000
_PARQUET_HINT = "Parquet output needs pyarrow: pip install 'toolkit[parquet]'"


def kept_name(field: str) -> str:
    """The output name of a kept input field: its own, or ``input_FIELD`` where it could clash with ours.

    Names of our fields (:data:`OUTPUT_FIELDS`) and names starting with
    ``input_`` or ``score_`` are prefixed, so two input fields never share
    an output name and none ever overwrites an output field or score column.
    """
    if field in OUTPUT_FIELDS or field.startswith((_KEPT_PREFIX, _SCORE_PREFIX)):
        return _KEPT_PREFIX + field
    return field


def output_format(name: str | None, output: Path | None) -> str:
    """The output format: ``name`` if given, else from the output's suffix (.csv, .parquet), else jsonl."""
    if name is None:
        suffix = output.suffix.lower() if output is not None else ""
        name = _SUFFIX_FORMATS.get(suffix, _DEFAULT_FORMAT)
    if name not in _WRITERS:
        raise UsageError(f"unknown output format {name!r}: use {', '.join(_WRITERS)}")
    if output is None and name not in _STREAM_FORMATS:
        raise UsageError(
            f"{name} output needs --output FILE (standard output takes {' or '.join(_STREAM_FORMATS)})"
        )
    return name


def flat_columns(topics: Sequence[str], kept: Sequence[str] = (), evidence: bool = False) -> list[str]:
    """The columns of a flat (CSV, Parquet) output: ours, one score column per topic, then the kept fields."""
    head = ["id", "status", "language", "wrapper_language", "language_confidence", "labels"]
    tail = ["uncertain", "note", "truncated", "id_from", *(["evidence"] if evidence else []), "error", "line"]
    return [*head, *(_SCORE_PREFIX + topic for topic in topics), *tail, *kept]


class RecordWriter:
    """How labelled records are stored: what a batch appends, and how much of a file is whole.

    ``columns`` are the flat formats' columns (see :func:`flat_columns`);
    JSONL ignores them.
    """

    name = ""

    def __init__(self, columns: Sequence[str] = ()) -> None:
        self.columns = list(columns)

    def header(self) -> str:
        """Text that starts a fresh output (before the first record)."""
        return ""

    def serialise(self, records: list[dict]) -> str:
        """The text appended for ``records``, newline-terminated."""
        raise NotImplementedError

    def completed(self, path: Path) -> int:
        """Count the whole records in ``path`` and cut off anything after them (a half-written record).

        Raises ValueError, touching nothing, when the file is not this
        writer's output (another header).
        """
        raise NotImplementedError

    def stored_ids(self, path: Path) -> Iterator[Any]:
        """The ids of the whole records in ``path``, in order."""
        raise NotImplementedError

    def stored_id(self, record_id: Any) -> Any:
        """How ``record_id`` reads back from this format."""
        return record_id

    def spool(self, output: Path) -> Path:
        """The file batches are appended to: the output itself, unless the format is converted at the end."""
        return output

    def finish(self, spool: Path, output: Path) -> None:
        """Make the output from the spool once every record is written (nothing to do for text formats)."""


class JsonlWriter(RecordWriter):
    """One JSON object per line (the output contract of `toolkit label`)."""

    name = "jsonl"

    def serialise(self, records: list[dict]) -> str:
        """The text of ``records``: one line each, newline-terminated, non-ASCII kept as is."""
        return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)

    def completed(self, path: Path) -> int:
        """Count the whole records already in ``path``, cutting off a half-written last line.

        A line counts when it ends with a newline and parses as a JSON object; the
        file is truncated just after the last such line, so appending resumes cleanly.
        """
        if not path.exists():
            return 0
        done, keep = 0, 0
        with open(path, "rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n") or not isinstance(_json_object(raw), dict):
                    break
                done += 1
                keep += len(raw)
        _truncate(path, keep)
        return done

    def stored_ids(self, path: Path) -> Iterator[Any]:
        """The ``id`` of each line."""
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line).get("id")


class CsvWriter(RecordWriter):
    """Flat rows under one header: labels joined by ``;``, one score column per topic.

    Cells are written as they are: a value starting with ``=``, ``+``, ``-`` or
    ``@`` is not escaped (that would change the data), so a spreadsheet that
    opens the file may read it as a formula.
    """

    name = "csv"

    def header(self) -> str:
        """The header row."""
        return _csv_text([self.columns])

    def serialise(self, records: list[dict]) -> str:
        """One row per record, in :attr:`columns` order; missing values are empty cells."""
        return _csv_text([self._row(record) for record in records])

    def _row(self, record: dict) -> list[str]:
        flat = flat_values(record, self.columns)
        cells = []
        for column in self.columns:
            value = flat[column]
            if column in _LIST_COLUMNS and value is not None:
                value = _LIST_SEPARATOR.join(value)
            cells.append(_cell(value))
        return cells

    def completed(self, path: Path) -> int:
        """Count the whole rows under the expected header; a row counts when it ends in a line end."""
        if not path.exists():
            return 0
        _allow_long_cells()
        with open(path, "rb") as handle:
            lines = _CountedLines(handle)
            reader = csv.reader(lines, strict=True)
            header = _next_row(reader)
            if header is None or not lines.whole:
                _truncate(path, 0)  # nothing, or a header cut short: the run writes it again
                return 0
            if header != self.columns:
                raise ValueError(f"its CSV header is not this run's ({', '.join(header[:8])} ...)")
            done, keep = 0, lines.consumed
            while (row := _next_row(reader)) is not None and lines.whole and len(row) == len(header):
                done += 1
                keep = lines.consumed
        _truncate(path, keep)
        return done

    def stored_ids(self, path: Path) -> Iterator[str]:
        """The first cell of each row under the header."""
        _allow_long_cells()
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, strict=True)
            next(reader, None)
            for row in reader:
                yield row[0]

    def stored_id(self, record_id: Any) -> str:
        """An id reads back as the text of its cell."""
        return _cell(record_id)


class ParquetWriter(JsonlWriter):
    """Flat typed columns in a Parquet file, spooled as JSONL while the run goes on.

    pyarrow is imported when the writer is made, so a missing install fails
    before any record is labelled.
    """

    name = "parquet"

    def __init__(self, columns: Sequence[str] = ()) -> None:
        super().__init__(columns)
        _pyarrow()

    def spool(self, output: Path) -> Path:
        """``OUTPUT.spool.jsonl``, next to the output."""
        return output.with_name(output.name + _SPOOL_SUFFIX)

    def finish(self, spool: Path, output: Path) -> None:
        """Convert the spool into ``output`` (a temporary file renamed into place), then remove the spool."""
        pa, pq = _pyarrow()
        schema = self.schema()
        temporary = output.with_name(f".{output.name}.tmp")
        try:
            with pq.ParquetWriter(temporary, schema) as parquet:
                for rows in _chunks(self._spooled(spool), _PARQUET_ROWS_PER_GROUP):
                    parquet.write_table(pa.Table.from_pylist(rows, schema=schema))
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, output)
        except OSError as exc:
            raise ToolkitError(
                f"cannot write {output}: {exc.strerror or exc}; the records are whole in {spool.name}: "
                "free space, then --resume"
            ) from None
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
        spool.unlink(missing_ok=True)

    def schema(self) -> Any:
        """The Arrow schema of the columns: ours typed, kept fields as text."""
        pa, _ = _pyarrow()
        types = {
            "language_confidence": pa.float64(),
            "labels": pa.list_(pa.string()),
            "uncertain": pa.list_(pa.string()),
            "truncated": pa.bool_(),
            "line": pa.int64(),
        }
        fields = [
            pa.field(column, pa.float64() if _is_score(column) else types.get(column, pa.string()))
            for column in self.columns
        ]
        return pa.schema(fields)

    def _spooled(self, spool: Path) -> Iterator[dict]:
        with open(spool, encoding="utf-8") as handle:
            for line in handle:
                flat = flat_values(json.loads(line), self.columns)
                flat["id"] = None if flat["id"] is None else _cell(flat["id"])
                yield flat


def flat_values(record: dict, columns: Sequence[str]) -> dict[str, Any]:
    """The value of each flat column for one output record (None where it has none).

    Score columns come from ``scores``; evidence and kept values that are not
    strings become JSON text, so every kept column holds text in every row.
    """
    flat: dict[str, Any] = {}
    scores = record.get("scores") or {}
    for column in columns:
        if _is_score(column):
            flat[column] = scores.get(column[len(_SCORE_PREFIX) :])
        elif column in OUTPUT_FIELDS and column != "evidence":
            flat[column] = record.get(column)
        else:  # evidence and the kept fields
            flat[column] = _kept_text(record.get(column))
    return flat


_WRITERS = {"jsonl": JsonlWriter, "csv": CsvWriter, "parquet": ParquetWriter}


def writer_for(name: str = _DEFAULT_FORMAT, columns: Sequence[str] = ()) -> RecordWriter:
    """The writer of an output format name (``columns``: the flat formats' columns)."""
    try:
        kind = _WRITERS[name]
    except KeyError:
        raise ValueError(f"unknown output format {name!r}: use {', '.join(_WRITERS)}") from None
    return kind(columns)


def _pyarrow() -> tuple[Any, Any]:
    """The pyarrow module and its Parquet module, or one line saying how to install them."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ToolkitError(_PARQUET_HINT) from None
    return pyarrow, pyarrow.parquet


def _is_score(column: str) -> bool:
    return column.startswith(_SCORE_PREFIX)


def _kept_text(value: Any) -> str | None:
    """A kept value as text: a string as it is, any other JSON value as JSON, null as None."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _cell(value: Any) -> str:
    """A CSV cell: empty for None, ``true``/``false`` for booleans, numbers as Python writes them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _csv_text(rows: Iterable[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=_CSV_LINE_END).writerows(rows)
    return buffer.getvalue()


def _allow_long_cells() -> None:
    if csv.field_size_limit() < _MAX_CSV_CELL:
        csv.field_size_limit(_MAX_CSV_CELL)


def _next_row(reader: Iterator[list[str]]) -> list[str] | None:
    """The next CSV row, or None at the end or at a row that does not parse (cut inside a quote)."""
    try:
        return next(reader)
    except (StopIteration, csv.Error):
        return None


class _CountedLines:
    """The lines of a binary file as text, counting the bytes handed out and whether the last one ended."""

    def __init__(self, handle: io.BufferedReader) -> None:
        self.handle = handle
        self.consumed = 0
        self.whole = True

    def __iter__(self) -> _CountedLines:
        return self

    def __next__(self) -> str:
        raw = self.handle.readline()
        if not raw:
            raise StopIteration
        self.consumed += len(raw)
        self.whole = raw.endswith(b"\n")
        return raw.decode("utf-8", errors="replace")


def _json_object(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _truncate(path: Path, size: int) -> None:
    if size != path.stat().st_size:
        with open(path, "r+b") as handle:
            handle.truncate(size)


def _chunks(items: Iterator[dict], size: int) -> Iterator[list[dict]]:
    while chunk := list(islice(items, size)):
        yield chunk
