"""Numbered partitions of a batch input and the part files their labelled records go to.

An engine labels a batch as partitions of consecutive records, in any order
and perhaps more than once (a retried partition). Each partition's output is
one part file, written whole (a temporary file renamed into place), so a part
on disk is always complete and a rewrite replaces only that part; the parts
are joined in input order into the output once every one is there.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import IO, TypeVar

_PARTS_SUFFIX = ".parts"
_PART_NAME = "part-{index:06d}.txt"
_PART_PATTERN = re.compile(r"part-(\d{6,})\.txt")
_JOIN_CHUNK = 1 << 20

T = TypeVar("T")


def partitions(items: Iterable[T], size: int) -> Iterator[tuple[int, list[T]]]:
    """Consecutive lists of ``size`` items (the last one shorter), numbered from 0."""
    iterator = iter(items)
    index = 0
    while chunk := list(islice(iterator, size)):
        yield index, chunk
        index += 1


class PartFiles:
    """The part files of one output, in a folder next to it (``OUTPUT.parts``)."""

    def __init__(self, output: Path) -> None:
        self.folder = output.with_name(output.name + _PARTS_SUFFIX)

    def path(self, index: int) -> Path:
        """Where part ``index`` lives."""
        return self.folder / _PART_NAME.format(index=index)

    def finished(self) -> set[int]:
        """The numbers of the parts on disk (each one whole: parts appear only by rename)."""
        if not self.folder.is_dir():
            return set()
        return {int(match[1]) for name in os.listdir(self.folder) if (match := _PART_PATTERN.fullmatch(name))}

    def write(self, index: int, text: str) -> None:
        """Write part ``index`` whole: a temporary file, synced, then renamed over any earlier copy."""
        self.folder.mkdir(exist_ok=True)
        final = self.path(index)
        temporary = final.with_name(f".{final.name}.tmp")
        try:
            with open(temporary, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)

    def join(self, count: int, stream: IO[str]) -> None:
        """Append parts 0 to ``count - 1`` in order to ``stream``; a missing part raises FileNotFoundError."""
        for index in range(count):
            with open(self.path(index), encoding="utf-8", newline="") as handle:
                while chunk := handle.read(_JOIN_CHUNK):
                    stream.write(chunk)

    def clear(self) -> None:
        """Remove the part files (and temporary ones) and then the folder, if it is empty."""
        if not self.folder.is_dir():
            return
        for name in os.listdir(self.folder):
            if _PART_PATTERN.fullmatch(name) or _PART_PATTERN.fullmatch(name[1:].removesuffix(".tmp")):
                (self.folder / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.folder.rmdir()
