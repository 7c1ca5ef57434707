"""Batch labelling: records in, one output record per input record out, in order.

Each batch is cleaned, language-detected, embedded and scored together. A
record that cannot be labelled becomes an error record; the batch goes on.
:func:`label_file` is the whole job `toolkit label` runs (input checks, resume,
output file, workers), so the Python API can run exactly the same job.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import stat
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from toolkit.cleaning import prepare
from toolkit.errors import InputError, ToolkitError, UsageError
from toolkit.evidence import evidence as explain_bodies
from toolkit.io import (
    JsonlWriter,
    Record,
    RecordWriter,
    flat_columns,
    iter_records,
    kept_name,
    output_format,
    writer_for,
)
from toolkit.language import detect_documents, load_detector
from toolkit.limits import MAX_BATCH_SIZE, MAX_WORKERS
from toolkit.text import word_count

if TYPE_CHECKING:
    from toolkit.classifier import TopicClassifier
    from toolkit.io.readers import RecordStream

_DEFAULT_BATCH_SIZE = 64
_SCORE_DECIMALS = 4
_MIN_WORDS_TO_JUDGE = 8  # fewer words than a short headline: the scores say little
_RUN_SUFFIX = ".run.json"
_RUN_FORMAT = "toolkit-label-run"
_RUN_FORMAT_VERSION = 1
_MAX_RUN_RECORD_BYTES = 1 << 20
_IN_FLIGHT_PER_WORKER = 2
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def error_record(record_id: str | int | None, message: str, line: int | None = None) -> dict:
    """The output contract's error shape."""
    out = {"id": record_id, "status": "error", "error": message}
    if line is not None:
        out["line"] = line
    return out


@dataclass(frozen=True)
class Keep:
    """The input fields each output record carries: ``names`` in that order, or with ``every`` all of them.

    The id and the text are never among them: the id is the output's ``id``,
    and the text is not repeated. A field is written under :func:`kept_name`.
    """

    names: tuple[str, ...] = ()
    every: bool = False

    def fields(self, extra: dict) -> dict:
        """The kept fields of one record's other fields, under their output names; missing ones left out."""
        if self.every:
            return {kept_name(name): value for name, value in extra.items()}
        return {kept_name(name): extra[name] for name in self.names if name in extra}

    def columns(self, header: Sequence[str] | None, id_field: str, text_field: str) -> list[str]:
        """The kept columns of a flat output; with ``every``, those of a CSV input's ``header``."""
        if not self.every:
            return [kept_name(name) for name in self.names]
        if header is None:
            raise UsageError(
                "--keep-all with CSV or Parquet output needs a CSV input, whose header fixes the columns; "
                "name the fields with --keep instead"
            )
        return [kept_name(name) for name in header if name not in (id_field, text_field)]


def keep_fields(names: Iterable[str] = (), every: bool = False, *, id_field: str, text_field: str) -> Keep:
    """Check the fields to keep: named once each, never the id or text field, not both names and every."""
    names = tuple(dict.fromkeys(names))
    if every and names:
        raise UsageError("--keep and --keep-all cannot go together: --keep-all already keeps every field")
    if any(not name for name in names):
        raise UsageError("--keep takes field names separated by commas, e.g. --keep url,published")
    for name, role, option in ((id_field, "id", "--id-field"), (text_field, "text", "--text-field")):
        if name in names:
            raise UsageError(
                f"--keep {name!r}: that is the {role} field ({option}), which the output never repeats"
            )
    return Keep(names, every)


def label_batch(
    model: TopicClassifier, batch: list[Record], evidence: bool = False, keep: Keep | None = None
) -> list[dict]:
    """Label one batch of records: exactly one output dict per record, in order.

    Every ok record says which topics are ``uncertain`` (their score within the
    model's margin of the threshold) and carries a ``note`` when the text is
    too short to judge; with ``evidence``, also the sentences behind each label
    (see :mod:`toolkit.evidence`). With ``keep``, every record (error records
    too) ends with the input fields it names.
    """
    outputs = _label_records(model, batch, evidence)
    if keep is not None:
        for out, record in zip(outputs, batch, strict=True):
            out.update(keep.fields(record.extra))
    return outputs


