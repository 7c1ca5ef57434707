"""Labelling records an engine already holds: lists of dicts or JSON lines, and pandas data frames.

These are what a Dask, Spark or Ray task calls on its share of the data; they
need no engine. The record rules are `toolkit label`'s: one output per input,
in order, and a bad item becomes an error record (without a ``line``: an
in-memory item has none). Ids are not checked for repeats across items.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from toolkit.errors import ToolkitError, optional_module
from toolkit.io import Record, flat_columns, flat_values, kept_name
from toolkit.io.readers import record_from_line, record_from_mapping
from toolkit.labelling import Keep, keep_fields, label_batch

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.classifier import TopicClassifier

_DEFAULT_BATCH_SIZE = 64
_FLOAT_COLUMNS = ("language_confidence",)
_PANDAS_HINT = "labelling data frames needs pandas: pip install pandas"


def label_items(
    model: TopicClassifier,
    items: Iterable[dict | str | bytes],
    *,
    id_field: str = "id",
    text_field: str = "text",
    batch_size: int = _DEFAULT_BATCH_SIZE,
    evidence: bool = False,
    keep: Sequence[str] = (),
    keep_all: bool = False,
) -> list[dict]:
    """Label dicts (or JSONL lines) into `toolkit label`'s output records, one per item, in order.

    A line that is not a JSON object becomes an error record; a blank line or
    anything else but a dict or a line becomes one too, so the output always
    lines up with the input.
    """
    kept = keep_fields(keep, keep_all, id_field=id_field, text_field=text_field)
    records = [_item_record(item, id_field, text_field) for item in items]
    return _labelled(model, records, batch_size, evidence, kept)


def label_frame(
    model: TopicClassifier,
    frame: pd.DataFrame,
    *,
    text_column: str = "text",
    id_column: str | None = "id",
    batch_size: int = _DEFAULT_BATCH_SIZE,
    evidence: bool = False,
    keep: Sequence[str] = (),
) -> pd.DataFrame:
    """Label a pandas frame: one row per row, same index, in the columns of `toolkit label`'s CSV output.

    ``id_column=None`` takes the ids from the index. ``labels`` and
    ``uncertain`` hold lists; the ``keep`` columns are copied as they are
    (under ``input_NAME`` where a name is one of ours).
    """
    pd = _pandas()
    missing = [name for name in (text_column, id_column, *keep) if name is not None and name not in frame]
    if missing:
        raise ToolkitError(f"the frame has no column {', '.join(map(repr, missing))}")
    id_field = id_column or "id"
    kept = keep_fields(keep, id_field=id_field, text_field=text_column)
    ids = frame.index if id_column is None else frame[id_column]
    records = [
        record_from_mapping({id_field: _plain(key), text_column: _plain(text)}, None, id_field, text_column)
        for key, text in zip(ids, frame[text_column], strict=True)
    ]
    outputs = _labelled(model, records, batch_size, evidence, Keep())
    columns = frame_columns(model, evidence)
    dtypes, flat = _dtypes(columns), [flat_values(out, columns) for out in outputs]
    # column by column: an object column keeps None for a missing value, whatever its other rows hold
    labelled = pd.DataFrame(
        {
            name: pd.Series([row[name] for row in flat], dtype=dtypes[name], index=frame.index)
            for name in columns
        },
        index=frame.index,
    )
    copies = frame[list(kept.names)].rename(columns=kept_name)
    return pd.concat([labelled, copies], axis=1)


def frame_columns(model: TopicClassifier, evidence: bool = False) -> list[str]:
    """The columns :func:`label_frame` gives before the kept ones."""
    return flat_columns([str(topic) for topic in model.classes_], (), evidence)


def empty_frame(model: TopicClassifier, evidence: bool = False) -> pd.DataFrame:
    """A frame with :func:`label_frame`'s columns and types and no rows (what an engine calls its schema)."""
    pd = _pandas()
    columns = frame_columns(model, evidence)
    return pd.DataFrame({column: [] for column in columns}).astype(_dtypes(columns))


def _labelled(
    model: TopicClassifier, records: list[Record], batch_size: int, evidence: bool, keep: Keep
) -> list:
    outputs: list[dict] = []
    for start in range(0, len(records), batch_size):
        outputs += label_batch(model, records[start : start + batch_size], evidence, keep)
    return outputs


def _item_record(item: Any, id_field: str, text_field: str) -> Record:
    if isinstance(item, dict):
        return record_from_mapping(item, None, id_field, text_field)
    if isinstance(item, bytes):
        item = item.decode("utf-8", errors="surrogateescape")
    if isinstance(item, str):
        return record_from_line(item, None, id_field, text_field) or Record(None, None, None, "line is blank")
    return Record(None, None, None, f"item is a {type(item).__name__}, not a dict or a JSON line")


def _plain(value: Any) -> Any:
    """A pandas cell as a plain Python value: numpy scalars unwrapped, NaN and NaT as None."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return None if type(value).__name__ in ("NaTType", "NAType") else value


def _dtypes(columns: list[str]) -> dict[str, str]:
    """Scores and confidence as float64; everything else as Python objects (ids keep their type)."""
    return {
        column: "float64" if column.startswith("score_") or column in _FLOAT_COLUMNS else "object"
        for column in columns
    }


def _pandas() -> Any:
    return optional_module("pandas", _PANDAS_HINT)
