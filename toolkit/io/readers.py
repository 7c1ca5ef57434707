"""Reading text files, batch records (JSONL/CSV) and labelled datasets.

Readers never raise on one bad record: they yield a :class:`Record` whose
``error`` says what is wrong, so a batch keeps going.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from toolkit.errors import InputError

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

_DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BLANK = " \t\n\r\x0b\x0c"
_JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
_CSV_SUFFIXES = {".csv"}
_CSV_FIELD_LIMIT = 2**31 - 1  # a C long on every platform: a whole article fits in one field


@dataclass
class Record:
    """One input record of a batch: an id and a text, or an error saying why not."""

    id: Any
    text: str | None
    line: int
    error: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class LabelledDoc:
    """One document of a labelled dataset."""

    id: str
    text: str
    labels: list[str]
    language: str | None = None
    story: str | None = None


def decode_bytes(data: bytes, source: str = "input") -> str:
    """Decode file content: honour a BOM (UTF-8/16/32), else strict UTF-8; normalise line ends."""
    encoding = _encoding_for(data[:4])
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{source} is not valid {encoding.upper()} (bad byte at offset {exc.start}); "
            "convert it to UTF-8 first, e.g. with iconv"
        ) from None
    if "\x00" in text:
        raise InputError(f"{source} contains NUL bytes: it looks like a binary file, not text")
    return normalise_newlines(text)


def _encoding_for(head: bytes) -> str:
    """The codec a byte-order mark at the start of a file names; UTF-8 without one."""
    return next((name for bom, name in _BOMS if head.startswith(bom)), "utf-8")


def normalise_newlines(text: str) -> str:
    """Turn Windows (CRLF) and old Mac (CR) line ends into LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text_file(path: str | Path, max_bytes: int = _DEFAULT_MAX_FILE_BYTES) -> str:
    """Read one article file (or ``-`` for stdin) as text, with one-line errors for every failure."""
    if str(path) == "-":
        data = sys.stdin.buffer.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise InputError(f"standard input is over the {max_bytes // 2**20} MB limit")
        return decode_bytes(data, "standard input")
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise InputError(f"{path} is a directory, not a file")
        if size > max_bytes:
            raise InputError(f"{path} is {size / 2**20:.0f} MB, over the {max_bytes // 2**20} MB limit")
        data = _read_bytes(path)
    except OSError as exc:
        raise InputError(_os_error_message(exc, path)) from None
    return decode_bytes(data, str(path))


def _os_error_message(exc: OSError, path: Path) -> str:
    """One line saying why ``path`` could not be read."""
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {path}"
    if isinstance(exc, PermissionError):
        return f"permission denied reading {path}"
    if isinstance(exc, IsADirectoryError):
        return f"{path} is a directory, not a file"
    return f"cannot read {path}: {exc.strerror or exc}"


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def detect_format(path: str | Path, first_bytes: bytes = b"") -> str:
    """Guess ``jsonl`` or ``csv`` from the file suffix, else from the first character."""
    suffix = Path(str(path)).suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return "jsonl"
    if suffix in _CSV_SUFFIXES:
        return "csv"
    stripped = first_bytes.lstrip(codecs.BOM_UTF8).lstrip()
    return "jsonl" if stripped.startswith(b"{") else "csv"


def open_binary(path: str | Path) -> IO[bytes]:
    """Open a file (or ``-`` for stdin) for binary reading, with one-line errors."""
    if str(path) == "-":
        return sys.stdin.buffer
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a file")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(_os_error_message(exc, path)) from None


def _text_stream(handle: IO[bytes]) -> io.TextIOWrapper:
    """Wrap a binary stream as text: BOM-aware, invalid bytes kept as surrogates for per-record errors."""
    buffered = handle if isinstance(handle, io.BufferedReader) else io.BufferedReader(handle)
    encoding = _encoding_for(buffered.peek(4)[:4])
    return io.TextIOWrapper(buffered, encoding=encoding, errors="surrogateescape", newline="")


def iter_records(
    path: str | Path,
    fmt: str | None = None,
    id_field: str = "id",
    text_field: str = "text",
) -> Iterator[Record]:
    """Open a JSONL or CSV batch and return an iterator of its records, one per input record, errors included.

    The file is opened and its format (and CSV header) checked now, so a bad
    input fails before any output is opened; records are read lazily.
    """
    handle = open_binary(path)
    buffered = handle if isinstance(handle, io.BufferedReader) else io.BufferedReader(handle)
    fmt = fmt or detect_format(path, buffered.peek(64)[:64])
    if fmt not in ("jsonl", "csv"):
        raise InputError(f"unknown format {fmt!r}: use jsonl or csv")
    stream = _text_stream(buffered)
    if fmt == "jsonl":
        records = _iter_jsonl(stream, id_field, text_field)
    else:
        if csv.field_size_limit() < _CSV_FIELD_LIMIT:
            csv.field_size_limit(_CSV_FIELD_LIMIT)
        reader = csv.reader(stream)
        header = _csv_header(reader, id_field, text_field, str(path))
        records = _iter_csv(reader, header, id_field, text_field)
    return _closing(_check_ids(records), stream if str(path) != "-" else None)