def _label_records(model: TopicClassifier, batch: list[Record], evidence: bool) -> list[dict]:
    outputs: list[dict | None] = [None] * len(batch)
    pending, results, truncated = [], [], []
    for position, record in enumerate(batch):
        if record.error is not None:
            outputs[position] = error_record(record.id, record.error, record.line)
            continue
        if not record.text or not record.text.strip():
            outputs[position] = error_record(record.id, "text is empty", record.line)
            continue
        result, cut = prepare(record.text)
        pending.append(position)
        results.append(result)
        truncated.append(cut)
    if not pending:
        return outputs
    languages = detect_documents(results)
    bodies = [result.body for result in results]
    if evidence:
        proba, units, unit_proba = model.score_units(bodies)
    else:
        proba = model.score_bodies(bodies)
    # Labels come from the scores as printed, so a reader never sees a score at its
    # threshold without the label (or the reverse).
    proba = np.round(proba, _SCORE_DECIMALS)
    labels = model.labels_from_proba(proba)
    uncertain = model.uncertain_labels(proba)
    if evidence:
        texts = [batch[position].text for position in pending]
        spans = explain_bodies(
            model,
            texts,
            results,
            labels,
            units,
            unit_proba,
            languages=[found.language for found in languages],
        )
    finite = np.isfinite(proba).all(axis=1)
    for row, position in enumerate(pending):
        record, language = batch[position], languages[row]
        if not finite[row]:  # JSON has no NaN: never write one (a sound model cannot give it)
            outputs[position] = error_record(record.id, "the model gave a non-finite score", record.line)
            continue
        out = {
            "id": record.id,
            "status": "ok",
            "language": language.language,
            "wrapper_language": language.wrapper_language,
            "language_confidence": language.confidence,
            "labels": labels[row],
            "scores": {str(name): float(p) for name, p in zip(model.classes_, proba[row], strict=True)},
            "uncertain": uncertain[row],
        }
        if record.id_from_row:
            out["id_from"] = "row"  # the input had no id column: the id is the row's line number
        if evidence:
            out["evidence"] = spans[row]
        if language.language == "und" or word_count(bodies[row]) < _MIN_WORDS_TO_JUDGE:
            out["note"] = "too short to judge"
        if truncated[row]:
            out["truncated"] = True
        outputs[position] = out
    return outputs


def completed_records(path: Path) -> int:
    """Count the whole records already in a JSONL output file, cutting off a half-written last line."""
    return JsonlWriter().completed(path)


class LabelJob:
    """Progress of one :func:`label_file` run: records accounted for so far (``done``) and the counts."""

    def __init__(self) -> None:
        self.done = 0
        self.counts = {"ok": 0, "error": 0, "skipped": 0}

    def track(self, done: int) -> None:
        """Record progress (called after every batch)."""
        self.done = done


@dataclass
class LabelPlan:
    """A checked labelling job whose output is not touched yet: what :func:`label_file` and engines share.

    ``records`` is the open input, ``writer`` serialises the output format,
    ``run`` is the run record's content (input, model, options).
    """

    output: Path | None
    records: RecordStream
    writer: RecordWriter
    keep: Keep
    run: dict


