"""Helpers shared by the KOL analytics (influence, audience quality, collaboration,
campaigns, seeding): event times, the trailing window, ids and safe ratios.

The ``as_of`` convention
    ``as_of`` is the *end* of the logical date, exclusive: the pipeline passes
    ``ds + 1 day`` at 00:00 (UTC, tz-naive). A trailing window of ``W`` days covers exactly
    ``[as_of - W days, as_of)``: an event at 00:00:00 of the first day is in, one a
    microsecond earlier is out, and an event at ``as_of`` itself belongs to the next day
    and is out. Without ``as_of`` the window ends at the end of the day of the latest
    event (that day + 1 day, 00:00).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ENGAGEMENT_EVENTS",
    "safe_div",
    "to_float",
    "utc_naive",
    "event_times",
    "window_bounds",
    "window_mask",
    "with_author",
    "follower_counts",
    "kol_ids_from",
]

#: Event types counted as engagement (views, clicks and conversions are not engagement).
ENGAGEMENT_EVENTS: tuple[str, ...] = ("like", "comment", "share", "save")


def safe_div(num: Any, den: Any) -> np.ndarray:
    """Element-wise ``num / den`` as float64, NaN (null) where ``den`` is 0 or null."""
    num = np.asarray(num, dtype="float64")
    den = np.asarray(den, dtype="float64")
    out = np.full(np.broadcast(num, den).shape, np.nan)
    ok = np.isfinite(den) & (den != 0) & np.isfinite(num)
    np.divide(num, den, out=out, where=ok)
    return out


def to_float(s: pd.Series | None, index: pd.Index) -> pd.Series:
    """``s`` as float64 (non-numeric values become NaN); all-NaN over ``index`` if None."""
    if s is None:
        return pd.Series(np.nan, index=index, dtype="float64")
    return pd.to_numeric(s, errors="coerce").astype("float64")


def utc_naive(s: Any) -> pd.Series:
    """Parse timestamps; tz-aware ones are converted to UTC, results are tz-naive."""
    s = pd.Series(s)
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        t = pd.to_datetime(s, utc=True)
    else:
        # strings may mix "2024-03-01" and "2024-03-01T00:00:00Z": ISO 8601 first, then
        # a per-element parse for whatever is left
        t = pd.to_datetime(s, errors="coerce", utc=True, format="ISO8601")
        left = t.isna() & s.notna()
        if left.any():
            t = t.copy()
            t[left] = pd.to_datetime(s[left], errors="coerce", utc=True, format="mixed")
    return t.dt.tz_localize(None)


def event_days(s: Any) -> np.ndarray:
    """Calendar days (UTC) of timestamps as ``datetime64[D]``: the one day normaliser of the
    analytics (audience, propensity and evaluation use it)."""
    return utc_naive(s).dt.normalize().to_numpy("datetime64[D]")


def _timestamp(value: Any) -> pd.Timestamp:
    t = pd.Timestamp(value)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t


def event_times(interactions: pd.DataFrame) -> pd.Series:
    """When each interaction happened (UTC, tz-naive): ``occurred_at`` where present,
    else 00:00 of ``event_date``."""
    t = None
    if "occurred_at" in interactions.columns:
        t = utc_naive(interactions["occurred_at"])
    if "event_date" in interactions.columns and (t is None or t.isna().any()):
        d = utc_naive(interactions["event_date"]).dt.normalize()
        t = d if t is None else t.fillna(d)
    if t is None:
        raise ValueError("interactions need occurred_at or event_date")
    return t


def window_bounds(
    times: pd.Series, as_of: Any, window_days: int
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end)`` of the trailing window: ``end = as_of`` (exclusive; default the end
    of the latest event's day), ``start = end - window_days`` (inclusive). NaT, NaT when
    there is neither ``as_of`` nor an event."""
    if as_of is None:
        last = times.max() if len(times) else pd.NaT
        end = pd.Timestamp(last).normalize() + pd.Timedelta(days=1) if pd.notna(last) else pd.NaT
    else:
        end = _timestamp(as_of)
    if pd.isna(end):
        return pd.NaT, pd.NaT
    return end - pd.Timedelta(days=int(window_days)), end


def window_mask(
    times: pd.Series, as_of: Any, window_days: int
) -> tuple[pd.Series, pd.Timestamp, pd.Timestamp]:
    """Events in ``[start, end)`` (see :func:`window_bounds`), and the bounds."""
    start, end = window_bounds(times, as_of, window_days)
    if pd.isna(end):
        return pd.Series(False, index=times.index), start, end
    return (times >= start) & (times < end), start, end


def with_author(interactions: pd.DataFrame, items: pd.DataFrame | None) -> pd.DataFrame:
    """Interactions with ``author_id`` filled from ``items`` where missing."""
    if "author_id" in interactions.columns and not interactions["author_id"].isna().any():
        return interactions
    if items is None:
        raise ValueError("interactions lack author_id and no items were given to resolve it")
    authors = items.drop_duplicates("post_id").set_index("post_id")["author_id"]
    out = interactions.copy()
    mapped = out["post_id"].map(authors)
    out["author_id"] = out["author_id"].fillna(mapped) if "author_id" in out else mapped
    return out


def follower_counts(follows: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Distinct followers and followees per user from follow edges.

    Returns
    -------
    followers, following : pandas.Series
        Indexed by user id; duplicate edges and self-follows are ignored.
    """
    edges = follows[["follower_id", "followee_id"]].dropna().drop_duplicates()
    edges = edges[edges["follower_id"] != edges["followee_id"]]
    return (
        edges.groupby("followee_id").size().astype("float64"),
        edges.groupby("follower_id").size().astype("float64"),
    )


def kol_ids_from(kols: Any) -> list:
    """Ids from a list/Series/Index, or from a frame's ``user_id`` (or ``kol_id``) column.

    A frame with an ``is_kol`` column is filtered to ``is_kol == True``.
    """
    if kols is None:
        return []
    if isinstance(kols, pd.DataFrame):
        frame = kols
        if "is_kol" in frame.columns:
            frame = frame[frame["is_kol"].fillna(False).astype(bool)]
        col = "user_id" if "user_id" in frame.columns else "kol_id"
        return list(pd.unique(frame[col].dropna()))
    if isinstance(kols, (pd.Series, pd.Index, np.ndarray)):
        return list(pd.unique(pd.Series(kols).dropna()))
    if isinstance(kols, Iterable) and not isinstance(kols, (str, bytes)):
        return list(dict.fromkeys(kols))
    raise TypeError("kols must be ids or a DataFrame with user_id")
