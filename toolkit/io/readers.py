"""Reading text files, batch records (JSONL/CSV) and labelled datasets.

Readers never raise on one bad record: they yield a :class:`Record` whose
``error`` says what is wrong, so a batch keeps going.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import json
import os
import stat
import sys
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from toolkit.errors import InputError, UsageError
from toolkit.limits import DUPLICATE_WINDOW

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
_FORMATS = ("jsonl", "csv")
_DELIMITERS = (",", ";", "\t", "|")
_SNIFF_BYTES = 65536
_DEFAULT_MAX_RECORD_CHARS = 16 * 2**20  # one JSONL line or CSV record; a long feature is 50 KB
_OVERSIZED_MARK = "\uffff"  # a noncharacter: never in real text
_OVERSIZED = f"{_OVERSIZED_MARK}(a line over the length limit, skipped)\n"  # stands in for a skipped line
_SKIP_CHUNK = 2**20
_SEEN_FILTER_BITS = 2**26  # 8 MB: a false "probably repeated" about 1 in 10^7 ids at a million ids
_SEEN_FILTER_HASHES = 7


@dataclass
class Record:
    """One input record of a batch: an id and a text, or an error saying why not."""

    id: Any
    text: str | None
    line: int | None  # None: a record from an in-memory collection, which has no line numbers
    error: str | None = None
    extra: dict = field(default_factory=dict)
    id_from_row: bool = False  # a CSV without an id column: the id is the row's line number


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
    """Read one article file (or ``-`` for stdin) as text, with one-line errors for every failure.

    At most ``max_bytes`` are read, whatever the file claims to be; devices
    and sockets are refused, and a FIFO with no writer reads as empty.
    """
    source = "standard input" if str(path) == "-" else str(path)
    handle = open_binary(path)
    try:
        data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(_os_error_message(exc, Path(source))) from None
    finally:
        if str(path) != "-":
            handle.close()
    if len(data) > max_bytes:
        raise InputError(f"{source} is over the {max_bytes // 2**20} MB limit")
    return decode_bytes(data, source)


def _os_error_message(exc: OSError, path: Path) -> str:
    """One line saying why ``path`` could not be read."""
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {path}"
    if isinstance(exc, PermissionError):
        return f"permission denied reading {path}"
    if isinstance(exc, IsADirectoryError):
        return f"{path} is a directory, not a file"
    return f"cannot read {path}: {exc.strerror or exc}"


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
    """Open a file (or ``-`` for stdin) for binary reading, with one-line errors.

    Regular files and pipes only: a device such as ``/dev/zero`` or a socket
    is refused, and a FIFO is opened without waiting for a writer.
    """
    if str(path) == "-":
        if sys.stdin is None:
            raise InputError("standard input is closed: pipe the records in, or name a file")
        return sys.stdin.buffer
    path = Path(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputError(_os_error_message(exc, path)) from None
    mode = os.fstat(descriptor).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        os.close(descriptor)
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a device or socket)"
        raise InputError(f"{path} is {kind}: give a file, or '-' for standard input")
    with contextlib.suppress(OSError, AttributeError):
        os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")


def _text_stream(handle: IO[bytes], newline: str) -> io.TextIOWrapper:
    """Wrap a binary stream as text: BOM-aware, invalid bytes kept as surrogates for per-record errors."""
    buffered = handle if isinstance(handle, io.BufferedReader) else io.BufferedReader(handle)
    encoding = _encoding_for(buffered.peek(4)[:4])
    return io.TextIOWrapper(buffered, encoding=encoding, errors="surrogateescape", newline=newline)


class RecordStream:
    """The records of a batch input, in order; after the end, ``maybe_repeated`` counts probable repeats.

    Ids repeated within the last :data:`DUPLICATE_WINDOW` records become error
    records; a repeat further back is only probable (see :class:`_SeenIds`), so
    its record is labelled and counted here instead.
    """

    def __init__(self, records: Iterator[Record], seen: _SeenIds, columns: list[str] | None = None) -> None:
        self._records = records
        self._seen = seen
        self.columns = columns  # a CSV's header; None for JSON input, whose fields vary by record

    def __iter__(self) -> RecordStream:
        return self

    def __next__(self) -> Record:
        return next(self._records)

    @property
    def maybe_repeated(self) -> int:
        """Ids that probably repeat an id seen more than the window's length of records earlier."""
        return self._seen.maybe_repeated


