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

Audience overlap is exact (blocked sparse products) unless ``overlap_method="minhash"``,
or ``"auto"`` finds the exact work ``sum_u d_u**2`` above ``exact_max_work``; the MinHash
estimate's error is stated per row in ``overlap_error`` (Hoeffding half-width on Jaccard at
``confidence``; 0 for exact). See :mod:`social_warehouse.analytics.sketches`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from ._arrays import str_columns
from .influence import ConfigMixin, kol_ids_from
from .sketches import build_audience_matrix, choose_overlap_method, iter_overlap_blocks

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
    overlap_method : {"auto", "exact", "minhash"}
        Default ``auto``.
    exact_max_work : float
        ``auto`` switches to MinHash above this many multiply-adds. Default 5e9.
    num_perm : int
        MinHash signature length. Default 128.
    confidence : float
        Confidence of the stated MinHash error. Default 0.95.
    block_size : int
        KOL rows per block. Default 256.
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
    overlap_method: str = "auto"
    exact_max_work: float = 5e9
    num_perm: int = 128
    confidence: float = 0.95
    block_size: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if self.goal not in GOAL_PRESETS:
            raise ValueError(f"goal must be one of {sorted(GOAL_PRESETS)}, got {self.goal!r}")
        preset = GOAL_PRESETS[self.goal]
        weights = dict(preset["weights"])
        weights.update(self.weights or {})
        unknown = sorted(set(weights) - _WEIGHT_KEYS)
        if unknown:
            raise ValueError(f"unknown collaboration weight(s) {unknown}")
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
        if self.overlap_method not in ("auto", "exact", "minhash"):
            raise ValueError("overlap_method must be auto|exact|minhash")
        if self.top_n < 1 or self.block_size < 1 or self.num_perm < 1:
            raise ValueError("top_n, block_size and num_perm must be >= 1")


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
    attrs = dict(
        weights=dict(config.weights),
        goal=config.goal,
        overlap_measure=config.overlap_measure,
        community_preference=config.community_preference,
        excluded_low_quality=excluded,
    )
    if n < 2:
        return _empty_result(**attrs, overlap_method=None, topic_fit_source=None)

    audience = build_audience_matrix(follows, ids)
    sizes = audience.sizes.astype("float64")
    method = choose_overlap_method(audience, config.overlap_method, config.exact_max_work)

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

    w = config.weights
    top_n = min(config.top_n, n - 1)
    out_parts: list[dict[str, np.ndarray]] = []
    all_cols = np.arange(n)
    for blk in iter_overlap_blocks(
        audience,
        method=method,
        block_size=config.block_size,
        num_perm=config.num_perm,
        seed=config.seed,
        confidence=config.confidence,
    ):
        rows = np.arange(blk.start, blk.stop)
        inter = blk.intersection
        s_rows = sizes[rows][:, None]
        s_all = sizes[None, :]
        union = s_rows + s_all - inter
        comp = np.maximum(s_all - inter, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            comp_share = np.where(union > 0, comp / np.where(union > 0, union, 1), np.nan)
        if profiles is not None:
            fit = (profiles[rows] @ profiles.T).toarray()
            fit[~has_profile[rows], :] = np.nan
            fit[:, ~has_profile] = np.nan
        elif ccodes is not None:
            cr = ccodes[rows][:, None]
            ca = ccodes[None, :]
            fit = np.where((cr < 0) | (ca < 0), np.nan, (cr == ca).astype("float64"))
        else:
            fit = np.full(inter.shape, np.nan)
        br = basis[rows][:, None]
        ba = basis[None, :]
        hi = np.fmax(br, ba)
        with np.errstate(divide="ignore", invalid="ignore"):
            balance = np.where(hi > 0, np.fmin(br, ba) / np.where(hi > 0, hi, 1), np.nan)
        mr = mcodes[rows][:, None]
        ma = mcodes[None, :]
        known = (mr >= 0) & (ma >= 0)
        same = mr == ma
        if config.community_preference == "different":
            comm = (known & ~same).astype("float64")
        elif config.community_preference == "same":
            comm = (known & same).astype("float64")
        else:
            comm = np.zeros(inter.shape)
        overlap = blk.jaccard if config.overlap_measure == "jaccard" else blk.overlap_coefficient
        score = (
            w["overlap"] * np.nan_to_num(overlap)
            + w["complementary_reach"] * np.nan_to_num(comp_share)
            + w["topic_fit"] * np.nan_to_num(fit)
            + w["influence_balance"] * np.nan_to_num(balance)
            + w["community"] * comm
        )
        invalid = rows[:, None] == all_cols[None, :]
        if config.same_platform_only:
            invalid |= pcodes[rows][:, None] != pcodes[None, :]
        if config.max_jaccard is not None:
            invalid |= ~(np.nan_to_num(blk.jaccard) <= config.max_jaccard)
        if config.min_topic_fit is not None:
            invalid |= ~(fit >= config.min_topic_fit)
        score = np.where(invalid, -np.inf, score)

        # top-N per row; ties broken by partner position (stable, deterministic)
        if top_n < n:
            cand = np.argpartition(-score, top_n - 1, axis=1)[:, :top_n]
            # include all ties with the N-th score so tie-breaking is by position
            kth = np.take_along_axis(score, cand, axis=1).min(axis=1)
        for i, r in enumerate(rows):
            srow = score[i]
            if top_n < n:
                sel = np.flatnonzero(srow >= kth[i])
            else:
                sel = all_cols
            sel = sel[np.isfinite(srow[sel])]
            order = np.lexsort((sel, -srow[sel]))[:top_n]
            sel = sel[order]
            if len(sel) == 0:
                continue
            out_parts.append(
                {
                    "kol": np.full(len(sel), r),
                    "partner": sel,
                    "rank": np.arange(1, len(sel) + 1),
                    "score": srow[sel],
                    "jaccard": blk.jaccard[i, sel],
                    "overlap_coefficient": blk.overlap_coefficient[i, sel],
                    "intersection": inter[i, sel],
                    "complementary_reach": comp[i, sel],
                    "complementary_share": comp_share[i, sel],
                    "topic_fit": fit[i, sel],
                    "influence_balance": balance[i, sel],
                    "same_community": np.where(known[i, sel], same[i, sel].astype(float), np.nan),
                }
            )

    if not out_parts:
        return _empty_result(**attrs, overlap_method=method, topic_fit_source=fit_source)
    cat = {k: np.concatenate([p[k] for p in out_parts]) for k in out_parts[0]}
    kol_idx = cat.pop("kol")
    partner_idx = cat.pop("partner")
    res = pd.DataFrame(
        {
            "kol_id": audience.kol_ids[kol_idx],
            "partner_id": audience.kol_ids[partner_idx],
        }
    )
    for k, v in cat.items():
        if k == "rank":
            res[k] = v.astype("int64")
        elif k == "same_community":
            res[k] = pd.array([None if np.isnan(x) else bool(x) for x in v], dtype="boolean")
        else:
            res[k] = v.astype("float64")
    res["kol_audience"] = audience.sizes[kol_idx]
    res["partner_audience"] = audience.sizes[partner_idx]
    res["overlap_method"] = blk.method
    res["overlap_error"] = float(blk.jaccard_error)
    res["reasons"] = _reasons(res, fit_source)
    res = str_columns(res[columns].copy(), ["kol_id", "partner_id", "overlap_method", "reasons"])
    res.attrs.update(**attrs, overlap_method=method, topic_fit_source=fit_source)
    return res


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
