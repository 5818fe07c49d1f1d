"""Offline evaluation of the recommenders.

Splits
------
``split="time"`` (warehouse events, the default)
    The test window is the last ``holdout_days`` days *with events* in the loaded data;
    training is every event before it. Relevant items of a user are the items they
    interacted with in the window and never before (seen items are never recommended).
    When that leaves fewer than ``min_eval_users`` users to evaluate (test users with
    relevant items *and* training history), or when the window holds event types that
    never occur before it (Last.fm: undated plays land on the load day, tags are dated
    years back), the split falls back to ``leave_last_out``. The split label, the
    number of test users, the reason and a warning (still fewer than ``min_eval_users``)
    are columns of the result and of ``mart_recommender_eval``.
``split="leave_last_out"``
    Per user with more than ``holdout_items`` items: the ``holdout_items`` items they
    touched last (first event time, ties by post id) are the test items; every event on
    them is removed from training.
``split="random"`` (scores without timestamps, e.g. Last.fm plays read from files)
    For every user with at least ``min_user_items`` items, a seeded random
    ``test_size`` share of their items (at least one) is held out; the rest is training.

Training signal
---------------
The models are fitted on :func:`preference_scores` of the training events, the served
score of ``fct_user_item_scores`` (same weights, value factor, decay, floor and watch
ratio term), so the evaluation measures what is served. The catalogue is the training
items plus items created before the test window (``items.created_at``); items created in
the test window did not exist when the model would have served, so they are excluded
(also from the relevant items). Metrics are reported for ``users="all"`` test users,
``"warm"`` ones (at least ``warm_min_events`` training events) and ``"cold"`` ones (no
training history). The hybrid's ``popularity_blend`` is tuned on a validation split
carved from the training events (:func:`tune_popularity_blend`), never on the test
window; the chosen value is the column ``popularity_blend`` of the hybrid's rows.

Metrics (binary relevance, top ``k``; averaged over evaluated users, i.e. test users
with at least one relevant item, who get zero when a model returns nothing for them)
-------------------------------------------------------------------------------------
* ``precision`` = hits / k
* ``recall`` = hits / |relevant|
* ``ndcg`` = DCG / IDCG with DCG = sum over hits of ``1 / log2(rank + 1)`` and IDCG the
  DCG of ``min(|relevant|, k)`` hits at the top
* ``map`` = mean of AP@k = (sum over hits at rank r of precision@r) / min(|relevant|, k)
* ``coverage`` = distinct recommended items / catalogue size (items the model could
  recommend: training items plus new catalogue items)
* ``novelty`` = mean self-information ``-log2((n_i + 1) / (n_users + 1))`` of the
  recommended items, ``n_i`` the item's training users (Zhou et al., 2010)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..contract import DEFAULT_EVENT_WEIGHTS
from ._common import event_days, utc_naive
from .recommend import HybridRecommender, InteractionData, make_recommender

__all__ = [
    "METRICS",
    "DEFAULT_MODELS",
    "SCORE_DEFAULTS",
    "preference_scores",
    "interaction_scores",
    "time_split",
    "leave_last_out_split",
    "holdout_split",
    "random_split",
    "sample_users",
    "ranking_metrics",
    "evaluate_recommendations",
    "tune_popularity_blend",
    "evaluate_recommenders",
    "load_lastfm",
    "evaluate_lastfm",
]

log = logging.getLogger(__name__)

METRICS = ("precision", "recall", "ndcg", "map", "coverage", "novelty")
DEFAULT_MODELS = ("item_knn", "user_knn", "content", "popularity", "hybrid")
#: Columns of the evaluation output (``analytics.recommender_eval``).
EVAL_COLUMNS = ["model", "metric", "value", "k", "n_users_evaluated", "split", "users",
                "split_reason", "n_test_users", "min_eval_users", "eval_warning",
                "popularity_blend"]
_METRIC_COLUMNS = EVAL_COLUMNS[:7]
#: Parameters of the implicit score, the dbt vars of ``fct_user_item_scores``.
SCORE_DEFAULTS: dict[str, float] = {
    "score_half_life_days": 14.0,
    "watch_ratio_weight": 2.0,
    "score_decay_floor": 0.05,
}
BLEND_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


def _dates(df: pd.DataFrame, date_col: str | None) -> pd.Series:
    for c in [date_col] if date_col else ["event_date", "occurred_at", "last_at", "date"]:
        if c and c in df.columns:
            return pd.Series(event_days(df[c]).astype("datetime64[ns]"), index=df.index)
    raise ValueError("no date column (event_date, occurred_at, last_at) for a time split")


def _times(df: pd.DataFrame) -> pd.Series:
    """Event times (naive UTC): ``occurred_at``, else the start of ``event_date``."""
    col = "occurred_at" if "occurred_at" in df.columns else "event_date"
    if col not in df.columns:
        raise ValueError("events need occurred_at or event_date")
    return utc_naive(df[col]).astype("datetime64[us]")


def preference_scores(
    events: pd.DataFrame,
    event_types: pd.DataFrame | Mapping[str, float] | None = None,
    *,
    as_of_end: Any = None,
    params: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """The implicit preference score of ``fct_user_item_scores``, from events.

    ``score = sum_events weight * value_factor * max(0.5 ^ (age_days / half_life),
    decay_floor) + watch_ratio_weight * max(watch_ratio)``, with ``age_days`` counted
    from the user's newest event, capped at ``as_of_end`` (see the dbt model; the
    real-data test pins both implementations to each other).

    Parameters
    ----------
    events : DataFrame
        ``user_id, post_id, event_type`` and ``occurred_at`` (or ``event_date``);
        optional ``value`` and ``watch_ratio``.
    event_types : DataFrame or mapping, optional
        ``stg_event_types`` (``event_type, weight, scale_by_value``) or ``{type:
        weight}``; default the contract's ``DEFAULT_EVENT_WEIGHTS``. Events of other
        types are dropped, as the dbt model's inner join does.
    as_of_end : timestamp, optional
        Exclusive end of the data (default: no cap).
    params : mapping, optional
        ``score_half_life_days, watch_ratio_weight, score_decay_floor`` (defaults
        :data:`SCORE_DEFAULTS`).

    Returns
    -------
    DataFrame
        ``user_id, post_id, score, n_events, last_at`` sorted by user and post.
    """
    p = {**SCORE_DEFAULTS, **{k: float(v) for k, v in (params or {}).items()
                              if k in SCORE_DEFAULTS}}
    if event_types is None:
        event_types = DEFAULT_EVENT_WEIGHTS
    if isinstance(event_types, Mapping):
        et = pd.DataFrame({"event_type": list(event_types),
                           "weight": [float(v) for v in event_types.values()],
                           "scale_by_value": False})
    else:
        et = event_types[["event_type", "weight", "scale_by_value"]]
    et = et.drop_duplicates("event_type", keep="last").set_index("event_type")
    etype = events["event_type"].astype(str)
    keep = etype.isin(et.index).to_numpy()
    ev = pd.DataFrame({
        "user_id": events["user_id"].to_numpy()[keep],
        "post_id": events["post_id"].to_numpy()[keep],
        "t": _times(events).to_numpy()[keep],
    })
    w = et["weight"].astype(np.float64).reindex(etype[keep]).to_numpy()
    scale = et["scale_by_value"].fillna(False).astype(bool).reindex(etype[keep]).to_numpy()
    value = (pd.to_numeric(events["value"], errors="coerce").to_numpy(np.float64)[keep]
             if "value" in events.columns else np.full(len(ev), np.nan))
    vf = np.where(scale, np.log2(1.0 + np.clip(np.nan_to_num(value, nan=1.0), 0, None)), 1.0)
    anchor = ev.groupby("user_id", sort=False)["t"].transform("max").to_numpy()
    if as_of_end is not None:
        cap = np.datetime64(pd.Timestamp(as_of_end).tz_localize(None)
                            if pd.Timestamp(as_of_end).tzinfo else pd.Timestamp(as_of_end), "us")
        anchor = np.minimum(anchor, cap)
    # whole seconds between the two instants, as DuckDB's date_diff('second', ...) counts
    sec = np.timedelta64(1, "s")
    age_s = np.clip((anchor.astype("datetime64[s]") - ev["t"].to_numpy().astype(
        "datetime64[s]")) / sec, 0, None)
    decay = np.maximum(np.power(0.5, age_s / 86400.0 / p["score_half_life_days"]),
                       p["score_decay_floor"])
    ev["es"] = w * vf * decay
    ev["wr"] = (pd.to_numeric(events["watch_ratio"], errors="coerce").to_numpy(
        np.float64)[keep] if "watch_ratio" in events.columns else np.nan)
    # summed in value order per pair, as the dbt model's `sum(... order by event_score)`
    ev = ev.sort_values(["user_id", "post_id", "es"], kind="stable")
    g = ev.groupby(["user_id", "post_id"], sort=False)
    out = g.agg(score=("es", "sum"), n_events=("es", "size"), wr=("wr", "max"),
                last_at=("t", "max")).reset_index()
    out["score"] = out["score"] + p["watch_ratio_weight"] * out["wr"].fillna(0.0)
    return out.drop(columns="wr").reset_index(drop=True)


def interaction_scores(
    interactions: pd.DataFrame,
    weights: Mapping[str, float] | None = None,
    *,
    by_date: bool = True,
    date_col: str | None = None,
    default_weight: float = 1.0,
) -> pd.DataFrame:
    """Undecayed sums of event-type weights per (user, post[, date]).

    A plain profile weight for data without the warehouse score (tests, benchmarks);
    the evaluation of warehouse events uses :func:`preference_scores` instead.

    Returns
    -------
    DataFrame
        ``user_id, post_id[, date], score, n_events``.
    """
    w = dict(DEFAULT_EVENT_WEIGHTS if weights is None else weights)
    ev = interactions["event_type"].astype(str)
    df = pd.DataFrame(
        {
            "user_id": interactions["user_id"].to_numpy(),
            "post_id": interactions["post_id"].to_numpy(),
            "score": ev.map(w).fillna(default_weight).to_numpy(np.float64),
        }
    )
    keys = ["user_id", "post_id"]
    if by_date:
        df["date"] = _dates(interactions, date_col).to_numpy()
        keys.append("date")
    out = df.groupby(keys, sort=True, observed=True).agg(
        score=("score", "sum"), n_events=("score", "size")
    )
    return out.reset_index()


def _isin(values: pd.Series, pool: Any) -> np.ndarray:
    """``values.isin(pool)`` as a bool array.

    Arrow-backed strings (the warehouse ids) go through ``pyarrow.compute.is_in``:
    pandas' ``isin`` on them builds Python objects of the whole pool (two minutes for
    a million ids at the large profile, against seconds).
    """
    def arrow_str(d: Any) -> bool:
        return isinstance(d, pd.StringDtype) and d.storage == "pyarrow"

    pool_dtype = getattr(pool, "dtype", None)
    if arrow_str(values.dtype) and arrow_str(pool_dtype):
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            vset = pa.array(pd.unique(pool))
            mask = pc.is_in(pa.array(values), value_set=vset)
            return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)
        except (pa.ArrowException, TypeError, ValueError):
            pass
    return values.isin(pool).to_numpy(dtype=bool)


def _pairs_minus(test: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``test`` whose (user, post) pair does not occur in ``train``."""
    seen = test.merge(train[["user_id", "post_id"]].drop_duplicates(), how="left",
                      on=["user_id", "post_id"], indicator=True)
    return test[(seen["_merge"] == "left_only").to_numpy()].reset_index(drop=True)