def plan_label_job(
    model: TopicClassifier,
    input: str | Path,
    output: str | Path | None,
    *,
    fmt: str | None = None,
    id_field: str = "id",
    text_field: str = "text",
    batch_size: int = _DEFAULT_BATCH_SIZE,
    workers: int = 1,
    resume: bool = False,
    stdout: IO[str] | None = None,
    evidence: bool = False,
    delimiter: str | None = None,
    output_format: str | None = None,
    keep: Iterable[str] = (),
    keep_all: bool = False,
) -> LabelPlan:
    """Check the options and open the input of a :func:`label_file` job, before any output is touched."""
    _check_options(batch_size, workers)
    output = Path(output) if output is not None else None
    if resume and output is None:
        raise UsageError("--resume needs --output (the file to continue)")
    kept = keep_fields(keep, keep_all, id_field=id_field, text_field=text_field)
    output_format = _output_format(output_format, output)
    _refuse_same_file(input, output, stdout)
    records = iter_records(input, fmt, id_field, text_field, delimiter=delimiter)
    writer = _writer(output_format, model, kept, records.columns, evidence, id_field, text_field)
    run = {
        "input": _input_identity(input),
        "model": model_fingerprint(model),
        "options": {
            "format": fmt,
            "id_field": id_field,
            "text_field": text_field,
            "evidence": evidence,
            "delimiter": delimiter,
            "output_format": output_format,
            "keep": list(kept.names),
            "keep_all": kept.every,
        },
    }
    return LabelPlan(output, records, writer, kept, run)


def label_file(
    model: TopicClassifier,
    input: str | Path,
    output: str | Path | None = None,
    *,
    fmt: str | None = None,
    id_field: str = "id",
    text_field: str = "text",
    batch_size: int = _DEFAULT_BATCH_SIZE,
    workers: int = 1,
    resume: bool = False,
    job: LabelJob | None = None,
    on_progress: Callable[[int], None] | None = None,
    stdout: IO[str] | None = None,
    evidence: bool = False,
    delimiter: str | None = None,
    output_format: str | None = None,
    keep: Iterable[str] = (),
    keep_all: bool = False,
) -> dict[str, int]:
    """Label a JSONL/CSV file (or ``-``, stdin) into ``output`` (``None``: ``stdout``).

    ``output_format`` is jsonl, csv or parquet (default: from the output's
    suffix, else jsonl); ``keep`` names input fields to copy into each output
    record, ``keep_all`` copies all of them but the id and text (see
    :class:`Keep`). The options and the input are checked before the output
    is touched; the output must not be the input, and is locked while the job
    writes it (a second job on the same output is refused). Next to the
    output, a small run record (``OUTPUT.run.json``) names the input, the
    model and the options; ``resume`` continues only a run of the same input,
    model and options, whose records on disk are the input's first records in
    order. Returns the counts of ok, error and skipped records (and of ids
    that probably repeat one seen long before); ``job`` (if given) shows
    progress, also after an interruption.
    """
    job = job or LabelJob()
    plan = plan_label_job(
        model,
        input,
        output,
        fmt=fmt,
        id_field=id_field,
        text_field=text_field,
        batch_size=batch_size,
        workers=workers,
        resume=resume,
        stdout=stdout,
        evidence=evidence,
        delimiter=delimiter,
        output_format=output_format,
        keep=keep,
        keep_all=keep_all,
    )
    output, records, writer, kept, run = plan.output, plan.records, plan.writer, plan.keep, plan.run
    if output is None:
        _write(stdout, writer.header())
        job.counts = run_label_job(
            model,
            records,
            stdout,
            batch_size,
            0,
            workers,
            _tracker(job, on_progress),
            evidence=evidence,
            keep=kept,
            writer=writer,
        )
        job.counts["maybe_duplicate"] = records.maybe_repeated
        return job.counts
    spool = writer.spool(output)
    _refuse_finished_spool(output, spool, resume, run)
    with _locked_output(spool) as stream:
        skip = _start_or_resume(output, stream, run, resume, writer)
        job.done = skip
        _skip_verified(records, output, skip, writer)
        try:
            counts = run_label_job(
                model,
                records,
                stream,
                batch_size,
                0,
                workers,
                _tracker(job, on_progress, skip),
                evidence=evidence,
                keep=kept,
                writer=writer,
            )
        except OutputError as exc:
            raise OutputError(
                f"{exc}; the {job.done} records before are whole: free space, then --resume"
            ) from None
        writer.finish(spool, output)
    counts["skipped"] = skip
    counts["maybe_duplicate"] = records.maybe_repeated
    job.counts = counts
    return counts