def iter_records(
    path: str | Path,
    fmt: str | None = None,
    id_field: str = "id",
    text_field: str = "text",
    max_record_chars: int = _DEFAULT_MAX_RECORD_CHARS,
    delimiter: str | None = None,
) -> RecordStream:
    """Open a JSONL or CSV batch and return an iterator of its records, one per input record, errors included.

    The file is opened and its format (and CSV header) checked now, so a bad
    input fails before any output is opened; records are read lazily, one
    line (or CSV record) of at most ``max_record_chars`` at a time. A JSON
    file holding one array of objects is read whole (up to the file size
    limit); each item's ``line`` is its position in the array. A CSV's
    ``delimiter`` is taken from its header line when not given (comma,
    semicolon, tab or bar).
    """
    if delimiter is not None and len(delimiter) != 1:
        raise UsageError(f"--delimiter must be one character, not {delimiter!r}")
    if fmt is not None and fmt not in _FORMATS:
        raise UsageError(f"unknown format {fmt!r}: use {' or '.join(_FORMATS)}")
    handle = open_binary(path)
    source = "standard input" if str(path) == "-" else str(path)
    buffered = handle if isinstance(handle, io.BufferedReader) else io.BufferedReader(handle)
    fmt = fmt or detect_format(path, buffered.peek(64)[:64])
    if fmt == "jsonl" and Path(str(path)).suffix.lower() == ".json" and _starts_an_array(buffered):
        stream = _text_stream(buffered, newline="\n")
        records = _iter_json_array(stream, id_field, text_field, source)
    elif fmt == "jsonl":
        stream = _text_stream(buffered, newline="\n")  # a bare CR inside a record does not end it
        records = _iter_jsonl(_Lines(stream, max_record_chars, source), id_field, text_field)
    else:
        delimiter = delimiter or _csv_delimiter(
            buffered.peek(_SNIFF_BYTES)[:_SNIFF_BYTES], id_field, text_field
        )
        stream = _text_stream(buffered, newline="")
        lines = _Lines(stream, max_record_chars, source, remember=True)
        if csv.field_size_limit() < max_record_chars:
            csv.field_size_limit(max_record_chars)
        reader = csv.reader(lines, strict=True, delimiter=delimiter)
        header = _csv_header(reader, id_field, text_field, source)
        records = _iter_csv(reader, lines, header, id_field, text_field)
    seen = _SeenIds()
    closing = _closing(_check_ids(records, seen), stream if str(path) != "-" else None)
    return RecordStream(closing, seen, header if fmt == "csv" else None)


def _starts_an_array(buffered: io.BufferedReader) -> bool:
    """Whether the first non-blank character of a stream is ``[``."""
    return buffered.peek(_SNIFF_BYTES)[:_SNIFF_BYTES].lstrip(codecs.BOM_UTF8).lstrip()[:1] == b"["


def _csv_delimiter(head: bytes, id_field: str, text_field: str) -> str:
    """The delimiter that splits the header line into columns naming both fields; else the most frequent."""
    first = head.decode(_encoding_for(head[:4]), errors="replace").lstrip("\ufeff").splitlines()[:1]
    line = first[0] if first else ""
    for candidate in _DELIMITERS:
        names = {name.strip().strip('"') for name in line.split(candidate)}
        if {id_field, text_field} <= names:
            return candidate
    return max(_DELIMITERS, key=line.count) if any(map(line.count, _DELIMITERS)) else ","


def _iter_json_array(
    stream: io.TextIOWrapper, id_field: str, text_field: str, source: str
) -> Iterator[Record]:
    """The objects of a JSON array file, as records numbered by their position."""
    text = stream.read(_DEFAULT_MAX_FILE_BYTES + 1)
    if len(text) > _DEFAULT_MAX_FILE_BYTES:
        raise InputError(
            f"{source} is a JSON array over {_DEFAULT_MAX_FILE_BYTES // 2**20} MB: write it as JSONL"
        )
    try:
        items = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(
            f"{source} starts like a JSON array but is not one: {str(exc).splitlines()[0]}"
        ) from None
    if not isinstance(items, list):
        raise InputError(f"{source} is not a JSON array of objects")
    for position, item in enumerate(items, start=1):
        if isinstance(item, dict):
            yield record_from_mapping(item, position, id_field, text_field)
        else:
            yield Record(None, None, position, f"item is a JSON {type(item).__name__}, not an object")


