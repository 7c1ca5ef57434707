"""Batch labelling: records in, one output record per input record out, in order.

Each batch is cleaned, language-detected, embedded and scored together. A
record that cannot be labelled becomes an error record; the batch goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from toolkit.cleaning import clean
from toolkit.data import Record
from toolkit.language import detect_document

_DEFAULT_BATCH_SIZE = 64


def error_record(record_id, message: str, line: int | None = None) -> dict:
    """The output contract's error shape."""
    out = {"id": record_id, "status": "error", "error": message}
    if line is not None:
        out["line"] = line
    return out


def label_records(model, records: Iterable[Record], batch_size: int = _DEFAULT_BATCH_SIZE) -> Iterator[dict]:
    """Label ``records`` batch by batch; yield exactly one output dict per input record, in order."""
    iterator = iter(records)
    while True:
        batch = list(islice(iterator, batch_size))
        if not batch:
            return
        yield from label_batch(model, batch)


def label_batch(model, batch: list[Record]) -> list[dict]:
    """Label one batch of records (see :func:`label_records`)."""
    outputs: list[dict | None] = [None] * len(batch)
    pending, bodies, languages = [], [], []
    for position, record in enumerate(batch):
        if record.error is not None:
            outputs[position] = error_record(record.id, record.error, record.line)
            continue
        if not record.text or not record.text.strip():
            outputs[position] = error_record(record.id, "text is empty", record.line)
            continue
        result = clean(record.text)
        body = result.body if result.body.strip() else record.text.strip()
        pending.append(position)
        bodies.append(body)
        languages.append(detect_document(result))
    if pending:
        proba = model.score_bodies(bodies)
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
                "scores": {str(name): round(float(p), 4) for name, p in zip(model.classes_, proba[row])},
            }
    return outputs