class OutputError(ToolkitError):
    """The output could not be written (a full disk, a vanished folder)."""


def _output_format(name: str | None, output: Path | None) -> str:
    """The output format, checked: a spooled format (Parquet) needs a regular file to end in."""
    name = output_format(name, output)
    if name == "parquet" and output is not None and output.exists() and not output.is_file():
        raise UsageError(f"Parquet output needs a regular file, and {output} is not one")
    return name


def _writer(
    name: str,
    model: TopicClassifier,
    keep: Keep,
    header: list[str] | None,
    evidence: bool,
    id_field: str,
    text_field: str,
) -> RecordWriter:
    """The writer of this run; a flat format's columns name the model's topics and the kept fields."""
    if name == "jsonl":
        return writer_for(name)
    topics = [str(topic) for topic in model.classes_]
    kept = keep.columns(header, id_field, text_field)
    return writer_for(name, flat_columns(topics, kept, evidence))


def _refuse_finished_spool(output: Path, spool: Path, resume: bool, run: dict) -> None:
    """Refuse to resume a converted output whose run finished: its spool is gone, nothing is left to go on."""
    if not resume or spool == output or not output.exists():
        return
    if not spool.exists() or spool.stat().st_size == 0:
        _check_resumable(output, run_record_path(output), run)  # another run's file: say that first
        raise UsageError(
            f"cannot resume {output}: its run finished ({spool.name}, the records of a run under way, "
            "is gone); label again without --resume"
        )


def _check_options(batch_size: int, workers: int) -> None:
    if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise UsageError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE:,}")
    if not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise UsageError(f"--workers must be between 1 and {MAX_WORKERS}")


def _tracker(
    job: LabelJob, on_progress: Callable[[int], None] | None, skip: int = 0
) -> Callable[[int], None]:
    def track(count: int) -> None:
        job.track(count + skip)
        if on_progress is not None:
            on_progress(count + skip)

    return track


def _file_identity(handle: object) -> tuple[int, int] | None:
    """(device, inode) of an open stream or a path; None when it has none (closed, a pipe's end is fine)."""
    try:
        info = os.fstat(handle.fileno()) if hasattr(handle, "fileno") else os.stat(handle)
    except (OSError, ValueError, TypeError):
        return None
    return info.st_dev, info.st_ino


def _refuse_same_file(input: str | Path, output: Path | None, stdout: IO[str] | None) -> None:
    """Refuse to write over the input: ``--output`` naming it, or stdout redirected to it (``-`` included)."""
    source = _file_identity(sys.stdin) if str(input) == "-" else _file_identity(Path(input))
    if source is None:
        return
    if output is not None and output.exists() and _file_identity(output) == source:
        raise UsageError("--output is the input file: write the labels somewhere else")
    if output is None and stdout is not None and _file_identity(stdout) == source:
        raise UsageError("standard output is the input file: write the labels somewhere else")


def _input_identity(input: str | Path) -> dict:
    """What a run record remembers of its input: the name, and for a regular file its size and SHA-256."""
    identity: dict = {"name": str(input), "size": None, "sha256": None}
    if str(input) == "-":
        return identity
    path = Path(input)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return identity
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
            identity["size"] = handle.tell()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    identity["sha256"] = digest
    return identity


