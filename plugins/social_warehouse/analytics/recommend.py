"""Recommenders on the implicit user x item score matrix (``fct_user_item_scores``).

Models (all share one user/item index, so they can be mixed):

``item_knn``
    Item-item cosine neighbourhood. Item vectors are the columns of the weighted matrix
    ``X`` (``weighting="log1p"``: ``log(1 + score)``). ``X^T X`` is computed in blocks of
    item rows whose *path count* (sum over the block's users of their number of items, an
    upper bound of the block product's non-zeros) stays under ``block_budget``; each
    block is cut to its ``n_neighbors`` most similar items right away, so memory is
    bounded by one block plus the ``n_items x n_neighbors`` result. Similarities are
    shrunk by their estimated support (``shrinkage=10``: ``sim * c / (c + 10)`` with
    ``c`` the estimated number of common users), which doubled NDCG@10 on sparse
    synthetic data where rare items co-occurring once looked identical. A user's score for
    item ``j`` is ``sum_i x_ui * sim(i, j)`` over the items ``i`` they engaged with
    whose neighbour lists contain ``j`` (``X @ W``), again in bounded user blocks.
``user_knn``
    User-user cosine neighbourhood: the ``n_neighbors`` most similar users (rows of
    ``X``), then ``score(u, j) = sum_v sim(u, v) * x_vj``. Computed per block of target
    users; with ``max_item_users`` the items consumed by more users than that are left
    out of the *similarity* (they tell little about taste and dominate the cost).
``content``
    Cosine between the user's topic profile (``X @ T``, ``T`` the item x topic weights
    from :mod:`~social_warehouse.analytics.topics`) and each item's topic vector,
    multiplied by a popularity prior ``1 + popularity_weight * log1p(pop) / log1p(max
    pop)`` so that, within a topic, the better-liked items come first. Large catalogues
    are scored on a candidate pool: the best ``pool_per_topic`` items of every topic.
``popularity``
    Number of distinct users per item in the training data.
``hybrid``
    A warm user (``>= min_user_interactions`` items) gets the collaborative list with
    its last ``cold_item_slots`` positions given to the best content matches among
    *cold items* (fewer than ``min_item_interactions`` users: by default the posts
    without any feedback yet, e.g. posted today), so
    fresh posts get exposure; a user with some history but too little for CF gets the
    content model; an unknown user gets popularity. Every list is filled up to ``n``
    from the next model in the chain (CF, content, popularity) and each row says which
    model produced it. With ``popularity_blend = a > 0`` a warm user's CF list is
    re-ranked by ``(1 - a) * cf / max_cf(user) + a * pop / max_pop`` over the CF and
    popularity candidates: on exports where popularity beats CF, the offline evaluation
    tunes ``a`` on a validation split carved from the training data
    (:func:`~social_warehouse.analytics.evaluation.tune_popularity_blend`).

Items already seen by the user (any positive score in the training data) are never
recommended when ``exclude_seen`` is true (default).

Numerics and ties: the score matrix is float64 (a float32 cast turned the scores of
years-old events, 1e-145 and less, into 0 and so made seen items recommendable); rows are
L2-normalised in float64 before the similarity products run in float32. Equal scores are
ordered by item index (stable sorts over sorted column indices), so the same input gives
the same lists, run after run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = [
    "InteractionData",
    "ItemKNNRecommender",
    "UserKNNRecommender",
    "ContentRecommender",
    "PopularityRecommender",
    "HybridRecommender",
    "MODELS",
    "make_recommender",
    "recommend",
    "cosine_topk_neighbors",
    "topk_per_row",
]

REC_COLUMNS = ["user_id", "rank", "post_id", "score", "model"]


# --------------------------------------------------------------------------------------
# sparse helpers
# --------------------------------------------------------------------------------------
def _float_order_key(v: np.ndarray) -> np.ndarray:
    """uint32 keys whose unsigned order equals the float32 order of ``v``."""
    b = np.ascontiguousarray(v, dtype=np.float32).view(np.uint32)
    return np.where(b & np.uint32(0x80000000), ~b, b | np.uint32(0x80000000))


def _segment_topk(indptr: np.ndarray, data: np.ndarray, k: int):
    """Positions of the ``k`` largest values of every CSR row, best first.

    Returns ``(positions, rows, ranks)`` (ranks start at 0). One ``argsort`` of a packed
    uint64 key ``row << 32 | ~float_bits`` replaces a slower lexsort (the bit pattern of
    a non-negative float32 orders like its value).
    """
    counts = np.diff(indptr)
    nnz = int(indptr[-1])
    if nnz == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e
    key = np.repeat(np.arange(len(counts), dtype=np.uint64), counts)
    key <<= np.uint64(32)
    v = np.asarray(data, dtype=np.float64)
    if len(v):  # per-row scaling keeps the order and keeps tiny float64 values above 0
        row_max = np.maximum.reduceat(np.abs(v), np.asarray(indptr[:-1])[counts > 0])
        scale = np.ones(len(counts))
        scale[counts > 0] = np.where(row_max > 0, row_max, 1.0)
        v = v / np.repeat(scale, counts)
    v = np.ascontiguousarray(v, dtype=np.float32)
    bits = ~_float_order_key(v) if np.signbit(v).any() else ~v.view(np.uint32)
    key |= bits
    del bits
    order = np.argsort(key, kind="stable")  # ties: by stored position (sorted columns)
    del key
    # the first min(count, k) sorted positions of every row: O(rows * k) index work
    take = np.minimum(counts, k).astype(np.int64)
    rows = np.repeat(np.arange(len(counts), dtype=np.int64), take)
    offs = np.cumsum(take) - take
    rank = np.arange(len(rows), dtype=np.int64) - np.repeat(offs, take)
    sel = np.asarray(indptr[:-1], dtype=np.int64)[rows] + rank
    return order[sel], rows, rank


def topk_per_row(M: sp.spmatrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest stored values of every row of a sparse matrix.

    Parameters
    ----------
    M : sparse matrix
    k : int

    Returns
    -------
    csr_matrix
        Same shape; each row's kept entries are stored best first.
    """
    M = sp.csr_matrix(M)
    M.sum_duplicates()
    M.sort_indices()
    return _topk_csr(M, k)


