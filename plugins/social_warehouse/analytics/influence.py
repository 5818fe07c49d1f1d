"""Influence scoring, KOL detection and audience quality.

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

KOLs: ``is_kol`` when ``score`` is above 0 and at or above the ``kol_quantile`` (default
0.90) quantile of the score within the normalisation group, ``is_top_kol`` likewise at
``top_kol_quantile`` (0.95); a score of 0 (the group minimum on every component: no
evidence) is never a KOL, even where most of a group ties at 0. ``tier`` follows
configurable follower bands (default nano >= 1k, micro >= 10k, macro >= 100k, mega >= 1M;
below the lowest band the tier is null).

Audience quality
----------------
:func:`audience_quality` reports, per KOL: the share of followers without any activity in
the window, the share of mass followers (following more than ``mass_following_threshold``
= 1,500 accounts), the share of followers with a bot-like follower/following ratio, the
KOL's own follower/following ratio and its robust z-score among the KOLs of its platform,
and sudden daily follower jumps (from a daily follower history when given, otherwise from
``follows.followed_at``, where the first observed day of a KOL carries the backlog of older
follows and serves as baseline, never as a jump). ``quality_score = 1 - sum_i w_i *
share_i`` in [0, 1] and
``passes_quality_floor = quality_score >= quality_floor``; recommendation functions can
exclude KOLs that do not pass.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from ._arrays import lookup_float, str_columns

__all__ = [
    "ENGAGEMENT_EVENTS",
    "DEFAULT_TIERS",
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

#: Event types counted as engagement (views, clicks and conversions are not engagement).
ENGAGEMENT_EVENTS: tuple[str, ...] = ("like", "comment", "share", "save")

#: Follower bands ``(tier, lower bound inclusive)``; the highest band reached wins.
DEFAULT_TIERS: tuple[tuple[str, float], ...] = (
    ("nano", 1_000.0),
    ("micro", 10_000.0),
    ("macro", 100_000.0),
    ("mega", 1_000_000.0),
)

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


# --------------------------------------------------------------------------------------
# configuration helpers
# --------------------------------------------------------------------------------------


class ConfigMixin:
    """``from_dict``/``to_dict`` for the frozen configuration dataclasses of this package.

    ``from_dict`` accepts a plain mapping (e.g. parsed YAML): unknown keys raise
    ``ValueError``; lists become tuples; a mapping given for a mapping-valued option (such
    as ``weights``) is merged over that option's default, so YAML only needs the keys it
    changes.
    """

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None = None, **overrides: Any):
        values = dict(data or {})
        values.update(overrides)
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(
                f"{cls.__name__}: unknown option(s) {unknown}; known: {sorted(fields)}"
            )
        kwargs: dict[str, Any] = {}
        for name, value in values.items():
            f = fields[name]
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = None
            kwargs[name] = _coerce(value, default)
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view of the configuration (tuples stay tuples)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


def _coerce(value: Any, default: Any) -> Any:
    if isinstance(default, Mapping) and isinstance(value, Mapping):
        merged = dict(default)
        merged.update(value)
        return merged
    if isinstance(value, list):
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value


def _check_fraction(name: str, value: float, *, open_low: bool = False) -> None:
    low_ok = value > 0 if open_low else value >= 0
    if not (low_ok and value <= 1):
        raise ValueError(f"{name} must be in {'(0' if open_low else '[0'}, 1], got {value!r}")


def _normalise_tiers(tiers: Any) -> tuple[tuple[str, float], ...]:
    items = tiers.items() if isinstance(tiers, Mapping) else tiers
    out = tuple(sorted(((str(n), float(b)) for n, b in items), key=lambda t: t[1]))
    if len({b for _, b in out}) != len(out):
        raise ValueError(f"tier lower bounds must be distinct: {out}")
    return out


@dataclass(frozen=True)
class InfluenceConfig(ConfigMixin):
    """Options of :func:`score_influence` (all have documented defaults).

    Attributes
    ----------
    window_days : int
        Trailing window (days, ending at ``as_of`` inclusive) for engagement and topics.
        Default 28.
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
        Compute PageRank from ``follows`` when ``graph_metrics`` is not given. Default True.
    pagerank_damping : float
        Damping factor of that PageRank. Default 0.85.
    kol_quantile, top_kol_quantile : float
        Score quantiles (within group) from which a user is a KOL / top KOL. Defaults 0.90
        and 0.95.
    min_reach_for_kol : float
        Users with fewer reach followers are never KOLs. Default 0.
    tiers : tuple of (str, float)
        Follower bands ``(name, lower bound)``; a mapping is accepted. Default
        :data:`DEFAULT_TIERS`.
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
    min_reach_for_kol: float = 0.0
    tiers: tuple[tuple[str, float], ...] = DEFAULT_TIERS
    tier_followers: str = "reach"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", _normalise_tiers(self.tiers))
        object.__setattr__(self, "engagement_events", tuple(self.engagement_events))
        unknown = sorted(set(self.weights) - set(DEFAULT_INFLUENCE_WEIGHTS))
        if unknown:
            raise ValueError(f"unknown influence weight(s) {unknown}")
        if any(w < 0 or not math.isfinite(w) for w in self.weights.values()):
            raise ValueError(f"weights must be finite and non-negative: {self.weights}")
        if sum(self.weights.values()) <= 0:
            raise ValueError("at least one weight must be positive")
        if self.normalization not in ("rank", "minmax"):
            raise ValueError(
                f"normalization must be 'rank' or 'minmax', got {self.normalization!r}"
            )
        if self.reach_source not in ("graph", "reported", "max"):
            raise ValueError(f"reach_source must be graph|reported|max, got {self.reach_source!r}")
        if self.tier_followers not in ("reach", "reported", "graph"):
            raise ValueError(
                f"tier_followers must be reach|reported|graph, got {self.tier_followers!r}"
            )
        _check_fraction("kol_quantile", self.kol_quantile)
        _check_fraction("top_kol_quantile", self.top_kol_quantile)
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
        _check_fraction("pagerank_damping", self.pagerank_damping, open_low=True)


