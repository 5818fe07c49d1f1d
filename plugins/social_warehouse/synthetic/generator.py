"""Synthetic daily social-media exports with planted, recoverable ground truth.

The generator builds a small "world" (users with a community, a taste group, KOL status
and behavioural rates), then simulates each day in turn:

1. **Follows** - a degree-corrected stochastic block model: every user draws a
   heavy-tailed number of followees, most inside their own community (``p_in``), targets
   chosen by attractiveness (preferential attachment; KOLs attract a fixed share of the
   attention inside and across communities). Day 1 holds the bulk of the graph, later
   days add new users and a trickle of new edges. About 0.1% duplicate edges and 0.05%
   self-follows are planted as realistic noise.
2. **Posts** - creators (and KOLs, much more often) post about their main topic; the
   topic drives the caption (English, Chinese or mixed), hashtags and emoji. KOLs running
   a campaign add campaign posts.
3. **Interactions** - every engagement starts with a ``view`` whose post comes from one
   of three channels: a post of one of the viewer's preferred topics (taste group), a post
   of an account they follow, or a globally popular post. Each view may lead to like /
   comment / share / save / click; clicks on campaign posts may convert.

Campaign lift is planted exactly: for every KOL ``k`` of campaign ``c`` the click
probability of a view of a ``c`` post by ``k`` is ``planted_ctr_lift`` times the click
probability of a view of a non-campaign post by ``k`` (which does not depend on the
viewer). Clicks of KOL posts are drawn by *systematic sampling* per (KOL, campaign)
stream, a standard variance-reduction scheme: each view is still a 0/1 outcome with the
stated probability, but the realised number of clicks of a stream never differs from its
expectation by one click or more, so the measured lift tracks the planted one on small
samples. Conversions (only after a click on a campaign post) are drawn the same way per
campaign, with probability ``base_conversion_rate * planted_conversion_lift``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..contract import ENTITIES, EVENT_TYPES, entity_for_file
from .profiles import DEFAULT_DAYS, PROFILES, Profile
from .text import N_TEXT_UNIFORMS, brand_for, post_texts, user_columns
from .vocab import CAMPAIGN_THEMES, LANGUAGES, TOPICS
from .writers import EXTENSIONS, EntityWriter, format_for

__all__ = ["GenerateResult", "generate", "GENERATOR_VERSION"]

#: Bumped whenever the same seed would produce different data.
GENERATOR_VERSION = "1"

DAY = 86_400
#: Posts are created at least this long before midnight, views at least this long.
POST_END_MARGIN = 1_800
VIEW_END_MARGIN = 900
#: Posts older than this many days receive no more views.
POST_LIFETIME_DAYS = 7
#: Recency weight of a post ``a >= 1`` days old is ``RECENCY_DECAY ** a``.
RECENCY_DECAY = 0.55
#: Expected events per view (calibrates the number of views to the interaction target).
EVENTS_PER_VIEW = 1.36

# Funnel: base probabilities per view, multiplied by the preference / KOL factors.
P_LIKE, P_COMMENT, P_SHARE, P_SAVE = 0.16, 0.025, 0.02, 0.035
PREF_FACTOR, NONPREF_FACTOR, KOL_FACTOR = 1.5, 0.85, 1.3
NON_KOL_CTR = 0.02
KOL_CTR_RANGE = (0.075, 0.085)
BASE_CONVERSION_RATE = 0.05
CTR_LIFT_RANGE = (1.3, 2.5)
#: Promoted reach: campaign posts get this many times the views of a comparable post.
CAMPAIGN_REACH_BOOST = 2.5
#: Campaign posts per KOL and campaign day: 1 + Poisson(ratio * the KOL's daily posts).
CAMPAIGN_POST_RATIO = 0.3
CONVERSION_LIFT_RANGE = (1.2, 2.0)
DUPLICATE_FOLLOW_RATE = 0.001
SELF_FOLLOW_RATE = 0.0005
LATER_DAY_FOLLOW_FRACTION = 0.05
FIRST_DAY_FOLLOW_FRACTION = 0.85
MIN_OUT_DEGREE = 3
#: Dispersion (lognormal sigma) of post quality, the driver of global popularity.
QUALITY_SIGMA = 0.7
#: Share of taste-channel views that go to the user's favourite preferred topic.
FAVOURITE_TOPIC_SHARE = 0.5
KOL_MIN_DAILY_POSTS = 2
EVENT_CODE = {name: i for i, name in enumerate(EVENT_TYPES)}
MEDIA_TYPES = ("video", "image", "text", "audio")

CTR_LIFT_DEFINITION = (
    "For campaign c with KOL set K_c: CTR(k, c) = clicks / views over the interactions on "
    "posts authored by k with posts.campaign_id = c; CTR(k, base) = clicks / views over "
    "the interactions on posts authored by k with no campaign_id (all days). The generator "
    "plants CTR(k, c) = planted_ctr_lift * CTR(k, base) for every k in K_c (click "
    "probability per view does not depend on the viewer). The campaign-level measured lift "
    "is sum_k clicks(k, c) / sum_k views(k, c) * CTR(k, base), i.e. observed clicks over "
    "the clicks the same views would get at each KOL's own baseline CTR; the pooled ratio "
    "CTR(K_c, c) / CTR(K_c, base) matches it closely because KOL baselines vary little."
)
CONVERSION_LIFT_DEFINITION = (
    "Conversions happen only after a click on a campaign post. Conversion rate of campaign "
    "c = conversions / clicks over the interactions on posts with campaign_id = c; the "
    "generator plants it as base_conversion_rate * planted_conversion_lift (the "
    "non-campaign reference rate base_conversion_rate is a parameter: non-campaign posts "
    "never convert)."
)


@dataclass
class GenerateResult:
    """What :func:`generate` wrote.

    Attributes
    ----------
    landing_dir : pathlib.Path
        ``out/landing``; holds one folder per ``ds``.
    truth_dir : pathlib.Path
        ``out/truth``; planted ground truth (never loaded by the pipeline).
    dates : list of str
        The ``ds`` values written, ``YYYY-MM-DD``.
    row_counts : dict
        ``{ds: {entity: rows}}``.
    seconds : float
        Wall-clock generation time.
    profile : str
        Profile name.
    seed : int
        Random seed.
    fmt : str
        Output format requested.
    files : dict
        ``{ds: {entity: path}}`` of the landing files.
    """

    landing_dir: Path
    truth_dir: Path
    dates: list[str]
    row_counts: dict[str, dict[str, int]]
    seconds: float
    profile: str = ""
    seed: int = 0
    fmt: str = ""
    files: dict[str, dict[str, Path]] = field(default_factory=dict)

    @property
    def totals(self) -> dict[str, int]:
        """Rows per entity summed over all days."""
        out: dict[str, int] = {}
        for counts in self.row_counts.values():
            for k, v in counts.items():
                out[k] = out.get(k, 0) + v
        return out


# --------------------------------------------------------------------------- helpers


def _rng(seed: int, *keys: int) -> np.random.Generator:
    """Independent random stream per (seed, component, day...)."""
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


class _GroupSampler:
    """Weighted sampling of items restricted to a group, vectorised.

    Items are ordered by group and their weights accumulated once; a draw for group ``g``
    is a uniform point in that group's slice of the cumulative sum, located with a binary
    search. Groups whose total weight is zero must not be requested (see ``total``).
    """

    def __init__(self, groups: np.ndarray, weights: np.ndarray, n_groups: int) -> None:
        order = np.argsort(groups, kind="stable")
        g = groups[order]
        self.items = order
        self.cum = np.concatenate([[0.0], np.cumsum(weights[order], dtype=np.float64)])
        ids = np.arange(n_groups)
        self.start = np.searchsorted(g, ids, "left")
        self.end = np.searchsorted(g, ids, "right")
        self.total = self.cum[self.end] - self.cum[self.start]

    def sample(self, group: np.ndarray, u: np.ndarray) -> np.ndarray:
        start, end = self.start[group], self.end[group]
        lo, hi = self.cum[start], self.cum[end]
        pos = np.searchsorted(self.cum, lo + u * (hi - lo), "right") - 1
        return self.items[np.clip(pos, start, end - 1)]


def _systematic(p: np.ndarray, stream: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Systematic sampling of Bernoulli outcomes per stream, carrying the phase in ``state``.

    Within a stream (in array order) the running sum of probabilities is offset by the
    stream's phase; an outcome is 1 when the running sum crosses an integer. Each outcome is
    marginally Bernoulli(p) given a uniform phase, and the stream's total differs from the
    sum of its probabilities by less than one. ``state`` (one phase per stream, initially
    uniform) is updated in place, so streams continue across calls (days).
    """
    if len(p) == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(stream, kind="stable")
    s, ps = stream[order], p[order].astype(np.float64)
    cs = np.cumsum(ps)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    sizes = np.diff(np.r_[starts, len(s)])
    base = np.repeat(cs[starts] - ps[starts] - state[s[starts]], sizes)
    c = cs - base
    hit = np.floor(c) > np.floor(c - ps)
    ends = starts + sizes - 1
    state[s[ends]] = c[ends] - np.floor(c[ends])
    out = np.empty(len(p), dtype=bool)
    out[order] = hit
    return out