def _closing(records: Iterator[Record], stream: io.TextIOWrapper | None) -> Iterator[Record]:
    try:
        yield from records
    finally:
        if stream is not None:
            stream.close()


class _Lines:
    """Numbered physical lines of a text stream, none held longer than ``limit`` characters, with push-back.

    A longer line is read through in chunks, never held, and stands as
    :data:`_OVERSIZED`; a NUL byte in it means binary input, which ends the
    read with an error. With ``remember``, the lines handed out since
    :meth:`mark` are kept, so a broken CSV record's later lines can be read
    again as records of their own.
    """

    def __init__(self, stream: io.TextIOWrapper, limit: int, source: str, remember: bool = False) -> None:
        self.stream, self.limit, self.source, self.remember = stream, limit, source, remember
        self.read = 0  # physical lines read from the stream
        self.number = 0  # number of the line handed out last
        self.taken: list[tuple[int, str]] = []
        self._pending: list[tuple[int, str]] = []  # pushed back; the next one last

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._pending:
            item = self._pending.pop()
        else:
            line = self.stream.readline(self.limit + 1)
            if not line:
                raise StopIteration
            self.read += 1
            if len(line) > self.limit:
                self._skip_rest(line)
                line = _OVERSIZED
            item = (self.read, line)
        self.number = item[0]
        if self.remember:
            self.taken.append(item)
        return item[1]

    def _skip_rest(self, line: str) -> None:
        while True:
            if "\x00" in line:
                raise InputError(
                    f"{self.source} holds NUL bytes (line {self.read}): it is binary data, not JSONL or CSV"
                )
            if not line or line.endswith(("\n", "\r")):
                return
            line = self.stream.readline(_SKIP_CHUNK)

    def mark(self) -> None:
        """Start a new record: forget the lines handed out so far."""
        self.taken = []

    def push_back(self, items: list[tuple[int, str]]) -> None:
        """Hand these lines out again, in order, before reading on."""
        self._pending.extend(reversed(items))

    @property
    def record_start(self) -> int:
        """Number of the first line of the record read since :meth:`mark`."""
        return self.taken[0][0] if self.taken else self.number


def _iter_jsonl(lines: _Lines, id_field: str, text_field: str) -> Iterator[Record]:
    for raw in lines:
        if raw is _OVERSIZED:
            yield Record(None, None, lines.number, f"line is longer than {lines.limit:,} characters")
            continue
        record = record_from_line(raw, lines.number, id_field, text_field)
        if record is not None:
            yield record


def record_from_line(
    raw: str, line_no: int | None, id_field: str = "id", text_field: str = "text"
) -> Record | None:
    """The record of one JSONL line (an error record when it is not a JSON object); None for a blank line."""
    # ASCII blanks only: a line of U+001F or U+2028 is a bad record, not a blank one
    line = raw.strip(_BLANK)
    if not line:
        return None
    if _has_surrogates(line):
        return Record(None, None, line_no, "line is not valid UTF-8")
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return Record(None, None, line_no, f"malformed JSON: {exc.msg} (column {exc.colno})")
    except RecursionError:
        return Record(None, None, line_no, "malformed JSON: nested too deeply")
    except ValueError as exc:  # an integer of thousands of digits
        return Record(None, None, line_no, f"malformed JSON: {_json_value_problem(exc)}")
    if not isinstance(obj, dict):
        return Record(None, None, line_no, f"line is a JSON {type(obj).__name__}, not an object")
    return record_from_mapping(obj, line_no, id_field, text_field)