def model_fingerprint(model: TopicClassifier) -> str:
    """A short hash of what decides a model's output: labels, thresholds, weights, n-grams and encoder."""
    digest = hashlib.sha256()
    digest.update(json.dumps([str(name) for name in model.classes_]).encode("utf-8"))
    for part in (model.thresholds_, model.coef_, model.intercept_):
        digest.update(np.ascontiguousarray(part).tobytes())
    for part in (getattr(model, "unit_coef_", None), getattr(model, "unit_intercept_", None)):
        if part is not None:  # models made before unit heads hash as they always did
            digest.update(np.ascontiguousarray(part).tobytes())
    chars = getattr(model, "chars_", None)
    if chars is not None:
        digest.update(np.ascontiguousarray(chars.idf_).tobytes())
    digest.update(json.dumps(model.encoder_identity_, sort_keys=True, default=str).encode("utf-8"))
    digest.update(repr(float(getattr(model, "paragraph_weight_", 0.0))).encode("ascii"))
    return digest.hexdigest()[:16]


def run_record_path(output: Path) -> Path:
    """Where the run record of an output file lives."""
    return output.with_name(output.name + _RUN_SUFFIX)


@contextlib.contextmanager
def _locked_output(output: Path) -> Iterator[IO[str]]:
    """Open ``output`` for appending without truncating it, holding an exclusive lock while the job runs."""
    stream = open(output, "a", encoding="utf-8", newline="")  # line ends as the writer makes them
    try:
        if not _try_lock(stream):
            raise ToolkitError(
                f"{output} is being written by another `toolkit label` run: "
                "wait for it, or choose another --output"
            )
        yield stream
    except BaseException:
        with contextlib.suppress(OSError):  # what failed to be written fails again here: say it once
            stream.close()
        raise
    try:
        stream.close()  # closing the file releases the lock
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror or exc}") from None


def _try_lock(stream: IO[str]) -> bool:
    """Take an exclusive, non-blocking lock on an open file; False if another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(stream.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a filesystem without locks: go on unlocked rather than refuse
        return True
    return True


def _start_or_resume(output: Path, stream: IO[str], run: dict, resume: bool, writer: RecordWriter) -> int:
    """Start a fresh run (empty the output, write its run record) or check a resumed one; records to skip.

    ``stream`` is open on the writer's spool: the output itself, or the file
    a converted format (Parquet) appends to until the run ends.
    """
    record_path, spool = run_record_path(output), writer.spool(output)
    if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):  # /dev/stdout, a FIFO: nothing to keep or check
        if resume:
            raise UsageError(f"cannot resume {output}: it is not a regular file")
        _write(stream, writer.header())
        return 0
    if resume and spool.stat().st_size > 0:
        _check_resumable(output, record_path, run)
        try:
            done = writer.completed(spool)
        except ValueError as exc:
            raise UsageError(f"cannot resume {output}: {exc}; label again without --resume") from None
        if spool.stat().st_size == 0:  # only a cut header was there
            _write(stream, writer.header())
        return done
    stream.truncate(0)
    if spool != output:  # an output of an earlier run must not stay to look like this run's
        output.unlink(missing_ok=True)
    _write_run_record(record_path, run)
    _write(stream, writer.header())
    return 0


def _write_run_record(path: Path, run: dict) -> None:
    record = {
        "format": _RUN_FORMAT,
        "format_version": _RUN_FORMAT_VERSION,
        **run,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _check_resumable(output: Path, record_path: Path, run: dict) -> None:
    """Refuse to resume an output that another input, model or set of options wrote, in one line."""
    again = "label again without --resume"
    try:
        with open(record_path, "rb") as handle:
            stored = json.loads(handle.read(_MAX_RUN_RECORD_BYTES))
    except FileNotFoundError:
        raise UsageError(
            f"cannot resume {output}: it has no run record ({record_path.name}), so it cannot be checked "
            f"against this input and model; {again}"
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"cannot resume {output}: its run record {record_path} is unreadable ({exc}); {again}"
        ) from None
    if not isinstance(stored, dict) or stored.get("format") != _RUN_FORMAT:
        raise UsageError(f"cannot resume {output}: {record_path} is not a toolkit run record; {again}")
    if stored.get("model") != run["model"]:
        raise UsageError(f"cannot resume {output}: it was written by another model; {again}")
    options = stored.get("options")
    if isinstance(options, dict):  # a run record from before output formats: it wrote JSONL, kept nothing
        options = {"output_format": "jsonl", "keep": [], "keep_all": False, **options}
    if options != run["options"]:
        raise UsageError(f"cannot resume {output}: it was written with other options ({options}); {again}")
    # Inputs read from a pipe have no fingerprint: then the ids on disk are the only check.
    before, now = stored.get("input") or {}, run["input"]
    fingerprints = (before.get("sha256"), before.get("size")), (now["sha256"], now["size"])
    if None not in (before.get("sha256"), now["sha256"]) and fingerprints[0] != fingerprints[1]:
        raise UsageError(
            f"cannot resume {output}: the input changed since the run began (or is another file); {again}"
        )


def _skip_verified(records: Iterator[Record], output: Path, skip: int, writer: RecordWriter) -> None:
    """Pass over the ``skip`` input records already labelled, checking each against its output record's id."""
    if skip == 0:
        return
    stored_ids = writer.stored_ids(writer.spool(output))
    with contextlib.closing(stored_ids):
        for number, stored in enumerate(islice(stored_ids, skip), start=1):
            record = next(records, None)
            if record is None:
                raise UsageError(
                    f"cannot resume {output}: it holds {skip} records but the input has only {number - 1}; "
                    "label again without --resume"
                )
            if writer.stored_id(record.id) != stored:
                raise UsageError(
                    f"cannot resume {output}: its record {number} has id {stored!r} where the input has "
                    f"{record.id!r}; label again without --resume"
                )


