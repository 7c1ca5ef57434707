"""Labelling on distributed engines.

* :mod:`toolkit.engines.frames` — what any engine's task calls on its share of
  the data (dicts, JSON lines, pandas frames); no engine needed.
* :mod:`toolkit.engines.dask` — the Dask engine: `toolkit label --engine dask`
  and Dask bags and data frames labelled in one call (``pip install 'toolkit[dask]'``).

Nothing here imports an engine until it is used.
"""

from toolkit.engines.frames import empty_frame, frame_columns, label_frame, label_items

__all__ = ["empty_frame", "frame_columns", "label_frame", "label_items"]
