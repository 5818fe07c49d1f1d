"""Audience-overlap primitives: exact set measures, a KOL x follower matrix, MinHash.

Exact all-pairs overlap
    The audiences of ``n`` KOLs form a binary CSR matrix ``A`` (KOL x follower). The
    intersection sizes of all pairs are ``A @ A.T``; :func:`iter_overlap_blocks` computes
    it one block of rows at a time (``A[i:j] @ A.T``) so memory stays at
    ``block_size x n`` numbers. The work is ``sum_u d_u**2`` multiply-adds, ``d_u`` the
    number of KOLs user ``u`` follows (:func:`exact_overlap_work`); it is independent of the
    audience *sizes* as such and grows only with users who follow many KOLs.

MinHash
    :class:`MinHasher` builds ``num_perm`` min-hash values per audience with the universal
    hash family ``h(x) = (a x + b) mod (2**31 - 1)``. The share of equal signature slots
    estimates the Jaccard index ``J`` without bias (for ideal min-wise hashing) with standard
    deviation ``sqrt(J (1 - J) / k)`` <= ``1 / (2 sqrt(k))``. The stated error bound is the
    Hoeffding half-width ``eps = sqrt(ln(2 / delta) / (2 k))``: ``P(|J_hat - J| > eps) <=
    delta`` for every pair (``k = 128``, ``delta = 0.05``: ``eps = 0.120``; the typical error
    is far smaller, ``<= 0.044`` standard deviation). Intersections follow from
    ``|A n B| = J / (1 + J) (|A| + |B|)`` with exact set sizes.

Measured (``benchmarks/bench_kol.py``, 2 cores): 10,000 KOLs among 1M users, 9.86M follow
edges (6.86M into KOLs, audiences median 284 / max 199,773 followers, ``sum_u d_u**2`` =
1.2e8): exact all 50M pairs in 3.5 s; MinHash (k = 128) signatures + all pairs in 30 s
(mean absolute Jaccard error 0.0008, max 0.037, all within the stated 0.12); the full
``recommend_collaborations`` (exact, top 10 per KOL) in 11 s; peak RSS 0.96 GB. Exact cost
grows with ``sum_u d_u**2`` (users following many KOLs), MinHash with ``n_kols**2 * k``;
``method="auto"`` therefore switches to MinHash above ``exact_max_work`` multiply-adds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from ._arrays import str_columns

__all__ = [
    "MERSENNE_31",
    "jaccard",
    "overlap_coefficient",
    "AudienceMatrix",
    "build_audience_matrix",
    "exact_overlap_work",
    "MinHasher",
    "minhash_error_bound",
    "minhash_std",
    "OverlapBlock",
    "iter_overlap_blocks",
    "choose_overlap_method",
    "pairwise_overlap",
    "cofollow_candidates",
    "pair_intersections",
    "pair_minhash_jaccard",
    "top_per_row",
]

#: The Mersenne prime 2**31 - 1, modulus of the MinHash hash family.
MERSENNE_31 = (1 << 31) - 1


def jaccard(a: Iterable, b: Iterable) -> float:
    """Exact Jaccard index ``|a n b| / |a u b|`` of two collections (as sets).

    Two empty sets give NaN (undefined, not 0 or 1).
    """
    sa, sb = set(a), set(b)
    union = len(sa | sb)
    return len(sa & sb) / union if union else float("nan")


def overlap_coefficient(a: Iterable, b: Iterable) -> float:
    """Exact overlap (Szymkiewicz-Simpson) coefficient ``|a n b| / min(|a|, |b|)``.

    NaN when either set is empty.
    """
    sa, sb = set(a), set(b)
    m = min(len(sa), len(sb))
    return len(sa & sb) / m if m else float("nan")


@dataclass(frozen=True)
class AudienceMatrix:
    """Binary KOL x follower matrix.

    Attributes
    ----------
    kol_ids : numpy.ndarray
        Row labels.
    follower_ids : numpy.ndarray
        Column labels.
    matrix : scipy.sparse.csr_matrix
        ``int32`` ones, sorted indices, no duplicates.
    sizes : numpy.ndarray
        Audience size per KOL (``int64``).
    """

    kol_ids: np.ndarray
    follower_ids: np.ndarray
    matrix: sparse.csr_matrix
    sizes: np.ndarray

    @property
    def n_kols(self) -> int:
        return len(self.kol_ids)


def build_audience_matrix(
    follows: pd.DataFrame,
    kol_ids: Iterable | None = None,
    *,
    follower_col: str = "follower_id",
    followee_col: str = "followee_id",
) -> AudienceMatrix:
    """KOL x follower CSR matrix from follow edges.

    Parameters
    ----------
    follows : DataFrame
        Edges ``follower_col -> followee_col``; duplicates and self-follows are dropped.
    kol_ids : iterable, optional
        Row order; KOLs without followers get empty rows. Default: every followee, in
        order of first appearance.

    Returns
    -------
    AudienceMatrix
    """
    e = follows[[follower_col, followee_col]].dropna()
    e = e[e[follower_col] != e[followee_col]]
    if kol_ids is None:
        kols = pd.Index(pd.unique(e[followee_col]))
    else:
        kols = pd.Index(list(dict.fromkeys(kol_ids)))
    row = kols.get_indexer(e[followee_col])
    keep = row >= 0
    row = row[keep]
    fcodes, fids = pd.factorize(e[follower_col].to_numpy()[keep])
    m = sparse.csr_matrix(
        (np.ones(len(row), dtype=np.int32), (row.astype(np.int64), fcodes.astype(np.int64))),
        shape=(len(kols), len(fids)),
    )
    m.sum_duplicates()
    m.data[:] = 1  # duplicates summed above; back to binary
    m.sort_indices()
    sizes = np.diff(m.indptr).astype(np.int64)
    return AudienceMatrix(np.asarray(kols, dtype=object), np.asarray(fids, dtype=object), m, sizes)


def exact_overlap_work(audience: AudienceMatrix) -> float:
    """Multiply-adds of the exact product ``A @ A.T``: ``sum_u d_u**2``."""
    d = np.bincount(audience.matrix.indices, minlength=audience.matrix.shape[1]).astype("float64")
    return float((d * d).sum())


def minhash_error_bound(num_perm: int, confidence: float = 0.95) -> float:
    """Hoeffding half-width on a MinHash Jaccard estimate.

    ``P(|J_hat - J| > eps) <= 1 - confidence`` for each pair, ``eps = sqrt(ln(2/delta)/(2k))``.
    """
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    return math.sqrt(math.log(2.0 / (1.0 - confidence)) / (2.0 * num_perm))


def minhash_std(jaccard_value, num_perm: int):
    """Standard deviation ``sqrt(J (1 - J) / k)`` of the MinHash estimate at Jaccard ``J``."""
    j = np.asarray(jaccard_value, dtype="float64")
    return np.sqrt(np.clip(j * (1.0 - j), 0.0, None) / num_perm)


class MinHasher:
    """MinHash signatures of the rows of a binary CSR matrix.

    Parameters
    ----------
    num_perm : int
        Hash functions ``k`` (signature length). Default 128.
    seed : int
        Seed of the hash coefficients. Default 0.
    """

    def __init__(self, num_perm: int = 128, seed: int = 0) -> None:
        if num_perm < 1:
            raise ValueError("num_perm must be >= 1")
        self.num_perm = int(num_perm)
        self.seed = int(seed)
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, MERSENNE_31, size=num_perm, dtype=np.uint64)
        self.b = rng.integers(0, MERSENNE_31, size=num_perm, dtype=np.uint64)

    def signatures(self, matrix: sparse.csr_matrix) -> np.ndarray:
        """Signature matrix ``(n_rows, num_perm)`` of ``uint32``.

        Column indices are the hashed elements (they must be < 2**31 - 1). Empty rows get
        the sentinel ``2**31 - 1`` in every slot; :meth:`jaccard` treats them as having no
        overlap with anything.
        """
        m = sparse.csr_matrix(matrix)
        n_rows, n_cols = m.shape
        if n_cols >= MERSENNE_31:
            raise ValueError("too many distinct elements for the 31-bit hash family")
        sig = np.full((n_rows, self.num_perm), MERSENNE_31, dtype=np.uint32)
        nonempty = np.flatnonzero(np.diff(m.indptr) > 0)
        if len(nonempty) == 0:
            return sig
        starts = m.indptr[:-1][nonempty]
        universe = np.arange(n_cols, dtype=np.uint64)
        p = np.uint64(MERSENNE_31)
        for j in range(self.num_perm):
            # hash the element universe once, then gather per edge: O(n_cols + nnz)
            hu = ((self.a[j] * universe + self.b[j]) % p).astype(np.uint32)
            sig[nonempty, j] = np.minimum.reduceat(hu[m.indices], starts)
        return sig

    @staticmethod
    def jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
        """Estimated Jaccard between rows of ``sig_a`` (n, k) and ``sig_b`` (m, k): (n, m).

        Rows that are empty (sentinel signature) estimate 0.
        """
        sig_a = np.atleast_2d(sig_a)
        sig_b = np.atleast_2d(sig_b)
        k = sig_a.shape[1]
        eq = np.zeros((sig_a.shape[0], sig_b.shape[0]), dtype=np.int32)
        chunk = max(1, int(4e7 // max(1, sig_a.shape[0] * sig_b.shape[0])))
        for s in range(0, k, chunk):
            eq += (sig_a[:, None, s : s + chunk] == sig_b[None, :, s : s + chunk]).sum(
                axis=2, dtype=np.int32
            )
        est = eq / float(k)
        empty_a = (sig_a == MERSENNE_31).all(axis=1)
        empty_b = (sig_b == MERSENNE_31).all(axis=1)
        est[empty_a, :] = 0.0
        est[:, empty_b] = 0.0
        return est


@dataclass(frozen=True)
class OverlapBlock:
    """Overlap of KOL rows ``start:stop`` against all KOLs (dense ``(stop-start, n)``).

    ``intersection`` is exact for ``method == "exact"`` and estimated from the Jaccard
    estimate for ``"minhash"``; ``jaccard_error`` is 0 for exact and the Hoeffding
    half-width otherwise.
    """

    start: int
    stop: int
    intersection: np.ndarray
    jaccard: np.ndarray
    overlap_coefficient: np.ndarray
    method: str
    jaccard_error: float


def _derived(inter: np.ndarray, size_rows: np.ndarray, size_all: np.ndarray):
    union = size_rows[:, None] + size_all[None, :] - inter
    mins = np.minimum(size_rows[:, None], size_all[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        jac = np.where(union > 0, inter / np.where(union > 0, union, 1), np.nan)
        ovl = np.where(mins > 0, inter / np.where(mins > 0, mins, 1), np.nan)
    return jac, ovl


def iter_overlap_blocks(
    audience: AudienceMatrix,
    *,
    method: str = "exact",
    block_size: int = 256,
    num_perm: int = 128,
    seed: int = 0,
    confidence: float = 0.95,
) -> Iterator[OverlapBlock]:
    """Yield the overlap of every KOL with every KOL, a block of rows at a time.

    Parameters
    ----------
    audience : AudienceMatrix
    method : {"exact", "minhash"}
        ``exact``: sparse product ``A[i:j] @ A.T``. ``minhash``: signature comparison.
    block_size : int
        Rows per block (memory ~ ``block_size * n_kols * 8`` bytes per array).
    num_perm, seed, confidence
        MinHash parameters and the confidence of the stated error bound.

    Yields
    ------
    OverlapBlock
        The diagonal (a KOL with itself) is included; undefined ratios (empty audiences)
        are NaN.
    """
    sizes = audience.sizes.astype("float64")
    n = audience.n_kols
    if method == "exact":
        a = audience.matrix
        at = a.T.tocsr()
        for s in range(0, n, block_size):
            e = min(n, s + block_size)
            inter = (a[s:e] @ at).toarray().astype("float64")
            jac, ovl = _derived(inter, sizes[s:e], sizes)
            yield OverlapBlock(s, e, inter, jac, ovl, "exact", 0.0)
    elif method == "minhash":
        hasher = MinHasher(num_perm, seed)
        sig = hasher.signatures(audience.matrix)
        err = minhash_error_bound(num_perm, confidence)
        for s in range(0, n, block_size):
            e = min(n, s + block_size)
            jac = hasher.jaccard(sig[s:e], sig)
            tot = sizes[s:e, None] + sizes[None, :]
            inter = jac / (1.0 + jac) * tot
            inter = np.minimum(inter, np.minimum(sizes[s:e, None], sizes[None, :]))
            empty = (sizes[s:e, None] == 0) | (sizes[None, :] == 0)
            jac = np.where((sizes[s:e, None] == 0) & (sizes[None, :] == 0), np.nan, jac)
            mins = np.minimum(sizes[s:e, None], sizes[None, :])
            with np.errstate(divide="ignore", invalid="ignore"):
                ovl = np.where(empty, np.nan, inter / np.where(mins > 0, mins, 1))
            yield OverlapBlock(s, e, inter, jac, ovl, "minhash", err)
    else:
        raise ValueError(f"method must be 'exact' or 'minhash', got {method!r}")


def choose_overlap_method(audience: AudienceMatrix, method: str, exact_max_work: float) -> str:
    """Resolve ``method="auto"``: exact unless ``sum_u d_u**2`` exceeds ``exact_max_work``."""
    if method == "auto":
        return "exact" if exact_overlap_work(audience) <= exact_max_work else "minhash"
    if method not in ("exact", "minhash"):
        raise ValueError(f"method must be auto|exact|minhash, got {method!r}")
    return method


def pairwise_overlap(
    follows: pd.DataFrame | AudienceMatrix,
    kol_ids: Iterable | None = None,
    *,
    method: str = "auto",
    min_intersection: float = 1.0,
    block_size: int = 256,
    num_perm: int = 128,
    seed: int = 0,
    exact_max_work: float = 5e9,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Audience overlap of every unordered KOL pair with an overlap.

    Parameters
    ----------
    follows : DataFrame or AudienceMatrix
        Follow edges (``follower_id``, ``followee_id``) or a prebuilt matrix.
    kol_ids : iterable, optional
        KOLs to compare (default every followee).
    method : {"auto", "exact", "minhash"}
        ``auto`` uses exact products unless their work ``sum_u d_u**2`` exceeds
        ``exact_max_work``.
    min_intersection : float
        Pairs with a smaller (estimated) intersection are left out (default 1: pairs that
        share at least one follower). Use 0 to list every pair (n^2 / 2 rows).

    Returns
    -------
    DataFrame
        ``kol_a``, ``kol_b`` (row order a < b), ``size_a``, ``size_b``, ``intersection``,
        ``union``, ``jaccard``, ``overlap_coefficient``, ``overlap_method``,
        ``overlap_error`` (Hoeffding half-width on Jaccard; 0 for exact).
    """
    audience = (
        follows if isinstance(follows, AudienceMatrix) else build_audience_matrix(follows, kol_ids)
    )
    method = choose_overlap_method(audience, method, exact_max_work)
    parts = []
    for blk in iter_overlap_blocks(
        audience,
        method=method,
        block_size=block_size,
        num_perm=num_perm,
        seed=seed,
        confidence=confidence,
    ):
        rows = np.arange(blk.start, blk.stop)
        upper = rows[:, None] < np.arange(audience.n_kols)[None, :]
        keep = upper & (blk.intersection >= min_intersection)
        r, c = np.nonzero(keep)
        parts.append(
            pd.DataFrame(
                {
                    "a": rows[r],
                    "b": c,
                    "intersection": blk.intersection[r, c],
                    "jaccard": blk.jaccard[r, c],
                    "overlap_coefficient": blk.overlap_coefficient[r, c],
                }
            )
        )
    df = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["a", "b", "intersection", "jaccard", "overlap_coefficient"])
    )
    a = df["a"].to_numpy(dtype=np.int64)
    b = df["b"].to_numpy(dtype=np.int64)
    out = pd.DataFrame(
        {
            "kol_a": audience.kol_ids[a],
            "kol_b": audience.kol_ids[b],
            "size_a": audience.sizes[a],
            "size_b": audience.sizes[b],
            "intersection": df["intersection"].to_numpy(dtype="float64"),
        }
    )
    out["union"] = out["size_a"] + out["size_b"] - out["intersection"]
    out["jaccard"] = df["jaccard"].to_numpy(dtype="float64")
    out["overlap_coefficient"] = df["overlap_coefficient"].to_numpy(dtype="float64")
    out["overlap_method"] = method
    out["overlap_error"] = 0.0 if method == "exact" else minhash_error_bound(num_perm, confidence)
    # the same dtypes with or without rows (string ids stay strings when nothing overlaps)
    return str_columns(out, ["kol_a", "kol_b", "overlap_method"])