def run_label_job(
    model: TopicClassifier,
    records: Iterable[Record],
    output: IO[str],
    batch_size: int = _DEFAULT_BATCH_SIZE,
    skip: int = 0,
    workers: int = 1,
    on_progress: Callable[[int], None] | None = None,
    method: str | None = None,
    evidence: bool = False,
    keep: Keep | None = None,
    writer: RecordWriter | None = None,
) -> dict[str, int]:
    """Label ``records`` into ``output``, one flushed write per batch; return counts of ok and error records.

    ``skip`` passes over records already labelled by an interrupted run. With
    ``workers`` > 1 batches are labelled in that many processes, still written
    in input order. ``writer`` (default JSONL) serialises each batch; a
    header is the caller's to write.
    """
    settings = _Settings(evidence, keep, writer or JsonlWriter())
    counts = {"ok": 0, "error": 0, "skipped": 0}
    iterator = iter(records)
    for _ in islice(iterator, skip):
        counts["skipped"] += 1
    batches = _batches(iterator, batch_size)
    for text, ok, errors in _labelled_batches(model, batches, workers, method, settings):
        _write(output, text)
        counts["ok"] += ok
        counts["error"] += errors
        if on_progress is not None:
            on_progress(counts["ok"] + counts["error"] + counts["skipped"])
    return counts


def _write(output: IO[str], text: str) -> None:
    """Append one batch (or a header) and push it to disk; a failed write names the file."""
    if not text:
        return
    try:
        output.write(text)
        output.flush()
        _sync(output)
    except BrokenPipeError:
        raise
    except OSError as exc:
        name = getattr(output, "name", None)
        where = name if isinstance(name, str) and not name.startswith("<") else "standard output"
        raise OutputError(f"cannot write {where}: {exc.strerror or exc}") from None


def _sync(output: IO[str]) -> None:
    """Fsync a regular output file (pipes, terminals and FIFOs have nothing to sync)."""
    try:
        descriptor = output.fileno()
    except (AttributeError, OSError, ValueError):
        return
    if stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.fsync(descriptor)