@dataclass(frozen=True)
class AudienceQualityConfig(ConfigMixin):
    """Options of :func:`audience_quality`.

    Attributes
    ----------
    window_days : int
        Activity window (days ending at ``as_of`` inclusive). Default 28.
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

    def __post_init__(self) -> None:
        allowed = {"inactive", "mass", "low_ratio", "jump", "ff_ratio_anomaly"}
        unknown = sorted(set(self.weights) - allowed)
        if unknown:
            raise ValueError(f"unknown audience-quality weight(s) {unknown}")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("audience-quality weights must be >= 0 with a positive sum")
        if self.following_source not in ("max", "graph", "reported"):
            raise ValueError("following_source must be max|graph|reported")
        _check_fraction("quality_floor", self.quality_floor)
        if self.window_days <= 0:
            raise ValueError("window_days must be positive")


# --------------------------------------------------------------------------------------
# small shared helpers (also used by the other KOL modules)
# --------------------------------------------------------------------------------------


def _safe_div(num: Any, den: Any) -> np.ndarray:
    """Element-wise ``num / den`` as float64, NaN (null) where ``den`` is 0 or null."""
    num = np.asarray(num, dtype="float64")
    den = np.asarray(den, dtype="float64")
    out = np.full(np.broadcast(num, den).shape, np.nan)
    ok = np.isfinite(den) & (den != 0) & np.isfinite(num)
    np.divide(num, den, out=out, where=ok)
    return out


def _to_float(s: pd.Series | None, index: pd.Index) -> pd.Series:
    if s is None:
        return pd.Series(np.nan, index=index, dtype="float64")
    return pd.to_numeric(s, errors="coerce").astype("float64")


def _event_dates(interactions: pd.DataFrame) -> pd.Series:
    """The interaction's calendar date: ``event_date`` if present, else ``occurred_at``'s."""
    if "event_date" in interactions.columns:
        d = pd.to_datetime(interactions["event_date"], errors="coerce")
        if d.dt.tz is not None:
            d = d.dt.tz_localize(None)
        if "occurred_at" in interactions.columns and d.isna().any():
            d = d.fillna(_utc_naive(interactions["occurred_at"]).dt.normalize())
        return d.dt.normalize()
    return _utc_naive(interactions["occurred_at"]).dt.normalize()


def _utc_naive(s: pd.Series) -> pd.Series:
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


def _window_mask(dates: pd.Series, as_of: Any, window_days: int) -> tuple[pd.Series, pd.Timestamp]:
    if as_of is None:
        end = dates.max()
    else:
        end = pd.Timestamp(as_of)
        if end.tzinfo is not None:
            end = end.tz_convert("UTC").tz_localize(None)
    end = pd.Timestamp(end).normalize() if pd.notna(end) else end
    if pd.isna(end):
        return pd.Series(False, index=dates.index), end
    start = end - pd.Timedelta(days=window_days - 1)
    return (dates >= start) & (dates <= end), end


def _with_author(interactions: pd.DataFrame, items: pd.DataFrame | None) -> pd.DataFrame:
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


def pagerank(
    follows: pd.DataFrame,
    *,
    damping: float = 0.85,
    tol: float = 1e-10,
    max_iter: int = 200,
) -> pd.Series:
    """PageRank over the follow graph (a follow ``a -> b`` passes rank from a to b).

    Power iteration on a sparse matrix; dangling users spread their rank uniformly.

    Parameters
    ----------
    follows : DataFrame
        ``follower_id``, ``followee_id``.
    damping : float
        Probability of following an edge. Default 0.85.
    tol : float
        L1 convergence tolerance.
    max_iter : int
        Iteration cap.

    Returns
    -------
    Series
        PageRank per user id (sums to 1), float64.
    """
    edges = follows[["follower_id", "followee_id"]].dropna().drop_duplicates()
    edges = edges[edges["follower_id"] != edges["followee_id"]]
    if edges.empty:
        return pd.Series(dtype="float64")
    codes, uniques = pd.factorize(
        pd.concat([edges["follower_id"], edges["followee_id"]], ignore_index=True)
    )
    n = len(uniques)
    src = codes[: len(edges)]
    dst = codes[len(edges) :]
    out_deg = np.bincount(src, minlength=n).astype("float64")
    weights = 1.0 / out_deg[src]
    # M[dst, src] = 1/outdeg(src): rank flows follower -> followee
    m = sparse.csr_matrix((weights, (dst, src)), shape=(n, n))
    dangling = out_deg == 0
    r = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        new = damping * (m @ r + r[dangling].sum() / n) + (1.0 - damping) / n
        if np.abs(new - r).sum() < tol:
            r = new
            break
        r = new
    return pd.Series(r / r.sum(), index=pd.Index(uniques), dtype="float64")


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
        Last day of the trailing window. Default: the latest interaction date.
    config : InfluenceConfig

    Returns
    -------
    DataFrame
        One row per user; see the module docstring for the columns' meaning.
        ``attrs`` holds ``window_start``/``window_end`` and ``topic_source``.
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

    reported_followers = _to_float(base.get("reported_followers_count"), idx)
    reported_following = _to_float(base.get("reported_following_count"), idx)
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
        graph_followers = _to_float(base.get("followers_count"), idx)
        graph_following = _to_float(base.get("following_count"), idx)
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
    out["reported_to_graph_ratio"] = _safe_div(reported_followers, graph_followers)

    # ---- engagement in the window ------------------------------------------------------
    window_start = window_end = pd.NaT
    counts = pd.DataFrame(index=pd.Index([], name="author_id"))
    inter_w = None
    if interactions is not None and len(interactions):
        inter = _with_author(interactions, items)
        dates = _event_dates(inter)
        mask, window_end = _window_mask(dates, as_of, config.window_days)
        if pd.notna(window_end):
            window_start = window_end - pd.Timedelta(days=config.window_days - 1)
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
    out["engagement_rate_per_view"] = _safe_div(eng, views)
    exposures = posts * out["reach_followers"].to_numpy()
    out["engagement_rate_per_follower"] = _safe_div(eng, exposures)
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
        pr = lookup_float(uid, pagerank(follows, damping=config.pagerank_damping))
        # users absent from the graph have only the teleport mass
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
            out["top_topic_share"] = _safe_div(top_mass, tot)
            keys = pd.MultiIndex.from_arrays([top["platform"], top["topic_id"]])
            market = pd.Series(topic_total.reindex(keys).to_numpy(), index=top.index)
            out["top_topic_market_share"] = _safe_div(top_mass, uid.map(market).astype("float64"))
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


def _tier(followers: np.ndarray, tiers: tuple[tuple[str, float], ...]) -> np.ndarray:
    names = np.array([None] + [n for n, _ in tiers], dtype=object)
    bounds = np.array([b for _, b in tiers])
    f = np.nan_to_num(np.asarray(followers, dtype="float64"), nan=-np.inf)
    return names[np.searchsorted(bounds, f, side="right")]


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
        ``is_top_kol``, ``tier`` and ``score_group``. ``attrs["weights_used"]`` holds the
        renormalised weights.
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
    eligible = (reach.fillna(0.0) >= config.min_reach_for_kol).to_numpy() & (s.to_numpy() > 0)
    out["is_kol"] = ((s.to_numpy() >= kol_thr - 1e-12) & eligible).astype(bool)
    out["is_top_kol"] = ((s.to_numpy() >= top_thr - 1e-12) & eligible).astype(bool)
    tier_col = {
        "reach": "reach_followers",
        "reported": "followers_reported",
        "graph": "followers_graph",
    }[config.tier_followers]
    tier_values = out[tier_col] if tier_col in out.columns else pd.Series(np.nan, index=out.index)
    out["tier"] = _tier(pd.to_numeric(tier_values, errors="coerce").to_numpy(), config.tiers)
    str_columns(out)
    out.attrs = dict(components.attrs)
    out.attrs["weights_used"] = used
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
        ``is_top_kol``, ``tier``; sorted by score descending.

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


# --------------------------------------------------------------------------------------
# audience quality
# --------------------------------------------------------------------------------------


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
        Last day of the activity window. Default: the latest interaction date.
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
        dates = _event_dates(interactions)
        mask, end = _window_mask(dates, as_of, config.window_days)
        act_ids = pd.unique(interactions.loc[mask.to_numpy(), "user_id"])
        active[index.get_indexer(act_ids)[index.get_indexer(act_ids) >= 0]] = True
    else:
        end = pd.Timestamp(as_of).normalize() if as_of is not None else pd.NaT
    if items is not None and len(items) and "created_at" in items.columns and pd.notna(end):
        created = _utc_naive(items["created_at"]).dt.normalize()
        start = end - pd.Timedelta(days=config.window_days - 1)
        authors = pd.unique(
            items.loc[((created >= start) & (created <= end)).to_numpy(), "author_id"]
        )
        pos = index.get_indexer(authors)
        active[pos[pos >= 0]] = True

    is_mass = following > config.mass_following_threshold
    ratio = _safe_div(followers_g, following)
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
    res["inactive_follower_share"] = _safe_div(inactive_cnt[kpos], nf)
    res["mass_follower_share"] = _safe_div(mass_cnt[kpos], nf)
    res["low_ratio_follower_share"] = _safe_div(low_cnt[kpos], nf)
    res["kol_followers"] = followers_any[kpos]
    res["kol_following"] = np.fmax(following_g, rep_following)[kpos]
    res["log_ff_ratio"] = np.log10(
        (res["kol_followers"] + 1.0) / (res["kol_following"].fillna(0.0) + 1.0)
    )
    med = res.groupby("platform")["log_ff_ratio"].transform("median")
    mad = (res["log_ff_ratio"] - med).abs().groupby(res["platform"]).transform("median")
    res["ff_ratio_z"] = _safe_div(res["log_ff_ratio"] - med, 1.4826 * mad)
    res["ff_ratio_anomaly"] = (
        (res["ff_ratio_z"].abs() > config.ff_ratio_z).fillna(False).astype(bool)
    )
    res["reported_to_graph_ratio"] = _safe_div(rep_followers[kpos], nf)

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
        f = f.assign(ds=_utc_naive(f["followed_at"]).dt.normalize()).dropna(subset=["ds"])
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
        res["jump_gain_share"] = np.clip(_safe_div(jg, res["kol_followers"]), 0.0, 1.0)
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
