"""User interest profiles and behavioural features.

* :func:`build_user_interests`: each user's topic distribution, the score-weighted mean of
  the topic weights of the items they engaged with::

      interest(u, t) = sum_i score(u, i) * w(i, t) / sum_t' sum_i score(u, i) * w(i, t')

  (``score`` from ``fct_user_item_scores``; items without topics do not count).
* :func:`build_user_features`: activity per event type (counts and shares), engaged
  share (events other than passive exposures), watch-time ratio, active days, breadth
  (distinct posts and authors), recency, conversion value and the share of engagement
  on KOL posts.
* :func:`build_user_profiles`: both side by side, one row per user, the input of
  :func:`~social_warehouse.analytics.segments.segment_users`.

All aggregations run on integer codes with ``numpy.bincount`` and sparse products, so
20M events take seconds and memory stays around a few copies of the event columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..contract import EVENT_TYPES
from ._arrays import distinct
from ._common import event_days

__all__ = [
    "EXPOSURE_TYPES",
    "build_user_interests",
    "user_interest_matrix",
    "build_user_features",
    "build_user_profiles",
    "kol_set",
]

#: Event types that are exposures rather than active engagement.
EXPOSURE_TYPES: tuple[str, ...] = ("view", "play", "impression")


def kol_set(kol: pd.DataFrame | Iterable[Any] | None) -> set:
    """KOL user ids from a ``(user_id, is_kol)`` frame or an iterable of ids."""
    if kol is None:
        return set()
    if isinstance(kol, pd.DataFrame):
        if "is_kol" in kol.columns:
            flag = kol["is_kol"].astype("boolean").fillna(False).to_numpy(bool)
            return set(kol.loc[flag, "user_id"].tolist())
        return set(kol["user_id"].tolist())
    return set(kol)


def user_interest_matrix(
    scores: pd.DataFrame,
    item_topics: pd.DataFrame,
    *,
    users: Sequence[Any] | pd.Index | None = None,
    n_topics: int | None = None,
    score_col: str = "score",
) -> tuple[pd.Index, np.ndarray]:
    """Dense user x topic interest matrix (rows sum to 1, zero rows without topics).

    Parameters
    ----------
    scores : DataFrame
        ``user_id, post_id, score``.
    item_topics : DataFrame
        ``post_id, topic_id, weight``.
    users : sequence, optional
        Row order (default: sorted users of ``scores``).
    n_topics : int, optional

    Returns
    -------
    index : pandas.Index of user ids
    matrix : ndarray float32, shape (n_users, n_topics)
    """
    from .topics import item_topic_matrix

    uindex = pd.Index(np.sort(scores["user_id"].unique()) if users is None else users)
    items_idx, T = item_topic_matrix(item_topics, None, n_topics)
    u = uindex.get_indexer(scores["user_id"])
    i = items_idx.get_indexer(scores["post_id"])
    ok = (u >= 0) & (i >= 0)
    w = pd.to_numeric(scores[score_col], errors="coerce").fillna(0.0).to_numpy(np.float64)
    S = sp.csr_matrix((w[ok], (u[ok], i[ok])), shape=(len(uindex), len(items_idx)))
    M = np.asarray(S @ T, dtype=np.float32)
    s = M.sum(axis=1, keepdims=True)
    np.divide(M, s, out=M, where=s > 0)
    return uindex, M


def build_user_interests(
    scores: pd.DataFrame,
    item_topics: pd.DataFrame,
    *,
    min_weight: float = 0.0,
    n_topics: int | None = None,
    score_col: str = "score",
) -> pd.DataFrame:
    """Each user's topic distribution from what they engaged with.

    Parameters
    ----------
    scores : DataFrame
        ``fct_user_item_scores``: ``user_id, post_id, score`` (implicit preference).
    item_topics : DataFrame
        ``post_id, topic_id, weight`` from :func:`~social_warehouse.analytics.topics.fit_topics`.
    min_weight : float, default 0
        Rows with a smaller weight are dropped (weights are not renormalised).
    n_topics : int, optional
    score_col : str, default "score"

    Returns
    -------
    DataFrame
        ``user_id, topic_id, weight, rank`` (weights sum to 1 per user; users whose
        items have no topics are absent).
    """
    index, M = user_interest_matrix(scores, item_topics, n_topics=n_topics, score_col=score_col)
    r, c = np.nonzero(M > max(min_weight, 0.0) if min_weight > 0 else M > 0)
    df = pd.DataFrame(
        {
            "user_id": np.asarray(index)[r],
            "topic_id": c.astype(np.int32),
            "weight": M[r, c].astype(np.float32),
        }
    )
    df = df.sort_values(["user_id", "weight"], ascending=[True, False], kind="stable")
    df["rank"] = df.groupby("user_id", sort=False).cumcount().astype(np.int32) + 1
    return df.reset_index(drop=True)


def _dates(interactions: pd.DataFrame) -> np.ndarray:
    col = "event_date" if "event_date" in interactions.columns else "occurred_at"
    return event_days(interactions[col])


def build_user_features(
    interactions: pd.DataFrame,
    *,
    items: pd.DataFrame | None = None,
    kol: pd.DataFrame | Iterable[Any] | None = None,
    event_types: Sequence[str] | None = None,
    exposure_types: Sequence[str] = EXPOSURE_TYPES,
    as_of: Any = None,
) -> pd.DataFrame:
    """Behavioural features per user from ``fct_interactions``.

    Parameters
    ----------
    interactions : DataFrame
        ``user_id, post_id, event_type`` and ``event_date`` or ``occurred_at``; optional
        ``author_id``, ``watch_ratio``, ``watch_time_s``, ``value``.
    items : DataFrame, optional
        ``post_id, author_id`` when ``interactions`` has no ``author_id``.
    kol : DataFrame or iterable, optional
        ``user_id, is_kol`` (or KOL ids); adds ``kol_share``.
    event_types : sequence of str, optional
        Types counted on their own (default: the contract's; others are ``other``).
    exposure_types : sequence of str
        Types that are not active engagement (default ``view, play, impression``).
    as_of : timestamp-like, optional
        Exclusive end of the data, the project's convention: the end of the logical
        date (``ds + 1 day, 00:00``). ``days_since_last`` counts days from the user's
        last active day to the last day before ``as_of`` (0 for a user active on the
        logical date). Default: the latest event day.

    Returns
    -------
    DataFrame
        One row per user: ``user_id, n_events, n_<type>..., share_<type>...,
        engaged_share, watch_ratio_mean, watch_time_s_total, active_days,
        events_per_active_day, n_posts, n_authors, days_since_last, conversion_value``
        and ``kol_share`` (share of the user's engagement events on KOL posts) when
        ``kol`` is given.
    """
    types = list(event_types) if event_types is not None else list(EVENT_TYPES)
    ucodes, uidx = pd.factorize(interactions["user_id"], sort=True)
    n_users = len(uidx)
    ev = interactions["event_type"].astype(str).str.lower()
    tcodes, tvals = pd.factorize(ev)
    n_events = np.bincount(ucodes, minlength=n_users).astype(np.float64)
    out: dict[str, Any] = {"user_id": np.asarray(uidx), "n_events": n_events}
    known = {t: i for i, t in enumerate(tvals)}
    other = np.ones(len(ucodes), dtype=bool)
    for t in types:
        if t in known:
            m = tcodes == known[t]
            other &= ~m
            out[f"n_{t}"] = np.bincount(ucodes[m], minlength=n_users).astype(np.float64)
        else:
            out[f"n_{t}"] = np.zeros(n_users)
    out["n_other"] = np.bincount(ucodes[other], minlength=n_users).astype(np.float64)
    denom = np.maximum(n_events, 1.0)
    for t in [*types, "other"]:
        out[f"share_{t}"] = out[f"n_{t}"] / denom
    exp_codes = [known[t] for t in exposure_types if t in known]
    engaged = ~np.isin(tcodes, exp_codes)
    out["engaged_share"] = np.bincount(ucodes[engaged], minlength=n_users) / denom

    if "watch_ratio" in interactions.columns:
        wr = pd.to_numeric(interactions["watch_ratio"], errors="coerce").to_numpy(np.float64)
        ok = np.isfinite(wr)
        cnt = np.bincount(ucodes[ok], minlength=n_users)
        tot = np.bincount(ucodes[ok], weights=wr[ok], minlength=n_users)
        out["watch_ratio_mean"] = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)
    else:
        out["watch_ratio_mean"] = np.full(n_users, np.nan)
    if "watch_time_s" in interactions.columns:
        wt = pd.to_numeric(interactions["watch_time_s"], errors="coerce").fillna(0.0)
        out["watch_time_s_total"] = np.bincount(ucodes, weights=wt.to_numpy(np.float64),
                                                minlength=n_users)
    else:
        out["watch_time_s_total"] = np.zeros(n_users)

    days = _dates(interactions).astype(np.int64)
    dmin = days.min() if len(days) else 0
    key = ucodes.astype(np.int64) * (int(days.max() - dmin) + 1 if len(days) else 1) + (
        days - dmin
    )
    uk = distinct(key)
    span = int(days.max() - dmin) + 1 if len(days) else 1
    out["active_days"] = np.bincount(uk // span, minlength=n_users).astype(np.float64)
    out["events_per_active_day"] = n_events / np.maximum(out["active_days"], 1.0)

    pcodes, _ = pd.factorize(interactions["post_id"])
    out["n_posts"] = np.bincount(
        distinct(ucodes.astype(np.int64) * (pcodes.max() + 1) + pcodes) // (pcodes.max() + 1),
        minlength=n_users,
    ).astype(np.float64)
    if "author_id" in interactions.columns:
        authors = interactions["author_id"]
    elif items is not None:
        authors = interactions["post_id"].map(items.set_index("post_id")["author_id"])
    else:
        authors = None
    if authors is not None:
        acodes, avals = pd.factorize(authors)
        ok = acodes >= 0
        base = acodes.max() + 1 if ok.any() else 1
        out["n_authors"] = np.bincount(
            distinct(ucodes[ok].astype(np.int64) * base + acodes[ok]) // base,
            minlength=n_users,
        ).astype(np.float64)
    else:
        out["n_authors"] = np.full(n_users, np.nan)

    last = np.full(n_users, np.iinfo(np.int64).min)
    np.maximum.at(last, ucodes, days)
    ref = (
        np.datetime64((pd.Timestamp(as_of) - pd.Timedelta(microseconds=1)).date(), "D")
        .astype(np.int64)
        if as_of is not None
        else (days.max() if len(days) else 0)
    )
    out["days_since_last"] = (ref - last).astype(np.float64)
    if "value" in interactions.columns and "conversion" in known:
        val = pd.to_numeric(interactions["value"], errors="coerce").fillna(0.0).to_numpy()
        m = tcodes == known["conversion"]
        out["conversion_value"] = np.bincount(ucodes[m], weights=val[m], minlength=n_users)
    else:
        out["conversion_value"] = np.zeros(n_users)
    if kol is not None and authors is not None:
        kols = kol_set(kol)
        is_kol = np.isin(acodes, [i for i, a in enumerate(avals) if a in kols]) & (acodes >= 0)
        eng_cnt = np.bincount(ucodes[engaged], minlength=n_users)
        kol_cnt = np.bincount(ucodes[engaged & is_kol], minlength=n_users)
        out["kol_share"] = np.where(eng_cnt > 0, kol_cnt / np.maximum(eng_cnt, 1), 0.0)
    return pd.DataFrame(out)


def build_user_profiles(
    interactions: pd.DataFrame,
    item_topics: pd.DataFrame | None = None,
    *,
    scores: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    kol: pd.DataFrame | Iterable[Any] | None = None,
    n_topics: int | None = None,
    topic_prefix: str = "topic_",
    **feature_params: Any,
) -> pd.DataFrame:
    """Behavioural features and topic interests side by side, one row per user.

    Parameters
    ----------
    interactions : DataFrame
        ``fct_interactions``.
    item_topics : DataFrame, optional
        ``post_id, topic_id, weight``; without it there are no interest columns.
    scores : DataFrame, optional
        ``fct_user_item_scores``; computed from ``interactions`` with the contract's
        default event weights when absent.
    items, kol, **feature_params
        See :func:`build_user_features`.
    n_topics : int, optional
    topic_prefix : str, default "topic_"

    Returns
    -------
    DataFrame
        :func:`build_user_features` columns, then ``topic_0 ... topic_{k-1}`` and
        ``top_topic`` (-1 when the user has no topical engagement).
    """
    feats = build_user_features(interactions, items=items, kol=kol, **feature_params)
    if item_topics is None or not len(item_topics):
        return feats
    if scores is None:
        from .evaluation import interaction_scores

        scores = interaction_scores(interactions, by_date=False)
    index, M = user_interest_matrix(
        scores, item_topics, users=feats["user_id"].to_numpy(), n_topics=n_topics
    )
    cols = {f"{topic_prefix}{t}": M[:, t] for t in range(M.shape[1])}
    prof = pd.concat([feats, pd.DataFrame(cols)], axis=1)
    prof["top_topic"] = np.where(M.sum(axis=1) > 0, M.argmax(axis=1), -1).astype(np.int32)
    return prof
