"""Shortest-path centralities: betweenness ("path centrality"), closeness and harmonic.

Semantics (networkx, hop-based)
    All three are computed on the *unweighted* directed graph: a path's length is its number
    of hops, which is what a marketer means by "how many introductions apart" and what
    ``nx.betweenness_centrality(G)``, ``nx.closeness_centrality(G)`` and
    ``nx.harmonic_centrality(G)`` compute with ``weight=None`` / ``distance=None``. (In
    networkx an edge weight in these functions is a *distance*; our weights are interaction
    strengths, the opposite, so they are not used here.) Self-loops and parallel rows never
    change a shortest path.

    * betweenness: normalised as networkx does for directed graphs, divided by
      ``(n - 1)(n - 2)``, endpoints excluded;
    * closeness: networkx's *incoming* distance with the Wasserman-Faust correction,
      ``(r - 1)^2 / ((n - 1) * sum of distances from the r - 1 users that reach u)``;
    * harmonic: ``sum over v != u of 1 / d(v, u)``, not normalised (as networkx).

    ``n`` counts isolated users passed through ``nodes=`` (they score 0 everywhere).

Exact or sampled
    Exactly one breadth-first search per source answers all three measures. The exact result
    runs a search from every user with an out-edge (the others reach nobody and contribute
    nothing). When that costs more than ``exact_max_work`` edge visits (5e8, about 5-10 s on
    two cores), ``k`` sources are drawn uniformly, without replacement, from the
    users with an out-edge (``numpy.random.default_rng(seed)``), and every sum over sources
    is scaled up as networkx does for ``betweenness_centrality(G, k=...)``: user ``v``'s sum
    is multiplied by ``N_v / k_v``, the number of candidate sources other than ``v`` over the
    number of sampled sources other than ``v`` (Brandes & Pich 2007). Closeness is the ratio
    estimate ``N_v c_v^2 / (k_v (n - 1) D_v)`` from the ``c_v`` sampled sources that reach
    ``v`` at total distance ``D_v`` (Eppstein & Wang 2004). With every source sampled, both
    reduce to the exact values. The sample size and seed are returned with every row.

Engines
    ``"scipy"``: a vectorised Brandes on the scipy.sparse CSR arrays: level-synchronous
    searches from a batch of sources at once (small levels by gathering the frontier's
    edges, large ones as one sparse product), batches split statically over ``n_threads``
    threads (most numpy/scipy kernels release the GIL). Sums are added in a fixed order,
    so a rerun with the same seed and thread count is bit-identical. ``"igraph"``
    (betweenness only): ``Graph.betweenness`` with ``sources=``.
    ``"networkx"``: the reference functions above (``betweenness_centrality_subset`` and
    ``single_source_shortest_path_length`` for a sample).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import pandas as pd

from ._graph import SocialGraph, build_graph, resolve_engine

__all__ = [
    "compute_path_centrality",
    "compute_betweenness",
    "compute_closeness",
    "choose_sources",
    "DEFAULT_K",
    "EXACT_MAX_WORK",
]

#: Sources sampled when the exact computation is too expensive. Measured on two cores: 3.8 s
#: at 100k users / 0.85M edges, 9.4 s at 300k / 2.6M (so roughly 40-60 s at 1M / 10M). Its
#: accuracy against exact values (20k users, ``benchmarks/bench_graph.py --accuracy``): top-20
#: betweenness 95%, top-100 83-87%, median relative error of the top 1% 11%; closeness and
#: harmonic top-20 95-100%, relative error about 1%. k=512 costs twice as much for top-100
#: 87-90% and 8% error.
DEFAULT_K = 256

#: Largest ``sources x edges`` product computed exactly when ``k`` is None.
EXACT_MAX_WORK = 500_000_000

#: Upper bounds on the per-thread working set of one batch of searches.
_STATE_BUDGET = 1 << 21  # (source, node) states per batch
_EDGE_BUDGET = 1 << 22  # edge visits per batch
_DENSE_LEVEL = 8  # a level touching > 1/8 of the edges is one sparse product instead

_MEASURES = ("betweenness", "closeness", "harmonic")


def _default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def choose_sources(
    g: SocialGraph, k: int | str | None = None, *, seed: int = 0,
    exact_max_work: float = EXACT_MAX_WORK,
) -> tuple[np.ndarray, bool]:
    """Pick the search sources: ``(sorted node indices, exact?)``.

    ``k=None`` is exact when ``(#users with an out-edge) x (#edges) <= exact_max_work`` and
    :data:`DEFAULT_K` sampled sources otherwise; ``k="all"`` forces exact; an integer ``k``
    samples ``k`` sources (exact if ``k`` reaches the number of candidates).
    """
    cand = np.flatnonzero(g.has_out_edge)
    n_edges = int(g.pattern[1].size)
    if k is None:
        k = "all" if cand.size * n_edges <= exact_max_work else DEFAULT_K
    if isinstance(k, str):
        if k != "all":
            raise ValueError(f"k must be None, 'all' or a positive int, got {k!r}")
        return cand, True
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    if k >= cand.size:
        return cand, True
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(cand, size=k, replace=False)), False


class _Work:
    """Per-thread scratch arrays and accumulators of the batched Brandes."""

    def __init__(self, n: int, batch: int, want_bc: bool, want_close: bool) -> None:
        size = n * batch
        self.n = n
        self.dist = np.full(size, -1, dtype=np.int32)
        self.sigma = np.zeros(size)
        self.delta = np.zeros(size if want_bc else 0)  # dependencies (betweenness only)
        self.owner = np.empty(size, dtype=np.int64)
        self.want_bc = want_bc
        self.want_close = want_close
        self.bc = np.zeros(n)
        self.reach = np.zeros(n)
        self.dsum = np.zeros(n)
        self.harm = np.zeros(n)

    def run(self, g: SocialGraph, sources: np.ndarray) -> None:
        """Searches from ``sources`` at once; state ``slot * n + node`` is one (source, node).

        A level whose frontier has few out-edges is expanded top-down (gather the frontier's
        edges, scatter-add path counts); a level touching more than ``1 / _DENSE_LEVEL`` of
        the batch's edges is one sparse matrix product ``A^T x`` over all edges instead
        (cheaper than the gathers). The dependency pass mirrors each level's choice.
        """
        n = self.n
        indptr, indices = g.pattern
        dist, sigma, delta, owner = self.dist, self.sigma, self.delta, self.owner
        b = sources.size
        size = b * n
        dense_edges = max(1, indices.size * b // _DENSE_LEVEL)
        fbase = np.arange(b, dtype=np.int64) * n
        front = fbase + sources
        dist[front] = 0
        sigma[front] = 1.0
        levels = [(front, fbase)]
        dag: list[tuple[np.ndarray, np.ndarray] | None] = []
        level = 0
        while True:
            node = front - fbase
            starts = indptr[node]
            cnt = indptr[node + 1] - starts
            total = int(cnt.sum())
            if total == 0:
                break
            if total > dense_edges:
                x = np.zeros(size)
                x[front] = sigma[front]
                y = _spread(g.pattern_t, x, b, n)
                new = np.flatnonzero((y > 0) & (dist[:size] < 0))
                if new.size == 0:
                    break
                sigma[new] = y[new]
                newbase = (new // n) * n
                pairs = None
            else:
                rep = np.repeat(np.arange(front.size), cnt)
                eidx = np.arange(total, dtype=np.int64)
                eidx += np.repeat(starts - (np.cumsum(cnt) - cnt), cnt)
                nb = indices[eidx].astype(np.int64)
                nb += fbase[rep]
                keep = dist[nb] < 0
                nb = nb[keep]
                if nb.size == 0:
                    break
                rep = rep[keep]
                par = front[rep]
                np.add.at(sigma, nb, sigma[par])  # shortest-path counts
                pos = np.arange(nb.size, dtype=np.int64)
                owner[nb] = pos
                first = owner[nb] == pos  # one representative per newly reached state
                new = nb[first]
                newbase = fbase[rep[first]]
                pairs = (par, nb)
            level += 1
            dist[new] = level
            if self.want_bc:
                dag.append(pairs)
            levels.append((new, newbase))
            front, fbase = new, newbase
        if self.want_bc:
            for i in range(len(dag) - 1, -1, -1):  # dependency accumulation, deepest first
                pairs = dag[i]
                if pairs is None:
                    nxt, cur = levels[i + 1][0], levels[i][0]
                    c = np.zeros(size)
                    c[nxt] = (1.0 + delta[nxt]) / sigma[nxt]
                    y = _spread(g.pattern_csr, c, b, n)
                    delta[cur] += sigma[cur] * y[cur]
                else:
                    par, nb = pairs
                    coef = (1.0 + delta[nb]) / sigma[nb]
                    np.add.at(delta, par, sigma[par] * coef)
        if len(levels) > 1:
            states = np.concatenate([s for s, _ in levels[1:]])
            nodes = states - np.concatenate([b for _, b in levels[1:]])
            if self.want_bc:
                self.bc += np.bincount(nodes, weights=delta[states], minlength=n)
            if self.want_close:
                lv = np.repeat(
                    np.arange(1, len(levels), dtype=np.float64),
                    [s.size for s, _ in levels[1:]],
                )
                self.reach += np.bincount(nodes, minlength=n)
                self.dsum += np.bincount(nodes, weights=lv, minlength=n)
                self.harm += np.bincount(nodes, weights=1.0 / lv, minlength=n)
        everything = np.concatenate([s for s, _ in levels])
        dist[everything] = -1
        sigma[everything] = 0.0
        if self.want_bc:
            delta[everything] = 0.0


def _spread(mat: Any, x: np.ndarray, b: int, n: int) -> np.ndarray:
    """``mat @ x`` for each of the ``b`` slots of a state vector (slot-major, length b*n)."""
    if b == 1:
        return mat @ x
    return np.ascontiguousarray((mat @ x.reshape(b, n).T).T).ravel()


def _scipy_sums(
    g: SocialGraph, sources: np.ndarray, want_bc: bool, want_close: bool, n_threads: int
) -> dict[str, np.ndarray]:
    """Raw sums over ``sources`` (betweenness dependencies, reach, distance, 1/distance)."""
    n = g.n_nodes
    m = max(int(g.pattern[1].size), 1)
    _ = (g.pattern_csr, g.pattern_t)  # build the cached matrices before the threads start
    batch = max(1, min(_STATE_BUDGET // max(n, 1), _EDGE_BUDGET // m, sources.size))
    batches = [sources[i : i + batch] for i in range(0, sources.size, batch)]
    n_threads = max(1, min(n_threads, len(batches)))
    works = [_Work(n, batch, want_bc, want_close) for _ in range(n_threads)]
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            for b in batches[t::n_threads]:
                works[t].run(g, b)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)

    if n_threads == 1:
        worker(0)
    else:
        threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    if errors:
        raise errors[0]
    out = {}
    for name in ("bc", "reach", "dsum", "harm"):
        total = np.zeros(n)
        for w in works:  # fixed order: deterministic for a given n_threads
            total += getattr(w, name)
        out[name] = total
    return out


def _networkx_sums(
    g: SocialGraph, sources: np.ndarray, want_bc: bool, want_close: bool
) -> dict[str, np.ndarray]:
    import networkx as nx

    n = g.n_nodes
    G = g.to_networkx(loops=False)
    out = {name: np.zeros(n) for name in ("bc", "reach", "dsum", "harm")}
    src = sources.tolist()
    if want_bc and src:
        raw = nx.betweenness_centrality_subset(G, sources=src, targets=list(G), normalized=False)
        out["bc"] = np.array([raw[i] for i in range(n)], dtype=np.float64)
    if want_close:
        for s in src:
            for v, d in nx.single_source_shortest_path_length(G, s).items():
                if d:
                    out["reach"][v] += 1
                    out["dsum"][v] += d
                    out["harm"][v] += 1.0 / d
    return out


def _igraph_bc(g: SocialGraph, sources: np.ndarray, exact: bool) -> np.ndarray:
    import igraph as ig

    indptr, indices = g.pattern
    G = ig.Graph(n=g.n_nodes, directed=True)
    G.add_edges(np.column_stack([np.repeat(np.arange(g.n_nodes), np.diff(indptr)), indices]))
    if exact:
        return np.asarray(G.betweenness(directed=True), dtype=np.float64)
    return np.asarray(G.betweenness(directed=True, sources=sources.tolist()), dtype=np.float64)


def _path_arrays(
    g: SocialGraph,
    *,
    measures: tuple[str, ...],
    k: int | str | None,
    seed: int,
    exact_max_work: float,
    engine: str | dict[str, str],
    n_threads: int | None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Compute the requested measures; returns arrays in node order and run details."""
    for mname in measures:
        if mname not in _MEASURES:
            raise ValueError(f"unknown measure {mname!r}; choose from {_MEASURES}")
    n = g.n_nodes
    n_threads = _default_threads() if n_threads is None else int(n_threads)
    sources, exact = choose_sources(g, k, seed=seed, exact_max_work=exact_max_work)
    want_bc = "betweenness" in measures
    want_close = "closeness" in measures or "harmonic" in measures
    eng = engine if isinstance(engine, dict) else {}

    def pick(measure: str, allowed: tuple[str, ...]) -> str:
        e = eng.get(measure, "auto") if isinstance(engine, dict) else engine
        return resolve_engine(e, g, allowed=allowed, compiled="scipy", measure=measure)

    bc_engine = pick("betweenness", ("scipy", "networkx", "igraph")) if want_bc else None
    close_engine = pick("closeness", ("scipy", "networkx")) if want_close else None

    sums: dict[str, np.ndarray] = {}
    if exact and bc_engine == "networkx" and want_bc:
        # the reference function itself (already normalised)
        import networkx as nx

        b = nx.betweenness_centrality(g.to_networkx(loops=False), normalized=True)
        bc_final = np.array([b[i] for i in range(n)], dtype=np.float64)
    else:
        bc_final = None
    close_final: np.ndarray | None
    harm_final: np.ndarray | None
    if exact and close_engine == "networkx" and want_close:
        import networkx as nx

        G = g.to_networkx(loops=False)
        c = nx.closeness_centrality(G)
        h = nx.harmonic_centrality(G)
        close_final = np.array([c[i] for i in range(n)], dtype=np.float64)
        harm_final = np.array([h[i] for i in range(n)], dtype=np.float64)
    else:
        close_final = harm_final = None

    need_bc_sums = want_bc and bc_final is None
    need_close_sums = want_close and close_final is None
    if need_bc_sums and bc_engine == "igraph":
        sums["bc"] = _igraph_bc(g, sources, exact)
        need_bc_sums = False
    by_engine: dict[str, tuple[bool, bool]] = {}
    if need_bc_sums and bc_engine is not None:
        by_engine[bc_engine] = (True, False)
    if need_close_sums and close_engine is not None:
        wb, _ = by_engine.get(close_engine, (False, False))
        by_engine[close_engine] = (wb, True)
    for e, (wb, wc) in by_engine.items():
        part = (
            _scipy_sums(g, sources, wb, wc, n_threads)
            if e == "scipy"
            else _networkx_sums(g, sources, wb, wc)
        )
        if wb:
            sums["bc"] = part["bc"]
        if wc:
            sums.update(reach=part["reach"], dsum=part["dsum"], harm=part["harm"])

    # Scale sums over the sampled sources to the population of candidate sources.
    cand = g.has_out_edge
    in_s = np.zeros(n, dtype=bool)
    in_s[sources] = True
    n_v = cand.sum() - cand.astype(np.int64)
    k_v = sources.size - in_s.astype(np.int64)
    scale = np.divide(n_v, k_v, out=np.zeros(n), where=k_v > 0)
    result: dict[str, np.ndarray] = {}
    if want_bc:
        if bc_final is None:
            norm = 1.0 / ((n - 1) * (n - 2)) if n > 2 else 0.0
            bc_final = sums["bc"] * norm if exact else sums["bc"] * scale * norm
        result["betweenness"] = bc_final
    if want_close:
        if close_final is None or harm_final is None:  # both set or both None
            reach, dsum = sums["reach"], sums["dsum"]
            sc = np.ones(n) if exact else scale
            denom = (n - 1) * dsum
            close_final = np.divide(sc * reach * reach, denom, out=np.zeros(n), where=dsum > 0)
            harm_final = sums["harm"] * sc
        if "closeness" in measures:
            result["closeness"] = close_final
        if "harmonic" in measures:
            result["harmonic"] = harm_final
    info = {
        "method": "exact" if exact else "sampled",
        "k": int(n if exact else sources.size),
        "n_sources": int(sources.size),
        "seed": int(seed),
        "engine_betweenness": bc_engine,
        "engine_closeness": close_engine,
        "n_threads": n_threads,
    }
    return result, info


def compute_path_centrality(
    edges: Any,
    nodes: Any = None,
    *,
    measures: tuple[str, ...] = _MEASURES,
    k: int | str | None = None,
    seed: int = 0,
    exact_max_work: float = EXACT_MAX_WORK,
    engine: str | dict[str, str] = "auto",
    n_threads: int | None = None,
    source: str = "source",
    target: str = "target",
    weight: str | None = "weight",
) -> pd.DataFrame:
    """Betweenness, closeness and harmonic centrality from one set of searches.

    See the module docstring for the exact semantics and the sampled estimators.

    Parameters
    ----------
    edges : pandas.DataFrame, pyarrow.Table or SocialGraph
        Directed edges (weights are ignored: paths are counted in hops).
    nodes : iterable, optional
        All user ids; users without edges score 0.
    measures : tuple of str
        Any of ``"betweenness"``, ``"closeness"``, ``"harmonic"``.
    k : int, "all" or None
        Number of sampled sources; ``None`` decides from ``exact_max_work`` (exact when
        small, :data:`DEFAULT_K` sources when large); ``"all"`` forces the exact result.
    seed : int
        Seed of the source sample.
    exact_max_work : float
        Largest ``candidate sources x edges`` computed exactly when ``k`` is None.
    engine : str or dict
        ``"auto"``, ``"scipy"``, ``"networkx"`` or ``"igraph"`` (betweenness only), or a
        dict ``{"betweenness": ..., "closeness": ...}`` (closeness also covers harmonic).
    n_threads : int, optional
        Threads of the scipy engine (default: CPU count, at most 4).

    Returns
    -------
    pandas.DataFrame
        ``user_id``, the requested measures, and ``betweenness_method``/``betweenness_k``
        and/or ``closeness_method``/``closeness_k`` (``"exact"`` with ``k`` = number of
        users, or ``"sampled"`` with the number of sources), and ``seed``.

    Examples
    --------
    >>> import pandas as pd
    >>> e = pd.DataFrame({"source": ["a", "b", "c"], "target": ["b", "c", "d"]})
    >>> compute_path_centrality(e)[["user_id", "betweenness", "closeness", "harmonic"]].round(3)
      user_id  betweenness  closeness  harmonic
    0       a        0.000      0.000     0.000
    1       b        0.333      0.333     1.000
    2       c        0.333      0.444     1.500
    3       d        0.000      0.500     1.833
    """
    g = build_graph(edges, nodes, source=source, target=target, weight=weight)
    arrays, info = _path_arrays(
        g, measures=tuple(measures), k=k, seed=seed, exact_max_work=exact_max_work,
        engine=engine, n_threads=n_threads,
    )
    cols: dict[str, Any] = {}
    if "betweenness" in arrays:
        cols["betweenness"] = arrays["betweenness"]
        cols["betweenness_method"] = info["method"]
        cols["betweenness_k"] = info["k"]
    for name in ("closeness", "harmonic"):
        if name in arrays:
            cols[name] = arrays[name]
    if "closeness" in arrays or "harmonic" in arrays:
        cols["closeness_method"] = info["method"]
        cols["closeness_k"] = info["k"]
    cols["seed"] = info["seed"]
    return g.frame(**cols)


def compute_betweenness(edges: Any, nodes: Any = None, **kwargs: Any) -> pd.DataFrame:
    """Betweenness ("path centrality") only; arguments as :func:`compute_path_centrality`.

    Examples
    --------
    >>> import pandas as pd
    >>> e = pd.DataFrame({"source": ["a", "b"], "target": ["b", "c"]})
    >>> compute_betweenness(e)
      user_id  betweenness betweenness_method  betweenness_k  seed
    0       a          0.0              exact              3     0
    1       b          0.5              exact              3     0
    2       c          0.0              exact              3     0
    """
    return compute_path_centrality(edges, nodes, measures=("betweenness",), **kwargs)


def compute_closeness(edges: Any, nodes: Any = None, **kwargs: Any) -> pd.DataFrame:
    """Closeness and harmonic centrality; arguments as :func:`compute_path_centrality`.

    Examples
    --------
    >>> import pandas as pd
    >>> e = pd.DataFrame({"source": ["a", "b"], "target": ["b", "c"]})
    >>> compute_closeness(e)[["user_id", "closeness", "harmonic"]].round(3)
      user_id  closeness  harmonic
    0       a      0.000       0.0
    1       b      0.500       1.0
    2       c      0.667       1.5
    """
    return compute_path_centrality(edges, nodes, measures=("closeness", "harmonic"), **kwargs)
