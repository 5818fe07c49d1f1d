"""Audience quality of KOLs: inactive, mass-following and bot-like followers, the KOL's
own follower/following ratio, and sudden follower jumps.

:func:`audience_quality` reports, per KOL: the share of followers without any activity in
the window, the share of mass followers (following more than ``mass_following_threshold``
= 1,500 accounts), the share of followers with a bot-like follower/following ratio, the
KOL's own follower/following ratio and its robust z-score among the KOLs of its platform,
and sudden daily follower jumps (from a daily follower history when given, otherwise from
``follows.followed_at``, where the first observed day of a KOL carries the backlog of older
follows and serves as baseline, never as a jump). ``quality_score = 1 - sum_i w_i *
share_i`` in [0, 1] and ``passes_quality_floor = quality_score >= quality_floor``;
recommendation functions can exclude KOLs that do not pass.

The activity window follows the ``as_of`` convention of
:mod:`social_warehouse.analytics._common`: ``[as_of - window_days, as_of)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._arrays import lookup_float, str_columns
from ._common import event_times, kol_ids_from, safe_div, utc_naive, window_bounds, window_mask
from ._config import ConfigMixin, check_choice, check_fraction, check_keys

__all__ = ["AudienceQualityConfig", "audience_quality", "QUALITY_WEIGHT_KEYS"]

#: Penalty components of the quality score.
QUALITY_WEIGHT_KEYS: tuple[str, ...] = ("inactive", "mass", "low_ratio", "jump", "ff_ratio_anomaly")


@dataclass(frozen=True)
class AudienceQualityConfig(ConfigMixin):
    """Options of :func:`audience_quality`.

    Attributes
    ----------
    window_days : int
        Activity window: the ``window_days`` days before ``as_of`` (exclusive). Default 28.
    mass_following_threshold : float
        A follower following *more* than this many accounts is a mass follower. Default 1500.
    following_source : {"max", "graph", "reported"}
        Following count used for that test. Default ``max`` (of graph and self-reported),
        since a sampled graph under-counts.
    low_ratio_threshold : float
        A follower with ``followers / following`` below this ratio (and following at least
        ``low_ratio_min_following``) counts as bot-like. Default 0.02.
    low_ratio_min_following : float
        Default 200.
    ff_ratio_z : float
        ``|robust z|`` of the KOL's ``log10((followers+1)/(following+1))`` among the KOLs
        of its platform above which ``ff_ratio_anomaly`` is set. Default 3.5.
    jump_min_gain : float
        A day's follower gain must be at least this to be a jump. Default 50.
    jump_relative : float
        ... and at least this fraction of the previous day's follower count. Default 0.2.
    jump_factor : float
        ... and at least this multiple of the median positive daily gain. Default 5.
    weights : dict
        Penalty weights of ``inactive``, ``mass``, ``low_ratio``, ``jump`` (shares in
        [0, 1]) and ``ff_ratio_anomaly`` (0/1). Normalised to sum 1. Defaults 0.4, 0.3, 0.1,
        0.2, 0.0.
    quality_floor : float
        ``passes_quality_floor = quality_score >= quality_floor``. Default 0.5.
    """

    window_days: int = 28
    mass_following_threshold: float = 1_500.0
    following_source: str = "max"
    low_ratio_threshold: float = 0.02
    low_ratio_min_following: float = 200.0
    ff_ratio_z: float = 3.5
    jump_min_gain: float = 50.0
    jump_relative: float = 0.2
    jump_factor: float = 5.0
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "inactive": 0.4,
            "mass": 0.3,
            "low_ratio": 0.1,
            "jump": 0.2,
            "ff_ratio_anomaly": 0.0,
        }
    )
    quality_floor: float = 0.5

    SECTION = "audience_quality"

    def __post_init__(self) -> None:
        check_keys("audience_quality.weights", self.weights, QUALITY_WEIGHT_KEYS)
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("audience-quality weights must be >= 0 with a positive sum")
        check_choice("following_source", self.following_source, ("max", "graph", "reported"))
        check_fraction("quality_floor", self.quality_floor)
        if self.window_days <= 0:
            raise ValueError("window_days must be positive")



def _daily_jumps(daily: pd.DataFrame, config: AudienceQualityConfig) -> pd.DataFrame:
    """Jump statistics from ``user_id, ds, gain, prev`` rows (one per user-day)."""
    d = daily.sort_values(["user_id", "ds"])
    pos = d[d["gain"] > 0]
    med = pos.groupby("user_id")["gain"].median()
    # to_numeric: mapping an Arrow-string column through an empty Series keeps string dtype
    d["median_gain"] = pd.to_numeric(d["user_id"].map(med), errors="coerce").fillna(0.0)
    d["is_jump"] = (
        (d["gain"] >= config.jump_min_gain)
        & (d["gain"] >= config.jump_relative * d["prev"].fillna(0.0))
        & (d["gain"] >= config.jump_factor * d["median_gain"])
    )
    g = d.groupby("user_id")
    res = pd.DataFrame(
        {
            "max_daily_gain": g["gain"].max(),
            "n_jump_days": g["is_jump"].sum().astype("int64"),
            "jump_gain": d["gain"].where(d["is_jump"], 0.0).groupby(d["user_id"]).sum(),
        }
    )
    return res


def audience_quality(
    users: pd.DataFrame | None,
    follows: pd.DataFrame,
    interactions: pd.DataFrame | None = None,
    *,
    kols: Any = None,
    items: pd.DataFrame | None = None,
    follower_history: pd.DataFrame | None = None,
    as_of: Any = None,
    config: AudienceQualityConfig = AudienceQualityConfig(),
) -> pd.DataFrame:
    """Audience-quality report per KOL.

    Parameters
    ----------
    users : DataFrame or None
        ``user_id`` with optional ``platform``, ``reported_followers_count``,
        ``reported_following_count``.
    follows : DataFrame
        ``follower_id``, ``followee_id`` and optionally ``followed_at``.
    interactions : DataFrame or None
        Activity of followers (any event type counts); without it every follower counts
        as inactive unless active through ``items``.
    kols : ids, DataFrame or None
        KOLs to report (a frame with ``is_kol`` is filtered). Default: every followee.
    items : DataFrame or None
        Posts; authoring a post (``created_at`` in the window) also counts as activity.
    follower_history : DataFrame or None
        ``user_id``, ``ds``, ``followers_count`` (daily snapshots) for jump detection;
        without it, daily gains come from ``follows.followed_at``.
    as_of : date-like, optional
        End of the activity window, exclusive (the pipeline passes ``ds + 1 day``); the
        window is ``[as_of - window_days, as_of)``. Default: the end of the latest
        interaction's day.
    config : AudienceQualityConfig

    Returns
    -------
    DataFrame
        ``kol_id``, ``platform``, ``n_followers``, ``n_inactive_followers``,
        ``inactive_follower_share``, ``mass_follower_share``, ``low_ratio_follower_share``,
        ``kol_followers``, ``kol_following``, ``log_ff_ratio``, ``ff_ratio_z``,
        ``ff_ratio_anomaly``, ``reported_to_graph_ratio``, ``max_daily_gain``,
        ``n_jump_days``, ``jump_gain_share``, ``quality_score``, ``passes_quality_floor``.
        Shares are null for a KOL without followers (then ``quality_score`` is null and the
        KOL does not pass the floor); ``ff_ratio_z`` is null when the platform's KOLs have
        zero spread (MAD = 0).
    """
    edges = follows[["follower_id", "followee_id"]].dropna().drop_duplicates()
    edges = edges[edges["follower_id"] != edges["followee_id"]]
    kol_list = kol_ids_from(kols) if kols is not None else list(pd.unique(edges["followee_id"]))
    all_ids = pd.concat(
        [
            edges["follower_id"],
            edges["followee_id"],
            pd.Series(kol_list, dtype=edges["followee_id"].dtype),
        ],
        ignore_index=True,
    )
    if users is not None:
        all_ids = pd.concat([all_ids, users["user_id"]], ignore_index=True)
    codes, uniques = pd.factorize(all_ids)
    n = len(uniques)
    index = pd.Index(uniques)
    fsrc = codes[: len(edges)]
    fdst = codes[len(edges) : 2 * len(edges)]
    followers_g = np.bincount(fdst, minlength=n).astype("float64")
    following_g = np.bincount(fsrc, minlength=n).astype("float64")

    def _user_attr(col: str) -> np.ndarray:
        if users is None or col not in users.columns:
            return np.full(n, np.nan)
        s = users.drop_duplicates("user_id", keep="last").set_index("user_id")[col]
        return pd.to_numeric(s, errors="coerce").reindex(index).to_numpy(dtype="float64")

    rep_followers = _user_attr("reported_followers_count")
    rep_following = _user_attr("reported_following_count")
    if config.following_source == "graph":
        following = following_g
    elif config.following_source == "reported":
        following = np.where(np.isfinite(rep_following), rep_following, following_g)
    else:
        following = np.fmax(following_g, rep_following)
    followers_any = np.fmax(followers_g, rep_followers)

    # activity in the window
    active = np.zeros(n, dtype=bool)
    if interactions is not None and len(interactions):
        mask, start, end = window_mask(event_times(interactions), as_of, config.window_days)
        act_ids = pd.unique(interactions.loc[mask.to_numpy(), "user_id"])
        pos = index.get_indexer(act_ids)
        active[pos[pos >= 0]] = True
    else:
        start, end = window_bounds(pd.Series([], dtype="datetime64[ns]"), as_of,
                                   config.window_days)
    if items is not None and len(items) and "created_at" in items.columns and pd.notna(end):
        created = utc_naive(items["created_at"])
        authors = pd.unique(
            items.loc[((created >= start) & (created < end)).to_numpy(), "author_id"]
        )
        pos = index.get_indexer(authors)
        active[pos[pos >= 0]] = True

    is_mass = following > config.mass_following_threshold
    ratio = safe_div(followers_g, following)
    is_low_ratio = (following >= config.low_ratio_min_following) & (
        np.nan_to_num(ratio, nan=np.inf) < config.low_ratio_threshold
    )

    # per followee aggregation over the follower edges
    inactive_cnt = np.bincount(fdst, weights=(~active[fsrc]).astype("float64"), minlength=n)
    mass_cnt = np.bincount(fdst, weights=is_mass[fsrc].astype("float64"), minlength=n)
    low_cnt = np.bincount(fdst, weights=is_low_ratio[fsrc].astype("float64"), minlength=n)

    kpos = index.get_indexer(pd.Index(kol_list))
    res = pd.DataFrame({"kol_id": pd.Series(kol_list, dtype=None if kol_list else object)})
    if users is not None and "platform" in users.columns:
        plat = users.drop_duplicates("user_id", keep="last").set_index("user_id")["platform"]
        res["platform"] = plat.reindex(res["kol_id"].to_numpy(dtype=object)).to_numpy(dtype=object)
        res["platform"] = res["platform"].where(res["platform"].notna(), "unknown")
    else:
        res["platform"] = "unknown"
    nf = followers_g[kpos]
    res["n_followers"] = nf.astype("int64")
    res["n_inactive_followers"] = inactive_cnt[kpos].astype("int64")
    res["inactive_follower_share"] = safe_div(inactive_cnt[kpos], nf)
    res["mass_follower_share"] = safe_div(mass_cnt[kpos], nf)
    res["low_ratio_follower_share"] = safe_div(low_cnt[kpos], nf)
    res["kol_followers"] = followers_any[kpos]
    res["kol_following"] = np.fmax(following_g, rep_following)[kpos]
    res["log_ff_ratio"] = np.log10(
        (res["kol_followers"] + 1.0) / (res["kol_following"].fillna(0.0) + 1.0)
    )
    med = res.groupby("platform")["log_ff_ratio"].transform("median")
    mad = (res["log_ff_ratio"] - med).abs().groupby(res["platform"]).transform("median")
    res["ff_ratio_z"] = safe_div(res["log_ff_ratio"] - med, 1.4826 * mad)
    res["ff_ratio_anomaly"] = (
        (res["ff_ratio_z"].abs() > config.ff_ratio_z).fillna(False).astype(bool)
    )
    res["reported_to_graph_ratio"] = safe_div(rep_followers[kpos], nf)

    # follower jumps
    jumps = None
    kol_set = pd.Index(kol_list)
    if follower_history is not None and len(follower_history):
        h = follower_history[["user_id", "ds", "followers_count"]].copy()
        h = h[h["user_id"].isin(kol_set)]
        h["ds"] = pd.to_datetime(h["ds"], errors="coerce")
        h["followers_count"] = pd.to_numeric(h["followers_count"], errors="coerce")
        h = (
            h.dropna()
            .sort_values(["user_id", "ds"])
            .drop_duplicates(["user_id", "ds"], keep="last")
        )
        h["prev"] = h.groupby("user_id")["followers_count"].shift(1)
        h["gain"] = h["followers_count"] - h["prev"]
        jumps = _daily_jumps(h.dropna(subset=["gain"]), config)
        res["jump_source"] = "history"
    elif "followed_at" in follows.columns:
        f = follows[["follower_id", "followee_id", "followed_at"]].dropna()
        f = f[f["followee_id"].isin(kol_set)].drop_duplicates(["follower_id", "followee_id"])
        f = f.assign(ds=utc_naive(f["followed_at"]).dt.normalize()).dropna(subset=["ds"])
        daily = (
            f.groupby(["followee_id", "ds"]).size().astype("float64").rename("gain").reset_index()
        )
        daily = daily.rename(columns={"followee_id": "user_id"}).sort_values(["user_id", "ds"])
        daily["prev"] = daily.groupby("user_id")["gain"].cumsum() - daily["gain"]
        # the first observed day carries the backlog of earlier follows: a baseline, not a jump
        daily = daily[daily.groupby("user_id").cumcount() > 0]
        jumps = _daily_jumps(daily, config)
        res["jump_source"] = "followed_at"
    else:
        res["jump_source"] = None
    if jumps is not None:
        res["max_daily_gain"] = lookup_float(res["kol_id"], jumps["max_daily_gain"])
        n_jumps = lookup_float(res["kol_id"], jumps["n_jump_days"])
        res["n_jump_days"] = n_jumps.fillna(0).astype("int64")
        jg = lookup_float(res["kol_id"], jumps["jump_gain"]).fillna(0.0)
        res["jump_gain_share"] = np.clip(safe_div(jg, res["kol_followers"]), 0.0, 1.0)
    else:
        res["max_daily_gain"] = np.nan
        res["n_jump_days"] = 0
        res["jump_gain_share"] = np.nan

    w = {k: v for k, v in config.weights.items() if v > 0}
    tot = sum(w.values())
    penalty = np.zeros(len(res))
    parts = {
        "inactive": res["inactive_follower_share"],
        "mass": res["mass_follower_share"],
        "low_ratio": res["low_ratio_follower_share"],
        # no jump information -> no jump penalty
        "jump": res["jump_gain_share"].fillna(0.0),
        "ff_ratio_anomaly": res["ff_ratio_anomaly"].astype("float64"),
    }
    for k, v in w.items():
        penalty = penalty + (v / tot) * parts[k].to_numpy(dtype="float64")
    res["quality_score"] = np.clip(1.0 - penalty, 0.0, 1.0)
    res["passes_quality_floor"] = (
        (res["quality_score"] >= config.quality_floor).fillna(False).astype(bool)
    )
    return str_columns(res, ["kol_id", "platform", "jump_source"])
