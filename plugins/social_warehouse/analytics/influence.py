"""Influence scoring and KOL detection (audience quality: :mod:`.audience_quality`).

Pure functions over DataFrames shaped like the warehouse core tables (``dim_users``,
``dim_items``, ``fct_interactions``, ``fct_follow_edges``); no Airflow, no I/O.

Influence score
---------------
:func:`score_influence` computes, per user, every component as its own column so an
analyst can see *why* a score is high, then combines them:

=============================  ===============================================================
component (weight key)         definition
=============================  ===============================================================
``reach``                      ``reach_followers``: followers from the follow graph (distinct
                               follower ids in ``follows``); falls back to the self-reported
                               count where the graph has no value (see ``reach_source``) --
                               in particular on a platform none of whose users appears in
                               ``follows`` (profiles without a graph): there the graph
                               counts are null, not 0.
``engagement_per_view``        likes + comments + shares + saves on the user's posts per view,
                               events of the trailing window only, shrunk towards the
                               platform's median user rate with ``engagement_prior_views``
                               pseudo-views (raw rate kept in ``engagement_rate_per_view``).
``engagement_per_follower``    engagements per active post per follower, shrunk likewise with
                               ``engagement_prior_exposures`` pseudo post x follower exposures
                               (raw rate in ``engagement_rate_per_follower``).
``authority``                  PageRank from the graph stage (``graph_metrics.pagerank``),
                               computed here from ``follows`` when not given.
``topic_authority``            ``topic_focus * top_topic_market_share``. ``top_topic_share``:
                               share of the user's window engagement coming from its single
                               top topic (``item_topics`` when given) or, without topics, from
                               the single top *category of the engaging users*;
                               ``topic_focus`` is that share shrunk with
                               ``topic_prior_engagements`` pseudo-engagements spread evenly
                               over the platform's topics (so a user with three likes is not
                               "fully focused"); ``top_topic_market_share``: the user's share
                               of all engagement in that topic on the platform. Focus alone
                               would favour tiny accounts; the product is "focused *and*
                               dominant in its topic".
=============================  ===============================================================

Each component is normalised **within platform** (and within category when
``normalize_within_category``), by min-max (``normalization="minmax"``, default) of
``log1p(reach)``, ``log(pagerank)`` and of the raw (already shrunk) rates and topic
authority, or by percentile rank (``"rank"``). Min-max keeps magnitudes, which is what
separates KOLs (outliers by construction) from the long tail: with percentile ranks a user
with 300 followers and one with 24 differ by 0.015 among 1,500 users. The combined
``score`` is the weighted mean of the normalised components::

    score = sum_c w_c * norm_c / sum_c w_c

Default weights: reach 0.35, authority 0.25, engagement_per_view 0.15,
engagement_per_follower 0.15, topic_authority 0.10. A component that is null for *every*
user (e.g. no graph, no views), or whose normalised value is the same for every user (e.g.
the uniform PageRank of a graph without edges), is dropped and the remaining weights
renormalised; the weights actually used are stored in ``result.attrs["weights_used"]``. A
user with a null component (no posts in the window, no graph row) gets 0 for it: no
evidence, no credit. The two engagement components are null on a platform without a single
engagement event in the window (a source that records plays or tags but no likes, or an
idle window): a constant 0 would carry no information yet take weight. When no component
has any information at all (no users, or users without any signal) every score is 0,
``weights_used`` is empty and nobody is a KOL.

KOLs: ``is_kol`` when the score is above 0, at or above the ``kol_quantile`` (default 0.90)
quantile of the score within the normalisation group, the user has at least
``min_followers`` reach followers (default 0), **and** the user is among the ``max_kols``
highest scores of the whole input (default 2,000; ties by user id; ``None`` for no cap).
The quantile alone grows with the platform: 10 % of a million users are 100,000 "KOLs",
where marketers mean a few hundred to a few thousand accounts; the cap keeps the KOL set,
and everything computed per KOL or per KOL pair downstream (audience quality,
collaborations, seeding), bounded. ``is_top_kol`` likewise at ``top_kol_quantile`` (0.95),
among the KOLs. A score of 0 (the group minimum on every component: no evidence) is never
a KOL, even where most of a group ties at 0. ``kol_rank`` is the 1-based rank of a KOL by
score (null for other users). ``result.attrs`` holds ``n_kol_candidates`` (KOLs before the
cap) and ``kol_cap_applied``.

Tiers: see :mod:`social_warehouse.analytics.tiers` (absolute follower bands where they fit
the platform, follower percentiles among its KOLs where they do not; ``tier_basis`` says
which).

PageRank (``authority``): the graph stage's
(:func:`social_warehouse.analytics.graph.compute_pagerank`, networkx semantics) over the
deduplicated follow edges without self-follows, every user a node (an isolated user is a
dangling node), when ``graph_metrics`` does not bring it.

Window: the ``window_days`` days before ``as_of`` (exclusive), see
:mod:`social_warehouse.analytics._common`.

The module's parts: :mod:`._config` (``ConfigMixin``), :mod:`._common` (window, dates,
ids), :mod:`.tiers`, :mod:`.audience_quality` (``audience_quality`` and its config are
re-exported here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._arrays import lookup_float, str_columns
from ._common import (
    ENGAGEMENT_EVENTS,
    event_times,
    follower_counts,
    kol_ids_from,
    safe_div,
    to_float,
    window_mask,
    with_author,
)
from ._config import ConfigMixin, check_choice, check_fraction, check_keys
from .audience_quality import AudienceQualityConfig, audience_quality
from .tiers import (
    DEFAULT_RELATIVE_TIERS,
    DEFAULT_TIERS,
    TIER_MODES,
    assign_tiers,
    normalise_bands,
)

__all__ = [
    "ENGAGEMENT_EVENTS",
    "DEFAULT_TIERS",
    "DEFAULT_RELATIVE_TIERS",
    "DEFAULT_INFLUENCE_WEIGHTS",
    "ConfigMixin",
    "InfluenceConfig",
    "AudienceQualityConfig",
    "influence_components",
    "combine_influence_components",
    "score_influence",
    "audience_quality",
    "pagerank",
    "follower_counts",
    "kol_ids_from",
]

#: Default weight of each influence component in the combined score.
DEFAULT_INFLUENCE_WEIGHTS: dict[str, float] = {
    "reach": 0.35,
    "authority": 0.25,
    "engagement_per_view": 0.15,
    "engagement_per_follower": 0.15,
    "topic_authority": 0.10,
}

# component weight key -> column holding the value that is normalised
_COMPONENT_COLUMNS: dict[str, str] = {
    "reach": "reach_followers",
    "authority": "pagerank",
    "engagement_per_view": "engagement_rate_per_view_smoothed",
    "engagement_per_follower": "engagement_rate_per_follower_smoothed",
    "topic_authority": "topic_authority",
}
# transform applied before min-max normalisation (heavy-tailed components)
_MINMAX_TRANSFORMS = {
    "reach": lambda x: np.log1p(x.clip(lower=0)),
    "authority": lambda x: np.log(x.where(x > 0)),
}


@dataclass(frozen=True)
class InfluenceConfig(ConfigMixin):
    """Options of :func:`score_influence` (all have documented defaults).

    Attributes
    ----------
    window_days : int
        Trailing window for engagement and topics: the ``window_days`` days before
        ``as_of`` (exclusive), ``[as_of - window_days, as_of)``. Default 28.
    engagement_events : tuple of str
        Event types counted as engagement. Default like, comment, share, save.
    weights : dict
        Weight per component (keys of :data:`DEFAULT_INFLUENCE_WEIGHTS`); non-negative.
        ``from_dict`` merges a partial mapping over the defaults.
    normalization : {"minmax", "rank"}
        Per-component normalisation within the group. ``minmax`` (default): min-max of
        ``log1p(reach)``, ``log(pagerank)`` or of the raw value (rates, topic authority);
        a constant component normalises to 0. ``rank``: percentile rank (ties averaged).
    normalize_within_category : bool
        Normalise (and pick KOLs) within platform x category instead of platform. Default
        False.
    reach_source : {"graph", "reported", "max"}
        Followers used as reach: ``graph`` (default) uses follow-graph followers and falls
        back to the self-reported count where the graph value is null; ``reported`` the
        self-reported count; ``max`` the larger of the two.
    engagement_prior_views : float
        Pseudo-views of the empirical-Bayes shrinkage of the per-view rate. Default 100.
    engagement_prior_exposures : float
        Pseudo post x follower exposures of the per-follower shrinkage. Default 1,000.
    topic_prior_engagements : float
        Pseudo-engagements spread evenly over topics in the topic-share shrinkage.
        Default 20.
    compute_pagerank : bool
        Compute PageRank from ``follows`` (the graph stage's PageRank) when
        ``graph_metrics`` is not given. Default True.
    pagerank_damping : float
        Damping factor of that PageRank. Default 0.85.
    kol_quantile, top_kol_quantile : float
        Score quantiles (within group) from which a user is a KOL / top KOL. Defaults 0.90
        and 0.95.
    max_kols : int or None
        At most this many KOLs in total (highest scores first, ties by user id); ``None``
        for no cap. Default 2,000.
    min_followers : float
        Users with fewer reach followers are never KOLs. Default 0.
    tiers : tuple of (str, float)
        Absolute follower bands ``(name, lower bound)``; a mapping is accepted. Default
        :data:`~social_warehouse.analytics.tiers.DEFAULT_TIERS`.
    tier_mode : {"auto", "absolute", "relative"}
        See :mod:`social_warehouse.analytics.tiers`. Default ``auto``.
    relative_tiers : tuple of (str, float)
        Follower-percentile bands among a platform's KOLs (bounds in [0, 1]). Default
        :data:`~social_warehouse.analytics.tiers.DEFAULT_RELATIVE_TIERS`.
    min_tiered_share : float
        ``auto``: absolute bands are used for a platform when they tier at least this share
        of its KOLs. Default 0.5.
    tier_followers : {"reach", "reported", "graph"}
        Follower count the tiers are computed from. Default ``reach``.
    """

    window_days: int = 28
    engagement_events: tuple[str, ...] = ENGAGEMENT_EVENTS
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_INFLUENCE_WEIGHTS))
    normalization: str = "minmax"
    normalize_within_category: bool = False
    reach_source: str = "graph"
    engagement_prior_views: float = 100.0
    engagement_prior_exposures: float = 1_000.0
    topic_prior_engagements: float = 20.0
    compute_pagerank: bool = True
    pagerank_damping: float = 0.85
    kol_quantile: float = 0.90
    top_kol_quantile: float = 0.95
    max_kols: int | None = 2_000
    min_followers: float = 0.0
    tiers: tuple[tuple[str, float], ...] = DEFAULT_TIERS
    tier_mode: str = "auto"
    relative_tiers: tuple[tuple[str, float], ...] = DEFAULT_RELATIVE_TIERS
    min_tiered_share: float = 0.5
    tier_followers: str = "reach"

    SECTION = "influence"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", normalise_bands(self.tiers, name="tiers"))
        object.__setattr__(
            self,
            "relative_tiers",
            normalise_bands(self.relative_tiers, name="relative_tiers", fraction=True),
        )
        object.__setattr__(self, "engagement_events", tuple(self.engagement_events))
        check_keys("influence.weights", self.weights, DEFAULT_INFLUENCE_WEIGHTS)
        if any(w < 0 or not math.isfinite(w) for w in self.weights.values()):
            raise ValueError(f"weights must be finite and non-negative: {self.weights}")
        if sum(self.weights.values()) <= 0:
            raise ValueError("at least one weight must be positive")
        check_choice("normalization", self.normalization, ("minmax", "rank"))
        check_choice("reach_source", self.reach_source, ("graph", "reported", "max"))
        check_choice("tier_followers", self.tier_followers, ("reach", "reported", "graph"))
        check_choice("tier_mode", self.tier_mode, TIER_MODES)
        check_fraction("min_tiered_share", self.min_tiered_share)
        check_fraction("kol_quantile", self.kol_quantile)
        check_fraction("top_kol_quantile", self.top_kol_quantile)
        if self.max_kols is not None and (
            isinstance(self.max_kols, bool) or not isinstance(self.max_kols, int)
            or self.max_kols < 1
        ):
            raise ValueError(f"max_kols must be a positive integer or null, got {self.max_kols!r}")
        if self.top_kol_quantile < self.kol_quantile:
            raise ValueError("top_kol_quantile must be >= kol_quantile")
        if self.window_days <= 0:
            raise ValueError("window_days must be positive")
        for name in (
            "engagement_prior_views",
            "engagement_prior_exposures",
            "topic_prior_engagements",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        check_fraction("pagerank_damping", self.pagerank_damping, open_low=True)



def pagerank(
    follows: pd.DataFrame,
    *,
    nodes: Any = None,
    damping: float = 0.85,
    tol: float = 1e-10,
    max_iter: int = 1000,
) -> pd.Series:
    """PageRank over the follow graph (a follow ``a -> b`` passes rank from a to b).

    The graph stage's :func:`~social_warehouse.analytics.graph.compute_pagerank` (networkx
    semantics: dangling users spread their rank uniformly) on the distinct follow edges
    without self-follows; ``nodes`` adds users without edges (dangling nodes).

    Returns
    -------
    Series
        PageRank per user id (sums to 1), float64.
    """
    from .graph import compute_pagerank

    edges = follows[["follower_id", "followee_id"]].dropna().drop_duplicates()
    edges = edges[edges["follower_id"] != edges["followee_id"]]
    extra = [] if nodes is None else list(pd.Series(list(nodes)).dropna().unique())
    if edges.empty and not extra:
        return pd.Series(dtype="float64")
    pr = compute_pagerank(
        edges.rename(columns={"follower_id": "source", "followee_id": "target"}),
        nodes=extra or None,
        alpha=damping,
        tol=tol,
        max_iter=max_iter,
        engine="scipy",
        weight=None,
    )
    return pd.Series(
        pr["pagerank"].to_numpy(dtype="float64"), index=pd.Index(pr["user_id"]), dtype="float64"
    )


# --------------------------------------------------------------------------------------
# influence
# --------------------------------------------------------------------------------------


def influence_components(
    users: pd.DataFrame,
    items: pd.DataFrame | None,
    interactions: pd.DataFrame | None,
    follows: pd.DataFrame | None = None,
    graph_metrics: pd.DataFrame | None = None,
    item_topics: pd.DataFrame | None = None,
    config: InfluenceConfig = InfluenceConfig(),
    *,
    as_of: Any = None,
) -> pd.DataFrame:
    """Raw influence components per user (no normalisation, no score).

    Parameters
    ----------
    users : DataFrame
        ``dim_users``: ``user_id`` plus optional ``handle``, ``platform``, ``category``,
        ``reported_followers_count``, ``reported_following_count``, ``followers_count``
        and ``following_count`` (graph counts; recomputed from ``follows`` when given).
    items : DataFrame or None
        ``dim_items``: ``post_id``, ``author_id`` (needed when interactions lack
        ``author_id``).
    interactions : DataFrame or None
        ``fct_interactions``: ``user_id``, ``post_id``, ``author_id``, ``event_type``,
        ``event_date`` or ``occurred_at``.
    follows : DataFrame or None
        ``fct_follow_edges``: ``follower_id``, ``followee_id``.
    graph_metrics : DataFrame or None
        ``user_id``, ``pagerank`` (optionally ``community_id``, passed through).
    item_topics : DataFrame or None
        ``post_id``, ``topic_id``, ``weight`` (weights are normalised per post).
    as_of : date-like, optional
        End of the trailing window, exclusive (the pipeline passes ``ds + 1 day``, the end
        of the logical date); the window is ``[as_of - window_days, as_of)``. Default: the
        end of the latest interaction's day.
    config : InfluenceConfig

    Returns
    -------
    DataFrame
        One row per user; see the module docstring for the columns' meaning.
        ``attrs`` holds ``window_start`` (inclusive) / ``window_end`` (exclusive) and
        ``topic_source``.
    """
    if "user_id" not in users.columns:
        raise ValueError("users needs a user_id column")
    base = (
        users.dropna(subset=["user_id"])
        .drop_duplicates("user_id", keep="last")
        .reset_index(drop=True)
    )
    out = pd.DataFrame({"user_id": base["user_id"].to_numpy()})
    for col in ("handle", "platform", "category", "country", "verified"):
        if col in base.columns:
            out[col] = base[col].to_numpy()
    out["platform"] = (
        out["platform"].astype("object").where(out["platform"].notna(), "unknown")
        if "platform" in out.columns
        else "unknown"
    )
    idx = out.index
    uid = out["user_id"]

    reported_followers = to_float(base.get("reported_followers_count"), idx)
    reported_following = to_float(base.get("reported_following_count"), idx)
    if follows is not None:
        f_in, f_out = follower_counts(follows)
        graph_followers = lookup_float(uid, f_in).fillna(0.0)
        graph_following = lookup_float(uid, f_out).fillna(0.0)
        # a platform none of whose users is in the follow graph has no graph at all (e.g. a
        # dataset of profiles only): its graph counts are unknown, not 0, so that reach
        # falls back to the self-reported count
        in_graph = uid.isin(f_in.index) | uid.isin(f_out.index)
        has_graph = in_graph.groupby(out["platform"], sort=False).transform("any")
        has_graph = has_graph.astype(bool).to_numpy()
        graph_followers = graph_followers.where(has_graph)
        graph_following = graph_following.where(has_graph)
    else:
        graph_followers = to_float(base.get("followers_count"), idx)
        graph_following = to_float(base.get("following_count"), idx)
    out["followers_graph"] = graph_followers.to_numpy()
    out["followers_reported"] = reported_followers.to_numpy()
    out["following_graph"] = graph_following.to_numpy()
    out["following_reported"] = reported_following.to_numpy()
    if config.reach_source == "graph":
        reach = graph_followers.fillna(reported_followers)
    elif config.reach_source == "reported":
        reach = reported_followers
    else:
        reach = pd.concat([graph_followers, reported_followers], axis=1).max(axis=1, skipna=True)
    out["reach_followers"] = reach.to_numpy(dtype="float64")
    # > 1 means the profile claims more followers than the graph shows (null: graph is 0/null)
    out["reported_to_graph_ratio"] = safe_div(reported_followers, graph_followers)

    # ---- engagement in the window ------------------------------------------------------
    window_start = window_end = pd.NaT
    counts = pd.DataFrame(index=pd.Index([], name="author_id"))
    inter_w = None
    if interactions is not None and len(interactions):
        inter = with_author(interactions, items)
        mask, window_start, window_end = window_mask(
            event_times(inter), as_of, config.window_days
        )
        inter_w = inter.loc[mask.to_numpy(), ["user_id", "post_id", "author_id", "event_type"]]
        counts = inter_w.groupby(["author_id", "event_type"]).size().unstack(fill_value=0)
        posts_active = inter_w.groupby("author_id")["post_id"].nunique()
        counts["__posts"] = posts_active

    def _count(col: str) -> np.ndarray:
        if col in counts.columns:
            return lookup_float(uid, counts[col]).fillna(0.0).to_numpy(dtype="float64")
        return np.zeros(len(out))

    views = _count("view")
    eng = np.zeros(len(out))
    for ev in config.engagement_events:
        c = _count(ev)
        out[f"{ev}s_window"] = c
        eng += c
    posts = _count("__posts")
    out["n_posts_window"] = posts
    out["views_window"] = views
    out["engagements_window"] = eng
    out["engagement_rate_per_view"] = safe_div(eng, views)
    exposures = posts * out["reach_followers"].to_numpy()
    out["engagement_rate_per_follower"] = safe_div(eng, exposures)
    # empirical-Bayes shrinkage towards the platform's typical (median) user rate
    smoothed_v = np.full(len(out), np.nan)
    smoothed_f = np.full(len(out), np.nan)
    raw_v = out["engagement_rate_per_view"].to_numpy()
    raw_f = out["engagement_rate_per_follower"].to_numpy()
    for _, grp in out.groupby("platform", sort=False).groups.items():
        g = np.asarray(grp)
        for raw, num, den, k, dest in (
            (raw_v, eng, views, config.engagement_prior_views, smoothed_v),
            (raw_f, eng, exposures, config.engagement_prior_exposures, smoothed_f),
        ):
            ok = np.isfinite(raw[g])
            if not ok.any():
                continue
            prior = float(np.median(raw[g][ok]))
            dest[g[ok]] = (num[g][ok] + k * prior) / (den[g][ok] + k)
        if not eng[g].any():
            # no engagement event at all on the platform in the window (a source without
            # likes/comments, or an idle window): the rates carry no signal, so the
            # components are unavailable (null) rather than a constant 0
            smoothed_v[g] = np.nan
            smoothed_f[g] = np.nan
    out["engagement_rate_per_view_smoothed"] = smoothed_v
    out["engagement_rate_per_follower_smoothed"] = smoothed_f

    # ---- graph authority ----------------------------------------------------------------
    pr = None
    if graph_metrics is not None and "pagerank" in graph_metrics.columns:
        gm = graph_metrics.drop_duplicates("user_id", keep="last").set_index("user_id")
        pr = lookup_float(uid, gm["pagerank"])
        if "community_id" in gm.columns:
            out["community_id"] = gm["community_id"].reindex(uid.to_numpy(dtype=object)).to_numpy()
    elif follows is not None and config.compute_pagerank:
        # every user is a node, as in the graph stage: a user without edges is a
        # dangling node with the teleport share
        pr = lookup_float(
            uid, pagerank(follows, nodes=uid.to_numpy(), damping=config.pagerank_damping)
        )
    out["pagerank"] = pr.to_numpy() if pr is not None else np.nan

    # ---- topic authority ----------------------------------------------------------------
    topic_source = None
    out["top_topic"] = pd.Series([None] * len(out), dtype="object")
    out["top_topic_share"] = np.nan
    out["top_topic_market_share"] = np.nan
    out["topic_focus"] = np.nan
    out["topic_authority"] = np.nan
    if inter_w is not None and len(inter_w):
        engaged = inter_w[inter_w["event_type"].isin(config.engagement_events)]
        mass = None
        if item_topics is not None and len(item_topics):
            topic_source = "topic"
            it = item_topics[["post_id", "topic_id"]].copy()
            it["w"] = (
                pd.to_numeric(item_topics["weight"], errors="coerce").fillna(0.0)
                if "weight" in item_topics.columns
                else 1.0
            )
            it = it[it["w"] > 0]
            it["w"] = it["w"] / it.groupby("post_id")["w"].transform("sum")
            per_post = engaged.groupby(["author_id", "post_id"]).size().rename("n").reset_index()
            joined = per_post.merge(it, on="post_id", how="inner")
            joined["mass"] = joined["n"] * joined["w"]
            mass = (
                joined.groupby(["author_id", "topic_id"])["mass"].sum().rename("mass").reset_index()
            )
        elif "category" in base.columns:
            topic_source = "category"
            cat = base.set_index("user_id")["category"]
            e = engaged[["author_id", "user_id"]].copy()
            e["topic_id"] = e["user_id"].map(cat)
            e = e.dropna(subset=["topic_id"])
            mass = (
                e.groupby(["author_id", "topic_id"])
                .size()
                .astype("float64")
                .rename("mass")
                .reset_index()
            )
        if mass is not None and len(mass):
            platform_of = out.set_index("user_id")["platform"]
            mass["platform"] = mass["author_id"].map(platform_of).fillna("unknown")
            total = mass.groupby("author_id")["mass"].sum()
            top = mass.sort_values(["author_id", "mass", "topic_id"], ascending=[True, False, True])
            top = top.drop_duplicates("author_id").set_index("author_id")
            topic_total = mass.groupby(["platform", "topic_id"])["mass"].sum()
            n_topics = mass.groupby("platform")["topic_id"].nunique()
            top_mass = uid.map(top["mass"]).astype("float64")
            tot = uid.map(total).astype("float64")
            out["top_topic"] = uid.map(top["topic_id"]).astype("object").to_numpy()
            out["top_topic_share"] = safe_div(top_mass, tot)
            keys = pd.MultiIndex.from_arrays([top["platform"], top["topic_id"]])
            market = pd.Series(topic_total.reindex(keys).to_numpy(), index=top.index)
            out["top_topic_market_share"] = safe_div(top_mass, uid.map(market).astype("float64"))
            k = config.topic_prior_engagements
            nt = out["platform"].map(n_topics).astype("float64").to_numpy()
            has = np.isfinite(tot.to_numpy()) & (tot.to_numpy() > 0)
            focus = np.full(len(out), np.nan)
            focus[has] = (top_mass.to_numpy()[has] + k / nt[has]) / (tot.to_numpy()[has] + k)
            out["topic_focus"] = focus
            out["topic_authority"] = focus * out["top_topic_market_share"].to_numpy()

    out.attrs["window_start"] = window_start
    out.attrs["window_end"] = window_end
    out.attrs["topic_source"] = topic_source
    return out


def _normalise(values: pd.Series, groups: pd.Series, method: str, transform=None) -> np.ndarray:
    x = values.astype("float64")
    if method == "rank":
        ranked = x.groupby(groups, sort=False).rank(method="average", pct=True)
        return ranked.fillna(0.0).to_numpy()
    if transform is not None:
        x = transform(x)
    gmin = x.groupby(groups, sort=False).transform("min")
    gmax = x.groupby(groups, sort=False).transform("max")
    span = (gmax - gmin).to_numpy()
    res = np.zeros(len(x))
    ok = np.isfinite(x.to_numpy()) & (span > 0)
    res[ok] = (x.to_numpy()[ok] - gmin.to_numpy()[ok]) / span[ok]
    return res


def _group_quantile(values: pd.Series, groups: pd.Series, q: float) -> np.ndarray:
    """The ``q`` quantile of ``values`` within each group, per row (float64)."""
    if not len(values):
        return np.zeros(0)
    thr = values.groupby(groups.to_numpy(), sort=False).quantile(q, interpolation="linear")
    return thr.reindex(groups.to_numpy()).to_numpy(dtype="float64")


def _cap(candidate: np.ndarray, score: np.ndarray, user_id: pd.Series,
         max_kols: int | None) -> np.ndarray:
    """``candidate`` restricted to the ``max_kols`` highest scores (ties by user id)."""
    if max_kols is None or int(candidate.sum()) <= max_kols:
        return candidate
    pos = np.flatnonzero(candidate)
    ids = user_id.to_numpy()[pos].astype(str)
    order = np.lexsort((ids, -score[pos]))
    keep = np.zeros_like(candidate)
    keep[pos[order[:max_kols]]] = True
    return keep


def combine_influence_components(
    components: pd.DataFrame, config: InfluenceConfig = InfluenceConfig()
) -> pd.DataFrame:
    """Normalise components within their group and combine them into the KOL score.

    Parameters
    ----------
    components : DataFrame
        One row per user with ``user_id`` and any of the component columns
        ``reach_followers``, ``pagerank``, ``engagement_rate_per_view_smoothed``,
        ``engagement_rate_per_follower_smoothed``, ``topic_authority`` (missing columns
        count as all-null), plus ``platform``/``category`` for grouping. Usually the
        output of :func:`influence_components`; an external export can be mapped to these
        columns directly.
    config : InfluenceConfig

    Returns
    -------
    DataFrame
        The input plus ``<component>_norm`` columns, ``score`` (float64 in [0, 1]),
        ``score_pct`` (share of the group scoring <= this user), ``is_kol``,
        ``is_top_kol``, ``kol_rank``, ``tier``, ``tier_basis`` and ``score_group``.
        ``attrs["weights_used"]`` holds the renormalised weights.
    """
    out = components.copy()
    if "platform" not in out.columns:
        out["platform"] = "unknown"
    platform = out["platform"].astype("object").where(out["platform"].notna(), "unknown")
    if config.normalize_within_category:
        category = (
            out["category"].astype("object").where(out["category"].notna(), "unknown")
            if "category" in out.columns
            else pd.Series("unknown", index=out.index)
        )
        groups = platform.astype(str) + "|" + category.astype(str)
    else:
        groups = platform.astype(str)
    out["score_group"] = groups.to_numpy()

    used: dict[str, float] = {}
    score = np.zeros(len(out))
    for comp, weight in config.weights.items():
        col = _COMPONENT_COLUMNS[comp]
        values = out[col] if col in out.columns else pd.Series(np.nan, index=out.index)
        values = pd.to_numeric(values, errors="coerce").astype("float64")
        norm = _normalise(values, groups, config.normalization, _MINMAX_TRANSFORMS.get(comp))
        out[f"{comp}_norm"] = norm
        # dropped when null for everyone or the same for everyone after normalisation (e.g.
        # the uniform PageRank of a graph without edges): no information, only dilution
        if weight > 0 and values.notna().any() and np.ptp(norm) > 0:
            used[comp] = weight
            score += weight * norm
    total = sum(used.values())
    # no component has any value (no users, or users without any signal): every score is
    # 0 and nobody is a KOL; ``weights_used`` is empty
    used = {k: v / total for k, v in used.items()} if total > 0 else {}
    out["score"] = (score / total if total > 0 else np.zeros(len(out))).astype("float64")
    s = out["score"]
    out["score_pct"] = s.groupby(groups, sort=False).rank(method="max", pct=True).astype("float64")
    kol_thr = _group_quantile(s, groups, config.kol_quantile)
    top_thr = _group_quantile(s, groups, config.top_kol_quantile)
    reach = pd.to_numeric(
        out.get("reach_followers", pd.Series(np.nan, index=out.index)), errors="coerce"
    )
    # a zero score (the group minimum on every component: no evidence) is never a KOL, even
    # when most of the group ties at 0 and the quantile threshold is 0
    sv = s.to_numpy()
    eligible = (reach.fillna(0.0) >= config.min_followers).to_numpy() & (sv > 0)
    candidate = (sv >= kol_thr - 1e-12) & eligible
    is_kol = _cap(candidate, sv, out["user_id"], config.max_kols)
    out["is_kol"] = is_kol.astype(bool)
    out["is_top_kol"] = ((sv >= top_thr - 1e-12) & is_kol).astype(bool)
    rank = np.full(len(out), -1, dtype=np.int64)
    pos = np.flatnonzero(is_kol)
    order = np.lexsort((out["user_id"].to_numpy()[pos].astype(str), -sv[pos]))
    rank[pos[order]] = np.arange(1, len(pos) + 1)
    out["kol_rank"] = pd.Series(rank, index=out.index).where(rank > 0).astype("Int64")
    tier_col = {
        "reach": "reach_followers",
        "reported": "followers_reported",
        "graph": "followers_graph",
    }[config.tier_followers]
    tier_values = out[tier_col] if tier_col in out.columns else pd.Series(np.nan, index=out.index)
    tier, basis = assign_tiers(
        pd.to_numeric(tier_values, errors="coerce").to_numpy(dtype="float64"),
        is_kol,
        groups.to_numpy(),
        mode=config.tier_mode,
        tiers=config.tiers,
        relative_tiers=config.relative_tiers,
        min_tiered_share=config.min_tiered_share,
    )
    out["tier"] = tier
    out["tier_basis"] = basis
    str_columns(out)
    out.attrs = dict(components.attrs)
    out.attrs["weights_used"] = used
    out.attrs["n_kol_candidates"] = int(candidate.sum())
    out.attrs["kol_cap_applied"] = bool(candidate.sum() > is_kol.sum())
    return out


def score_influence(
    users: pd.DataFrame,
    items: pd.DataFrame | None,
    interactions: pd.DataFrame | None,
    follows: pd.DataFrame | None = None,
    graph_metrics: pd.DataFrame | None = None,
    item_topics: pd.DataFrame | None = None,
    config: InfluenceConfig = InfluenceConfig(),
    *,
    as_of: Any = None,
) -> pd.DataFrame:
    """Influence score, KOL flags and tier per user, with every component as a column.

    Parameters
    ----------
    users, items, interactions, follows, graph_metrics, item_topics, as_of
        See :func:`influence_components`.
    config : InfluenceConfig
        Weights, normalisation, KOL quantiles and tier bands.

    Returns
    -------
    DataFrame
        One row per user: ``user_id``, identity columns, raw components
        (``reach_followers``, ``followers_graph``, ``followers_reported``,
        ``engagement_rate_per_view[_smoothed]``, ``engagement_rate_per_follower[_smoothed]``,
        ``pagerank``, ``top_topic``, ``top_topic_share``, ``topic_authority``, ...),
        normalised components (``*_norm``), ``score``, ``score_pct``, ``is_kol``,
        ``is_top_kol``, ``kol_rank``, ``tier``, ``tier_basis``; sorted by score descending.

    Examples
    --------
    >>> scores = score_influence(users, items, interactions, follows)  # doctest: +SKIP
    >>> scores.loc[scores.is_kol, ["user_id", "score", "reach_norm", "tier"]]  # doctest: +SKIP
    """
    comps = influence_components(
        users, items, interactions, follows, graph_metrics, item_topics, config, as_of=as_of
    )
    scored = combine_influence_components(comps, config)
    attrs = scored.attrs
    scored = scored.sort_values(["score", "user_id"], ascending=[False, True], kind="stable")
    scored = scored.reset_index(drop=True)
    scored.attrs = attrs
    return scored


