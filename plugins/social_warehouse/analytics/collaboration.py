"""KOL-to-KOL collaboration recommendations.

For each KOL the top-N partner KOLs are ranked by a weighted sum of pair components,
every one of which is returned with the recommendation as its reason:

=======================  ===================================================================
component (weight key)   value in the output (all float64; null = unknown, scores as 0)
=======================  ===================================================================
``overlap``              audience overlap, ``jaccard`` or ``overlap_coefficient``
                         (``overlap_measure``) of the two follower sets. Negative weight
                         for the ``reach`` goal (overlap is wasted reach), positive for
                         ``depth``.
``complementary_reach``  ``complementary_share = |F_p - F_k| / |F_k u F_p|``: the share of
                         the combined audience that only the partner brings
                         (``complementary_reach`` = ``|F_p - F_k|`` as a count).
``topic_fit``            cosine similarity of the two KOLs' content-topic profiles (sum of
                         ``item_topics`` weights over their posts, each post's weights
                         normalised to 1); without topics 1 for the same ``category``, 0
                         otherwise.
``influence_balance``    ``min(w_k, w_p) / max(w_k, w_p)`` of reach followers (or of the
                         influence score, ``balance_basis``): 1 for partners of equal weight.
``community``            1 when the pair relates as ``community_preference`` asks
                         (``different`` communities to bridge reach, the ``same`` community
                         for depth), else 0; unknown communities score 0.
=======================  ===================================================================

``score = sum_c w_c * component_c``. Goal presets (``goal``):

* ``reach`` (default): overlap -0.30 (Jaccard), complementary_reach 0.30, topic_fit 0.20,
  influence_balance 0.10, community 0.10 (``different``).
* ``depth``: overlap +0.30 (overlap coefficient), complementary_reach 0.0, topic_fit 0.35,
  influence_balance 0.20, community 0.15 (``same``).

Explicit ``weights``/``overlap_measure``/``community_preference`` override the preset.

Bounded candidates (``candidates="bounded"``, default)
    No all-pairs overlap pass: each KOL's candidate partners are the union of

    * its top ``cofollow_neighbours`` co-follow neighbours, ranked by how many of a
      bottom-k sample of its followers (``cofollow_sample`` per KOL) follow them
      (:func:`~social_warehouse.analytics.sketches.cofollow_candidates`): the partners
      with the largest audience intersections, which the ``depth`` goal rewards;
    * its top ``candidate_pool`` partners by the *overlap-free* score ``s0``: the score
      with the intersection set to 0, computed from per-KOL attributes only (audience
      sizes, topic profiles, communities) in blocks of rows, never from audiences.

    Audience overlaps are then computed for the candidate pairs only. When the score
    cannot grow with overlap (weight of ``overlap`` <= 0 and of ``complementary_reach``
    >= 0, the ``reach`` goal), ``s <= s0`` for every pair, so a KOL whose N-th exact score
    is at least the best ``s0`` left out of its pool provably has the exact top-N of an
    all-pairs pass; ``attrs["certified_share"]`` is the share of KOLs with that
    certificate. ``candidates="all_pairs"`` scores every pair (the reference, small inputs).

Audience overlap of a candidate pair is exact (sparse row products) unless
``overlap_method="minhash"``, or ``"auto"`` finds the exact work (the audience sizes summed
over the candidate pairs) above ``exact_max_work``; the MinHash estimate's error is stated
per row in ``overlap_error`` (Hoeffding half-width on Jaccard at ``confidence``; 0 for
exact). See :mod:`social_warehouse.analytics.sketches`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from ._arrays import str_columns
from ._common import kol_ids_from
from ._config import ConfigMixin, check_choice, check_keys
from .sketches import (
    MinHasher,
    build_audience_matrix,
    cofollow_candidates,
    minhash_error_bound,
    pair_intersections,
    pair_minhash_jaccard,
    top_per_row,
)

__all__ = [
    "GOAL_PRESETS",
    "OUTPUT_DTYPES",
    "CollaborationConfig",
    "recommend_collaborations",
    "topic_profiles",
]

#: Weights, overlap measure and community preference of each goal.
GOAL_PRESETS: dict[str, dict[str, Any]] = {
    "reach": {
        "weights": {
            "overlap": -0.30,
            "complementary_reach": 0.30,
            "topic_fit": 0.20,
            "influence_balance": 0.10,
            "community": 0.10,
        },
        "overlap_measure": "jaccard",
        "community_preference": "different",
    },
    "depth": {
        "weights": {
            "overlap": 0.30,
            "complementary_reach": 0.0,
            "topic_fit": 0.35,
            "influence_balance": 0.20,
            "community": 0.15,
        },
        "overlap_measure": "overlap_coefficient",
        "community_preference": "same",
    },
}
_WEIGHT_KEYS = set(GOAL_PRESETS["reach"]["weights"])

#: Columns of :func:`recommend_collaborations` and their dtypes (also when empty).
OUTPUT_DTYPES: dict[str, str] = {
    "kol_id": "str",
    "partner_id": "str",
    "rank": "int64",
    "score": "float64",
    "jaccard": "float64",
    "overlap_coefficient": "float64",
    "intersection": "float64",
    "complementary_reach": "float64",
    "complementary_share": "float64",
    "topic_fit": "float64",
    "influence_balance": "float64",
    "same_community": "boolean",
    "kol_audience": "int64",
    "partner_audience": "int64",
    "overlap_method": "str",
    "overlap_error": "float64",
    "reasons": "str",
}


@dataclass(frozen=True)
class CollaborationConfig(ConfigMixin):
    """Options of :func:`recommend_collaborations`.

    Attributes
    ----------
    top_n : int
        Partners per KOL. Default 10.
    goal : {"reach", "depth"}
        Preset of weights / overlap measure / community preference (see module docstring).
    weights : dict or None
        Component weights; merged over the goal preset (``None``: the preset).
    overlap_measure : {"jaccard", "overlap_coefficient"} or None
        Overlap used in the score (``None``: the preset's).
    community_preference : {"different", "same", "ignore"} or None
        ``None``: the preset's.
    balance_basis : {"reach", "score"}
        Weight compared by ``influence_balance``: ``reach_followers`` (falling back to the
        graph audience size) or the influence ``score``. Default ``reach``.
    same_platform_only : bool
        Only pair KOLs of the same platform. Default True.
    max_jaccard : float or None
        Hard filter: drop partners with a larger Jaccard. Default None.
    min_topic_fit : float or None
        Hard filter: drop partners with a smaller (or unknown) topic fit. Default None.
    exclude_below_quality_floor : bool
        Drop KOLs whose ``passes_quality_floor`` is False (from ``quality`` or the ``kols``
        frame) both as recipients and as partners. Default True.
    candidates : {"bounded", "all_pairs"}
        Candidate partners (module docstring). Default ``bounded``.
    candidate_pool : int
        Partners per KOL taken by the overlap-free score. Default 50.
    cofollow_neighbours : int
        Partners per KOL taken by sampled co-follows. Default 50.
    cofollow_sample : int
        Followers sampled per KOL for the co-follow counts. Default 256.
    overlap_method : {"auto", "exact", "minhash"}
        Default ``auto``.
    exact_max_work : float
        ``auto`` switches to MinHash when the exact work on the candidate pairs (audience
        sizes summed over the pairs) exceeds this. Default 5e9.
    num_perm : int
        MinHash signature length. Default 128.
    confidence : float
        Confidence of the stated MinHash error. Default 0.95.
    block_size : int
        KOL rows per block of the overlap-free score. Default 256.
    seed : int
        MinHash seed. Default 0.
    """

    top_n: int = 10
    goal: str = "reach"
    weights: dict[str, float] | None = None
    overlap_measure: str | None = None
    community_preference: str | None = None
    balance_basis: str = "reach"
    same_platform_only: bool = True
    max_jaccard: float | None = None
    min_topic_fit: float | None = None
    exclude_below_quality_floor: bool = True
    candidates: str = "bounded"
    candidate_pool: int = 50
    cofollow_neighbours: int = 50
    cofollow_sample: int = 256
    overlap_method: str = "auto"
    exact_max_work: float = 5e9
    num_perm: int = 128
    confidence: float = 0.95
    block_size: int = 256
    seed: int = 0

    SECTION = "collaboration"

    def __post_init__(self) -> None:
        check_choice("goal", self.goal, tuple(sorted(GOAL_PRESETS)))
        preset = GOAL_PRESETS[self.goal]
        weights = dict(preset["weights"])
        weights.update(self.weights or {})
        check_keys("collaboration.weights", weights, _WEIGHT_KEYS)
        object.__setattr__(self, "weights", {k: float(v) for k, v in weights.items()})
        if self.overlap_measure is None:
            object.__setattr__(self, "overlap_measure", preset["overlap_measure"])
        if self.community_preference is None:
            object.__setattr__(self, "community_preference", preset["community_preference"])
        if self.overlap_measure not in ("jaccard", "overlap_coefficient"):
            raise ValueError("overlap_measure must be jaccard|overlap_coefficient")
        if self.community_preference not in ("different", "same", "ignore"):
            raise ValueError("community_preference must be different|same|ignore")
        if self.balance_basis not in ("reach", "score"):
            raise ValueError("balance_basis must be reach|score")
        check_choice("overlap_method", self.overlap_method, ("auto", "exact", "minhash"))
        check_choice("candidates", self.candidates, ("bounded", "all_pairs"))
        for name in ("top_n", "block_size", "num_perm", "candidate_pool", "cofollow_sample"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.cofollow_neighbours < 0:
            raise ValueError("cofollow_neighbours must be >= 0")


def topic_profiles(
    kol_ids: list, items: pd.DataFrame, item_topics: pd.DataFrame
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """L2-normalised content-topic profile per KOL (rows in ``kol_ids`` order).

    Returns
    -------
    profiles : scipy.sparse.csr_matrix
        ``(len(kol_ids), n_topics)``; a post's topic weights are normalised to sum 1 and
        summed per author.
    has_profile : numpy.ndarray of bool
        KOLs with at least one topic-labelled post.
    """
    it = item_topics[["post_id", "topic_id"]].copy()
    it["w"] = (
        pd.to_numeric(item_topics["weight"], errors="coerce").fillna(0.0)
        if "weight" in item_topics.columns
        else 1.0
    )
    it = it[it["w"] > 0]
    it["w"] = it["w"] / it.groupby("post_id")["w"].transform("sum")
    authors = items[["post_id", "author_id"]].drop_duplicates("post_id")
    j = it.merge(authors, on="post_id", how="inner")
    rows = pd.Index(kol_ids).get_indexer(j["author_id"])
    j = j[rows >= 0]
    rows = rows[rows >= 0]
    tcodes, topics = pd.factorize(j["topic_id"])
    m = sparse.csr_matrix(
        (j["w"].to_numpy(dtype="float64"), (rows, tcodes)),
        shape=(len(kol_ids), max(1, len(topics))),
    )
    m.sum_duplicates()
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    has = norms > 0
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=has)
    return sparse.diags(scale) @ m, has


def _attr(kols_frame: pd.DataFrame | None, ids: pd.Index, col: str, *others: pd.DataFrame | None):
    """Column ``col`` for ``ids`` from the kols frame, else from the other frames."""
    for frame in (kols_frame, *others):
        if frame is not None and col in frame.columns and "user_id" in frame.columns:
            s = frame.drop_duplicates("user_id", keep="last").set_index("user_id")[col]
            return s.reindex(ids)
    return None


def recommend_collaborations(
    kols: Any,
    follows: pd.DataFrame,
    *,
    users: pd.DataFrame | None = None,
    graph_metrics: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    item_topics: pd.DataFrame | None = None,
    quality: pd.DataFrame | None = None,
    config: CollaborationConfig = CollaborationConfig(),
    seed: int | None = None,
) -> pd.DataFrame:
    """Top-N partner KOLs for each KOL, with the components that explain each pick.

    Parameters
    ----------
    kols : DataFrame or ids
        Usually the :func:`~social_warehouse.analytics.influence.score_influence` frame
        (filtered on ``is_kol``); columns used when present: ``score``,
        ``reach_followers``, ``platform``, ``category``, ``community_id``,
        ``passes_quality_floor``.
    follows : DataFrame
        ``follower_id``, ``followee_id``.
    users : DataFrame, optional
        Source of ``platform``/``category`` when ``kols`` lacks them.
    graph_metrics : DataFrame, optional
        ``user_id``, ``community_id`` when ``kols`` lacks it.
    items, item_topics : DataFrame, optional
        Together, content-topic profiles for ``topic_fit``; otherwise categories are used.
    quality : DataFrame, optional
        :func:`~social_warehouse.analytics.influence.audience_quality` output
        (``kol_id``, ``passes_quality_floor``).
    config : CollaborationConfig
    seed : int, optional
        Overrides ``config.seed`` (MinHash hash functions; exact overlap is deterministic).

    Returns
    -------
    DataFrame
        ``kol_id``, ``partner_id``, ``rank`` (1 = best), ``score``, ``jaccard``,
        ``overlap_coefficient``, ``intersection``, ``complementary_reach``,
        ``complementary_share``, ``topic_fit``, ``influence_balance``,
        ``same_community`` (nullable boolean), ``kol_audience``, ``partner_audience``,
        ``overlap_method``, ``overlap_error``, ``reasons`` (readable summary). ``attrs``
        holds the resolved weights, method, and the KOLs excluded by the quality floor.
    """
    if seed is not None:
        config = dataclasses.replace(config, seed=int(seed))
    kframe = kols if isinstance(kols, pd.DataFrame) else None
    ids = kol_ids_from(kols)

    excluded: list = []
    if config.exclude_below_quality_floor:
        passes = None
        if quality is not None and "passes_quality_floor" in quality.columns:
            q = quality.rename(columns={"kol_id": "user_id"})
            passes = _attr(q, pd.Index(ids), "passes_quality_floor")
        elif kframe is not None and "passes_quality_floor" in kframe.columns:
            passes = _attr(kframe, pd.Index(ids), "passes_quality_floor")
        if passes is not None:
            ok = passes.fillna(False).astype(bool).to_numpy()
            excluded = [i for i, good in zip(ids, ok, strict=True) if not good]
            ids = [i for i, good in zip(ids, ok, strict=True) if good]
    index = pd.Index(ids)
    n = len(ids)

    columns = list(OUTPUT_DTYPES)
    attrs: dict[str, Any] = dict(
        weights=dict(_weights(config)),
        goal=config.goal,
        overlap_measure=config.overlap_measure,
        community_preference=config.community_preference,
        excluded_low_quality=excluded,
    )
    if n < 2:
        return _empty_result(**attrs, overlap_method=None, topic_fit_source=None)

    audience = build_audience_matrix(follows, ids)
    sizes = audience.sizes.astype("float64")

    platform = _attr(kframe, index, "platform", users)
    platform = (
        platform.astype("object").where(platform.notna(), "unknown").to_numpy()
        if platform is not None
        else np.full(n, "unknown", dtype=object)
    )
    pcodes = pd.factorize(platform)[0]

    # topic fit source
    profiles = has_profile = None
    ccodes = None
    if items is not None and item_topics is not None and len(item_topics):
        profiles, has_profile = topic_profiles(ids, items, item_topics)
        fit_source = "topics"
    else:
        category = _attr(kframe, index, "category", users)
        if category is not None:
            ccodes = pd.factorize(category)[0]  # -1 for null
            fit_source = "category"
        else:
            fit_source = None

    community = _attr(kframe, index, "community_id", graph_metrics)
    mcodes = pd.factorize(community)[0] if community is not None else np.full(n, -1)

    if config.balance_basis == "score":
        basis = _attr(kframe, index, "score")
    else:
        basis = _attr(kframe, index, "reach_followers")
    basis = (
        pd.to_numeric(basis, errors="coerce").to_numpy(dtype="float64")
        if basis is not None
        else np.full(n, np.nan)
    )
    if config.balance_basis == "reach":
        basis = np.where(np.isfinite(basis), basis, sizes)

    pairs = _PairScorer(config, sizes, pcodes, profiles, has_profile, ccodes, mcodes, basis)
    w = _weights(config)
    monotone = w["overlap"] <= 0 and w["complementary_reach"] >= 0
    if config.candidates == "all_pairs":
        i, j = _all_pairs(n, pcodes if config.same_platform_only else None)
        pool_floor = np.full(n, -np.inf)
    else:
        i, j, pool_floor = pairs.pool(config.candidate_pool, config.block_size)
        if config.cofollow_neighbours > 0:
            ci, cj, _ = cofollow_candidates(
                audience, config.cofollow_neighbours, sample_size=config.cofollow_sample,
                seed=config.seed,
            )
            if config.same_platform_only:
                ok = pcodes[ci] == pcodes[cj]
                ci, cj = ci[ok], cj[ok]
            key = np.unique(np.r_[i * n + j, ci * n + cj])
            i, j = np.divmod(key, n)
    work = float((sizes[i] + sizes[j]).sum())
    if config.overlap_method == "auto":
        method = "exact" if work <= config.exact_max_work else "minhash"
    else:
        method = config.overlap_method
    if method == "exact":
        inter = pair_intersections(audience, i, j)
        error = 0.0
    else:
        sig = MinHasher(config.num_perm, config.seed).signatures(audience.matrix)
        jac_est = pair_minhash_jaccard(sig, i, j)
        inter = np.minimum(jac_est / (1.0 + jac_est) * (sizes[i] + sizes[j]),
                           np.minimum(sizes[i], sizes[j]))
        error = minhash_error_bound(config.num_perm, config.confidence)
    comps = pairs.score(i, j, inter)
    valid = np.isfinite(comps["score"])
    if config.max_jaccard is not None:
        valid &= np.nan_to_num(comps["jaccard"]) <= config.max_jaccard
    i, j = i[valid], j[valid]
    comps = {k: v[valid] for k, v in comps.items()}
    top_n = min(config.top_n, n - 1)
    order = np.lexsort((j, -comps["score"], i))
    first = np.r_[True, i[order][1:] != i[order][:-1]] if len(order) else np.zeros(0, bool)
    start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    rank = np.arange(len(order)) - start + 1
    keep = order[rank <= top_n]
    rank = rank[rank <= top_n]

    # certificate (monotone scores): the N-th exact score >= the best score left out
    nth = np.full(n, -np.inf)
    last = keep[rank == top_n]
    nth[i[last]] = comps["score"][last]
    # pool_floor is -inf where every valid partner was a candidate
    certified = (nth >= pool_floor) | ~np.isfinite(pool_floor)
    if config.candidates == "bounded" and not monotone:
        certified[:] = False
    attrs["candidate_pairs"] = int(valid.size)
    attrs["overlap_work"] = work
    attrs["certified_share"] = float(certified.mean()) if n else 1.0

    if not len(keep):
        return _empty_result(**attrs, overlap_method=method, topic_fit_source=fit_source)
    ki, pj = i[keep], j[keep]
    res = pd.DataFrame(
        {
            "kol_id": audience.kol_ids[ki],
            "partner_id": audience.kol_ids[pj],
            "rank": rank.astype("int64"),
        }
    )
    for k in ("score", "jaccard", "overlap_coefficient", "intersection",
              "complementary_reach", "complementary_share", "topic_fit", "influence_balance"):
        res[k] = comps[k][keep].astype("float64")
    same = comps["same_community"][keep]
    res["same_community"] = pd.array(
        [None if np.isnan(x) else bool(x) for x in same], dtype="boolean"
    )
    res["kol_audience"] = audience.sizes[ki]
    res["partner_audience"] = audience.sizes[pj]
    res["overlap_method"] = method
    res["overlap_error"] = float(error)
    res["reasons"] = _reasons(res, fit_source)
    res = str_columns(res[columns].copy(), ["kol_id", "partner_id", "overlap_method", "reasons"])
    res.attrs.update(**attrs, overlap_method=method, topic_fit_source=fit_source)
    return res


def _weights(config: CollaborationConfig) -> dict[str, float]:
    """The resolved weights (``__post_init__`` always sets them)."""
    assert config.weights is not None
    return config.weights


def _all_pairs(n: int, pcodes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.divmod(np.arange(n * n, dtype=np.int64), n)
    ok = i != j
    if pcodes is not None:
        ok &= pcodes[i] == pcodes[j]
    return i[ok], j[ok]


class _PairScorer:
    """The pair components and score of any pairs ``(i, j)`` given their intersections."""

    def __init__(self, config: CollaborationConfig, sizes: np.ndarray, pcodes: np.ndarray,
                 profiles: sparse.csr_matrix | None, has_profile: np.ndarray | None,
                 ccodes: np.ndarray | None, mcodes: np.ndarray, basis: np.ndarray) -> None:
        self.config = config
        self.sizes = sizes
        self.pcodes = pcodes
        self.profiles = profiles
        self.has_profile = has_profile
        self.ccodes = ccodes
        self.mcodes = mcodes
        self.basis = basis
        self.n = len(sizes)

    def fit(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        if self.profiles is not None and self.has_profile is not None:
            fit = np.asarray(self.profiles[i].multiply(self.profiles[j]).sum(axis=1)).ravel()
            return np.where(self.has_profile[i] & self.has_profile[j], fit, np.nan)
        if self.ccodes is not None:
            ci, cj = self.ccodes[i], self.ccodes[j]
            return np.where((ci < 0) | (cj < 0), np.nan, (ci == cj).astype("float64"))
        return np.full(len(i), np.nan)

    def score(self, i: np.ndarray, j: np.ndarray, inter: np.ndarray,
              fit: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Components and score; ``score`` is -inf for pairs a hard filter excludes."""
        cfg = self.config
        w = _weights(cfg)
        si, sj = self.sizes[i], self.sizes[j]
        union = si + sj - inter
        mins = np.minimum(si, sj)
        comp = np.maximum(sj - inter, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            jac = np.where(union > 0, inter / np.where(union > 0, union, 1), np.nan)
            ovl = np.where(mins > 0, inter / np.where(mins > 0, mins, 1), np.nan)
            comp_share = np.where(union > 0, comp / np.where(union > 0, union, 1), np.nan)
        if fit is None:
            fit = self.fit(i, j)
        bi, bj = self.basis[i], self.basis[j]
        hi = np.fmax(bi, bj)
        with np.errstate(divide="ignore", invalid="ignore"):
            balance = np.where(hi > 0, np.fmin(bi, bj) / np.where(hi > 0, hi, 1), np.nan)
        mi, mj = self.mcodes[i], self.mcodes[j]
        known = (mi >= 0) & (mj >= 0)
        same = mi == mj
        if cfg.community_preference == "different":
            comm = (known & ~same).astype("float64")
        elif cfg.community_preference == "same":
            comm = (known & same).astype("float64")
        else:
            comm = np.zeros(len(i))
        overlap = jac if cfg.overlap_measure == "jaccard" else ovl
        score = (
            w["overlap"] * np.nan_to_num(overlap)
            + w["complementary_reach"] * np.nan_to_num(comp_share)
            + w["topic_fit"] * np.nan_to_num(fit)
            + w["influence_balance"] * np.nan_to_num(balance)
            + w["community"] * comm
        )
        invalid = i == j
        if cfg.same_platform_only:
            invalid |= self.pcodes[i] != self.pcodes[j]
        if cfg.min_topic_fit is not None:
            invalid |= ~(fit >= cfg.min_topic_fit)
        return {
            "score": np.where(invalid, -np.inf, score),
            "jaccard": jac,
            "overlap_coefficient": ovl,
            "intersection": inter.astype("float64"),
            "complementary_reach": comp,
            "complementary_share": comp_share,
            "topic_fit": fit,
            "influence_balance": balance,
            "same_community": np.where(known, same.astype("float64"), np.nan),
        }

    def pool(self, size: int, block_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per KOL the ``size`` best partners by the overlap-free score ``s0`` (pairs with
        a finite ``s0``), and per KOL the smallest ``s0`` in its pool when partners were
        left out (``-inf`` when none was)."""
        n = self.n
        rows_out, cols_out = [], []
        floor = np.full(n, -np.inf)
        cols = np.arange(n, dtype=np.int64)
        for s in range(0, n, block_size):
            e = min(n, s + block_size)
            i = np.repeat(np.arange(s, e, dtype=np.int64), n)
            j = np.tile(cols, e - s)
            fit = None
            if self.profiles is not None and self.has_profile is not None:
                fit = (self.profiles[s:e] @ self.profiles.T).toarray().ravel()
                fit = np.where(self.has_profile[i] & self.has_profile[j], fit, np.nan)
            s0 = self.score(i, j, np.zeros(len(i)), fit)["score"]
            ok = np.isfinite(s0)
            ri, rj, rv = top_per_row(i[ok], j[ok], s0[ok], size)
            rows_out.append(ri)
            cols_out.append(rj)
            n_valid = np.bincount(i[ok] - s, minlength=e - s)
            cut = np.flatnonzero(n_valid > size) + s
            if len(cut):
                last = np.r_[ri[1:] != ri[:-1], True] if len(ri) else np.zeros(0, bool)
                lowest = pd.Series(rv[last], index=ri[last])
                floor[cut] = lowest.reindex(cut).to_numpy()
        return (np.concatenate(rows_out) if rows_out else np.zeros(0, np.int64),
                np.concatenate(cols_out) if cols_out else np.zeros(0, np.int64),
                floor)


def _empty_result(**attrs: Any) -> pd.DataFrame:
    """No recommendations: every output column, typed as in a non-empty result."""
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in OUTPUT_DTYPES.items()})
    empty.attrs.update(attrs)
    return empty


def _reasons(res: pd.DataFrame, fit_source: str | None) -> list[str]:
    out = []
    approx = "~" if (res["overlap_method"] == "minhash").any() else ""
    for comp, share, jac, fit, bal, same in zip(
        res["complementary_reach"].to_numpy(),
        res["complementary_share"].to_numpy(),
        res["jaccard"].to_numpy(),
        res["topic_fit"].to_numpy(),
        res["influence_balance"].to_numpy(),
        res["same_community"].to_numpy(dtype=object, na_value=None),
        strict=True,
    ):
        parts = [
            f"adds {approx}{comp:,.0f} new followers ({share:.0%} of combined audience)"
            if np.isfinite(share)
            else "audience unknown",
            f"jaccard {approx}{jac:.3f}" if np.isfinite(jac) else "jaccard n/a",
            f"{fit_source or 'topic'} fit {fit:.2f}" if np.isfinite(fit) else "topic fit n/a",
            f"balance {bal:.2f}" if np.isfinite(bal) else "balance n/a",
        ]
        if same is not None:
            parts.append("same community" if same else "different community")
        out.append("; ".join(parts))
    return out