def _topk_csr(M: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """:func:`topk_per_row` for a CSR matrix known to hold no duplicate entries
    (sparse products do not). Column indices are sorted first, so equal values keep
    the lower index (deterministic ties)."""
    M.sort_indices()
    pos, rows, _ = _segment_topk(M.indptr, M.data, k)
    counts = np.bincount(rows, minlength=M.shape[0])
    indptr = np.zeros(M.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    out = sp.csr_matrix((M.data[pos], M.indices[pos], indptr), shape=M.shape)
    out.has_sorted_indices = False
    return out


def _blocks_by_budget(work: np.ndarray, budget: float, max_rows: int) -> list[tuple[int, int]]:
    """Split ``range(len(work))`` into consecutive blocks of bounded summed work."""
    n = len(work)
    out, start = [], 0
    csum = np.cumsum(np.asarray(work, dtype=np.float64))
    while start < n:
        base = csum[start - 1] if start else 0.0
        end = int(np.searchsorted(csum, base + budget, side="right"))
        end = max(end, start + 1)
        end = min(end, start + max_rows, n)
        out.append((start, end))
        start = end
    return out


def _l2_normalize_rows(X: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit L2 norm, computed in float64 (tiny weights survive), as float32.

    Each row is first divided by its largest absolute value, so squaring cannot underflow.
    """
    X = sp.csr_matrix(X, dtype=np.float64, copy=True)
    X.sort_indices()
    counts = np.diff(X.indptr)
    if X.nnz:
        row_max = np.zeros(X.shape[0])
        row_max[counts > 0] = np.maximum.reduceat(np.abs(X.data), X.indptr[:-1][counts > 0])
        X.data /= np.repeat(np.where(row_max > 0, row_max, 1.0), counts)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    X.data *= np.repeat(inv, counts)
    return X.astype(np.float32)


def cosine_topk_neighbors(
    X: sp.spmatrix,
    n_neighbors: int = 50,
    *,
    axis: int = 0,
    block_budget: float = 3e7,
    max_block_rows: int = 4096,
    min_similarity: float = 0.0,
    shrinkage: float = 0.0,
    n_jobs: int = 1,
) -> sp.csr_matrix:
    """Top-``k`` cosine neighbours of the columns (``axis=0``) or rows of ``X``.

    Parameters
    ----------
    X : sparse matrix, shape (n_users, n_items)
        Non-negative weights.
    n_neighbors : int, default 50
    axis : {0, 1}, default 0
        0: neighbours among columns (items); 1: among rows (users).
    block_budget : float, default 3e7
        Upper bound of non-zeros of one block product (path count).
    max_block_rows : int, default 4096
    min_similarity : float, default 0
        Similarities at or below this are dropped.
    shrinkage : float, default 0
        Shrink similarities supported by few common users (Koren, 2008):
        ``sim * c / (c + shrinkage)`` with ``c = sim * sqrt(n_a * n_b)`` the common
        count estimated from the cosine and both supports (exact for binary data),
        so two rare items that co-occur once by chance no longer look identical.
    n_jobs : int, default 1
        Threads (scipy's sparse product releases the GIL).

    Returns
    -------
    csr_matrix of float32, shape (n, n)
        Row ``i`` holds the ``n_neighbors`` most similar other entities with their
        cosine similarity; the diagonal is excluded.
    """
    X = sp.csr_matrix(X)
    A = X.T.tocsr() if axis == 0 else X  # entities x features
    An = _l2_normalize_rows(A)
    AnT = An.T.tocsr()  # features x entities
    feat_deg = np.diff(AnT.indptr).astype(np.float64)
    support = np.diff(An.indptr).astype(np.float64)  # users per item (or items per user)
    work = (sp.csr_matrix((np.ones_like(An.data), An.indices, An.indptr), shape=An.shape)
            @ feat_deg)
    blocks = _blocks_by_budget(work, block_budget, max_block_rows)
    n = An.shape[0]

    def run(block: tuple[int, int]) -> sp.csr_matrix:
        s, e = block
        S = (An[s:e] @ AnT).tocsr()  # a product: no duplicate entries
        rows = np.repeat(np.arange(e - s), np.diff(S.indptr))
        S.data[S.indices == rows + s] = 0.0  # self-similarity
        if shrinkage:
            c = S.data * np.sqrt(support[rows + s] * support[S.indices])
            S.data *= (c / (c + shrinkage)).astype(np.float32)
        if min_similarity is not None:
            S.data[S.data <= min_similarity] = 0.0
        S.eliminate_zeros()
        return _topk_csr(S, n_neighbors)

    if n_jobs and n_jobs > 1 and len(blocks) > 1:
        with ThreadPoolExecutor(n_jobs) as ex:
            parts = list(ex.map(run, blocks))
    else:
        parts = [run(b) for b in blocks]
    if not parts:
        return sp.csr_matrix((n, n), dtype=np.float32)
    W = sp.vstack(parts, format="csr").astype(np.float32)
    return W


# --------------------------------------------------------------------------------------
# shared data
# --------------------------------------------------------------------------------------
class InteractionData:
    """User and item index plus the weighted sparse matrix shared by all models.

    Parameters
    ----------
    scores : DataFrame
        ``user_id, post_id, score`` (duplicates are summed).
    items : sequence or DataFrame, optional
        Extra catalogue items (e.g. posted today, no interactions yet); a DataFrame
        needs ``post_id``.
    weighting : {"log1p", "none", "binary"}, default "log1p"
    user_col, item_col, score_col : str

    Attributes
    ----------
    users : pandas.Index
    items : pandas.Index
    X : csr_matrix float64, shape (n_users, n_items)
    user_counts : ndarray, items per user
    item_counts : ndarray, users per item
    """

    def __init__(
        self,
        scores: pd.DataFrame,
        items: pd.DataFrame | Sequence[Any] | None = None,
        *,
        weighting: str = "log1p",
        user_col: str = "user_id",
        item_col: str = "post_id",
        score_col: str = "score",
    ) -> None:
        u_codes, users = pd.factorize(scores[user_col], sort=True)
        extra: np.ndarray | None = None
        if items is not None:
            extra = np.asarray(items[item_col] if isinstance(items, pd.DataFrame) else items)
        item_vals = scores[item_col].to_numpy()
        all_items = pd.Index(item_vals).unique()
        if extra is not None and len(extra):
            all_items = all_items.append(pd.Index(extra)).unique()
        all_items = all_items.sort_values()
        i_codes = all_items.get_indexer(item_vals)
        w = pd.to_numeric(scores[score_col], errors="coerce").fillna(0.0).to_numpy(np.float64)
        # duplicates are summed in (user, item, value) order: the same rows in any input
        # order give the same float sums
        order = np.lexsort((w, i_codes, u_codes))
        u_codes, i_codes, w = u_codes[order], i_codes[order], w[order]
        X = sp.csr_matrix(
            (w, (u_codes, i_codes)), shape=(len(users), len(all_items)), dtype=np.float64
        )
        X.sum_duplicates()
        X.data = np.clip(X.data, 0.0, None)
        if weighting == "log1p":
            X.data = np.log1p(X.data)
        elif weighting == "binary":
            X.data = (X.data > 0).astype(np.float64)
        elif weighting != "none":
            raise ValueError(f"unknown weighting {weighting!r}")
        X.eliminate_zeros()
        self.users = pd.Index(users)
        self.items = all_items
        X.sort_indices()
        self.X = X.tocsr()  # float64: a float32 cast rounds tiny positive scores to 0
        self.weighting = weighting
        self.user_counts = np.diff(self.X.indptr)
        self.item_counts = np.bincount(self.X.indices, minlength=len(all_items))


def _seen_block(X: sp.csr_matrix, uidx: np.ndarray) -> sp.csr_matrix:
    B = X[uidx]
    B.data = np.ones_like(B.data)
    return B


# --------------------------------------------------------------------------------------
# base class
# --------------------------------------------------------------------------------------
class _BaseRecommender:
    name = "base"
    #: does the model recommend for users absent from the training data?
    serves_unknown_users = False

    def fit(
        self,
        scores: pd.DataFrame | InteractionData,
        *,
        items: pd.DataFrame | Sequence[Any] | None = None,
        item_topics: pd.DataFrame | None = None,
    ):
        """Fit on ``scores`` (``user_id, post_id, score``) or a prepared InteractionData.

        Parameters
        ----------
        scores : DataFrame or InteractionData
        items : DataFrame or sequence, optional
            Catalogue items without interactions that may be recommended (new posts).
        item_topics : DataFrame, optional
            ``post_id, topic_id, weight`` (content and hybrid models).

        Returns
        -------
        self
        """
        if isinstance(scores, InteractionData):
            data = scores
        else:
            data = InteractionData(scores, items, weighting=getattr(self, "weighting", "log1p"))
        self.data_ = data
        self.fit_item_topics_ = item_topics  # a reference: reuse checks identity
        self._fit(data, item_topics)
        return self

    def init_params(self) -> dict[str, Any]:
        """The constructor parameters and their current values."""
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {p: getattr(self, p) for p in names}

    def _fit(self, data: InteractionData, item_topics: pd.DataFrame | None) -> None:
        raise NotImplementedError

    def _topn_block(self, uidx, n, exclude_seen, item_mask):  # pragma: no cover - abstract
        raise NotImplementedError

    def _block_bounds(self, uidx: np.ndarray) -> list[tuple[int, int]]:
        return _blocks_by_budget(np.ones(len(uidx)), float(getattr(self, "user_block", 20000)),
                                 int(getattr(self, "user_block", 20000)))

    def _recommend_idx(
        self,
        uidx: np.ndarray,
        n: int,
        exclude_seen: bool = True,
        item_mask: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Top-``n`` for user indices: ``(position in uidx, item index, score, rank0)``."""
        uidx = np.asarray(uidx, dtype=np.int64)
        outs = []
        for s, e in self._block_bounds(uidx):
            r, c, v = self._topn_block(uidx[s:e], n, exclude_seen, item_mask)
            outs.append((r + s, c, v))
        if not outs:
            e0 = np.zeros(0, dtype=np.int64)
            return e0, e0, np.zeros(0, dtype=np.float64), e0
        r = np.concatenate([o[0] for o in outs])
        c = np.concatenate([o[1] for o in outs])
        v = np.concatenate([o[2] for o in outs]).astype(np.float64)
        # entries come grouped by user and best first: rank within user
        starts = np.r_[0, np.flatnonzero(np.diff(r)) + 1]
        lens = np.diff(np.r_[starts, len(r)])
        rank = np.arange(len(r)) - np.repeat(starts, lens)
        return r, c, v, rank

    def _topn_unknown(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)

    def recommend(
        self,
        users: Iterable[Any] | None = None,
        n: int = 10,
        *,
        exclude_seen: bool = True,
    ) -> pd.DataFrame:
        """Top-``n`` recommendations per user.

        Parameters
        ----------
        users : iterable, optional
            User ids (default: every user in the training data). Unknown users get
            recommendations only from models that serve them (popularity, hybrid).
        n : int, default 10
        exclude_seen : bool, default True

        Returns
        -------
        DataFrame
            ``user_id, rank, post_id, score, model`` (rank starts at 1).
        """
        data = self.data_
        if users is None:
            user_ids = np.asarray(data.users)
        else:
            user_ids = np.asarray(pd.unique(pd.Series(list(users))))
        codes = data.users.get_indexer(user_ids)
        known = codes >= 0
        parts = []
        if known.any():
            pos, c, v, rank = self._recommend_idx(codes[known], n, exclude_seen)
            parts.append(self._frame(user_ids[known][pos], c, v, rank, self._models(pos, c)))
        if (~known).any() and self.serves_unknown_users:
            c, v = self._topn_unknown(n)
            unk = user_ids[~known]
            parts.append(
                self._frame(
                    np.repeat(unk, len(c)),
                    np.tile(c, len(unk)),
                    np.tile(v, len(unk)),
                    np.tile(np.arange(len(c)), len(unk)),
                    np.full(len(unk) * len(c), "popularity", dtype=object),
                )
            )
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
                REC_COLUMNS, [object, np.int32, object, np.float64, object], strict=True)})
        return pd.concat(parts, ignore_index=True)

    def _models(self, pos: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.full(len(pos), self.name, dtype=object)

    def _frame(self, users, item_idx, score, rank0, model) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "user_id": users,
                "rank": (np.asarray(rank0) + 1).astype(np.int32),
                "post_id": np.asarray(self.data_.items)[item_idx],
                "score": np.asarray(score, dtype=np.float64),
                "model": model,
            }
        )


