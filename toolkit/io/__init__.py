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
from toolkit.io.writers import (
    OUTPUT_FIELDS,
    CsvWriter,
    JsonlWriter,
    ParquetWriter,
    RecordWriter,
    flat_columns,
    flat_values,
    kept_name,
    output_format,
    writer_for,
)

__all__ = [
    "OUTPUT_FIELDS",
    "CsvWriter",
    "JsonlWriter",
    "ParquetWriter",
    "RecordWriter",
    "LabelledDoc",
    "Record",
    "decode_bytes",
    "detect_format",
    "flat_columns",
    "flat_values",
    "iter_records",
    "kept_name",
    "load_dataset",
    "normalise_newlines",
    "open_binary",
    "output_format",
    "read_text_file",
    "writer_for",
]