def _hash_ints(x: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 of ``x`` (int array) under ``seed``: uint64, uniform for sampling."""
    z = x.astype(np.uint64) + np.uint64((0x9E3779B97F4A7C15 * (seed + 1)) & 0xFFFFFFFFFFFFFFFF)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def top_per_row(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` largest ``values`` per row (ties by lower column), sorted by row then rank."""
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    if not len(rows):
        return rows, cols, values
    first = np.r_[True, rows[1:] != rows[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(rows)), 0))
    keep = np.arange(len(rows)) - start < k
    return rows[keep], cols[keep], values[keep]


def cofollow_candidates(
    audience: AudienceMatrix,
    n_neighbours: int = 50,
    *,
    sample_size: int = 256,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top co-follow neighbours of every KOL from bottom-k follower samples.

    Each KOL keeps the ``sample_size`` followers with the smallest hash (a bottom-k sketch:
    a uniform sample without replacement, the same follower chosen wherever it appears, so
    samples of overlapping audiences overlap). ``count(i, j)`` is the number of sampled
    followers of ``i`` who follow ``j`` - ``|F_i n F_j| * s_i / |F_i|`` in expectation, so
    for a fixed ``i`` it ranks partners by their intersection with ``F_i``. The work is
    ``sum`` over sampled followers of the KOLs they follow: never all pairs.

    Returns
    -------
    rows, cols, counts : numpy.ndarray
        Candidate pairs ``(i, j)`` (``i != j``, KOL row positions) with ``count > 0``, at
        most ``n_neighbours`` per ``i`` (largest counts first, ties by position).
    """
    m = audience.matrix
    n = audience.n_kols
    if n == 0 or m.nnz == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    row_of = np.repeat(np.arange(n, dtype=np.int64), np.diff(m.indptr))
    h = _hash_ints(m.indices, seed)
    order = np.lexsort((h, row_of))
    rank = np.arange(m.nnz) - m.indptr[row_of[order]]
    kept = order[rank < sample_size]
    sample = sparse.csr_matrix(
        (np.ones(len(kept), dtype=np.int32), (row_of[kept], m.indices[kept].astype(np.int64))),
        shape=m.shape,
    )
    counts = (sample @ m.T.tocsr()).tocoo()
    off = counts.row != counts.col
    return top_per_row(
        counts.row[off].astype(np.int64),
        counts.col[off].astype(np.int64),
        counts.data[off].astype("float64"),
        n_neighbours,
    )


def pair_intersections(audience: AudienceMatrix, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Exact ``|F_i n F_j|`` for the given pairs only.

    Pairs are grouped by the member with the larger audience; its followers are marked
    once in a boolean array over all followers, and the followers of the smaller members
    of its pairs are gathered and counted there. The work is ``sum`` of the larger
    audiences (each once) plus ``sum min(|F_i|, |F_j|)`` over the pairs; one loop step per
    distinct larger member (at most one per KOL), never per pair.
    """
    m = audience.matrix
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    out = np.zeros(len(i), dtype="float64")
    if not len(i) or m.nnz == 0:
        return out
    sizes = np.diff(m.indptr).astype(np.int64)
    swap = sizes[i] > sizes[j]
    small = np.where(swap, j, i)
    big = np.where(swap, i, j)
    order = np.argsort(big, kind="stable")
    starts = np.flatnonzero(np.r_[True, big[order][1:] != big[order][:-1]])
    ends = np.r_[starts[1:], len(order)]
    mark = np.zeros(m.shape[1], dtype=bool)
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        idx = order[s:e]
        b = big[idx[0]]
        fb = m.indices[m.indptr[b] : m.indptr[b + 1]]
        if not len(fb):
            continue
        mark[fb] = True
        deg = sizes[small[idx]]
        total = int(deg.sum())
        if total:
            owner = np.repeat(np.arange(len(idx)), deg)
            pos = np.repeat(m.indptr[small[idx]] - np.cumsum(deg) + deg, deg)
            pos = pos + np.arange(total, dtype=np.int64)
            out[idx] = np.bincount(owner, weights=mark[m.indices[pos]], minlength=len(idx))
        mark[fb] = False
    return out


def pair_minhash_jaccard(sig: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """MinHash Jaccard estimate for the given pairs (empty audiences estimate 0)."""
    out = np.zeros(len(i), dtype="float64")
    step = max(1, (1 << 22) // max(1, sig.shape[1]))
    for s in range(0, len(i), step):
        a = sig[i[s : s + step]]
        b = sig[j[s : s + step]]
        est = (a == b).mean(axis=1)
        empty = (a == MERSENNE_31).all(axis=1) | (b == MERSENNE_31).all(axis=1)
        out[s : s + step] = np.where(empty, 0.0, est)
    return out
