"""Audience segments: KMeans on standardised behaviour and interest features.

Feature preparation (:class:`AudienceSegmenter`)
------------------------------------------------
* behavioural columns: counts (``n_*``, ``active_days``, ``watch_time_s_total``,
  ``conversion_value``, ...) are ``log1p``-transformed, shares and ratios kept; missing
  values take the column median;
* interest columns (``topic_*``) are used as they are;
* every column is standardised (zero mean, unit variance; constant columns dropped),
  then each *block* is scaled so that it carries a fixed share of the total variance
  (``interest_weight`` for the interests, the rest for behaviour): many correlated
  behaviour columns cannot drown the few topic columns, or the other way round.

Choice of ``k``
---------------
For every ``k`` in ``k_range`` a model is fitted on a seeded sample of at most
``sample_size`` users and scored with the silhouette coefficient on that sample; the
best ``k`` is refitted on all users. ``MiniBatchKMeans`` is used when there are more
than ``minibatch_threshold`` users, ``KMeans`` otherwise.

Profiles
--------
:func:`segment_users` returns, per segment, its size and share, the mean of every raw
feature, the top topics (highest mean interest) and the KOLs its members follow most
(share of members following, from ``follows`` and the KOL flags).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import silhouette_score
from sklearn.metrics.pairwise import euclidean_distances

from .audience import kol_set

__all__ = ["AudienceSegmenter", "segment_users", "profile_segments"]

_SHARE_PREFIXES = ("share_",)
_RATIO_COLS = {"engaged_share", "watch_ratio_mean", "kol_share"}


def _is_count(col: str) -> bool:
    return not (col.startswith(_SHARE_PREFIXES) or col in _RATIO_COLS)


class AudienceSegmenter:
    """KMeans segmentation with ``k`` chosen by silhouette.

    Parameters
    ----------
    k_range : tuple of int or sequence, default (2, 10)
        Inclusive ``(min, max)`` or explicit candidates.
    feature_cols : sequence of str, optional
        Behavioural columns (default: numeric columns other than ids, ``topic_*`` and
        ``top_topic``).
    topic_prefix : str, default "topic_"
    interest_weight : float, default 0.5
        Share of total variance carried by the interest block (when both exist).
    sample_size : int, default 8000
        Users used to choose ``k`` (silhouette is quadratic in this: one float32
        distance matrix of ``sample_size**2`` cells is shared by all candidates).
    minibatch_threshold : int, default 50000
    n_init : int, default 4
    random_state : int, default 0

    Attributes
    ----------
    k_ : int
    model_ : fitted KMeans or MiniBatchKMeans
    selection_ : DataFrame ``k, silhouette, inertia, n_sample, chosen``
    feature_names_ : list of str, behavioural columns used
    topic_names_ : list of str
    labels_ : ndarray of the training users' segments
    """

    def __init__(
        self,
        k_range: tuple[int, int] | Sequence[int] = (2, 10),
        feature_cols: Sequence[str] | None = None,
        topic_prefix: str = "topic_",
        interest_weight: float = 0.5,
        sample_size: int = 8_000,
        minibatch_threshold: int = 50_000,
        n_init: int = 4,
        random_state: int = 0,
    ) -> None:
        self.k_range = k_range
        self.feature_cols = feature_cols
        self.topic_prefix = topic_prefix
        self.interest_weight = interest_weight
        self.sample_size = sample_size
        self.minibatch_threshold = minibatch_threshold
        self.n_init = n_init
        self.random_state = random_state

    def _columns(self, profiles: pd.DataFrame) -> tuple[list[str], list[str]]:
        topics = [
            c for c in profiles.columns
            if c.startswith(self.topic_prefix) and c[len(self.topic_prefix):].isdigit()
        ]
        if self.feature_cols is not None:
            feats = list(self.feature_cols)
        else:
            feats = [
                c for c in profiles.columns
                if c not in topics
                and c not in ("user_id", "top_topic", "segment_id")
                and pd.api.types.is_numeric_dtype(profiles[c])
                and not pd.api.types.is_bool_dtype(profiles[c])
            ]
        return feats, topics

    def _raw_matrix(self, profiles: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        B = np.empty((len(profiles), len(self.feature_names_)), dtype=np.float64)
        for j, c in enumerate(self.feature_names_):
            v = pd.to_numeric(profiles[c], errors="coerce").to_numpy(np.float64)
            if _is_count(c):
                v = np.sign(v) * np.log1p(np.abs(v))
            B[:, j] = v
        T = (
            profiles[self.topic_names_].to_numpy(np.float64)
            if self.topic_names_ else np.zeros((len(profiles), 0))
        )
        return B, T

    def _design(self, profiles: pd.DataFrame, fit: bool) -> np.ndarray:
        B, T = self._raw_matrix(profiles)
        if fit:
            self._median = np.nanmedian(B, axis=0) if B.shape[1] else np.zeros(0)
            self._median = np.where(np.isfinite(self._median), self._median, 0.0)
        B = np.where(np.isfinite(B), B, self._median[None, :])
        T = np.nan_to_num(T)
        if fit:
            self._mu_b, self._sd_b = B.mean(axis=0), B.std(axis=0)
            self._mu_t, self._sd_t = T.mean(axis=0), T.std(axis=0)
            self._keep_b = self._sd_b > 1e-9
            self._keep_t = self._sd_t > 1e-9
        Bz = ((B - self._mu_b) / np.where(self._keep_b, self._sd_b, 1.0))[:, self._keep_b]
        Tz = ((T - self._mu_t) / np.where(self._keep_t, self._sd_t, 1.0))[:, self._keep_t]
        pb, pt = Bz.shape[1], Tz.shape[1]
        if pb and pt:
            wb = np.sqrt((1.0 - self.interest_weight) / pb)
            wt = np.sqrt(self.interest_weight / pt)
        else:
            wb = 1.0 / np.sqrt(max(pb, 1))
            wt = 1.0 / np.sqrt(max(pt, 1))
        return np.hstack([Bz * wb, Tz * wt]).astype(np.float32)

    def _new_model(self, k: int, n: int):
        if n > self.minibatch_threshold:
            return MiniBatchKMeans(
                n_clusters=k, batch_size=4096, n_init=3, random_state=self.random_state,
                max_no_improvement=20,
            )
        return KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state)

    def _candidates(self, n: int) -> list[int]:
        kr = self.k_range
        ks = list(range(kr[0], kr[1] + 1)) if isinstance(kr, tuple) and len(kr) == 2 else list(kr)
        ks = [k for k in ks if 2 <= k < n]
        if not ks:
            raise ValueError(f"no candidate k in {kr} for {n} users")
        return ks

    def fit(self, profiles: pd.DataFrame, y: Any = None) -> AudienceSegmenter:
        """Choose ``k`` and fit the segments on a profile frame (one row per user)."""
        feats, topics = self._columns(profiles)
        self.feature_names_, self.topic_names_ = feats, topics
        Z = self._design(profiles, fit=True)
        n = Z.shape[0]
        rng = np.random.default_rng(self.random_state)
        idx = np.arange(n) if n <= self.sample_size else np.sort(
            rng.choice(n, self.sample_size, replace=False))
        Zs = Z[idx]
        # one distance matrix for every candidate (float32: 256 MB at 8000 users)
        Dm = euclidean_distances(Zs).astype(np.float32)
        np.fill_diagonal(Dm, 0.0)
        rows = []
        for k in self._candidates(len(idx)):
            m = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state).fit(Zs)
            lab = m.labels_
            sil = (silhouette_score(Dm, lab, metric="precomputed")
                   if len(np.unique(lab)) > 1 else -1.0)
            rows.append(dict(k=k, silhouette=float(sil), inertia=float(m.inertia_),
                             n_sample=len(idx)))
        sel = pd.DataFrame(rows)
        self.k_ = int(sel.loc[sel["silhouette"].idxmax(), "k"])
        sel["chosen"] = sel["k"] == self.k_
        self.selection_ = sel
        self.model_ = self._new_model(self.k_, n).fit(Z)
        self.labels_ = self._relabel(self.model_.predict(Z))
        self.n_features_in_ = Z.shape[1]
        return self

    def _relabel(self, labels: np.ndarray) -> np.ndarray:
        """Segment ids by decreasing size (0 = largest), stable across runs."""
        if not hasattr(self, "_label_map"):
            sizes = np.bincount(labels, minlength=self.k_)
            order = np.argsort(-sizes, kind="stable")
            self._label_map = np.empty(self.k_, dtype=np.int32)
            self._label_map[order] = np.arange(self.k_, dtype=np.int32)
        return self._label_map[labels]

    def predict(self, profiles: pd.DataFrame) -> np.ndarray:
        """Segment of each user in a profile frame with the training columns."""
        return self._relabel(self.model_.predict(self._design(profiles, fit=False)))


def profile_segments(
    profiles: pd.DataFrame,
    labels: np.ndarray,
    *,
    feature_cols: Sequence[str],
    topic_cols: Sequence[str] = (),
    follows: pd.DataFrame | None = None,
    kol: pd.DataFrame | Iterable[Any] | None = None,
    topic_labels: dict[int, str] | None = None,
    n_top_topics: int = 3,
    n_top_kols: int = 5,
) -> pd.DataFrame:
    """One row per segment: size, share, mean features, top topics, top KOLs followed.

    Returns
    -------
    DataFrame
        ``segment_id, n_users, share, mean_<feature>..., top_topics (list of int),
        top_topic_labels (str), top_kols (list of user ids), top_kol_follow_share (list
        of float)``.
    """
    labels = np.asarray(labels)
    df = profiles[list(feature_cols) + list(topic_cols)].apply(pd.to_numeric, errors="coerce")
    df["segment_id"] = labels
    g = df.groupby("segment_id", sort=True)
    out = g.size().rename("n_users").to_frame()
    out["share"] = out["n_users"] / len(df)
    means = g[list(feature_cols)].mean().add_prefix("mean_")
    out = out.join(means)
    tops: list[list[int]] = []
    tlabels: list[str] = []
    tmeans = g[list(topic_cols)].mean() if topic_cols else None
    for s in out.index:
        if tmeans is None:
            tops.append([])
            tlabels.append("")
            continue
        row = tmeans.loc[s].to_numpy()
        order = np.argsort(-row, kind="stable")[:n_top_topics]
        ids = [int(str(topic_cols[j]).rsplit("_", 1)[-1]) for j in order if row[j] > 0]
        tops.append(ids)
        tlabels.append("; ".join((topic_labels or {}).get(t, str(t)) for t in ids))
    out["top_topics"] = tops
    out["top_topic_labels"] = tlabels
    kol_lists: list[list] = [[] for _ in out.index]
    kol_shares: list[list] = [[] for _ in out.index]
    if follows is not None and len(follows):
        seg = pd.Series(labels, index=profiles["user_id"].to_numpy())
        f = follows[["follower_id", "followee_id"]].drop_duplicates()
        f = f[f["follower_id"].isin(seg.index)]
        kols = kol_set(kol) if kol is not None else None
        if kols is not None:
            f = f[f["followee_id"].isin(kols)]
        f = f.assign(segment_id=f["follower_id"].map(seg).to_numpy())
        cnt = f.groupby(["segment_id", "followee_id"]).size().rename("n").reset_index()
        cnt["share"] = cnt["n"] / cnt["segment_id"].map(out["n_users"]).to_numpy()
        cnt = cnt.sort_values(["segment_id", "n", "followee_id"], ascending=[True, False, True])
        top = cnt.groupby("segment_id", sort=False).head(n_top_kols)
        pos = {s: i for i, s in enumerate(out.index)}
        for s, sub in top.groupby("segment_id", sort=False):
            kol_lists[pos[s]] = sub["followee_id"].tolist()
            kol_shares[pos[s]] = [round(float(x), 4) for x in sub["share"]]
    out["top_kols"] = kol_lists
    out["top_kol_follow_share"] = kol_shares
    return out.reset_index()


def segment_users(
    profiles: pd.DataFrame,
    *,
    k_range: tuple[int, int] | Sequence[int] = (2, 10),
    follows: pd.DataFrame | None = None,
    kol: pd.DataFrame | Iterable[Any] | None = None,
    topic_labels: dict[int, str] | None = None,
    n_top_topics: int = 3,
    n_top_kols: int = 5,
    random_state: int = 0,
    **params: Any,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Segment users and profile the segments.

    Parameters
    ----------
    profiles : DataFrame
        One row per user, e.g. :func:`~social_warehouse.analytics.audience.build_user_profiles`.
    k_range : (min, max) or sequence, default (2, 10)
    follows : DataFrame, optional
        ``follower_id, followee_id``.
    kol : DataFrame or iterable, optional
        ``user_id, is_kol``; without it the most followed accounts of any kind are listed.
    topic_labels : dict, optional
        Topic id -> label (e.g. from the topics frame).
    n_top_topics, n_top_kols : int
    random_state : int, default 0
    **params
        Other :class:`AudienceSegmenter` parameters.

    Returns
    -------
    assignments : DataFrame ``user_id, segment_id``
    segments : DataFrame
        See :func:`profile_segments`.
    info : dict
        ``k``, ``selection`` (silhouette per candidate), ``algorithm``, ``features``,
        ``topics`` and the fitted ``model``.
    """
    seg = AudienceSegmenter(k_range=k_range, random_state=random_state, **params).fit(profiles)
    labels = seg.labels_
    assignments = pd.DataFrame({"user_id": profiles["user_id"].to_numpy(),
                                "segment_id": labels.astype(np.int32)})
    segments = profile_segments(
        profiles, labels, feature_cols=seg.feature_names_, topic_cols=seg.topic_names_,
        follows=follows, kol=kol, topic_labels=topic_labels, n_top_topics=n_top_topics,
        n_top_kols=n_top_kols,
    )
    info = dict(
        k=seg.k_,
        selection=seg.selection_,
        algorithm=type(seg.model_).__name__,
        features=seg.feature_names_,
        topics=seg.topic_names_,
        model=seg,
    )
    return assignments, segments, info
