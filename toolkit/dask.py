"""Dask collections labelled in one call: ``toolkit.dask.label_bag`` and ``toolkit.dask.label_dataframe``.

They live in :mod:`toolkit.engines.dask` with the `toolkit label --engine dask`
job; this module only gives them the short name. Needs ``pip install 'toolkit[dask]'``
(data frames also ``dask[dataframe]``).
"""

from __future__ import annotations

from toolkit.engines.dask import label_bag, label_dataframe, local_cluster

__all__ = ["label_bag", "label_dataframe", "local_cluster"]
