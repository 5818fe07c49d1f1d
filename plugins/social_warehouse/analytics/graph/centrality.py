"""Degree measures and PageRank.

Semantics are networkx's on a ``DiGraph`` holding the summed edges (see
:func:`~social_warehouse.analytics.graph.build_graph`):

* a self-loop ``u -> u`` counts once in ``u``'s in-degree and once in its out-degree (so 2
  in its degree), and its weight in both weighted degrees;
* degree centrality is ``(in + out) / (n - 1)``, in/out-degree centrality ``in / (n - 1)``
  and ``out / (n - 1)`` (``nx.degree_centrality`` on a directed graph), 1 for a one-node
  graph; ``n`` counts isolated users passed through ``nodes=``.
* PageRank is ``nx.pagerank(G, alpha, weight="weight")``: transition probabilities
  proportional to the summed weights, self-loops are ordinary edges, uniform teleport, and
  dangling nodes (no out-weight, isolated users included) jump uniformly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._graph import SocialGraph, build_graph, resolve_engine

__all__ = ["compute_degrees", "compute_pagerank", "pagerank_scores"]


def compute_degrees(
    edges: Any,
    nodes: Any = None,
    *,
    engine: str = "auto",
    source: str = "source",
    target: str = "target",
    weight: str | None = "weight",
) -> pd.DataFrame:
    """In-, out- and weighted degrees and the networkx degree centralities.

    Parameters
    ----------
    edges : pandas.DataFrame, pyarrow.Table or SocialGraph
        Directed edges ``source -> target`` with an optional weight column.
    nodes : iterable, optional
        All user ids; users without edges get zeros.
    engine : {"auto", "scipy", "networkx"}
        ``"auto"`` uses networkx on small graphs and scipy.sparse otherwise.
    source, target, weight : str
        Column names, see :func:`build_graph`.

    Returns
    -------
    pandas.DataFrame
        ``user_id, in_degree, out_degree, weighted_in_degree, weighted_out_degree,
        degree_centrality, in_degree_centrality, out_degree_centrality``, one row per user in
        user-id order. Degrees count distinct neighbours (parallel rows are one edge).

    Examples
    --------
    >>> import pandas as pd
    >>> e = pd.DataFrame({"source": ["a", "a", "b"], "target": ["b", "c", "c"],
    ...                   "weight": [2.0, 1.0, 5.0]})
    >>> compute_degrees(e)[["user_id", "in_degree", "weighted_in_degree",
    ...                     "degree_centrality"]]
      user_id  in_degree  weighted_in_degree  degree_centrality
    0       a          0                 0.0                1.0
    1       b          1                 2.0                1.0
    2       c          2                 6.0                1.0
    """
    g = build_graph(edges, nodes, source=source, target=target, weight=weight)
    eng = resolve_engine(engine, g, allowed=("scipy", "networkx"), compiled="scipy",
                         measure="degrees")
    n = g.n_nodes
    if eng == "networkx":
        G = g.to_networkx()
        order = range(n)
        ind = np.array([G.in_degree(i) for i in order], dtype=np.int64)
        outd = np.array([G.out_degree(i) for i in order], dtype=np.int64)
        win = np.array([G.in_degree(i, weight="weight") for i in order], dtype=np.float64)
        wout = np.array([G.out_degree(i, weight="weight") for i in order], dtype=np.float64)
        import networkx as nx

        dc, idc, odc = (nx.degree_centrality(G), nx.in_degree_centrality(G),
                        nx.out_degree_centrality(G))
        deg_c: np.ndarray = np.array([dc[i] for i in order], dtype=np.float64)
        in_c: np.ndarray = np.array([idc[i] for i in order], dtype=np.float64)
        out_c: np.ndarray = np.array([odc[i] for i in order], dtype=np.float64)
    else:
        a = g.adj
        outd = np.diff(a.indptr).astype(np.int64)
        ind = np.bincount(a.indices, minlength=n).astype(np.int64)
        wout = np.asarray(a.sum(axis=1)).ravel().astype(np.float64)
        win = np.bincount(a.indices, weights=a.data, minlength=n).astype(np.float64)
        if n <= 1:
            deg_c = in_c = out_c = np.ones(n, dtype=np.float64)
        else:
            s = 1.0 / (n - 1)
            deg_c, in_c, out_c = (ind + outd) * s, ind * s, outd * s
    return g.frame(
        in_degree=ind,
        out_degree=outd,
        weighted_in_degree=win,
        weighted_out_degree=wout,
        degree_centrality=deg_c,
        in_degree_centrality=in_c,
        out_degree_centrality=out_c,
    )


def pagerank_scores(
    g: SocialGraph,
    *,
    alpha: float = 0.85,
    tol: float = 1e-10,
    max_iter: int = 1000,
    engine: str = "scipy",
) -> tuple[np.ndarray, int]:
    """PageRank vector in node order and the number of iterations (engine already resolved).

    ``tol`` bounds the L1 change of the whole vector between two iterations.
    """
    n = g.n_nodes
    if n == 0:
        return np.zeros(0), 0
    if engine == "networkx":
        import networkx as nx

        G = g.to_networkx()
        # networkx stops when the L1 change is below N * tol: pass tol / N for the same rule.
        pr = nx.pagerank(G, alpha=alpha, tol=tol / n, max_iter=max_iter, weight="weight")
        return np.array([pr[i] for i in range(n)], dtype=np.float64), -1
    a = g.adj
    out_w = np.asarray(a.sum(axis=1)).ravel()
    dangling = out_w == 0
    inv = np.zeros(n)
    inv[~dangling] = 1.0 / out_w[~dangling]
    # Column-stochastic transpose: x_next = alpha * (P x + dangling mass / n) + (1-alpha)/n
    P = sp.csr_array(sp.diags_array(inv) @ a).T.tocsr()
    p = np.full(n, 1.0 / n)
    x = p.copy()
    for it in range(1, max_iter + 1):
        xlast = x
        x = alpha * (P @ xlast + xlast[dangling].sum() * p) + (1.0 - alpha) * p
        if np.abs(x - xlast).sum() < tol:
            return x, it
    import networkx as nx

    raise nx.PowerIterationFailedConvergence(max_iter)


def compute_pagerank(
    edges: Any,
    nodes: Any = None,
    *,
    alpha: float = 0.85,
    tol: float = 1e-10,
    max_iter: int = 1000,
    engine: str = "auto",
    source: str = "source",
    target: str = "target",
    weight: str | None = "weight",
) -> pd.DataFrame:
    """Weighted PageRank, networkx semantics, power iteration on scipy.sparse.

    Parameters
    ----------
    edges : pandas.DataFrame, pyarrow.Table or SocialGraph
        Directed edges; a follow ``u -> v`` passes rank from ``u`` to ``v``.
    nodes : iterable, optional
        All user ids. An isolated user is a dangling node: it receives the teleport share
        and passes its rank uniformly to everyone, exactly as in networkx on a graph that
        contains it.
    alpha : float
        Damping factor (probability of following an edge). Default 0.85.
    tol : float
        Stop when the L1 norm of the change of the whole vector is below ``tol``. Unlike
        ``nx.pagerank`` this is *not* multiplied by the number of nodes (the networkx
        engine is called with ``tol / N`` so both stop at the same point). Default 1e-10,
        which keeps the result within about ``tol / (1 - alpha)`` of the fixed point.
    max_iter : int
        Raise ``networkx.PowerIterationFailedConvergence`` after this many iterations.
    engine : {"auto", "scipy", "networkx"}

    Returns
    -------
    pandas.DataFrame
        ``user_id, pagerank``; the scores sum to 1.

    Examples
    --------
    >>> import pandas as pd
    >>> e = pd.DataFrame({"source": ["a", "b", "c"], "target": ["b", "c", "a"]})
    >>> compute_pagerank(e).round(4)
      user_id  pagerank
    0       a    0.3333
    1       b    0.3333
    2       c    0.3333
    """
    g = build_graph(edges, nodes, source=source, target=target, weight=weight)
    eng = resolve_engine(engine, g, allowed=("scipy", "networkx"), compiled="scipy",
                         measure="pagerank")
    x, _ = pagerank_scores(g, alpha=alpha, tol=tol, max_iter=max_iter, engine=eng)
    return g.frame(pagerank=x)
