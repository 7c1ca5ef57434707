"""Input and output: readers for articles, batches and datasets; writers for labelled records."""

from toolkit.io.readers import (
    LabelledDoc,
    Record,
    decode_bytes,
    detect_format,
    iter_records,
    load_dataset,
    normalise_newlines,
    open_binary,
    read_text_file,
)
from toolkit.io.writers import JsonlWriter, writer_for

__all__ = [
    "JsonlWriter",
    "LabelledDoc",
    "Record",
    "decode_bytes",
    "detect_format",
    "iter_records",
    "load_dataset",
    "normalise_newlines",
    "open_binary",
    "read_text_file",
    "writer_for",
]
