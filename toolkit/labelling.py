"""Batch labelling: records in, one output record per input record out, in order.

Each batch is cleaned, language-detected, embedded and scored together. A
record that cannot be labelled becomes an error record; the batch goes on.
:func:`label_file` is the whole job `toolkit label` runs (input checks, resume,
output file, workers), so the Python API can run exactly the same job.
"""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from toolkit.cleaning import prepare
from toolkit.errors import UsageError
from toolkit.io import JsonlWriter, Record, iter_records
from toolkit.language import detect_documents, load_detector

if TYPE_CHECKING:
    from toolkit.classifier import TopicClassifier

_DEFAULT_BATCH_SIZE = 64
_SCORE_DECIMALS = 4


def error_record(record_id: str | int | None, message: str, line: int | None = None) -> dict:
    """The output contract's error shape."""
    out = {"id": record_id, "status": "error", "error": message}
    if line is not None:
        out["line"] = line
    return out


def label_batch(model: TopicClassifier, batch: list[Record]) -> list[dict]:
    """Label one batch of records: exactly one output dict per record, in order."""
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
    if pending:
        languages = detect_documents(results)
        # Labels come from the scores as printed, so a reader never sees a score at its
        # threshold without the label (or the reverse).
        proba = np.round(model.score_bodies([result.body for result in results]), _SCORE_DECIMALS)
        labels = model.labels_from_proba(proba)
        for row, position in enumerate(pending):
            record, language = batch[position], languages[row]
            outputs[position] = {
                "id": record.id,
                "status": "ok",
                "language": language.language,
                "wrapper_language": language.wrapper_language,
                "language_confidence": language.confidence,
                "labels": labels[row],
                "scores": {str(name): float(p) for name, p in zip(model.classes_, proba[row], strict=True)},
            }
            if truncated[row]:
                outputs[position]["truncated"] = True
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
) -> dict[str, int]:
    """Label a JSONL/CSV file (or ``-``, stdin) into ``output`` (JSONL; ``None``: ``stdout``).

    The input is opened and checked before the output is touched; the output
    must not be the input; ``resume`` keeps the output's whole records and
    labels only the rest. Returns the counts of ok, error and skipped records;
    ``job`` (if given) shows progress, also after an interruption.
    """
    job = job or LabelJob()
    output = Path(output) if output is not None else None
    if resume and output is None:
        raise UsageError("--resume needs --output (the file to continue)")
    if (
        output is not None
        and str(input) != "-"
        and output.exists()
        and Path(input).exists()
        and os.path.samefile(input, output)
    ):
        raise UsageError("--output is the input file: write the labels somewhere else")
    skip = completed_records(output) if resume and output is not None else 0
    job.done = skip
    records = iter_records(input, fmt, id_field, text_field)

    def track(count: int) -> None:
        job.track(count)
        if on_progress is not None:
            on_progress(count)

    stream = open(output, "a" if resume else "w", encoding="utf-8") if output is not None else stdout
    try:
        job.counts = run_label_job(model, records, stream, batch_size, skip, workers, track)
    finally:
        if output is not None:
            stream.close()
    return job.counts


def run_label_job(
    model: TopicClassifier,
    records: Iterable[Record],
    output: IO[str],
    batch_size: int = _DEFAULT_BATCH_SIZE,
    skip: int = 0,
    workers: int = 1,
    on_progress: Callable[[int], None] | None = None,
    method: str | None = None,
) -> dict[str, int]:
    """Label ``records`` into ``output``, one flushed write per batch; return counts of ok and error records.

    ``skip`` passes over records already labelled by an interrupted run. With
    ``workers`` > 1 batches are labelled in that many processes, still written
    in input order.
    """
    counts = {"ok": 0, "error": 0, "skipped": 0}
    iterator = iter(records)
    for _ in islice(iterator, skip):
        counts["skipped"] += 1
    batches = _batches(iterator, batch_size)
    for text, ok, errors in _labelled_batches(model, batches, workers, method):
        output.write(text)
        output.flush()
        _sync(output)
        counts["ok"] += ok
        counts["error"] += errors
        if on_progress is not None:
            on_progress(counts["ok"] + counts["error"] + counts["skipped"])
    return counts


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
_WRITER = JsonlWriter()


def _serialised_batch(model: TopicClassifier, batch: list[Record]) -> tuple[str, int, int]:
    """Label a batch and return its JSON lines with the counts of ok and error records."""
    outputs = label_batch(model, batch)
    errors = sum(out["status"] == "error" for out in outputs)
    return _WRITER.serialise(outputs), len(outputs) - errors, errors


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
    threadpool_limits(1)  # lasts for the process (the object is not a context here)


def _load_before_fork(model: TopicClassifier) -> None:
    """Load the encoder (and check it against the model) and the language detector once, in this process.

    Forked workers then share them instead of each loading, verifying and
    holding its own copy. (The CLI sets ``TOKENIZERS_PARALLELISM=false``: a
    tokenizer that has run threads before a fork warns in every child.)
    """
    model.score_bodies(["Loading the encoder before the workers start."])
    load_detector()


def _worker_label(batch: list[Record]) -> tuple[str, int, int]:
    return _serialised_batch(_worker_model, batch)


def start_method(model: TopicClassifier) -> str:
    """``fork`` where the platform has it and the model's encoder survives a fork, else ``spawn``."""
    import multiprocessing

    encoder = getattr(model, "encoder_", None)
    if getattr(encoder, "fork_safe", True) and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


def _labelled_batches(
    model: TopicClassifier, batches: Iterator[list[Record]], workers: int, method: str | None = None
) -> Iterator[tuple[str, int, int]]:
    """Serialised batches in input order, labelled here or (``workers`` > 1) in worker processes.

    Forked workers share the encoder and detector the parent loaded once;
    spawned ones (``method="spawn"``, or an encoder that does not survive a
    fork) receive the pickled model and load their own.
    """
    if workers <= 1:
        for batch in batches:
            yield _serialised_batch(model, batch)
        return
    import multiprocessing

    method = method or start_method(model)
    if method == "fork":
        _load_before_fork(model)
    context = multiprocessing.get_context(method)
    with context.Pool(workers, initializer=_init_worker, initargs=(model,)) as pool:
        yield from pool.imap(_worker_label, batches, chunksize=1)
