"""Writers of labelled records: how a batch of output dicts becomes text, and how much of a file is whole.

A writer is a small picklable object, so worker processes can serialise their
own batches; the labelling job only appends the text they return.
"""

from __future__ import annotations

import json
from pathlib import Path

_DEFAULT_FORMAT = "jsonl"


class JsonlWriter:
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


_WRITERS = {"jsonl": JsonlWriter}


def writer_for(name: str = _DEFAULT_FORMAT) -> JsonlWriter:
    """The writer of an output format name."""
    try:
        return _WRITERS[name]()
    except KeyError:
        raise ValueError(f"unknown output format {name!r}: use {', '.join(_WRITERS)}") from None
