"""Progress bars on stderr for long commands, drawn with tqdm.

The library never draws anything: ``TopicClassifier.fit`` and ``label_file``
report through an optional callback, and the CLI passes one of these. Bars are
shown only when stderr is a terminal and no CI is detected, unless the user
forces them either way (``--progress`` / ``--no-progress``).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

_DEFAULT_MIN_INTERVAL = 0.2  # seconds between redraws
_COUNT_CHUNK = 1 << 20  # bytes read at a time when counting lines
_CSV_SUFFIXES = (".csv", ".tsv")


def progress_wanted(forced: bool | None = None) -> bool:
    """``forced`` when given; else True only for a terminal stderr outside CI (``$CI`` unset)."""
    if forced is not None:
        return forced
    stream = sys.stderr
    return stream is not None and stream.isatty() and not os.environ.get("CI")


class Progress:
    """Bars on stderr, one per stage, each with its count (and total and ETA when the total is known).

    Call it as ``progress(stage, done, total)`` (the callback of ``TopicClassifier.fit``), or use
    :meth:`update` for one-stage work such as labelling. Disabled, it does nothing.
    """

    def __init__(self, enabled: bool, stage: str = "", total: int | None = None, unit: str = "it") -> None:
        self.enabled = enabled
        self.stage = stage
        self.total = total
        self.unit = unit
        self._bar: Any = None
        self._shown = ""

    def __call__(self, stage: str, done: int, total: int | None = None) -> None:
        """Show ``done`` of ``total`` for ``stage``; a new stage ends the previous stage's bar."""
        if not self.enabled:
            return
        if self._bar is None or stage != self._shown:
            self._open(stage, total)
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def update(self, done: int) -> None:
        """Progress of the one stage given at construction."""
        self(self.stage, done, self.total)

    def _open(self, stage: str, total: int | None) -> None:
        from tqdm import tqdm

        self._finish()
        self._bar = tqdm(
            total=total,
            desc=stage,
            unit=self.unit,
            file=sys.stderr,
            mininterval=_DEFAULT_MIN_INTERVAL,
            dynamic_ncols=True,
        )
        self._shown = stage

    def _finish(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def close(self) -> None:
        """End the current bar (safe to call more than once)."""
        self._finish()


def count_records(source: str, fmt: str | None = None) -> int | None:
    """The number of records a batch input probably holds: its lines, less a CSV header.

    Only for a regular file (stdin, pipes and devices give None), and not for a JSON array file.
    Counting reads the file once in large blocks; blank lines and CSV fields spanning lines make it
    an estimate.
    """
    path = Path(source)
    try:
        if source == "-" or not stat.S_ISREG(path.stat().st_mode):
            return None
        with open(path, "rb") as handle:
            block = handle.read(_COUNT_CHUNK)
            if block.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":
                return None
            lines, last = 0, b"\n"
            while block:
                lines += block.count(b"\n")
                last = block[-1:]
                block = handle.read(_COUNT_CHUNK)
    except OSError:
        return None
    lines += last != b"\n"
    is_csv = fmt == "csv" or (fmt is None and path.suffix.lower() in _CSV_SUFFIXES)
    return max(lines - is_csv, 0)