def _json_value_problem(exc: ValueError) -> str:
    """A short reason for a JSON value Python refuses to build."""
    if "integer string conversion" in str(exc):
        return f"a number has more than {sys.get_int_max_str_digits()} digits"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _csv_header(reader: CsvReader, id_field: str, text_field: str, source: str) -> list[str] | None:
    """Read and check the header row; None for an empty file."""
    try:
        header = next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        raise InputError(f"{source}: unreadable CSV header: {exc}") from None
    header = [name.strip().lstrip("\ufeff") for name in header]
    if any(_OVERSIZED_MARK in name for name in header):
        raise InputError(f"{source}: the CSV header line is over the length limit")
    repeated = sorted(name for name, count in Counter(header).items() if count > 1)
    if repeated:
        raise InputError(
            f"{source}: the CSV header repeats column {', '.join(repr(name) for name in repeated)}: "
            "rename the copies so each column has one name"
        )
    missing = [name for name in (id_field, text_field) if name not in header]
    if missing == [id_field]:
        return header  # no id column: each row's line number is its id (see _iter_csv)
    if missing:
        raise InputError(
            f"{source}: CSV has no column {', '.join(repr(m) for m in missing)} "
            f"(columns: {', '.join(header)}); choose others with --id-field/--text-field"
        )
    return header


def _iter_csv(
    reader: CsvReader, lines: _Lines, header: list[str] | None, id_field: str, text_field: str
) -> Iterator[Record]:
    """CSV records; a broken record (an unclosed or stray quote) costs one error record, not later rows.

    The reader is strict, so a quote that never closes fails at the end of the
    data or at the next stray quote; the lines that record swallowed after its
    first are then read again as rows of their own.
    """
    if header is None:
        return
    while True:
        lines.mark()
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            swallowed = lines.taken[1:]
            yield Record(None, None, lines.record_start, f"malformed CSV: {exc}")
            lines.push_back(swallowed)
            continue
        start = lines.record_start
        if any(_OVERSIZED_MARK in cell for cell in row):
            yield Record(None, None, start, f"record is longer than {lines.limit:,} characters")
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield Record(None, None, start, f"row has {len(row)} fields, header has {len(header)}")
            continue
        fields = dict(zip(header, row, strict=True))
        if id_field not in header:
            record = record_from_mapping({**fields, id_field: start}, start, id_field, text_field)
            record.id_from_row = True
            yield record
            continue
        yield record_from_mapping(fields, start, id_field, text_field)


def record_from_mapping(
    obj: dict, line_no: int | None, id_field: str = "id", text_field: str = "text"
) -> Record:
    """The record of one JSON object or CSV row; an error record when its id or text is missing or bad."""
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


class _SeenIds:
    """Which ids a batch has had, in flat memory however long the input.

    The last ``window`` ids are held exactly; every id also sets bits in a
    fixed-size Bloom filter. A repeat inside the window is certain; a repeat
    further back is only probable (the filter can say yes by chance), so it is
    counted in ``maybe_repeated`` and its record kept.
    """

    def __init__(
        self,
        window: int = DUPLICATE_WINDOW,
        bits: int = _SEEN_FILTER_BITS,
        hashes: int = _SEEN_FILTER_HASHES,
    ) -> None:
        self.window, self.bits, self.hashes = window, bits, hashes
        self.recent: OrderedDict[tuple[str, Any], None] = OrderedDict()
        self.filter = bytearray(bits // 8)
        self.maybe_repeated = 0

    def repeated(self, key: tuple[str, Any]) -> bool:
        """Note ``key``; True if it certainly came before (within the window)."""
        if key in self.recent:
            return True
        digest = hashlib.blake2b(repr(key).encode("utf-8", "surrogatepass"), digest_size=16).digest()
        first, step = int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little") | 1
        positions = [(first + i * step) % self.bits for i in range(self.hashes)]
        if all(self.filter[p >> 3] & (1 << (p & 7)) for p in positions):
            self.maybe_repeated += 1
        for p in positions:
            self.filter[p >> 3] |= 1 << (p & 7)
        self.recent[key] = None
        if len(self.recent) > self.window:
            self.recent.popitem(last=False)
        return False


def _check_ids(records: Iterable[Record], seen: _SeenIds) -> Iterator[Record]:
    for record in records:
        if record.error is None and record.id is not None:
            if seen.repeated((type(record.id).__name__, record.id)):
                record = Record(record.id, None, record.line, f"duplicate id {record.id!r}", record.extra)
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