def _batches(iterator: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while True:
        batch = list(islice(iterator, size))
        if not batch:
            return
        yield batch


_worker_model = None


@dataclass(frozen=True)
class _Settings:
    """What every batch of a job is labelled and serialised with (sent to worker processes)."""

    evidence: bool = False
    keep: Keep | None = None
    writer: RecordWriter = field(default_factory=JsonlWriter)


def _serialised_batch(
    model: TopicClassifier, batch: list[Record], settings: _Settings
) -> tuple[str, int, int]:
    """Label a batch and return its serialised text with the counts of ok and error records."""
    outputs = label_batch(model, batch, settings.evidence, settings.keep)
    errors = sum(out["status"] == "error" for out in outputs)
    return settings.writer.serialise(outputs), len(outputs) - errors, errors


def _init_worker(model: TopicClassifier) -> None:
    """Take the model; leave Ctrl-C to the parent; keep each worker on one thread.

    The workers fill the cores: without the thread limit, every worker's BLAS and tokenizer start thread
    pools of their own and the processes fight over the same cores. Under
    ``fork`` the model arrives as the parent's memory; under ``spawn`` pickled.
    """
    from threadpoolctl import threadpool_limits

    global _worker_model
    _worker_model = model
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a terminated worker ends quietly, no traceback
    _die_with_parent()
    threadpool_limits(1)  # lasts for the process (the object is not a context here)


def _die_with_parent() -> None:
    """On Linux, ask the kernel to end this worker when the labelling process dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _load_before_fork(model: TopicClassifier) -> None:
    """Load the encoder (and check it against the model) and the language detector once, in this process.

    Forked workers then share them instead of each loading, verifying and
    holding its own copy. (The CLI sets ``TOKENIZERS_PARALLELISM=false``: a
    tokenizer that has run threads before a fork warns in every child.)
    """
    model.score_bodies(["Loading the encoder before the workers start."])
    load_detector()


def _worker_label(batch: list[Record], settings: _Settings) -> tuple[str, int, int]:
    return _serialised_batch(_worker_model, batch, settings)


def start_method(model: TopicClassifier) -> str:
    """``fork`` where the platform has it and the model's encoder survives a fork, else ``spawn``."""
    import multiprocessing

    encoder = getattr(model, "encoder_", None)
    if getattr(encoder, "fork_safe", True) and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


def _labelled_batches(
    model: TopicClassifier,
    batches: Iterator[list[Record]],
    workers: int,
    method: str | None = None,
    settings: _Settings | None = None,
) -> Iterator[tuple[str, int, int]]:
    """Serialised batches in input order, labelled here or (``workers`` > 1) in worker processes.

    Forked workers share the encoder and detector the parent loaded once;
    spawned ones (``method="spawn"``, or an encoder that does not survive a
    fork) receive the pickled model and load their own. At most two batches
    per worker are in flight, so memory does not grow with the input. A worker
    that dies (killed, out of memory) fails the job with one line instead of
    leaving it waiting: the records written before it are whole, and a
    resumed run finishes the file.
    """
    settings = settings or _Settings()
    if workers <= 1:
        for batch in batches:
            yield _serialised_batch(model, batch, settings)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    method = method or start_method(model)
    if method == "fork":
        _load_before_fork(model)
    executor = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context(method),
        initializer=_init_worker,
        initargs=(model,),
    )
    in_flight: deque = deque()
    finished = False
    try:
        for batch in batches:
            in_flight.append(executor.submit(_worker_label, batch, settings))
            if len(in_flight) >= workers * _IN_FLIGHT_PER_WORKER:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()
        finished = True
    except BrokenProcessPool:
        raise ToolkitError(
            "a labelling worker process died (killed, or out of memory): the records written so far are "
            "whole; rerun with --resume to finish"
        ) from None
    finally:
        _stop(executor, finished)


def _stop(executor: object, finished: bool) -> None:
    """Shut the worker pool down: wait for a finished job; on failure or interruption end the workers first.

    The workers are terminated before the pool is shut down and waited for, so
    the pool's own thread ends with them instead of writing to a closed pipe
    at exit.
    """
    if not finished:
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                process.terminate()
    executor.shutdown(wait=True, cancel_futures=True)
