"""Offline evaluation of the recommenders.

Splits
------
``split="time"`` (warehouse data)
    Train on every day before the last day of the data, test on the last day. The
    relevant items of a user are the items they interacted with on the last day that
    they had *not* interacted with before (seen items are never recommended). Items
    posted on or before the last day (``items.created_at``) are in the catalogue even
    without training interactions, so the content and hybrid models can recommend them.
    Metrics are reported for ``users="all"`` test users, ``"warm"`` ones (with training
    history) and ``"cold"`` ones (new on the last day).
``split="random"`` (data without timestamps, e.g. Last.fm plays)
    For every user with at least ``min_user_items`` items, a seeded random
    ``test_size`` share of their items (at least one) is held out; the rest is training.

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

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..contract import DEFAULT_EVENT_WEIGHTS
from .recommend import InteractionData, make_recommender

__all__ = [
    "METRICS",
    "DEFAULT_MODELS",
    "interaction_scores",
    "time_split",
    "random_split",
    "ranking_metrics",
    "evaluate_recommendations",
    "evaluate_recommenders",
    "load_lastfm",
    "evaluate_lastfm",
]

METRICS = ("precision", "recall", "ndcg", "map", "coverage", "novelty")
DEFAULT_MODELS = ("item_knn", "user_knn", "content", "popularity", "hybrid")
_METRIC_COLUMNS = ["model", "metric", "value", "k", "n_users_evaluated", "split", "users"]


def _dates(df: pd.DataFrame, date_col: str | None) -> pd.Series:
    for c in [date_col] if date_col else ["event_date", "occurred_at", "last_at", "date"]:
        if c and c in df.columns:
            return pd.to_datetime(df[c], utc=True).dt.tz_convert(None).dt.normalize()
    raise ValueError("no date column (event_date, occurred_at, last_at) for a time split")


def interaction_scores(
    interactions: pd.DataFrame,
    weights: Mapping[str, float] | None = None,
    *,
    by_date: bool = True,
    date_col: str | None = None,
    default_weight: float = 1.0,
) -> pd.DataFrame:
    """Implicit scores from events: the sum of event-type weights per (user, post[, date]).

    Parameters
    ----------
    interactions : DataFrame
        ``user_id, post_id, event_type`` and a date (``event_date`` or ``occurred_at``).
    weights : mapping, optional
        Weight per event type (default: the contract's ``DEFAULT_EVENT_WEIGHTS``);
        other types get ``default_weight``.
    by_date : bool, default True
        Keep one row per day (column ``date``).

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
    out = df.groupby(keys, sort=False, observed=True).agg(
        score=("score", "sum"), n_events=("score", "size")
    )
    return out.reset_index()


def _as_dated_scores(data: pd.DataFrame, date_col: str | None) -> pd.DataFrame:
    if "event_type" in data.columns:
        return interaction_scores(data, date_col=date_col)
    df = data[["user_id", "post_id", "score"]].copy()
    df["date"] = _dates(data, date_col).to_numpy()
    return df


def time_split(
    data: pd.DataFrame, *, date_col: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Train on days before the last day, test on the last day.

    Parameters
    ----------
    data : DataFrame
        Interactions (``event_type`` present: scored with the default weights) or
        scores with a date column (``last_at`` of ``fct_user_item_scores`` is only an
        approximation: a pair touched on the last day counts as a test pair).

    Returns
    -------
    train : DataFrame ``user_id, post_id, score`` (summed over the training days)
    test : DataFrame ``user_id, post_id, score`` (relevant, unseen in training)
    info : dict with ``test_date`` and the split label
    """
    df = _as_dated_scores(data, date_col)
    last = df["date"].max()
    tr = df[df["date"] < last]
    te = df[df["date"] == last]
    train = tr.groupby(["user_id", "post_id"], sort=False, observed=True)["score"].sum()
    train = train.reset_index()
    test = te.groupby(["user_id", "post_id"], sort=False, observed=True)["score"].sum()
    test = test.reset_index()
    seen = test.merge(train[["user_id", "post_id"]], how="left", indicator=True)
    test = test[(seen["_merge"] == "left_only").to_numpy()].reset_index(drop=True)
    label = f"time:test={pd.Timestamp(last).date()}"
    return train, test, {"test_date": pd.Timestamp(last), "split": label}


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
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Fit every model on the training part and score its top-``k`` on the test part.

    Parameters
    ----------
    data : DataFrame
        ``fct_interactions`` (with ``event_type``) or scores ``user_id, post_id, score``
        (with a date column for the time split).
    split : {"time", "random"}, default "time"
        See the module docstring.
    k : int, default 10
    models : sequence of str
        Any of ``item_knn, user_knn, content, popularity, hybrid``; ``content`` is
        skipped (and the hybrid falls back without it) when ``item_topics`` is None.
    items : DataFrame, optional
        ``dim_items``: with the time split, items created up to the test day join the
        catalogue (``created_at`` filters them when present).
    item_topics : DataFrame, optional
        ``post_id, topic_id, weight``.
    test_size : float, default 0.2
        Random split only.
    date_col : str, optional
    user_groups : sequence of {"all", "warm", "cold"}, optional
        Default ``("all", "warm", "cold")`` for the time split, ``("all",)`` otherwise.
    model_params : mapping, optional
        Extra parameters per model name.
    weighting : str, default "log1p"
    max_users : int, optional
        Evaluate a seeded random sample of at most this many test users (models are
        still fitted on all training data).
    random_state : int, default 0
    return_recommendations : bool, default False
        Also return the concatenated recommendations (column ``evaluated_model``).

    Returns
    -------
    DataFrame
        ``model, metric, value, k, n_users_evaluated, split, users``.
    """
    if split == "time":
        train, test, info = time_split(data, date_col=date_col)
        groups = tuple(user_groups or ("all", "warm", "cold"))
        extra = None
        if items is not None:
            it = items
            if "created_at" in it.columns:
                created = pd.to_datetime(it["created_at"], utc=True).dt.tz_convert(None)
                it = it[(created < info["test_date"] + pd.Timedelta(days=1)).to_numpy()]
            extra = it["post_id"].to_numpy()
    elif split == "random":
        scores = data if "event_type" not in data.columns else interaction_scores(
            data, by_date=False)
        train, test, info = random_split(scores, test_size=test_size, random_state=random_state)
        groups = tuple(user_groups or ("all",))
        extra = items["post_id"].to_numpy() if items is not None else None
    else:
        raise ValueError("split must be 'time' or 'random'")

    shared = InteractionData(train, extra, weighting=weighting)
    counts = pd.Series(shared.item_counts, index=shared.items)
    n_train_users = len(shared.users)
    test_users = pd.Index(test["user_id"].unique())
    if max_users is not None and len(test_users) > max_users:
        rng = np.random.default_rng(random_state)
        test_users = test_users[np.sort(rng.choice(len(test_users), max_users, replace=False))]
        test = test[test["user_id"].isin(test_users)]
    warm_mask = test_users.isin(shared.users)
    group_users = {
        "all": test_users,
        "warm": test_users[warm_mask],
        "cold": test_users[~warm_mask],
    }
    rows, all_recs = [], []
    for name in models:
        if name == "content" and item_topics is None:
            continue
        params = dict((model_params or {}).get(name, {}))
        params.setdefault("weighting", weighting)
        rec = make_recommender(name, **params)
        rec.fit(shared, item_topics=item_topics)
        recs = rec.recommend(test_users, n=k)
        if return_recommendations:
            all_recs.append(recs.assign(evaluated_model=name))
        for g in groups:
            users = group_users[g]
            if len(users) == 0:
                continue
            rel = test[test["user_id"].isin(users)]
            m = evaluate_recommendations(
                recs[recs["user_id"].isin(users)],
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