def _window_types_check(events: pd.DataFrame, in_test: np.ndarray) -> str:
    """Why a time split cannot learn the test window's behaviour ('' if it can)."""
    if "event_type" not in events.columns:
        return ""
    et = events["event_type"]
    # distinct values first: str() of a handful of types, not of every event
    unseen = ({str(v) for v in pd.unique(et[in_test])}
              - {str(v) for v in pd.unique(et[~in_test])})
    if unseen:
        return (f"event types {sorted(unseen)} occur only in the test window: nothing "
                "earlier to train on")
    return ""


def time_split(
    data: pd.DataFrame,
    *,
    holdout_days: int = 1,
    date_col: str | None = None,
    event_types: pd.DataFrame | Mapping[str, float] | None = None,
    score_params: Mapping[str, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Train on events before the last ``holdout_days`` event days, test on those days.

    Returns
    -------
    train : DataFrame ``user_id, post_id, score, n_events, last_at``
        :func:`preference_scores` of the training events as of the window start.
    test : DataFrame ``user_id, post_id``
        Pairs touched in the window and never before.
    info : dict
        ``split`` (``time:test=<first day>[..<last day>]``), ``test_start``,
        ``test_end``, ``test_date`` (= ``test_start``), ``cutoff`` (window start),
        ``train_events`` (the training rows of ``data``), ``reason`` ('' or why the
        window cannot be learnt).
    """
    days = _dates(data, date_col)
    uniq = np.sort(days.dropna().unique())
    if len(uniq) == 0:
        raise ValueError("no events to split")
    h = max(int(holdout_days), 1)
    start = pd.Timestamp(uniq[-min(h, len(uniq))])
    end = pd.Timestamp(uniq[-1])
    in_test = (days >= start).to_numpy()
    tr_ev, te_ev = data[~in_test], data[in_test]
    train = (preference_scores(tr_ev, event_types, as_of_end=start, params=score_params)
             if "event_type" in data.columns else _score_rows(tr_ev))
    test = _pairs_minus(te_ev[["user_id", "post_id"]].drop_duplicates(), train)
    test = test.sort_values(["user_id", "post_id"], kind="stable").reset_index(drop=True)
    label = f"time:test={start.date()}" + (f"..{end.date()}" if end > start else "")
    return train, test, {"split": label, "test_start": start, "test_end": end,
                         "test_date": start, "cutoff": start, "train_events": tr_ev,
                         "reason": _window_types_check(data, in_test)}


def _score_rows(df: pd.DataFrame) -> pd.DataFrame:
    out = df.groupby(["user_id", "post_id"], sort=True, observed=True)["score"].sum()
    return out.reset_index()


def leave_last_out_split(
    data: pd.DataFrame,
    *,
    holdout_items: int = 1,
    event_types: pd.DataFrame | Mapping[str, float] | None = None,
    score_params: Mapping[str, float] | None = None,
    as_of_end: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Hold out each user's last ``holdout_items`` items (by first event time).

    Users with at most ``holdout_items`` items stay entirely in training. Ties in time
    are broken by post id, so the split is deterministic.

    Returns
    -------
    train, test, info : as :func:`time_split` (``info["split"]`` is
        ``leave_last_out:n=<holdout_items>``).
    """
    h = max(int(holdout_items), 1)
    t = _times(data)
    first = pd.DataFrame({"user_id": data["user_id"].to_numpy(),
                          "post_id": data["post_id"].to_numpy(), "t": t.to_numpy()})
    first = first.groupby(["user_id", "post_id"], sort=True, observed=True)["t"].min()
    first = first.reset_index().sort_values(["user_id", "t", "post_id"], kind="stable")
    n = first.groupby("user_id", sort=False)["post_id"].transform("size").to_numpy()
    back = first.groupby("user_id", sort=False).cumcount(ascending=False).to_numpy()
    test = first.loc[(n > h) & (back < h), ["user_id", "post_id"]]
    test = test.sort_values(["user_id", "post_id"], kind="stable").reset_index(drop=True)
    key = pd.MultiIndex.from_frame(test)
    is_test = pd.MultiIndex.from_arrays([data["user_id"], data["post_id"]]).isin(key)
    tr_ev = data[~is_test]
    train = (preference_scores(tr_ev, event_types, as_of_end=as_of_end, params=score_params)
             if "event_type" in data.columns else _score_rows(tr_ev))
    end = t.max().normalize() if len(t) else None
    return train, test, {"split": f"leave_last_out:n={h}", "test_start": None,
                         "test_end": end, "test_date": end, "cutoff": None,
                         "train_events": tr_ev, "reason": ""}


def holdout_split(
    data: pd.DataFrame,
    *,
    holdout_days: int = 1,
    holdout_items: int = 1,
    min_eval_users: int = 50,
    items: pd.DataFrame | None = None,
    event_types: pd.DataFrame | Mapping[str, float] | None = None,
    score_params: Mapping[str, float] | None = None,
    as_of_end: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The time split, or leave-last-out when it would evaluate too few users.

    See the module docstring. ``info`` adds ``kind`` (``time`` or ``leave_last_out``),
    ``reason`` (why this split), ``n_test_users`` (users with relevant catalogue items),
    ``catalogue_extra`` (post ids of catalogue items without training events) and
    ``warning`` ('' or the too-few-users message).
    """
    train, test, info = time_split(data, holdout_days=holdout_days,
                                   event_types=event_types, score_params=score_params)
    extra = _catalogue_extra(items, info["cutoff"], as_of_end)
    test = _in_catalogue(test, train, extra)
    warm_test = test.loc[_isin(test["user_id"], train["user_id"]), "user_id"].nunique()
    why = info["reason"]
    if not why and warm_test < min_eval_users:
        why = (f"the last {holdout_days} event day(s) ({info['split'][5:]}) have "
               f"{warm_test} test user(s) with training history, fewer than "
               f"min_eval_users={min_eval_users}")
    if why:
        train, test, info = leave_last_out_split(
            data, holdout_items=holdout_items, event_types=event_types,
            score_params=score_params, as_of_end=as_of_end)
        extra = _catalogue_extra(items, None, as_of_end)
        test = _in_catalogue(test, train, extra)
        info.update(kind="leave_last_out", reason=f"fallback from the time split: {why}")
    else:
        info.update(kind="time", reason=(f"time split on the last {holdout_days} event "
                                         f"day(s): {warm_test} test users with history"))
    n_test = int(test["user_id"].nunique())
    info["n_test_users"] = n_test
    info["catalogue_extra"] = extra
    info["warning"] = (f"only {n_test} user(s) evaluated, fewer than min_eval_users="
                       f"{min_eval_users}: the metrics are not meaningful"
                       if n_test < min_eval_users else "")
    if info["warning"]:
        log.warning("recommender evaluation: %s", info["warning"])
    return train, test, info


def _catalogue_extra(items: pd.DataFrame | None, cutoff: Any, as_of_end: Any) -> np.ndarray:
    """Post ids created before ``cutoff`` (else before ``as_of_end``; null: excluded)."""
    if items is None or "post_id" not in items.columns:
        return np.zeros(0, dtype=object)
    if "created_at" not in items.columns:
        return items["post_id"].to_numpy() if cutoff is None else np.zeros(0, dtype=object)
    limit = cutoff if cutoff is not None else as_of_end
    created = pd.to_datetime(items["created_at"], utc=True).dt.tz_convert(None)
    ok = created.notna()
    if limit is not None:
        lim = pd.Timestamp(limit)
        ok &= created < (lim.tz_convert(None) if lim.tzinfo else lim)
    return np.sort(items.loc[ok.to_numpy(), "post_id"].to_numpy())


def _in_catalogue(test: pd.DataFrame, train: pd.DataFrame, extra: np.ndarray) -> pd.DataFrame:
    cat = pd.Index(train["post_id"].unique()).append(pd.Index(extra))
    return test[_isin(test["post_id"], cat)].reset_index(drop=True)


def random_split(
    data: pd.DataFrame,
    *,
    test_size: float = 0.2,
    min_user_items: int = 2,
    random_state: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Seeded per-user random hold-out of ``test_size`` of each user's items.

    Parameters
    ----------
    data : DataFrame
        ``user_id, post_id, score`` (duplicates summed first).
    test_size : float, default 0.2
    min_user_items : int, default 2
        Users with fewer items stay entirely in training.
    random_state : int, default 0

    Returns
    -------
    train, test : DataFrame ``user_id, post_id, score``
    info : dict with the split label
    """
    df = data.groupby(["user_id", "post_id"], sort=True, observed=True)["score"].sum()
    df = df.reset_index()
    rng = np.random.default_rng(random_state)
    df["_r"] = rng.random(len(df))
    df = df.sort_values(["user_id", "_r"], kind="stable").reset_index(drop=True)
    pos = df.groupby("user_id", sort=False).cumcount().to_numpy()
    n = df.groupby("user_id", sort=False)["post_id"].transform("size").to_numpy()
    n_test = np.where(n >= min_user_items, np.maximum(1, np.rint(test_size * n)), 0)
    is_test = pos < n_test
    cols = ["user_id", "post_id", "score"]
    train = df.loc[~is_test, cols].reset_index(drop=True)
    test = df.loc[is_test, cols].reset_index(drop=True)
    pct = round(test_size * 100)
    label = f"random:{100 - pct}/{pct} per user, seed={random_state}"
    return train, test, {"split": label}


def ranking_metrics(
    recommendations: pd.DataFrame, relevant: pd.DataFrame, k: int = 10
) -> pd.DataFrame:
    """Per-user precision, recall, NDCG and AP at ``k``.

    Parameters
    ----------
    recommendations : DataFrame
        ``user_id, rank, post_id`` (rank 1 = best; only ranks <= k are used).
    relevant : DataFrame
        ``user_id, post_id``: the held-out items. Its users are the evaluated users.
    k : int, default 10

    Returns
    -------
    DataFrame
        ``user_id, n_relevant, hits, precision, recall, ndcg, ap`` (one row per
        evaluated user).
    """
    rel = relevant[["user_id", "post_id"]].drop_duplicates()
    per_user = rel.groupby("user_id", sort=True).size().rename("n_relevant").to_frame()
    recs = recommendations.loc[recommendations["rank"] <= k, ["user_id", "rank", "post_id"]]
    hits = recs.merge(rel, on=["user_id", "post_id"], how="inner")
    hits = hits.sort_values(["user_id", "rank"], kind="stable")
    hits["j"] = hits.groupby("user_id", sort=False).cumcount() + 1
    hits["gain"] = 1.0 / np.log2(hits["rank"].to_numpy(np.float64) + 1.0)
    hits["prec_at"] = hits["j"] / hits["rank"]
    agg = hits.groupby("user_id", sort=True).agg(
        hits=("j", "size"), dcg=("gain", "sum"), ap_sum=("prec_at", "sum")
    )
    out = per_user.join(agg, how="left").fillna({"hits": 0, "dcg": 0.0, "ap_sum": 0.0})
    ideal = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
    m = np.minimum(out["n_relevant"].to_numpy(), k)
    out["precision"] = out["hits"] / k
    out["recall"] = out["hits"] / out["n_relevant"]
    out["ndcg"] = out["dcg"].to_numpy() / ideal[m - 1]
    out["ap"] = out["ap_sum"].to_numpy() / m
    out["hits"] = out["hits"].astype(np.int64)
    return out.drop(columns=["dcg", "ap_sum"]).reset_index()


def evaluate_recommendations(
    recommendations: pd.DataFrame,
    relevant: pd.DataFrame,
    *,
    k: int = 10,
    catalogue_size: int,
    item_user_counts: pd.Series | None = None,
    n_train_users: int | None = None,
) -> dict[str, float]:
    """All metrics of one recommendation list against held-out items.

    Parameters
    ----------
    recommendations, relevant, k
        See :func:`ranking_metrics`.
    catalogue_size : int
        Items the model could recommend (coverage denominator).
    item_user_counts : Series, optional
        Training users per item (index: post_id), for novelty.
    n_train_users : int, optional

    Returns
    -------
    dict
        ``precision, recall, ndcg, map, coverage, novelty, n_users_evaluated``.
    """
    users = relevant["user_id"].unique()
    recs = recommendations[
        (recommendations["rank"] <= k) & recommendations["user_id"].isin(users)
    ]
    pu = ranking_metrics(recs, relevant, k)
    out = {
        "precision": float(pu["precision"].mean()) if len(pu) else float("nan"),
        "recall": float(pu["recall"].mean()) if len(pu) else float("nan"),
        "ndcg": float(pu["ndcg"].mean()) if len(pu) else float("nan"),
        "map": float(pu["ap"].mean()) if len(pu) else float("nan"),
        "coverage": recs["post_id"].nunique() / max(catalogue_size, 1),
        "novelty": float("nan"),
        "n_users_evaluated": len(pu),
    }
    if item_user_counts is not None and n_train_users and len(recs):
        cnt = recs["post_id"].map(item_user_counts).fillna(0).to_numpy(np.float64)
        out["novelty"] = float(np.mean(-np.log2((cnt + 1.0) / (n_train_users + 1.0))))
    return out


def sample_users(
    users: Sequence[Any] | np.ndarray | pd.Index,
    max_users: int | None,
    random_state: int = 0,
) -> tuple[pd.Index, dict[str, Any]]:
    """A seeded random sample of at most ``max_users`` distinct users.

    The users are sorted first, so the sample depends only on the set of users, the
    size and the seed (not on row order); the sample is returned sorted.

    Returns
    -------
    users : Index
    info : dict
        ``sampled`` (bool), ``n_users_before``, ``n_users_after``, ``max_users``,
        ``seed``.
    """
    idx = pd.Index(np.sort(pd.unique(np.asarray(users))))
    n = len(idx)
    info: dict[str, Any] = {"sampled": False, "n_users_before": n, "n_users_after": n,
                            "max_users": None if max_users is None else int(max_users),
                            "seed": int(random_state)}
    if max_users is not None and n > max_users:
        rng = np.random.default_rng(random_state)
        idx = idx[np.sort(rng.choice(n, int(max_users), replace=False))]
        info.update(sampled=True, n_users_after=len(idx))
    return idx, info


def _sample_note(sample: Mapping[str, Any], what: str = "test users") -> str:
    if not sample.get("sampled"):
        return ""
    return (f"metrics on a seeded random sample of {sample['n_users_after']} of "
            f"{sample['n_users_before']} {what} (max_users={sample['max_users']}, "
            f"seed={sample['seed']})")


def _hybrid_ndcg(rec, relevant: pd.DataFrame, k: int, blend: float) -> float:
    rec.popularity_blend = float(blend)
    users = np.sort(relevant["user_id"].unique())
    recs = rec.recommend(users, n=k)
    pu = ranking_metrics(recs, relevant, k)
    return float(pu["ndcg"].mean()) if len(pu) else float("nan")


def tune_popularity_blend(
    train_events: pd.DataFrame,
    *,
    k: int = 10,
    grid: Sequence[float] = BLEND_GRID,
    holdout_days: int = 1,
    holdout_items: int = 1,
    min_eval_users: int = 50,
    items: pd.DataFrame | None = None,
    item_topics: pd.DataFrame | None = None,
    event_types: pd.DataFrame | Mapping[str, float] | None = None,
    score_params: Mapping[str, float] | None = None,
    hybrid_params: Mapping[str, Any] | None = None,
    weighting: str = "log1p",
    max_users: int | None = None,
    random_state: int = 0,
) -> tuple[float, pd.DataFrame]:
    """The hybrid's ``popularity_blend`` with the best NDCG@k on a validation split.

    The validation split is :func:`holdout_split` applied to ``train_events`` (the
    training part of the evaluation), so the test window is never looked at. The model
    is fitted once; each grid value only re-ranks. Ties go to the smaller blend. With
    ``max_users`` the NDCG is measured on a seeded sample (:func:`sample_users`) of at
    most that many validation users.

    Returns
    -------
    blend : float
    table : DataFrame ``blend, ndcg, n_users, split, n_users_total, sampled``
        ``n_users``: validation users measured; ``n_users_total``: before sampling.
    """
    columns = ["blend", "ndcg", "n_users", "split", "n_users_total", "sampled"]
    if "event_type" not in train_events.columns or len(train_events) == 0:
        return 0.0, pd.DataFrame(columns=columns)
    try:
        vtrain, vtest, vinfo = holdout_split(
            train_events, holdout_days=holdout_days, holdout_items=holdout_items,
            min_eval_users=min_eval_users, items=items, event_types=event_types,
            score_params=score_params)
    except ValueError:
        return 0.0, pd.DataFrame(columns=columns)
    if vtest.empty or vtrain.empty:
        return 0.0, pd.DataFrame(columns=columns)
    vusers, vsample = sample_users(vtest["user_id"].to_numpy(), max_users, random_state)
    if vsample["sampled"]:
        vtest = vtest[_isin(vtest["user_id"], vusers)]
    shared = InteractionData(vtrain, vinfo["catalogue_extra"], weighting=weighting)
    params = dict(hybrid_params or {})
    params.setdefault("weighting", weighting)
    rec = make_recommender("hybrid", **params)
    rec.fit(shared, item_topics=item_topics)
    rows = [(float(b), _hybrid_ndcg(rec, vtest, k, b), int(vtest["user_id"].nunique()),
             vinfo["split"], int(vsample["n_users_before"]), bool(vsample["sampled"]))
            for b in grid]
    table = pd.DataFrame(rows, columns=columns)
    ok = table[np.isfinite(table["ndcg"])]
    if ok.empty:
        return 0.0, table
    best = ok.sort_values(["ndcg", "blend"], ascending=[False, True], kind="stable").iloc[0]
    return float(best["blend"]), table


def evaluate_recommenders(
    data: pd.DataFrame,
    *,
    split: str = "time",
    k: int = 10,
    models: Sequence[str] = DEFAULT_MODELS,
    items: pd.DataFrame | None = None,
    item_topics: pd.DataFrame | None = None,
    test_size: float = 0.2,
    date_col: str | None = None,
    user_groups: Sequence[str] | None = None,
    model_params: Mapping[str, Mapping[str, Any]] | None = None,
    weighting: str = "log1p",
    max_users: int | None = None,
    random_state: int = 0,
    return_recommendations: bool = False,
    holdout_days: int = 1,
    holdout_items: int = 1,
    min_eval_users: int = 50,
    warm_min_events: int = 3,
    event_types: pd.DataFrame | Mapping[str, float] | None = None,
    score_params: Mapping[str, float] | None = None,
    as_of_end: Any = None,
    tune_blend: bool = True,
    blend_grid: Sequence[float] = BLEND_GRID,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Fit every model on the training part and score its top-``k`` on the test part.

    Parameters
    ----------
    data : DataFrame
        ``fct_interactions`` (with ``event_type``) for ``time`` / ``leave_last_out``, or
        scores ``user_id, post_id, score`` for ``random``.
    split : {"time", "leave_last_out", "random"}, default "time"
        See the module docstring (``time`` falls back to ``leave_last_out``).
    k : int, default 10
    models : sequence of str
        Any of ``item_knn, user_knn, content, popularity, hybrid``; ``content`` is
        skipped (and the hybrid falls back without it) when ``item_topics`` is None.
    items : DataFrame, optional
        ``dim_items`` (``post_id, created_at``): catalogue items created before the test
        window join the catalogue without training events.
    item_topics : DataFrame, optional
        ``post_id, topic_id, weight``.
    test_size : float, default 0.2
        Random split only.
    user_groups : sequence of {"all", "warm", "cold"}, optional
        Default ``("all", "warm", "cold")`` for event splits, ``("all",)`` for random.
    model_params : mapping, optional
        Extra parameters per model name.
    max_users : int, optional
        Evaluate a seeded random sample of at most this many test users (drawn from the
        sorted user ids, so the sample does not depend on row order; see
        :func:`sample_users`); the hybrid's blend tuning samples its validation users
        the same way. The result says so: ``n_test_users`` counts the test users before
        sampling, ``n_users_evaluated`` the evaluated ones, ``split_reason`` ends with
        the sample's description, and ``attrs["info"]`` holds ``sample`` (``sampled,
        n_users_before, n_users_after, max_users, seed``) and ``n_users_sampled``.
    holdout_days, holdout_items, min_eval_users : int
        See :func:`holdout_split`.
    warm_min_events : int, default 3
        Training events that make a test user ``warm``.
    event_types, score_params, as_of_end
        See :func:`preference_scores`.
    tune_blend : bool, default True
        Tune the hybrid's ``popularity_blend`` on a validation split of the training
        events (event splits only; ``model_params["hybrid"]["popularity_blend"]`` wins).

    Returns
    -------
    DataFrame
        :data:`EVAL_COLUMNS`: ``model, metric, value, k, n_users_evaluated, split,
        users, split_reason, n_test_users, min_eval_users, eval_warning,
        popularity_blend`` (the hybrid's tuned blend; null on other models' rows).
    """
    params_by_model: dict[str, dict[str, Any]] = {
        m: dict(v) for m, v in (model_params or {}).items()}
    blend_table = None
    if split in ("time", "leave_last_out"):
        if split == "time":
            train, test, info = holdout_split(
                data, holdout_days=holdout_days, holdout_items=holdout_items,
                min_eval_users=min_eval_users, items=items, event_types=event_types,
                score_params=score_params, as_of_end=as_of_end)
        else:
            train, test, info = leave_last_out_split(
                data, holdout_items=holdout_items, event_types=event_types,
                score_params=score_params, as_of_end=as_of_end)
            info["catalogue_extra"] = _catalogue_extra(items, None, as_of_end)
            test = _in_catalogue(test, train, info["catalogue_extra"])
            info.update(kind="leave_last_out", reason="leave-last-out requested",
                        n_test_users=int(test["user_id"].nunique()), warning="")
        groups = tuple(user_groups or ("all", "warm", "cold"))
        extra = info["catalogue_extra"]
        hp = params_by_model.setdefault("hybrid", {})
        if "hybrid" in models and tune_blend and "popularity_blend" not in hp:
            hp["popularity_blend"], blend_table = tune_popularity_blend(
                info["train_events"], k=k, grid=blend_grid, holdout_days=holdout_days,
                holdout_items=holdout_items, min_eval_users=min_eval_users, items=items,
                item_topics=item_topics, event_types=event_types, score_params=score_params,
                hybrid_params={kk: v for kk, v in hp.items() if kk != "popularity_blend"},
                weighting=weighting, max_users=max_users, random_state=random_state)
    elif split == "random":
        scores = data if "event_type" not in data.columns else interaction_scores(
            data, by_date=False)
        train, test, info = random_split(scores, test_size=test_size, random_state=random_state)
        info.update(reason="random split requested (no usable timestamps)",
                    n_test_users=int(test["user_id"].nunique()), warning="")
        groups = tuple(user_groups or ("all",))
        extra = items["post_id"].to_numpy() if items is not None else None
    else:
        raise ValueError("split must be 'time', 'leave_last_out' or 'random', "
                         f"got {split!r}")

    shared = InteractionData(train, extra, weighting=weighting)
    counts = pd.Series(shared.item_counts, index=shared.items)
    n_train_users = len(shared.users)
    test_users, sample = sample_users(test["user_id"].to_numpy(), max_users, random_state)
    if sample["sampled"]:
        test = test[_isin(test["user_id"], test_users)]
    info["sample"] = sample
    info["n_users_sampled"] = int(sample["n_users_after"])
    note = _sample_note(sample)
    if note:
        info["reason"] = "; ".join(x for x in (str(info.get("reason", "")), note) if x)
    n_train = (train.groupby("user_id")["n_events"].sum() if "n_events" in train.columns
               else train.groupby("user_id").size())
    tu_events = n_train.reindex(test_users).fillna(0).to_numpy()
    group_users = {
        "all": test_users,
        "warm": test_users[tu_events >= warm_min_events],
        "cold": test_users[tu_events == 0],
    }
    rows, all_recs = [], []
    fitted: dict[str, Any] = {}
    for name in models:
        if name == "content" and item_topics is None:
            continue
        params = dict(params_by_model.get(name, {}))
        params.setdefault("weighting", weighting)
        rec = make_recommender(name, **params)
        if isinstance(rec, HybridRecommender):  # its sub-models were fitted just before
            rec.reuse_fitted(fitted)
        rec.fit(shared, item_topics=item_topics)
        fitted[name] = rec
        recs = rec.recommend(test_users, n=k)
        if return_recommendations:
            all_recs.append(recs.assign(evaluated_model=name))
        for g in groups:
            users = group_users[g]
            if len(users) == 0:
                continue
            rel = test[_isin(test["user_id"], users)]
            m = evaluate_recommendations(
                recs[_isin(recs["user_id"], users)],
                rel,
                k=k,
                catalogue_size=len(shared.items),
                item_user_counts=counts,
                n_train_users=n_train_users,
            )
            n_eval = m.pop("n_users_evaluated")
            for metric in METRICS:
                rows.append((name, metric, m[metric], k, n_eval, info["split"], g))
    out = pd.DataFrame(rows, columns=_METRIC_COLUMNS)
    out["split_reason"] = str(info.get("reason", ""))
    out["n_test_users"] = np.int64(info.get("n_test_users", 0))
    out["min_eval_users"] = np.int64(min_eval_users)
    out["eval_warning"] = str(info.get("warning", ""))
    blend = params_by_model.get("hybrid", {}).get("popularity_blend")
    out["popularity_blend"] = np.where(out["model"] == "hybrid",
                                       np.nan if blend is None else float(blend), np.nan)
    out["k"] = out["k"].astype(np.int64)
    out["n_users_evaluated"] = out["n_users_evaluated"].astype(np.int64)
    out.attrs["blend_table"] = blend_table
    out.attrs["info"] = {kk: v for kk, v in info.items()
                         if kk not in ("train_events", "catalogue_extra")}
    if return_recommendations:
        return out, (pd.concat(all_recs, ignore_index=True) if all_recs else pd.DataFrame())
    return out


# --------------------------------------------------------------------------------------
# Last.fm HetRec 2011
# --------------------------------------------------------------------------------------
def load_lastfm(path: str | Path, *, max_tags_per_artist: int = 20) -> dict[str, pd.DataFrame]:
    """Read Last.fm HetRec 2011 into warehouse-shaped frames.

    Parameters
    ----------
    path : path
        Folder with ``user_artists.dat``, ``artists.dat``, ``tags.dat`` (ISO-8859-1)
        and ``user_taggedartists.dat``.
    max_tags_per_artist : int, default 20
        The most used tags of an artist make its text.

    Returns
    -------
    dict
        ``scores`` (``user_id, post_id, score``: play counts), ``items`` (``post_id,
        name, text, hashtags``: text is the artist's tags, most used first, comma
        separated) and ``friends``.
    """
    path = Path(path)
    plays = pd.read_csv(path / "user_artists.dat", sep="\t", encoding="utf-8")
    artists = pd.read_csv(path / "artists.dat", sep="\t", encoding="utf-8", quoting=3,
                          usecols=["id", "name"])
    tags = pd.read_csv(path / "tags.dat", sep="\t", encoding="iso-8859-1", quoting=3)
    ut = pd.read_csv(path / "user_taggedartists.dat", sep="\t", encoding="utf-8")
    scores = pd.DataFrame(
        {
            "user_id": plays["userID"].astype(str),
            "post_id": plays["artistID"].astype(str),
            "score": plays["weight"].astype(np.float64),
        }
    )
    tc = ut.groupby(["artistID", "tagID"]).size().rename("n").reset_index()
    tc = tc.merge(tags, on="tagID", how="inner")
    tc = tc.sort_values(["artistID", "n", "tagValue"], ascending=[True, False, True])
    tc = tc.groupby("artistID", sort=False).head(max_tags_per_artist)
    tc["tag"] = tc["tagValue"].astype(str).str.strip().str.lower()
    text = tc.groupby("artistID", sort=False)["tag"].agg(", ".join)
    all_ids = pd.Index(artists["id"]).union(pd.Index(plays["artistID"].unique()))
    items = pd.DataFrame({"artistID": all_ids})
    items = items.merge(artists.rename(columns={"id": "artistID"}), on="artistID", how="left")
    items["text"] = items["artistID"].map(text).fillna("")
    items = pd.DataFrame(
        {
            "post_id": items["artistID"].astype(str),
            "name": items["name"],
            "text": items["text"],
            "hashtags": [[] for _ in range(len(items))],
        }
    )
    friends_path = path / "user_friends.dat"
    friends = pd.read_csv(friends_path, sep="\t") if friends_path.exists() else pd.DataFrame()
    return {"scores": scores, "items": items, "friends": friends}


def evaluate_lastfm(
    path: str | Path,
    *,
    k: int = 10,
    test_size: float = 0.2,
    n_topics: int | Sequence[int] | None = None,
    models: Sequence[str] = DEFAULT_MODELS,
    random_state: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Evaluate every model on Last.fm plays with a seeded per-user random split.

    Topics for the content model are fitted on the artists' tag text.

    Returns
    -------
    metrics : DataFrame
        As :func:`evaluate_recommenders`.
    info : dict
        ``n_users``, ``n_items``, ``n_plays``, ``n_topics`` and the topics frame.
    """
    from .topics import fit_topics

    data = load_lastfm(path)
    tagged = data["items"][data["items"]["text"].str.len() > 0]
    topics, item_topics, tinfo = fit_topics(
        tagged, n_topics=n_topics, random_state=random_state, hashtags_col=None
    )
    metrics = evaluate_recommenders(
        data["scores"],
        split="random",
        k=k,
        models=models,
        items=None,
        item_topics=item_topics,
        test_size=test_size,
        random_state=random_state,
    )
    info = dict(
        n_users=data["scores"]["user_id"].nunique(),
        n_items=data["scores"]["post_id"].nunique(),
        n_plays=len(data["scores"]),
        n_topics=tinfo["n_topics"],
        topic_selection=tinfo["selection"],
        topics=topics,
    )
    return metrics, info
