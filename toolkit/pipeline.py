"""Batch labelling: records in, one output record per input record out, in order.

Each batch is cleaned, language-detected, embedded and scored together. A
record that cannot be labelled becomes an error record; the batch goes on.
"""

from __future__ import annotations

import json
import os
import signal
import stat
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import IO

import numpy as np

from toolkit.cleaning import prepare
from toolkit.data import Record
from toolkit.language import detect_documents, load_detector

_DEFAULT_BATCH_SIZE = 64
_SCORE_DECIMALS = 4


def error_record(record_id, message: str, line: int | None = None) -> dict:
    """The output contract's error shape."""
    out = {"id": record_id, "status": "error", "error": message}
    if line is not None:
        out["line"] = line
    return out


def label_batch(model, batch: list[Record]) -> list[dict]:
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
                "scores": {str(name): float(p) for name, p in zip(model.classes_, proba[row])},
            }
            if truncated[row]:
                outputs[position]["truncated"] = True
    return outputs


def completed_records(path: Path) -> int:
    """Count the whole records already in an output file, cutting off a half-written last line.

    A line counts when it ends with a newline and parses as a JSON object; the
    file is truncated just after the last such line, so appending resumes cleanly.
    """
    if not path.exists():
        return 0
    done, keep = 0, 0
    with open(path, "rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            try:
                if not isinstance(json.loads(raw), dict):
                    break
            except ValueError:
                break
            done += 1
            keep += len(raw)
    if keep != path.stat().st_size:
        with open(path, "r+b") as handle:
            handle.truncate(keep)
    return done


def run_label_job(
    model, records: Iterable[Record], output: IO[str], batch_size: int = _DEFAULT_BATCH_SIZE,
    skip: int = 0, workers: int = 1, on_progress=None,
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
    for text, ok, errors in _labelled_batches(model, batches, workers):
        output.write(text)
        output.flush()
        _sync(output)
        counts["ok"] += ok
        counts["error"] += errors
        if on_progress is not None:
            on_progress(counts["ok"] + counts["error"] + counts["skipped"])
    return counts


def _sync(output: IO[str]) -> None:
    """fsync a regular output file (pipes, terminals and FIFOs have nothing to sync)."""
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


def _serialised_batch(model, batch: list[Record]) -> tuple[str, int, int]:
    """Label a batch and return its JSON lines with the counts of ok and error records."""
    outputs = label_batch(model, batch)
    errors = sum(out["status"] == "error" for out in outputs)
    text = "".join(json.dumps(out, ensure_ascii=False) + "\n" for out in outputs)
    return text, len(outputs) - errors, errors


def _init_worker() -> None:
    """Leave Ctrl-C to the parent, and keep each worker on one thread: the workers already fill the cores.

    Without this, every worker's BLAS and tokenizer start thread pools of
    their own and the processes fight over the same cores.
    """
    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(1)  # lasts for the process (the object is not a context here)


def _load_before_fork(model) -> None:
    """Load the encoder (and check it against the model) and the language detector once, in this process.

    Forked workers then share them instead of each loading, verifying and
    holding its own copy. The tokenizer is kept single-threaded first: a
    tokenizer that has run threads before a fork disables them in the
    children with a warning on stderr, and each worker runs on one thread anyway.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    model.score_bodies(["Loading the encoder before the workers start."])
    load_detector()


def _worker_label(batch: list[Record]) -> tuple[str, int, int]:
    return _serialised_batch(_worker_model, batch)


def _labelled_batches(model, batches: Iterator[list[Record]], workers: int) -> Iterator[tuple[str, int, int]]:
    """Serialised batches in input order, labelled here or (``workers`` > 1) in forked worker processes."""
    if workers <= 1:
        for batch in batches:
            yield _serialised_batch(model, batch)
        return
    import multiprocessing

    global _worker_model
    _worker_model = model
    _load_before_fork(model)
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker) as pool:
        yield from pool.imap(_worker_label, batches, chunksize=1)
