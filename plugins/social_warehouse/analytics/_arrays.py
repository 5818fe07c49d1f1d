"""Array and frame helpers shared by the analytics."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def distinct(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values of ``a``, like ``np.unique(a)``.

    On numpy 2.4, ``np.unique`` of a large integer array takes its hash-based path: 4.7 s
    for 4M int64 here, against 0.03 s for sort-and-compare. The results are identical.
    """
    s = np.sort(np.asarray(a), kind="stable")
    if s.size == 0:
        return s
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def lookup(keys: pd.Series, values: pd.Series) -> pd.Series:
    """``keys.map(values)`` with the dtype of ``values`` (upcast for missing keys, as
    ``reindex`` does), also when either is empty.

    ``Series.map`` on an Arrow string column through an empty Series returns a string
    column, which then breaks datetime arithmetic and float casts.
    """
    values = pd.Series(values)
    if not values.index.is_unique:
        values = values[~values.index.duplicated(keep="last")]
    out = values.reindex(pd.Index(keys.to_numpy(dtype=object), dtype=object))
    return pd.Series(out.to_numpy(), index=keys.index, dtype=out.dtype)


def lookup_float(keys: pd.Series, values: pd.Series) -> pd.Series:
    """:func:`lookup` of numeric values, as float64 (non-numeric values become NaN)."""
    numeric = pd.to_numeric(pd.Series(values), errors="coerce").astype("float64")
    return lookup(keys, numeric).astype("float64")


def str_columns(df: pd.DataFrame, cols: Iterable[str] | None = None) -> pd.DataFrame:
    """Object columns holding only strings (or only nulls) become the pandas ``str`` dtype.

    Keeps output dtypes the same whether a frame is empty, all-null or populated: an
    all-null ``object`` column would be written to Parquet as Arrow ``null`` and loaded
    into DuckDB as type ``NULL``. Modifies ``df`` in place and returns it.
    """
    for c in df.columns if cols is None else cols:
        if c in df.columns and df[c].dtype == object:
            values = df[c].dropna()
            if values.map(type).eq(str).all():  # also true for no values at all
                df[c] = df[c].astype("str")
    return df