def _ids(prefix: str, idx: np.ndarray, width: int) -> pa.Array:
    """Format zero-based indices as ``prefix`` + zero-padded ``idx + 1``."""
    num = pc.cast(pa.array(np.asarray(idx, dtype=np.int64) + 1), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(num, width, padding="0"), "")


def _ts(epoch_s: np.ndarray) -> pa.Array:
    """Format epoch seconds as ISO-8601 UTC strings, ``2026-01-01T13:05:00Z``."""
    arr = pa.array(np.asarray(epoch_s, dtype=np.int64), pa.timestamp("s"))
    text = pc.cast(arr, pa.string())  # "2026-01-01 13:05:00": much faster than strftime
    return pc.binary_join_element_wise(pc.replace_substring(text, " ", "T", max_replacements=1),
                                       "Z", "")


def _unique(x: np.ndarray, return_index: bool = False):
    """Sorted unique values (and the index of one occurrence of each), via a sort."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    first = np.ones(len(xs), dtype=bool)
    first[1:] = xs[1:] != xs[:-1]
    return (xs[first], order[first]) if return_index else xs[first]


def _width(n: float, minimum: int) -> int:
    return max(minimum, len(str(max(int(n), 1))))


def _lognormal_unit_mean(rng: np.random.Generator, sigma: float, n: int) -> np.ndarray:
    return rng.lognormal(-sigma * sigma / 2, sigma, n)


# --------------------------------------------------------------------------- world


@dataclass
class _World:
    profile: Profile
    days: int
    seed: int
    t0: int  # epoch seconds of start_date 00:00 UTC
    n_init: int
    n_users: int
    join_day: np.ndarray
    created: np.ndarray  # epoch s
    community: np.ndarray
    taste: np.ndarray
    pref_topics: np.ndarray  # (n_taste, 3), -1 padded
    n_pref: np.ndarray
    pref_mask: np.ndarray  # (n_taste, n_topics) bool
    fav_slot: np.ndarray  # favourite of the taste group's topics
    main_topic: np.ndarray
    language: np.ndarray
    is_kol: np.ndarray
    kol_ids: np.ndarray  # user index of each KOL
    kol_rank: np.ndarray  # user -> KOL rank or -1
    is_creator: np.ndarray
    has_category: np.ndarray
    attract: np.ndarray
    cross_attract: np.ndarray
    out_deg: np.ndarray
    activity: np.ndarray
    creator_w: np.ndarray
    kol_post_w: np.ndarray
    base_ctr: np.ndarray
    verified: np.ndarray
    user_u: np.ndarray  # uniforms for user strings
    community_sizes: np.ndarray
    home_taste: np.ndarray
    kol_attract_scale: float
    kol_cross_boost: float
    degree_scale: float


def _build_world(profile: Profile, days: int, seed: int, t0: int) -> _World:
    rng = _rng(seed, 1)
    n_init = profile.n_users
    n_new = round(profile.new_user_rate * n_init)
    n = n_init + n_new * (days - 1)
    B, T, K = profile.n_communities, profile.n_taste_groups, profile.n_topics
    if K > len(TOPICS):
        raise ValueError(f"at most {len(TOPICS)} topics are available")

    join_day = np.zeros(n, dtype=np.int16)
    for d in range(1, days):
        join_day[n_init + (d - 1) * n_new: n_init + d * n_new] = d
    created = np.empty(n, dtype=np.int64)
    created[:n_init] = t0 - rng.integers(3_600, 3 * 365 * DAY, n_init)
    created[n_init:] = (t0 + join_day[n_init:].astype(np.int64) * DAY
                        + rng.integers(0, DAY - 3_600, n - n_init))

    sizes = rng.uniform(0.6, 1.4, B)
    sizes /= sizes.sum()
    community = rng.choice(B, n, p=sizes).astype(np.int32)

    # Taste groups: 2-3 preferred topics each, covering the topics evenly.
    n_pref = rng.choice([2, 3], T).astype(np.int64)
    pref = np.full((T, 3), -1, dtype=np.int64)
    seq = np.concatenate([rng.permutation(K) for _ in range(3 * T // K + 3)])
    pos = 0
    for g in range(T):
        chosen: list[int] = []
        while len(chosen) < n_pref[g]:
            t = int(seq[pos])
            pos += 1
            if t not in chosen:
                chosen.append(t)
        pref[g, : len(chosen)] = chosen
    pref_mask = np.zeros((T, K), dtype=bool)
    for g in range(T):
        pref_mask[g, pref[g, : n_pref[g]]] = True

    home_taste = rng.permutation(np.arange(B) % T)
    taste = np.where(rng.random(n) < 0.4, home_taste[community], rng.integers(0, T, n))
    taste = taste.astype(np.int32)
    fav_slot = np.minimum((rng.random(n) * n_pref[taste]).astype(np.int64), n_pref[taste] - 1)
    main_topic = np.where(rng.random(n) < 0.8, pref[taste, fav_slot], rng.integers(0, K, n))
    language = rng.choice(3, n, p=[0.5, 0.3, 0.2]).astype(np.int8)

    kol_ids = np.sort(rng.choice(n_init, profile.n_kols, replace=False))
    is_kol = np.zeros(n, dtype=bool)
    is_kol[kol_ids] = True
    kol_rank = np.full(n, -1, dtype=np.int64)
    kol_rank[kol_ids] = np.arange(len(kol_ids))
    is_creator = (rng.random(n) < 0.4) | is_kol
    has_category = is_creator & (rng.random(n) < 0.3)

    attract = _lognormal_unit_mean(rng, 1.0, n) * np.where(is_creator, 1.0, 0.35)
    kol_raw = _lognormal_unit_mean(rng, 0.6, n)
    nonkol_sum = attract[:n_init][~is_kol[:n_init]].sum()
    s = profile.kol_follow_share
    kol_attract_scale = s / (1 - s) * nonkol_sum / max(kol_raw[kol_ids].sum(), 1e-12)
    attract = np.where(is_kol, kol_raw * kol_attract_scale, attract)
    s2 = profile.kol_cross_share
    kol_cross_boost = s2 / (1 - s2) * nonkol_sum / max(attract[kol_ids].sum(), 1e-12)
    cross_attract = attract * np.where(is_kol, kol_cross_boost, 1.0)

    # Heavy-tailed out-degrees, scaled so the expected edge total meets the target.
    raw_deg = _lognormal_unit_mean(rng, 0.9, n)
    n_new_default = n_new * (DEFAULT_DAYS - 1)
    sample_new = raw_deg[n_init: n_init + n_new_default] if n_new_default else raw_deg[:0]
    if len(sample_new) < n_new_default:
        sample_new = rng.choice(raw_deg[:n_init], n_new_default)

    def expected(scale: float) -> float:
        d0 = raw_deg[:n_init] * scale
        first = np.maximum(MIN_OUT_DEGREE, FIRST_DAY_FOLLOW_FRACTION * d0).sum()
        later = LATER_DAY_FOLLOW_FRACTION * (DEFAULT_DAYS - 1) * d0.sum()
        dn = sample_new * scale
        return float(first + later + np.maximum(MIN_OUT_DEGREE,
                                                FIRST_DAY_FOLLOW_FRACTION * dn).sum())

    lo_s, hi_s = 1e-3, 1e4
    for _ in range(60):
        mid = math.sqrt(lo_s * hi_s)
        lo_s, hi_s = (mid, hi_s) if expected(mid) < profile.follows else (lo_s, mid)
    degree_scale = math.sqrt(lo_s * hi_s)
    out_deg = raw_deg * degree_scale

    activity = _lognormal_unit_mean(rng, 0.8, n)
    creator_w = np.where(is_creator & ~is_kol, _lognormal_unit_mean(rng, 1.0, n), 0.0)
    kol_post_w = np.where(is_kol, _lognormal_unit_mean(rng, 0.4, n), 0.0)
    base_ctr = np.where(is_kol, rng.uniform(*KOL_CTR_RANGE, n), NON_KOL_CTR)
    verified = np.where(is_kol, rng.random(n) < 0.85, rng.random(n) < 0.002)
    user_u = rng.random((n, 10))
    return _World(
        profile=profile, days=days, seed=seed, t0=t0, n_init=n_init, n_users=n,
        join_day=join_day, created=created, community=community, taste=taste,
        pref_topics=pref, n_pref=n_pref, pref_mask=pref_mask, fav_slot=fav_slot,
        main_topic=main_topic,
        language=language, is_kol=is_kol, kol_ids=kol_ids, kol_rank=kol_rank,
        is_creator=is_creator, has_category=has_category, attract=attract,
        cross_attract=cross_attract, out_deg=out_deg, activity=activity, creator_w=creator_w,
        kol_post_w=kol_post_w, base_ctr=base_ctr, verified=verified, user_u=user_u,
        community_sizes=sizes, home_taste=home_taste, kol_attract_scale=kol_attract_scale,
        kol_cross_boost=kol_cross_boost, degree_scale=degree_scale,
    )


# --------------------------------------------------------------------------- campaigns


@dataclass
class _Campaigns:
    kols: list[np.ndarray]  # user indices per campaign
    starts: np.ndarray  # epoch s
    ends: np.ndarray
    emit_day: np.ndarray
    ctr_lift: np.ndarray
    conv_lift: np.ndarray
    brand: list[str]
    name: list[str]
    budget: np.ndarray

    def __len__(self) -> int:
        return len(self.kols)


def _build_campaigns(w: _World) -> _Campaigns:
    rng = _rng(w.seed, 2)
    n_c, days = w.profile.n_campaigns, w.days
    n_k = rng.choice([1, 2, 3], n_c, p=[0.35, 0.4, 0.25])
    if n_c and (n_k < 2).all():
        n_k[0] = 2
    n_k = np.minimum(n_k, max(1, len(w.kol_ids)))
    perm = rng.permutation(w.kol_ids)
    kols, pos = [], 0
    for k in n_k:
        if pos + k > len(perm):  # more seats than KOLs: start over (a KOL may run two)
            perm, pos = rng.permutation(w.kol_ids), 0
        kols.append(np.sort(perm[pos: pos + k]))
        pos += k
    duration = rng.integers(2, 8, n_c)
    # Every campaign runs for at least one whole generated day (enough views to measure).
    last_start = max(days - 2, 0)
    start_day = np.array([rng.integers(max(-(int(dur) - 2), -2), last_start + 1)
                          for dur in duration], dtype=np.int64)
    starts = w.t0 + start_day * DAY + rng.integers(0, 12, n_c) * 3_600
    ends = starts + duration * DAY
    ctr_lift = np.round(rng.uniform(*CTR_LIFT_RANGE, n_c), 2)
    conv_lift = np.round(rng.uniform(*CONVERSION_LIFT_RANGE, n_c), 2)
    themes = rng.integers(0, len(CAMPAIGN_THEMES), n_c)
    brand = [brand_for(i) for i in range(n_c)]
    name = [f"{brand[i]} {CAMPAIGN_THEMES[themes[i]]}" for i in range(n_c)]
    budget = np.round(rng.lognormal(math.log(20_000), 0.8, n_c), -2)
    return _Campaigns(kols=kols, starts=starts, ends=ends, emit_day=np.maximum(start_day, 0),
                      ctr_lift=ctr_lift, conv_lift=conv_lift, brand=brand, name=name,
                      budget=budget)


# --------------------------------------------------------------------------- follows


@dataclass
class _FollowDay:
    src: np.ndarray
    dst: np.ndarray
    at: np.ndarray  # epoch s
    n_new_edges: int


def _follows_day(w: _World, d: int, edge_keys: np.ndarray) -> tuple[_FollowDay, np.ndarray]:
    """New follow edges of day ``d``; returns them and the updated sorted unique key set."""
    rng = _rng(w.seed, 3, d)
    n = w.n_users
    exists = w.join_day <= d
    joins_today = w.join_day == d
    k = np.zeros(n, dtype=np.int64)
    jt = np.flatnonzero(joins_today)
    k[jt] = np.maximum(MIN_OUT_DEGREE,
                       rng.poisson(FIRST_DAY_FOLLOW_FRACTION * w.out_deg[jt]))
    old = np.flatnonzero(w.join_day < d)
    k[old] = rng.poisson(LATER_DAY_FOLLOW_FRACTION * w.out_deg[old])
    pending = np.repeat(np.arange(n, dtype=np.int64), k)
    B = w.profile.n_communities
    s_in = _GroupSampler(w.community, w.attract * exists, B)
    s_x = _GroupSampler(w.community, w.cross_attract * exists, B)
    found: list[np.ndarray] = []
    # A user follows k *distinct* accounts: draws that hit an existing edge, repeat one of
    # today's, or land on the user are drawn again (a few rounds).
    for _ in range(6):
        if not len(pending):
            break
        own = w.community[pending]
        inside = rng.random(len(pending)) < w.profile.p_in
        shift = (rng.random(len(pending)) * (B - 1)).astype(np.int64) % max(B - 1, 1)
        block = np.where(inside | (B == 1), own, (own + 1 + shift) % B)
        u = rng.random(len(pending))
        ok = np.where(inside, s_in.total[block], s_x.total[block]) > 0
        dst = np.where(inside, s_in.sample(block, u), s_x.sample(block, u))
        valid = np.flatnonzero(ok & (dst != pending))
        cand = pending[valid] * n + dst[valid]
        uniq, first = _unique(cand, return_index=True)
        fresh = np.ones(len(uniq), dtype=bool)
        for known in (edge_keys, *found):
            if len(known):
                pos = np.minimum(np.searchsorted(known, uniq), len(known) - 1)
                fresh &= known[pos] != uniq
        found.append(uniq[fresh])
        accepted = np.zeros(len(pending), dtype=bool)
        accepted[valid[first[fresh]]] = True
        pending = pending[~accepted]
    keys = np.sort(np.concatenate(found)) if found else np.zeros(0, np.int64)
    new_src, new_dst = keys // n, keys % n
    # Planted noise: re-emitted edges and self-follows, which staging must drop.
    all_keys = np.sort(np.concatenate([edge_keys, keys]))  # disjoint sets
    n_dup = int(round(DUPLICATE_FOLLOW_RATE * len(keys)))
    dup = all_keys[rng.integers(0, len(all_keys), n_dup)] if n_dup and len(all_keys) else \
        np.zeros(0, np.int64)
    n_self = int(round(SELF_FOLLOW_RATE * len(keys)))
    selfs = rng.choice(np.flatnonzero(exists), n_self) if n_self else np.zeros(0, np.int64)
    src_all = np.concatenate([new_src, dup // n, selfs])
    dst_all = np.concatenate([new_dst, dup % n, selfs])
    day0 = w.t0 + d * DAY
    lo = np.maximum(np.maximum(w.created[src_all], w.created[dst_all]) + 1, day0)
    at = lo + (rng.random(len(src_all)) * (day0 + DAY - lo)).astype(np.int64)
    order = np.lexsort((dst_all, src_all, at))
    fd = _FollowDay(src_all[order], dst_all[order], at[order], len(keys))
    return fd, all_keys


# --------------------------------------------------------------------------- posts


@dataclass
class _Posts:
    author: np.ndarray
    day: np.ndarray
    created: np.ndarray
    topic: np.ndarray
    media: np.ndarray
    duration: np.ndarray  # nan when none
    campaign: np.ndarray  # -1 when none
    language: np.ndarray
    quality: np.ndarray

    def __len__(self) -> int:
        return len(self.author)

    @staticmethod
    def empty() -> _Posts:
        z = np.zeros(0)
        return _Posts(z.astype(np.int64), z.astype(np.int16), z.astype(np.int64),
                      z.astype(np.int64), z.astype(np.int8), z, z.astype(np.int64),
                      z.astype(np.int8), z)

    def extend(self, other: _Posts) -> _Posts:
        return _Posts(*(np.concatenate([getattr(self, f), getattr(other, f)])
                        for f in self.__dataclass_fields__))

    def take(self, idx: np.ndarray) -> _Posts:
        return _Posts(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))


def _posts_day(w: _World, camps: _Campaigns, d: int) -> _Posts:
    rng = _rng(w.seed, 4, d)
    day0 = w.t0 + d * DAY
    day1 = day0 + DAY - POST_END_MARGIN
    per_day = w.profile.posts / DEFAULT_DAYS
    authors, camp, lo_t, hi_t = [], [], [], []
    n_k = max(len(w.kol_ids), 1)
    kol_regular = max(w.profile.kol_post_share * per_day, n_k) / n_k
    for c in range(len(camps)):
        lo = max(day0, int(camps.starts[c]))
        hi = min(day1, int(camps.ends[c]))
        if hi - lo < 3_600:
            continue
        for kol in camps.kols[c]:
            m = 1 + rng.poisson(CAMPAIGN_POST_RATIO * kol_regular)
            authors.append(np.full(m, kol))
            camp.append(np.full(m, c))
            lo_t.append(np.full(m, lo))
            hi_t.append(np.full(m, hi))
    n_camp = int(sum(len(a) for a in authors))
    n_regular = max(0, int(rng.poisson(per_day)) - n_camp)
    kw = w.kol_post_w * (w.join_day <= d)
    active = np.flatnonzero(kw > 0)
    # Every KOL posts regular (non-campaign) posts every day, a baseline for the lift: up to
    # KOL_MIN_DAILY_POSTS each, the rest of the KOL share by posting propensity.
    per_kol = max(1, min(KOL_MIN_DAILY_POSTS,
                         int(w.profile.kol_post_share * n_regular) // max(len(active), 1)))
    n_kol = max(int(round(w.profile.kol_post_share * n_regular)), per_kol * len(active))
    if len(active):
        authors.append(np.concatenate([
            np.repeat(active, per_kol),
            rng.choice(w.n_users, n_kol - per_kol * len(active), p=kw / kw.sum())]))
        camp.append(np.full(n_kol, -1))
    else:
        n_kol = 0
    cw = w.creator_w * (w.join_day <= d)
    n_reg = n_regular - n_kol
    if cw.sum() > 0 and n_reg > 0:
        authors.append(rng.choice(w.n_users, n_reg, p=cw / cw.sum()))
        camp.append(np.full(n_reg, -1))
    author = np.concatenate(authors).astype(np.int64) if authors else np.zeros(0, np.int64)
    campaign = np.concatenate(camp).astype(np.int64) if camp else np.zeros(0, np.int64)
    n = len(author)
    lo_all = np.full(n, day0, dtype=np.int64)
    hi_all = np.full(n, day1, dtype=np.int64)
    if n_camp:
        lo_all[:n_camp] = np.concatenate(lo_t)
        hi_all[:n_camp] = np.concatenate(hi_t)
    lo_all = np.maximum(lo_all, w.created[author] + 60)
    created = lo_all + (rng.random(n) * np.maximum(hi_all - lo_all, 1)).astype(np.int64)

    tg = w.taste[author]
    slot = np.minimum((rng.random(n) * w.n_pref[tg]).astype(np.int64), w.n_pref[tg] - 1)
    r = rng.random(n)
    topic = np.where(r < 0.75, w.main_topic[author],
                     np.where(r < 0.9, w.pref_topics[tg, slot],
                              rng.integers(0, w.profile.n_topics, n)))
    topic = np.where(campaign >= 0, w.main_topic[author], topic)
    kol = w.is_kol[author]
    media = np.where(kol, rng.choice(4, n, p=[0.6, 0.3, 0.05, 0.05]),
                     rng.choice(4, n, p=[0.45, 0.35, 0.15, 0.05])).astype(np.int8)
    duration = np.full(n, np.nan)
    vid = media == 0
    duration[vid] = np.round(np.clip(rng.lognormal(math.log(30), 0.8, vid.sum()), 5, 600), 1)
    aud = media == 3
    duration[aud] = np.round(rng.uniform(60, 400, aud.sum()), 1)
    language = np.where(rng.random(n) < 0.9, w.language[author],
                        rng.integers(0, 3, n)).astype(np.int8)
    quality = (_lognormal_unit_mean(rng, QUALITY_SIGMA, n) * np.where(kol, 3.0, 1.0)
               * np.where(campaign >= 0, CAMPAIGN_REACH_BOOST, 1.0))
    p = _Posts(author, np.full(n, d, dtype=np.int16), created, topic.astype(np.int64), media,
               duration, campaign, language, quality)
    return p.take(np.lexsort((author, created)))


# --------------------------------------------------------------------------- interactions


@dataclass
class _Events:
    user: np.ndarray
    post: np.ndarray
    etype: np.ndarray
    at: np.ndarray
    watch: np.ndarray  # nan when none
    value: np.ndarray  # nan when none


class _Counters:
    """Running tallies of the planted campaign effect (for the truth file)."""

    def __init__(self, n_kols: int, n_campaigns: int) -> None:
        self.n_streams = n_kols * (n_campaigns + 1)
        self.views = np.zeros(self.n_streams, dtype=np.int64)
        self.clicks = np.zeros(self.n_streams, dtype=np.int64)
        self.camp_clicks = np.zeros(n_campaigns, dtype=np.int64)
        self.camp_conv = np.zeros(n_campaigns, dtype=np.int64)


def _interactions_day(w: _World, camps: _Campaigns, posts: _Posts, d: int,
                      edge_keys: np.ndarray, click_state: np.ndarray,
                      conv_state: np.ndarray, counters: _Counters) -> _Events:
    rng = _rng(w.seed, 5, d)
    prof = w.profile
    n = w.n_users
    day0 = w.t0 + d * DAY
    # Candidate posts and their exposure weight today.
    age = d - posts.day.astype(np.int64)
    live = np.flatnonzero((age >= 0) & (age < POST_LIFETIME_DAYS))
    rec = np.where(age[live] == 0,
                   (day0 + DAY - posts.created[live]) / DAY,
                   RECENCY_DECAY ** np.maximum(age[live], 0))
    wpost = np.zeros(len(posts))
    wpost[live] = posts.quality[live] * rec
    s_topic = _GroupSampler(posts.topic, wpost, prof.n_topics)
    s_author = _GroupSampler(posts.author, wpost, n)
    s_all = _GroupSampler(np.zeros(len(posts), dtype=np.int64), wpost, 1)

    n_views = int(rng.poisson(prof.interactions / DEFAULT_DAYS / EVENTS_PER_VIEW))
    act = w.activity * (w.join_day <= d)
    viewer = np.searchsorted(np.cumsum(act), rng.random(n_views) * act.sum(), "right")
    viewer = np.minimum(viewer, n - 1)
    ch = rng.random(n_views)
    post = np.full(n_views, -1, dtype=np.int64)

    taste = ch < prof.p_taste
    tg = w.taste[viewer[taste]]
    slot = np.minimum((rng.random(taste.sum()) * w.n_pref[tg]).astype(np.int64),
                      w.n_pref[tg] - 1)
    # Half of the taste-driven views go to the viewer's favourite of the group's topics.
    slot = np.where(rng.random(len(slot)) < FAVOURITE_TOPIC_SHARE,
                    w.fav_slot[viewer[taste]], slot)
    topic = w.pref_topics[tg, slot]
    has = s_topic.total[topic] > 0
    picked = s_topic.sample(topic, rng.random(len(topic)))
    post[np.flatnonzero(taste)[has]] = picked[has]

    follow_idx = np.flatnonzero((ch >= prof.p_taste) & (ch < prof.p_taste + prof.p_follow))
    if len(edge_keys) and len(follow_idx):
        following = np.bincount(edge_keys // n, minlength=n)
        indptr = np.concatenate([[0], np.cumsum(following)])
        followee = edge_keys % n
        todo = follow_idx
        for _ in range(3):
            v = viewer[todo]
            deg = following[v]
            ok = deg > 0
            j = indptr[v] + np.minimum((rng.random(len(todo)) * deg).astype(np.int64),
                                       np.maximum(deg - 1, 0))
            author = np.where(ok, followee[np.minimum(j, len(followee) - 1)], 0)
            ok &= s_author.total[author] > 0
            chosen = s_author.sample(author, rng.random(len(todo)))
            post[todo[ok]] = chosen[ok]
            todo = todo[~ok]
            if not len(todo):
                break
    rest = np.flatnonzero(post < 0)
    if s_all.total[0] > 0:
        post[rest] = s_all.sample(np.zeros(len(rest), dtype=np.int64), rng.random(len(rest)))
    keep = (post >= 0)
    keep[keep] &= posts.author[post[keep]] != viewer[keep]
    viewer, post = viewer[keep], post[keep]
    m = len(viewer)

    # View times: after the post and the account exist, early enough for the funnel.
    lo = np.maximum(np.maximum(posts.created[post], w.created[viewer]) + 1, day0)
    hi = day0 + DAY - VIEW_END_MARGIN
    t_view = lo + (rng.random(m) * (hi - lo)).astype(np.int64)

    author = posts.author[post]
    pref = w.pref_mask[w.taste[viewer], posts.topic[post]]
    kol = w.is_kol[author]
    factor = np.where(pref, PREF_FACTOR, NONPREF_FACTOR) * np.where(kol, KOL_FACTOR, 1.0)
    dur = posts.duration[post]
    frac = np.where(pref, rng.beta(2.0, 2.0, m), rng.beta(1.2, 3.0, m))
    watch = np.minimum(np.round(dur * frac, 1), dur)  # nan for image/text

    outs: list[tuple[np.ndarray, int]] = []
    for name, p in (("like", P_LIKE), ("comment", P_COMMENT), ("share", P_SHARE),
                    ("save", P_SAVE)):
        outs.append((np.flatnonzero(rng.random(m) < np.minimum(p * factor, 0.95)),
                     EVENT_CODE[name]))
    camp = posts.campaign[post]
    click = rng.random(m) < NON_KOL_CTR
    kv = np.flatnonzero(kol)
    if len(kv):
        stream = w.kol_rank[author[kv]] * (len(camps) + 1) + (camp[kv] + 1)
        lift = np.where(camp[kv] >= 0, camps.ctr_lift[np.maximum(camp[kv], 0)], 1.0)
        p_click = w.base_ctr[author[kv]] * lift
        click[kv] = _systematic(p_click, stream, click_state)
        counters.views += np.bincount(stream, minlength=counters.n_streams)
        counters.clicks += np.bincount(stream[click[kv]], minlength=counters.n_streams)
    click_idx = np.flatnonzero(click)
    outs.append((click_idx, EVENT_CODE["click"]))
    cc = click_idx[camp[click_idx] >= 0]
    cc_camp = camp[cc]
    conv = _systematic(BASE_CONVERSION_RATE * camps.conv_lift[cc_camp], cc_camp, conv_state) \
        if len(cc) else np.zeros(0, dtype=bool)
    if len(camps):
        counters.camp_clicks += np.bincount(cc_camp, minlength=len(camps))
        counters.camp_conv += np.bincount(cc_camp[conv], minlength=len(camps))

    # Assemble: a view, then its follow-up events within three minutes.
    vi = [np.arange(m)]
    code = [np.full(m, EVENT_CODE["view"], dtype=np.int8)]
    at = [t_view]
    for idx, c in outs:
        vi.append(idx)
        code.append(np.full(len(idx), c, dtype=np.int8))
        at.append(t_view[idx] + 1 + (rng.random(len(idx)) * 180).astype(np.int64))
    conv_views = cc[conv]
    if len(conv_views):
        click_time = at[-1][np.searchsorted(click_idx, conv_views)]
        vi.append(conv_views)
        code.append(np.full(len(conv_views), EVENT_CODE["conversion"], dtype=np.int8))
        at.append(click_time + 1 + (rng.random(len(conv_views)) * 600).astype(np.int64))
    vi_all = np.concatenate(vi)
    code_all = np.concatenate(code)
    at_all = np.concatenate(at)
    watch_all = np.full(len(vi_all), np.nan)
    watch_all[:m] = watch
    value_all = np.full(len(vi_all), np.nan)
    if len(conv_views):
        value_all[-len(conv_views):] = np.round(rng.lognormal(math.log(35), 0.6,
                                                              len(conv_views)), 2)
    order = np.lexsort((code_all, vi_all, at_all))
    return _Events(viewer[vi_all][order], post[vi_all][order], code_all[order],
                   at_all[order], watch_all[order], value_all[order])


# --------------------------------------------------------------------------- output


class _Output:
    """Writes the landing files of one ``ds``."""

    def __init__(self, landing: Path, ds: str, fmt: str) -> None:
        self.dir = landing / ds
        self.dir.mkdir(parents=True, exist_ok=True)
        for f in self.dir.iterdir():  # replace a previous run's exports of this ds
            if f.is_file() and entity_for_file(f.name):
                f.unlink()
        self.fmt = fmt
        self.writers: dict[str, EntityWriter] = {}

    def writer(self, entity: str) -> EntityWriter:
        if entity not in self.writers:
            f = format_for(entity, self.fmt)
            self.writers[entity] = EntityWriter(self.dir / f"{entity}{EXTENSIONS[f]}",
                                                entity, f)
        return self.writers[entity]

    def close(self) -> tuple[dict[str, int], dict[str, Path]]:
        counts, paths = {}, {}
        for e in ENTITIES:
            wr = self.writer(e)
            counts[e] = wr.rows
            paths[e] = wr.close()
        return counts, paths


def _chunks(n: int, size: int):
    for a in range(0, n, size):
        yield a, min(n, a + size)


def _null_float(x: np.ndarray) -> pa.Array:
    return pa.array(x, pa.float64(), from_pandas=True)  # NaN -> null


def _write_users(out: _Output, w: _World, idx: np.ndarray, followers: np.ndarray,
                 following: np.ndarray, widths: dict[str, int], chunk: int) -> None:
    wr = out.writer("users")
    for a, b in _chunks(len(idx), chunk):
        ix = idx[a:b]
        cols = user_columns(ix, w.language[ix], w.main_topic[ix], w.is_kol[ix],
                            w.has_category[ix], w.user_u[ix])
        wr.write(pa.table({
            "user_id": _ids("u", ix, widths["user"]),
            "handle": cols["handle"],
            "display_name": cols["display_name"],
            "bio": cols["bio"],
            "followers_count": pa.array(followers[ix], pa.int64()),
            "following_count": pa.array(following[ix], pa.int64()),
            "verified": pa.array(w.verified[ix]),
            "created_at": _ts(w.created[ix]),
            "country": cols["country"],
            "category": cols["category"],
            "platform": pa.array(np.full(len(ix), "synthetic", dtype=object), pa.string()),
        }))
    if not len(idx):
        wr.write(pa.table({c: pa.array([], wr.schema.field(c).type) for c in wr.schema.names}))


def _write_posts(out: _Output, w: _World, camps: _Campaigns, p: _Posts, first_id: int,
                 widths: dict[str, int], seed: int, d: int, chunk: int) -> None:
    wr = out.writer("posts")
    rng = _rng(seed, 6, d)
    u = rng.random((len(p), N_TEXT_UNIFORMS))
    for a, b in _chunks(len(p), chunk):
        sl = slice(a, b)
        brands = [camps.brand[c] if c >= 0 else None for c in p.campaign[sl]]
        texts, tags = post_texts(p.topic[sl], p.language[sl], brands, u[sl],
                                 w.profile.n_topics)
        camp_ids = _ids("c", np.maximum(p.campaign[sl], 0), widths["campaign"])
        camp_ids = pc.if_else(pa.array(p.campaign[sl] >= 0), camp_ids,
                              pa.scalar(None, pa.string()))
        wr.write(pa.table({
            "post_id": _ids("p", np.arange(first_id + a, first_id + b), widths["post"]),
            "author_id": _ids("u", p.author[sl], widths["user"]),
            "created_at": _ts(p.created[sl]),
            "text": pa.array(texts, pa.string()),
            "media_type": pa.array(np.asarray(MEDIA_TYPES, dtype=object)[p.media[sl]],
                                   pa.string()),
            "duration_s": _null_float(p.duration[sl]),
            "hashtags": pa.array(tags, pa.string()),
            "campaign_id": camp_ids,
        }))


def _write_events(out: _Output, ev: _Events, first_id: int, widths: dict[str, int],
                  chunk: int, bad_rows: int = 0) -> None:
    wr = out.writer("interactions")
    types = pa.array(list(EVENT_TYPES), pa.string())
    for a, b in _chunks(len(ev.user), chunk):
        sl = slice(a, b)
        wr.write(pa.table({
            "event_id": _ids("e", np.arange(first_id + a, first_id + b), widths["event"]),
            "user_id": _ids("u", ev.user[sl], widths["user"]),
            "post_id": _ids("p", ev.post[sl], widths["post"]),
            "event_type": types.take(pa.array(ev.etype[sl])),
            "occurred_at": _ts(ev.at[sl]),
            "watch_time_s": _null_float(ev.watch[sl]),
            "value": _null_float(ev.value[sl]),
        }))
    if bad_rows:
        wr.write(_bad_events(out.dir.name, bad_rows, widths))


#: ``occurred_at`` values the ingest quarantines (unparseable timestamps), cycled.
BAD_TIMESTAMPS = ("not-a-time", "2026-13-45T99:00:00Z", "yesterday")


def _bad_events(ds: str, n: int, widths: dict[str, int]) -> pa.Table:
    """``n`` interaction rows with unparseable ``occurred_at`` (quarantined by the ingest).

    Ids ``q<ds>-<i>`` never collide with generated event ids; users and posts are the first
    ones, which exist on every day.
    """
    return pa.table({
        "event_id": pa.array([f"q{ds.replace('-', '')}-{i}" for i in range(n)], pa.string()),
        "user_id": _ids("u", np.zeros(n, dtype=np.int64), widths["user"]),
        "post_id": _ids("p", np.zeros(n, dtype=np.int64), widths["post"]),
        "event_type": pa.array(["view"] * n, pa.string()),
        "occurred_at": pa.array([BAD_TIMESTAMPS[i % len(BAD_TIMESTAMPS)] for i in range(n)],
                                pa.string()),
        "watch_time_s": pa.nulls(n, pa.float64()),
        "value": pa.nulls(n, pa.float64()),
    })


def _write_follows(out: _Output, fd: _FollowDay, widths: dict[str, int], chunk: int) -> None:
    wr = out.writer("follows")
    for a, b in _chunks(len(fd.src), chunk):
        wr.write(pa.table({
            "follower_id": _ids("u", fd.src[a:b], widths["user"]),
            "followee_id": _ids("u", fd.dst[a:b], widths["user"]),
            "followed_at": _ts(fd.at[a:b]),
        }))


def _write_campaigns(out: _Output, camps: _Campaigns, d: int, widths: dict[str, int]) -> None:
    idx = np.flatnonzero(camps.emit_day == d)
    out.writer("campaigns").write(pa.table({
        "campaign_id": _ids("c", idx, widths["campaign"]),
        "brand": pa.array([camps.brand[i] for i in idx], pa.string()),
        "name": pa.array([camps.name[i] for i in idx], pa.string()),
        "starts_at": _ts(camps.starts[idx]),
        "ends_at": _ts(camps.ends[idx]),
        "budget": pa.array(camps.budget[idx], pa.float64()),
    }))


# --------------------------------------------------------------------------- truth


def _write_truth(truth: Path, w: _World, camps: _Campaigns, posts: _Posts,
                 counters: _Counters, widths: dict[str, int], meta: dict) -> None:
    truth.mkdir(parents=True, exist_ok=True)
    prof = w.profile
    topic_names = [t.name for t in TOPICS[: prof.n_topics]]
    user_ids = _ids("u", np.arange(w.n_users), widths["user"])
    kol_user_ids = _ids("u", w.kol_ids, widths["user"]).to_pylist()
    pq.write_table(pa.table({
        "user_id": user_ids,
        "community": pa.array(w.community, pa.int32()),
        "taste_group": pa.array(w.taste, pa.int32()),
        "is_kol": pa.array(w.is_kol),
        "main_topic": pa.array(topic_names, pa.string()).take(pa.array(w.main_topic)),
        "language": pa.array(list(LANGUAGES), pa.string()).take(pa.array(w.language)),
        "is_creator": pa.array(w.is_creator),
        "join_date": pa.array([meta["dates"][j] for j in range(w.days)],
                              pa.string()).take(pa.array(w.join_day.astype(np.int64))),
        "base_ctr": pa.array(w.base_ctr, pa.float64()),
        "attractiveness": pa.array(w.attract, pa.float64()),
        "activity": pa.array(w.activity, pa.float64()),
    }), truth / "users.parquet")
    pq.write_table(pa.table({
        "post_id": _ids("p", np.arange(len(posts)), widths["post"]),
        "author_id": _ids("u", posts.author, widths["user"]),
        "topic": pa.array(topic_names, pa.string()).take(pa.array(posts.topic)),
        "is_campaign": pa.array(posts.campaign >= 0),
        "campaign_id": pc.if_else(pa.array(posts.campaign >= 0),
                                  _ids("c", np.maximum(posts.campaign, 0), widths["campaign"]),
                                  pa.scalar(None, pa.string())),
        "language": pa.array(list(LANGUAGES), pa.string()).take(pa.array(posts.language)),
        "quality": pa.array(posts.quality, pa.float64()),
        "ds": pa.array(meta["dates"], pa.string()).take(pa.array(posts.day.astype(np.int64))),
    }), truth / "posts.parquet")

    n_c1 = len(camps) + 1
    rows = []
    for c in range(len(camps)):
        kols = camps.kols[c]
        ranks = w.kol_rank[kols]
        v_c = counters.views[ranks * n_c1 + c + 1]
        k_c = counters.clicks[ranks * n_c1 + c + 1]
        v_b = counters.views[ranks * n_c1]
        k_b = counters.clicks[ranks * n_c1]
        base = np.divide(k_b, v_b, out=np.zeros(len(kols)), where=v_b > 0)
        expected = float((v_c * base).sum())
        pooled_base = k_b.sum() / v_b.sum() if v_b.sum() else float("nan")
        pooled_c = k_c.sum() / v_c.sum() if v_c.sum() else float("nan")
        clicks_c = int(counters.camp_clicks[c])
        rows.append({
            "campaign_id": _ids("c", np.array([c]), widths["campaign"])[0].as_py(),
            "brand": camps.brand[c],
            "name": camps.name[c],
            "kol_ids": _ids("u", kols, widths["user"]).to_pylist(),
            "n_kols": len(kols),
            "starts_at": _ts(camps.starts[c: c + 1])[0].as_py(),
            "ends_at": _ts(camps.ends[c: c + 1])[0].as_py(),
            "planted_ctr_lift": float(camps.ctr_lift[c]),
            "planted_conversion_lift": float(camps.conv_lift[c]),
            "base_conversion_rate": BASE_CONVERSION_RATE,
            "kol_base_ctr": [float(x) for x in w.base_ctr[kols]],
            "campaign_views": int(v_c.sum()),
            "campaign_clicks": int(k_c.sum()),
            "baseline_views": int(v_b.sum()),
            "baseline_clicks": int(k_b.sum()),
            "realised_ctr_lift": (float(k_c.sum()) / expected) if expected > 0 else None,
            "realised_pooled_ctr_lift": (float(pooled_c / pooled_base)
                                         if v_c.sum() and k_b.sum() else None),
            "conversions": int(counters.camp_conv[c]),
            "realised_conversion_rate": (counters.camp_conv[c] / clicks_c
                                         if clicks_c else None),
        })
    ctab = pa.Table.from_pylist(rows, schema=pa.schema([
        ("campaign_id", pa.string()), ("brand", pa.string()), ("name", pa.string()),
        ("kol_ids", pa.list_(pa.string())), ("n_kols", pa.int64()),
        ("starts_at", pa.string()), ("ends_at", pa.string()),
        ("planted_ctr_lift", pa.float64()), ("planted_conversion_lift", pa.float64()),
        ("base_conversion_rate", pa.float64()), ("kol_base_ctr", pa.list_(pa.float64())),
        ("campaign_views", pa.int64()), ("campaign_clicks", pa.int64()),
        ("baseline_views", pa.int64()), ("baseline_clicks", pa.int64()),
        ("realised_ctr_lift", pa.float64()), ("realised_pooled_ctr_lift", pa.float64()),
        ("conversions", pa.int64()), ("realised_conversion_rate", pa.float64()),
    ]))
    pq.write_table(ctab, truth / "campaigns.parquet")

    doc = {
        "generator_version": GENERATOR_VERSION,
        **meta,
        "parameters": {
            **prof.to_dict(),
            "post_lifetime_days": POST_LIFETIME_DAYS,
            "recency_decay": RECENCY_DECAY,
            "funnel": {"like": P_LIKE, "comment": P_COMMENT, "share": P_SHARE,
                       "save": P_SAVE, "preferred_topic_factor": PREF_FACTOR,
                       "other_topic_factor": NONPREF_FACTOR, "kol_factor": KOL_FACTOR,
                       "non_kol_ctr": NON_KOL_CTR, "kol_ctr_range": list(KOL_CTR_RANGE),
                       "base_conversion_rate": BASE_CONVERSION_RATE},
            "duplicate_follow_rate": DUPLICATE_FOLLOW_RATE,
            "self_follow_rate": SELF_FOLLOW_RATE,
        },
        "topics": topic_names,
        "kol_user_ids": kol_user_ids,
        "taste_groups": {str(g): [topic_names[t] for t in w.pref_topics[g, : w.n_pref[g]]]
                         for g in range(prof.n_taste_groups)},
        "sbm": {
            "n_blocks": prof.n_communities,
            "block_share": [round(float(x), 6) for x in w.community_sizes],
            "block_sizes": np.bincount(w.community, minlength=prof.n_communities).tolist(),
            "p_in": prof.p_in,
            "out_degree": {"distribution": "lognormal(sigma=0.9), unit mean, scaled",
                           "scale": w.degree_scale, "min_first_day": MIN_OUT_DEGREE,
                           "first_day_fraction": FIRST_DAY_FOLLOW_FRACTION,
                           "later_day_fraction": LATER_DAY_FOLLOW_FRACTION},
            "target_choice": "proportional to attractiveness (lognormal(sigma=1); x0.35 for "
                             "non-creators); KOLs scaled to kol_follow_share of within-block "
                             "attention and kol_cross_share of cross-block attention",
            "kol_follow_share": prof.kol_follow_share,
            "kol_cross_share": prof.kol_cross_share,
            "kol_attractiveness_scale": w.kol_attract_scale,
            "kol_cross_boost": w.kol_cross_boost,
            "community_home_taste_group": [int(x) for x in w.home_taste],
            "p_home_taste_group": 0.4,
        },
        "engagement": {
            "channels": {"taste": prof.p_taste, "follow": prof.p_follow,
                         "popular": prof.p_popular},
            "description": "each view picks its post by channel: a post of one of the "
                           "viewer's preferred topics (weight quality x recency), a post of "
                           "a followed account, or any live post by quality x recency",
        },
        "campaigns": rows,
        "lift_definition": {"ctr": CTR_LIFT_DEFINITION, "conversion": CONVERSION_LIFT_DEFINITION,
                            "click_sampling": "systematic per (KOL, campaign-or-none) stream"},
    }
    (truth / "truth.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")


# --------------------------------------------------------------------------- API


def generate(
    profile: str | Profile = "small",
    days: int = DEFAULT_DAYS,
    seed: int = 42,
    out: Path | str = Path("data"),
    start_date: str | date = "2026-01-01",
    fmt: str = "csv",
    *,
    chunk_rows: int = 500_000,
    quarantine_day: int | None = None,
    quarantine_rows: int = 3,
) -> GenerateResult:
    """Generate ``days`` daily exports with planted ground truth.

    Parameters
    ----------
    profile : str or Profile
        A key of :data:`PROFILES` (``small``, ``medium``, ``large``) or a custom profile.
    days : int
        Number of daily partitions, starting at ``start_date``.
    seed : int
        Random seed; the same seed and arguments give byte-identical files.
    out : pathlib.Path or str
        Output root: writes ``out/landing/<ds>/<entity>.<ext>`` and ``out/truth/``.
        Existing entity files of the generated dates are replaced.
    start_date : str or datetime.date
        First ``ds``, ``YYYY-MM-DD``.
    fmt : str
        ``csv``, ``csv.gz``, ``jsonl``, ``jsonl.gz``, ``parquet`` or ``mixed`` (users csv,
        posts jsonl, interactions csv.gz, follows parquet, campaigns jsonl).
    chunk_rows : int, optional
        Rows per write batch (bounds memory used for string formatting).
    quarantine_day : int, optional
        Index (0-based) of a day whose interactions export gets ``quarantine_rows`` extra
        rows with unparseable timestamps: the ingest quarantines them with a reason, far
        below the gate's reject-rate threshold, so a demo shows the quarantine section.
        Default: none (every row is valid). Row counts include these rows.
    quarantine_rows : int, optional
        How many such rows (default 3).

    Returns
    -------
    GenerateResult
        Paths, dates, row counts per day and entity, and the elapsed time.

    Raises
    ------
    ValueError
        On an unknown profile or format, or ``days < 1``.
    """
    started = time.perf_counter()
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; expected one of {list(PROFILES)}")
        prof = PROFILES[profile]
    else:
        prof = profile
    if days < 1:
        raise ValueError("days must be >= 1")
    if quarantine_day is not None and not 0 <= quarantine_day < days:
        raise ValueError(f"quarantine_day must be in 0..{days - 1}, not {quarantine_day}")
    format_for("users", fmt)  # validates fmt
    d0 = date.fromisoformat(start_date) if isinstance(start_date, str) else start_date
    dates = [(d0 + timedelta(days=i)).isoformat() for i in range(days)]
    t0 = int(datetime(d0.year, d0.month, d0.day, tzinfo=UTC).timestamp())
    out = Path(out)
    landing, truth = out / "landing", out / "truth"

    w = _build_world(prof, days, seed, t0)
    camps = _build_campaigns(w)
    scale = max(days / DEFAULT_DAYS, 1.0)
    widths = {
        "user": _width(w.n_users, 6),
        "post": _width(prof.posts * scale * 1.5, 6),
        "event": _width(prof.interactions * scale * 1.5, 8),
        "campaign": _width(len(camps), 4),
    }
    edge_keys = np.zeros(0, dtype=np.int64)
    followers_prev = np.zeros(w.n_users, dtype=np.int64)
    following_prev = np.zeros(w.n_users, dtype=np.int64)
    posts = _Posts.empty()
    click_state = _rng(seed, 7).random(len(w.kol_ids) * (len(camps) + 1))
    conv_state = _rng(seed, 8).random(max(len(camps), 1))
    counters = _Counters(len(w.kol_ids), len(camps))
    row_counts: dict[str, dict[str, int]] = {}
    files: dict[str, dict[str, Path]] = {}
    n_events = 0
    for d, ds in enumerate(dates):
        output = _Output(landing, ds, fmt)
        fd, edge_keys = _follows_day(w, d, edge_keys)
        followers = np.bincount(edge_keys % w.n_users, minlength=w.n_users)
        following = np.bincount(edge_keys // w.n_users, minlength=w.n_users)
        changed = (w.join_day == d) | (followers != followers_prev) | \
            (following != following_prev)
        _write_users(output, w, np.flatnonzero(changed), followers, following, widths,
                     chunk_rows)
        followers_prev, following_prev = followers, following

        new_posts = _posts_day(w, camps, d)
        first_post = len(posts)
        posts = posts.extend(new_posts)
        _write_posts(output, w, camps, new_posts, first_post, widths, seed, d, chunk_rows)

        ev = _interactions_day(w, camps, posts, d, edge_keys, click_state, conv_state,
                               counters)
        _write_events(output, ev, n_events, widths, chunk_rows,
                      quarantine_rows if d == quarantine_day else 0)
        n_events += len(ev.user)
        del ev
        _write_follows(output, fd, widths, chunk_rows)
        _write_campaigns(output, camps, d, widths)
        row_counts[ds], files[ds] = output.close()

    meta = {"profile": prof.name, "seed": seed, "days": days, "start_date": dates[0],
            "dates": dates, "format": fmt, "row_counts": row_counts,
            "n_users": int(w.n_users), "n_posts": int(len(posts)),
            "n_follow_edges_unique": int(len(edge_keys))}
    _write_truth(truth, w, camps, posts, counters, widths, meta)
    return GenerateResult(landing_dir=landing, truth_dir=truth, dates=dates,
                          row_counts=row_counts, seconds=time.perf_counter() - started,
                          profile=prof.name, seed=seed, fmt=fmt, files=files)