def _closing(records: Iterator[Record], stream: io.TextIOWrapper | None) -> Iterator[Record]:
    try:
        yield from records
    finally:
        if stream is not None:
            stream.close()


def _iter_jsonl(stream: io.TextIOWrapper, id_field: str, text_field: str) -> Iterator[Record]:
    line_no = 0
    for raw in stream:
        line_no += 1
        # ASCII blanks only: a line of U+001F or U+2028 is a bad record, not a blank one
        line = raw.strip(_BLANK)
        if not line:
            continue
        if _has_surrogates(line):
            yield Record(None, None, line_no, "line is not valid UTF-8")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Record(None, None, line_no, f"malformed JSON: {exc.msg} at column {exc.colno}")
            continue
        except (ValueError, RecursionError) as exc:  # over-deep nesting, over-long integers
            yield Record(None, None, line_no, f"malformed JSON: {type(exc).__name__}")
            continue
        if not isinstance(obj, dict):
            yield Record(None, None, line_no, f"line is a JSON {type(obj).__name__}, not an object")
            continue
        yield _record_from_mapping(obj, line_no, id_field, text_field)


def _csv_header(reader: CsvReader, id_field: str, text_field: str, source: str) -> list[str] | None:
    """Read and check the header row; None for an empty file."""
    try:
        header = next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        raise InputError(f"{source}: unreadable CSV header: {exc}") from None
    header = [name.strip().lstrip("\ufeff") for name in header]
    missing = [name for name in (id_field, text_field) if name not in header]
    if missing:
        raise InputError(
            f"{source}: CSV has no column {', '.join(repr(m) for m in missing)} "
            f"(columns: {', '.join(header)}); choose others with --id-field/--text-field"
        )
    return header


def _iter_csv(
    reader: CsvReader, header: list[str] | None, id_field: str, text_field: str
) -> Iterator[Record]:
    if header is None:
        return
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Record(None, None, reader.line_num, f"malformed CSV: {exc}")
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield Record(None, None, reader.line_num, f"row has {len(row)} fields, header has {len(header)}")
            continue
        yield _record_from_mapping(dict(zip(header, row, strict=True)), reader.line_num, id_field, text_field)


def _record_from_mapping(obj: dict, line_no: int, id_field: str, text_field: str) -> Record:
    record_id = obj.get(id_field)
    extra = {k: v for k, v in obj.items() if k not in (id_field, text_field)}
    if record_id is None or (isinstance(record_id, str) and not record_id.strip()):
        return Record(None, None, line_no, f"missing '{id_field}'", extra)
    if not isinstance(record_id, (str, int)) or isinstance(record_id, bool):
        return Record(None, None, line_no, f"'{id_field}' must be a string or an integer", extra)
    if isinstance(record_id, str) and _has_surrogates(record_id):
        return Record(None, None, line_no, f"'{id_field}' is not valid UTF-8", extra)
    text = obj.get(text_field)
    if text is None:
        return Record(record_id, None, line_no, f"missing '{text_field}'", extra)
    if not isinstance(text, str):
        return Record(
            record_id, None, line_no, f"'{text_field}' must be a string, not {type(text).__name__}", extra
        )
    if _has_surrogates(text):
        return Record(record_id, None, line_no, "text is not valid UTF-8", extra)
    return Record(record_id, normalise_newlines(text), line_no, None, extra)


def _check_ids(records: Iterable[Record]) -> Iterator[Record]:
    seen: set = set()
    for record in records:
        if record.error is None and record.id is not None:
            key = (type(record.id).__name__, record.id)
            if key in seen:
                record = Record(record.id, None, record.line, f"duplicate id {record.id!r}", record.extra)
            else:
                seen.add(key)
        yield record


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def load_dataset(path: str | Path) -> tuple[list[LabelledDoc], list[str]]:
    """Read a labelled JSONL/CSV dataset; return documents and one problem line per bad record."""
    docs, problems = [], []
    for record in iter_records(path):
        if record.error:
            problems.append(f"{path}:{record.line}: {record.error}")
            continue
        if "labels" not in record.extra:
            problems.append(f"{path}:{record.line}: missing 'labels' (use [] for an article with no topic)")
            continue
        labels = record.extra["labels"]
        if isinstance(labels, str):
            labels = [part.strip() for part in labels.replace(";", ",").split(",") if part.strip()]
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            problems.append(f"{path}:{record.line}: 'labels' must be a list of strings")
            continue
        language = record.extra.get("language") or None
        story = record.extra.get("story")
        docs.append(
            LabelledDoc(
                str(record.id),
                record.text or "",
                list(labels),
                language,
                None if story in (None, "") else str(story),
            )
        )
    return docs, problems