def _extract_topn(
    S: sp.csr_matrix,
    seen: sp.csr_matrix | None,
    n: int,
    item_mask: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``n`` positive entries per row of a sparse score block, skipping seen items."""
    S = sp.csr_matrix(S, dtype=np.float64)  # a product: no duplicate entries
    if seen is not None and seen.nnz:
        S = (S - seen.multiply(3e300)).tocsr()
    S.sort_indices()
    keep = S.data > 0
    if item_mask is not None:
        keep &= item_mask[S.indices]
    if not keep.all():
        S.data[~keep] = 0.0
        S.eliminate_zeros()
    pos, rows, _ = _segment_topk(S.indptr, S.data, n)
    return rows, S.indices[pos].astype(np.int64), S.data[pos]


def _extract_topn_dense(
    S: np.ndarray, n: int, cols: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``n`` positive, finite entries per row of a dense block.

    Best first; among equal values the lower column wins (and comes first). The
    ``n``-th largest value of every row is found with one ``np.partition``; the entries
    above it and, of the entries equal to it, the lowest columns still needed are the
    candidates, so only about ``n`` entries per row are sorted.
    """
    n_rows, m = S.shape
    if m == 0 or n_rows == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0, dtype=np.float32)
    kk = min(n, m)
    if np.isnan(S).any():
        S = np.where(np.isnan(S), -np.inf, S)
    if kk < m:
        thr = np.partition(S, m - kk, axis=1)[:, m - kk:m - kk + 1]
        gt = S > thr
        need = kk - np.count_nonzero(gt, axis=1)
        r1, c1 = np.nonzero(gt)
        del gt
        r2, c2 = np.nonzero(S == thr)  # row-major: ascending columns within a row
        cnt = np.bincount(r2, minlength=n_rows)
        within = np.arange(len(r2)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        keep = within < need[r2]
        r = np.concatenate([r1, r2[keep]])
        c = np.concatenate([c1, c2[keep]])
    else:
        r = np.repeat(np.arange(n_rows), m)
        c = np.tile(np.arange(m), n_rows)
    v = S[r, c]
    order = np.lexsort((c, -v, r))  # by row, best first, ties by lower column
    r, c, v = r[order], c[order], v[order]
    ok = np.isfinite(v) & (v > 0)
    items = c[ok] if cols is None else cols[c[ok]]
    return r[ok].astype(np.int64), items.astype(np.int64), v[ok].astype(np.float64)


# --------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------
class PopularityRecommender(_BaseRecommender):
    """Most popular items (distinct users in the training data), minus seen items.

    Parameters
    ----------
    weighting : str, default "log1p"
        Only matters for the shared matrix; popularity counts users.
    work_budget : float, default 2e7
        Dense cells per block.
    """

    name = "popularity"
    serves_unknown_users = True

    def __init__(self, weighting: str = "log1p", work_budget: float = 2e7) -> None:
        self.weighting = weighting
        self.work_budget = work_budget

    def _fit(self, data, item_topics) -> None:
        pop = data.item_counts.astype(np.float32)
        self.popularity_ = pop
        order = np.argsort(-pop, kind="stable")
        self.order_ = order[pop[order] > 0]

    def _block_bounds(self, uidx):
        counts = self.data_.user_counts[uidx].astype(np.float64)
        return _blocks_by_budget(counts + 10.0, self.work_budget / 50.0, 50_000)

    def _topn_block(self, uidx, n, exclude_seen, item_mask):
        order = self.order_ if item_mask is None else self.order_[item_mask[self.order_]]
        extra = int(self.data_.user_counts[uidx].max()) if exclude_seen and len(uidx) else 0
        cand = order[: n + extra]
        S = np.broadcast_to(self.popularity_[cand], (len(uidx), len(cand))).copy()
        if exclude_seen and len(cand):
            seen = self.data_.X[uidx][:, cand]
            r, c = seen.nonzero()
            S[r, c] = -np.inf
        return _extract_topn_dense(S, n, cand)

    def _topn_unknown(self, n):
        c = self.order_[:n]
        return c, self.popularity_[c]


class ItemKNNRecommender(_BaseRecommender):
    """Item-item cosine neighbourhood recommender.

    Parameters
    ----------
    n_neighbors : int, default 50
    weighting : {"log1p", "none", "binary"}, default "log1p"
    min_similarity : float, default 0
    shrinkage : float, default 10
        Support shrinkage of the similarities (see :func:`cosine_topk_neighbors`).
    block_budget : float, default 3e7
        Non-zeros bound of one similarity or scoring block.
    n_jobs : int, default 1
        Threads for the similarity blocks.

    Attributes
    ----------
    similarity_ : csr_matrix (n_items, n_items), top ``n_neighbors`` per row
    """

    name = "item_knn"

    def __init__(
        self,
        n_neighbors: int = 50,
        weighting: str = "log1p",
        min_similarity: float = 0.0,
        shrinkage: float = 10.0,
        block_budget: float = 3e7,
        n_jobs: int = 1,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.weighting = weighting
        self.min_similarity = min_similarity
        self.shrinkage = shrinkage
        self.block_budget = block_budget
        self.n_jobs = n_jobs

    def _fit(self, data, item_topics) -> None:
        self.similarity_ = cosine_topk_neighbors(
            data.X,
            self.n_neighbors,
            axis=0,
            block_budget=self.block_budget,
            min_similarity=self.min_similarity,
            shrinkage=self.shrinkage,
            n_jobs=self.n_jobs,
        )
        self._sim_nnz = np.diff(self.similarity_.indptr).astype(np.float64)

    def _block_bounds(self, uidx):
        X = self.data_.X[uidx]
        work = (sp.csr_matrix((np.ones_like(X.data), X.indices, X.indptr), shape=X.shape)
                @ self._sim_nnz) + 1.0
        return _blocks_by_budget(work, self.block_budget, 100_000)

    def _topn_block(self, uidx, n, exclude_seen, item_mask):
        Xb = self.data_.X[uidx]
        S = Xb @ self.similarity_
        seen = _seen_block(self.data_.X, uidx) if exclude_seen else None
        return _extract_topn(S, seen, n, item_mask)


class UserKNNRecommender(_BaseRecommender):
    """User-user cosine neighbourhood recommender.

    Parameters
    ----------
    n_neighbors : int, default 50
    weighting : {"log1p", "none", "binary"}, default "log1p"
    max_item_users : int, optional
        Items with more users than this are ignored when computing user similarity.
    shrinkage : float, default 10
        Support shrinkage of the similarities (see :func:`cosine_topk_neighbors`).
    block_budget : float, default 3e7
        Non-zeros bound of one similarity block.
    """

    name = "user_knn"

    def __init__(
        self,
        n_neighbors: int = 50,
        weighting: str = "log1p",
        max_item_users: int | None = None,
        shrinkage: float = 10.0,
        block_budget: float = 3e7,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.weighting = weighting
        self.max_item_users = max_item_users
        self.shrinkage = shrinkage
        self.block_budget = block_budget

    def _fit(self, data, item_topics) -> None:
        Xs = data.X
        if self.max_item_users is not None:
            keep = (data.item_counts <= self.max_item_users).astype(np.float32)
            Xs = (Xs @ sp.diags(keep)).tocsr()
            Xs.eliminate_zeros()
        self._Xn = _l2_normalize_rows(Xs)
        self._XnT = self._Xn.T.tocsr()
        self._item_deg = np.diff(self._XnT.indptr).astype(np.float64)
        self._support = np.diff(self._Xn.indptr).astype(np.float64)

    def _block_bounds(self, uidx):
        X = self._Xn[uidx]
        work = (sp.csr_matrix((np.ones_like(X.data), X.indices, X.indptr), shape=X.shape)
                @ self._item_deg) + 1.0
        return _blocks_by_budget(work, self.block_budget, 20_000)

    def neighbors(self, uidx: np.ndarray) -> sp.csr_matrix:
        """Top-``n_neighbors`` similar users (rows: ``uidx``; columns: all users)."""
        uidx = np.asarray(uidx, dtype=np.int64)
        S = (self._Xn[uidx] @ self._XnT).tocsr()  # a product: no duplicate entries
        rows = np.repeat(np.arange(len(uidx)), np.diff(S.indptr))
        S.data[S.indices == uidx[rows]] = 0.0
        if self.shrinkage:
            c = S.data * np.sqrt(self._support[uidx[rows]] * self._support[S.indices])
            S.data *= (c / (c + self.shrinkage)).astype(np.float32)
        S.eliminate_zeros()
        return _topk_csr(S, self.n_neighbors)

    def _topn_block(self, uidx, n, exclude_seen, item_mask):
        N = self.neighbors(uidx)
        S = N @ self.data_.X
        seen = _seen_block(self.data_.X, uidx) if exclude_seen else None
        return _extract_topn(S, seen, n, item_mask)


class ContentRecommender(_BaseRecommender):
    """Topic-profile content recommender with a popularity prior.

    Parameters
    ----------
    popularity_weight : float, default 1.0
        ``score = cosine * (1 + popularity_weight * log1p(pop) / log1p(max_pop))``.
    pool_per_topic : int, default 1000
        Candidate pool: the best items of every topic (by topic weight x prior) when
        the catalogue has more than ``max_full_pool`` items.
    max_full_pool : int, default 20000
    max_restricted_pool : int, default 2000
        When asked for a subset of items (the hybrid's cold items), at most this many
        candidates: the subset's best items per topic.
    weighting : str, default "log1p"
    work_budget : float, default 2e7
        Dense cells per scoring block.
    """

    name = "content"

    def __init__(
        self,
        popularity_weight: float = 1.0,
        pool_per_topic: int = 1000,
        max_full_pool: int = 20_000,
        max_restricted_pool: int = 2_000,
        weighting: str = "log1p",
        work_budget: float = 2e7,
    ) -> None:
        self.popularity_weight = popularity_weight
        self.pool_per_topic = pool_per_topic
        self.max_full_pool = max_full_pool
        self.max_restricted_pool = max_restricted_pool
        self.weighting = weighting
        self.work_budget = work_budget

    def _fit(self, data, item_topics) -> None:
        if item_topics is None:
            raise ValueError("the content model needs item_topics (post_id, topic_id, weight)")
        from .topics import item_topic_matrix

        _, T = item_topic_matrix(item_topics, data.items)
        norms = np.linalg.norm(T, axis=1)
        Tn = np.divide(T, norms[:, None], out=np.zeros_like(T), where=norms[:, None] > 0)
        pop = data.item_counts.astype(np.float64)
        prior = 1.0 + self.popularity_weight * np.log1p(pop) / max(np.log1p(pop.max()), 1e-12)
        self.item_vectors_ = Tn.astype(np.float32)
        self.prior_ = prior.astype(np.float32)
        has = norms > 0
        self._has_topic = has
        if has.sum() <= self.max_full_pool:
            pool = np.flatnonzero(has)
        else:
            pool_set = []
            for t in range(T.shape[1]):
                s = T[:, t] * self.prior_
                k = min(self.pool_per_topic, int((s > 0).sum()))
                if k:
                    pool_set.append(np.argpartition(-s, k - 1)[:k])
            pool = np.unique(np.concatenate(pool_set)) if pool_set else np.zeros(0, np.int64)
        self.pool_ = pool.astype(np.int64)
        P = data.X @ T
        self.user_profiles_ = self._normalise(np.asarray(P, dtype=np.float64)).astype(
            np.float32)

    @staticmethod
    def _normalise(P: np.ndarray) -> np.ndarray:
        """Unit rows; each row is divided by its largest |value| first (no underflow)."""
        m = np.abs(P).max(axis=1, keepdims=True) if P.size else np.zeros((len(P), 1))
        P = np.divide(P, m, out=np.zeros_like(P), where=m > 0)
        n = np.linalg.norm(P, axis=1, keepdims=True)
        return np.divide(P, n, out=np.zeros_like(P), where=n > 0)

    def _pool(self, item_mask):
        if item_mask is None:
            return self.pool_
        key = item_mask.tobytes()
        if getattr(self, "_mask_key", None) != key:
            # a restricted pool (e.g. cold items): its best items per topic
            cand = np.flatnonzero(item_mask & self._has_topic)
            if len(cand) > self.max_restricted_pool:
                per = max(1, self.max_restricted_pool // self.item_vectors_.shape[1])
                S = self.item_vectors_[cand] * self.prior_[cand, None]
                picks = [cand[np.argsort(-S[:, t], kind="stable")[:per]]
                         for t in range(S.shape[1])]
                cand = np.unique(np.concatenate(picks))
            self._mask_key, self._mask_pool = key, cand
        return self._mask_pool

    def _recommend_idx(self, uidx, n, exclude_seen=True, item_mask=None):
        self._pool_size = len(self._pool(item_mask))
        return super()._recommend_idx(uidx, n, exclude_seen, item_mask)

    def _block_bounds(self, uidx):
        m = max(getattr(self, "_pool_size", len(self.pool_)), 1)
        rows = max(1, int(self.work_budget // m))
        return _blocks_by_budget(np.ones(len(uidx)), rows, rows)

    def _topn_block(self, uidx, n, exclude_seen, item_mask):
        pool = self._pool(item_mask)
        if len(pool) == 0:
            e = np.zeros(0, dtype=np.int64)
            return e, e, np.zeros(0, dtype=np.float32)
        S = self.user_profiles_[uidx] @ self.item_vectors_[pool].T
        S *= self.prior_[pool][None, :]
        if exclude_seen:
            seen = self.data_.X[uidx][:, pool]
            r, c = seen.nonzero()
            S[r, c] = -np.inf
        return _extract_topn_dense(S, n, pool)


# constructors (their keyword arguments differ per model)
MODELS: dict[str, Callable[..., _BaseRecommender]] = {
    "item_knn": ItemKNNRecommender,
    "user_knn": UserKNNRecommender,
    "content": ContentRecommender,
    "popularity": PopularityRecommender,
}


class HybridRecommender(_BaseRecommender):
    """Collaborative filtering with content and popularity fall-backs for cold start.

    Parameters
    ----------
    cf : {"item_knn", "user_knn"}, default "item_knn"
    min_user_interactions : int, default 3
        Users with fewer training items are cold: content, then popularity.
    min_item_interactions : int, default 1
        Items with fewer training users are cold. The default makes exactly the items
        without any feedback yet (posted today) cold: on the planted data, also treating
        items with one or two users as cold filled the slots with old, unpopular posts
        and lowered NDCG, while fresh-post slots raised it above plain CF.
    cold_item_slots : int, default 2
        Positions at the end of a warm user's list given to the best content matches
        among cold items (0 disables).
    cf_params, content_params : dict, optional
        Parameters of the sub-models.
    weighting : str, default "log1p"
    popularity_blend : float, default 0
        Weight ``a`` in [0, 1] of popularity in a warm user's list (see the module
        docstring); 0 is plain CF, 1 is popularity. Read at recommendation time, so a
        fitted model can be re-ranked with another value.
    user_block : int, default 20000
        Users whose lists are built together (memory of the candidate tables is
        proportional to it; the lists do not depend on it).

    Attributes
    ----------
    cf_, content_, popularity_ : fitted sub-models (``content_`` is None without topics)
    """

    name = "hybrid"
    serves_unknown_users = True
    #: model code (0 CF, 1 content, 2 popularity) of each row of the last list built
    _last_codes: np.ndarray

    def __init__(
        self,
        cf: str = "item_knn",
        min_user_interactions: int = 3,
        min_item_interactions: int = 1,
        cold_item_slots: int = 2,
        cf_params: dict[str, Any] | None = None,
        content_params: dict[str, Any] | None = None,
        weighting: str = "log1p",
        popularity_blend: float = 0.0,
        user_block: int = 20_000,
    ) -> None:
        if not 0.0 <= float(popularity_blend) <= 1.0:
            raise ValueError(f"popularity_blend must be in [0, 1], got {popularity_blend!r}")
        self.popularity_blend = float(popularity_blend)
        self.cf = cf
        self.min_user_interactions = min_user_interactions
        self.min_item_interactions = min_item_interactions
        self.cold_item_slots = cold_item_slots
        self.cf_params = cf_params
        self.content_params = content_params
        self.weighting = weighting
        self.user_block = user_block

    def reuse_fitted(self, fitted: dict[str, _BaseRecommender]) -> HybridRecommender:
        """Offer sub-models that are already fitted (e.g. by the offline evaluation).

        One is used instead of fitting a new one when it is of the same class with the
        same constructor parameters, fitted on the same :class:`InteractionData` object
        (and, for the content model, the same ``item_topics`` object). Fitting is
        deterministic, so the result is the same; only the time is saved.
        """
        self._offered = dict(fitted)
        return self

    def _sub(self, fresh: _BaseRecommender, data, item_topics) -> _BaseRecommender:
        cand = getattr(self, "_offered", {}).get(fresh.name)
        if (cand is not None and type(cand) is type(fresh)
                and getattr(cand, "data_", None) is data
                and (not isinstance(fresh, ContentRecommender)
                     or getattr(cand, "fit_item_topics_", None) is item_topics)
                and cand.init_params() == fresh.init_params()):
            return cand
        return fresh.fit(data, item_topics=item_topics)

    def _fit(self, data, item_topics) -> None:
        self.cf_ = self._sub(MODELS[self.cf](weighting=self.weighting,
                                             **(self.cf_params or {})), data, None)
        self.content_ = None
        if item_topics is not None and len(item_topics):
            self.content_ = self._sub(ContentRecommender(weighting=self.weighting,
                                                         **(self.content_params or {})),
                                      data, item_topics)
        self.popularity_ = self._sub(PopularityRecommender(weighting=self.weighting), data,
                                     None)
        self._offered = {}  # the offer holds for one fit; do not keep the others alive
        self.cold_items_ = data.item_counts < self.min_item_interactions

    def _block_bounds(self, uidx):
        b = max(int(self.user_block), 1)
        return _blocks_by_budget(np.ones(len(uidx)), b, b)

    def _recommend_idx(self, uidx, n, exclude_seen=True, item_mask=None):
        """The chain for blocks of ``user_block`` users at a time.

        Every step of the chain is per user (a user's list depends on their own row
        only), so the blocks give the lists of one pass over all users while the
        intermediate candidate tables stay bounded by the block size.
        """
        uidx = np.asarray(uidx, dtype=np.int64)
        outs, codes = [], []
        for s, e in self._block_bounds(uidx):
            p, c, v, r = self._recommend_block(uidx[s:e], n, exclude_seen, item_mask)
            outs.append((p + s, c, v, r))
            codes.append(self._last_codes)
        if not outs:
            e0 = np.zeros(0, dtype=np.int64)
            self._last_codes = e0
            return e0, e0, np.zeros(0, dtype=np.float64), e0
        self._last_codes = np.concatenate(codes)
        return (np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs]),
                np.concatenate([o[2] for o in outs]), np.concatenate([o[3] for o in outs]))

    def _recommend_block(self, uidx, n, exclude_seen=True, item_mask=None):
        counts = self.data_.user_counts[uidx]
        warm = np.flatnonzero(counts >= self.min_user_interactions)
        self._blend_pop = None
        tiers = []  # (pos, item, score, rank, tier, model_code)

        def add(pos_map, res, tier, code, max_rank=None):
            p, c, v, r = res
            if max_rank is not None:
                k = r < max_rank
                p, c, v, r = p[k], c[k], v[k], r[k]
            tiers.append((pos_map[p], c, v, r, np.full(len(p), tier), np.full(len(p), code)))

        content = self.content_
        slots = self.cold_item_slots if (content is not None and
                                         self.cold_items_.any()) else 0
        if len(warm):
            cf = self._cf_list(uidx[warm], n, exclude_seen, item_mask)
            if slots and content is not None:
                cmask = self.cold_items_ if item_mask is None else self.cold_items_ & item_mask
                add(warm, content._recommend_idx(uidx[warm], slots, exclude_seen, cmask),
                    1, 1)
                add(warm, cf, 0, 0, max_rank=n - slots)
                p, c, v, r = cf
                k = r >= n - slots
                tiers.append((warm[p[k]], c[k], v[k], r[k], np.full(k.sum(), 2),
                              np.zeros(k.sum(), dtype=np.int64)))
            else:
                add(warm, cf, 0, 0)
        if self.content_ is not None:
            need = self._short_of(tiers, len(uidx), n)
            if len(need):
                add(need, self.content_._recommend_idx(uidx[need], n, exclude_seen, item_mask),
                    3, 1)
        need = self._short_of(tiers, len(uidx), n)
        if len(need):
            add(need, self.popularity_._recommend_idx(uidx[need], n, exclude_seen, item_mask),
                4, 2)
        if not tiers:
            e = np.zeros(0, dtype=np.int64)
            self._last_codes = e
            return e, e, np.zeros(0, dtype=np.float32), e
        pos = np.concatenate([t[0] for t in tiers])
        item = np.concatenate([t[1] for t in tiers])
        score = np.concatenate([t[2] for t in tiers]).astype(np.float64)
        rank = np.concatenate([t[3] for t in tiers])
        tier = np.concatenate([t[4] for t in tiers])
        code = np.concatenate([t[5] for t in tiers])
        order = np.lexsort((rank, tier, pos))
        pos, item, score, rank, tier, code = (a[order] for a in (pos, item, score, rank, tier,
                                                                  code))
        key = pos.astype(np.int64) * len(self.data_.items) + item
        keep = ~pd.Series(key).duplicated(keep="first").to_numpy()  # best tier wins
        pos, item, score, code = pos[keep], item[keep], score[keep], code[keep]
        starts = np.r_[0, np.flatnonzero(np.diff(pos)) + 1]
        lens = np.diff(np.r_[starts, len(pos)])
        r0 = np.arange(len(pos)) - np.repeat(starts, lens)
        k = r0 < n
        if self._blend_pop is not None and len(self._blend_pop):
            n_items = np.int64(len(self.data_.items))
            hit = np.isin(uidx[pos].astype(np.int64) * n_items + item, self._blend_pop)
            code = np.where(hit & (code == 0), 2, code)
        self._last_codes = code[k]
        return pos[k], item[k], score[k], r0[k]

    def _cf_list(self, uidx, n, exclude_seen, item_mask):
        """The CF top-``n`` of warm users, blended with popularity when asked.

        Blended rows where popularity contributes at least as much as CF to the blended
        score are marked in ``self._blend_pop``, so that they are labelled
        ``popularity``.
        """
        a = self.popularity_blend
        self._blend_pop = None
        if a <= 0:
            return self.cf_._recommend_idx(uidx, n, exclude_seen, item_mask)
        m = 3 * n
        cp, ci, cv, _ = self.cf_._recommend_idx(uidx, m, exclude_seen, item_mask)
        pp, pi, _, _ = self.popularity_._recommend_idx(uidx, m, exclude_seen, item_mask)
        cf_max = np.zeros(len(uidx))
        np.maximum.at(cf_max, cp, cv)
        pop = self.data_.item_counts.astype(np.float64)
        pop_max = max(float(pop.max()) if len(pop) else 0.0, 1.0)
        pos = np.r_[cp, pp].astype(np.int64)
        item = np.r_[ci, pi].astype(np.int64)
        cf = np.r_[np.divide(cv, cf_max[cp], out=np.zeros(len(cv)), where=cf_max[cp] > 0),
                   np.zeros(len(pp))]
        # one row per (user, item): the largest normalised CF value (0 if only popular)
        o = np.lexsort((cf, item, pos))
        pos, item, cf = pos[o], item[o], cf[o]
        last = np.r_[(pos[1:] != pos[:-1]) | (item[1:] != item[:-1]), True] if len(pos) else \
            np.zeros(0, dtype=bool)
        pos, item, cf = pos[last], item[last], cf[last]
        cf_part = (1 - a) * cf
        pop_part = a * pop[item] / pop_max
        score = cf_part + pop_part
        from_pop = pop_part >= cf_part
        o = np.lexsort((item, -score, pos))  # by user, best first, ties by item index
        pos, item, score, from_pop = pos[o], item[o], score[o], from_pop[o]
        cnt = np.bincount(pos, minlength=len(uidx))
        rank = np.arange(len(pos)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        k = rank < n
        pos, item, score, rank, from_pop = pos[k], item[k], score[k], rank[k], from_pop[k]
        # (user index, item index) keys of the rows labelled popularity
        keys = uidx[pos[from_pop]].astype(np.int64) * np.int64(len(self.data_.items)) \
            + item[from_pop]
        self._blend_pop = np.sort(keys)
        return pos, item, score, rank

    def _short_of(self, tiers, n_users: int, n: int) -> np.ndarray:
        """Positions of users with fewer than ``n`` distinct items in ``tiers`` so far."""
        if not tiers:
            return np.arange(n_users)
        pos = np.concatenate([t[0] for t in tiers]).astype(np.int64)
        item = np.concatenate([t[1] for t in tiers]).astype(np.int64)
        key = pd.unique(pos * len(self.data_.items) + item)
        have = np.bincount(key // len(self.data_.items), minlength=n_users)
        return np.flatnonzero(have < n)

    def _models(self, pos, items):
        names = np.array([self.cf, "content", "popularity"], dtype=object)
        return names[self._last_codes]

    def _topn_unknown(self, n):
        return self.popularity_._topn_unknown(n)


def make_recommender(name: str, **params: Any) -> _BaseRecommender:
    """A recommender by name.

    ``item_knn``, ``user_knn``, ``content``, ``popularity`` or ``hybrid``; ``params`` go
    to the class.
    """
    if name == "hybrid":
        return HybridRecommender(**params)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {[*MODELS, 'hybrid']}")
    return MODELS[name](**params)


def recommend(
    scores: pd.DataFrame,
    *,
    items: pd.DataFrame | None = None,
    item_topics: pd.DataFrame | None = None,
    model: str = "hybrid",
    n: int = 10,
    users: Iterable[Any] | None = None,
    exclude_seen: bool = True,
    **params: Any,
) -> pd.DataFrame:
    """Per-user top-``n`` recommendations, ready to store.

    Parameters
    ----------
    scores : DataFrame
        ``fct_user_item_scores``: ``user_id, post_id, score``.
    items : DataFrame, optional
        ``dim_items`` (``post_id``): catalogue items without interactions (new posts)
        become recommendable by the content model.
    item_topics : DataFrame, optional
        ``post_id, topic_id, weight`` from :func:`~social_warehouse.analytics.topics.fit_topics`.
    model : str, default "hybrid"
        ``hybrid``, ``item_knn``, ``user_knn``, ``content`` or ``popularity``.
    n : int, default 10
    users : iterable, optional
        Users to serve (default: every user in ``scores``).
    exclude_seen : bool, default True
    **params
        Parameters of the model class.

    Returns
    -------
    DataFrame
        ``user_id, rank, post_id, score, model``; ``model`` names the model that produced
        the row (for the hybrid: ``item_knn``/``user_knn``, ``content`` or ``popularity``).
    """
    rec = make_recommender(model, **params)
    rec.fit(scores, items=items, item_topics=item_topics)
    return rec.recommend(users, n, exclude_seen=exclude_seen)
