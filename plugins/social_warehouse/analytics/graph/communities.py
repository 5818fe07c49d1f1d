"""Communities on the undirected weighted graph: Leiden or Louvain, with modularity.

The graph
    Directions are dropped and reciprocal weights summed: ``w({u, v}) = w(u -> v) +
    w(v -> u)``; a self-loop ``u -> u`` stays one undirected loop of weight ``w`` (networkx
    counts it twice in ``u``'s degree and once inside ``u``'s community, like every other
    engine here). Users passed through ``nodes=`` without edges end up as singleton
    communities that add nothing to modularity.

Modularity
    ``Q = sum_c [ L_c / m - gamma * (K_c / 2m)^2 ]`` with ``L_c`` the weight inside ``c``,
    ``K_c`` the summed weighted degree of ``c`` and ``m`` the total weight: exactly
    ``nx.community.modularity(G, communities, resolution=gamma)``. The reported
    ``modularity`` and per-community ``modularity_contribution`` use ``gamma = 1`` (standard
    modularity, comparable between runs); ``objective`` is the value at the ``resolution``
    the algorithm optimised.

Methods
    ``"leiden"`` (default): igraph's ``community_leiden`` with the modularity objective,
    iterated until the partition is stable; Leiden guarantees connected communities and
    reaches at least Louvain's modularity. ``"louvain"``: ``nx.community.louvain_communities``
    (engine networkx) or igraph's ``community_multilevel``. Each of ``n_runs`` runs uses seed
    ``seed + run``; the run with the highest objective is kept. Community ids are numbered
    from 0 by descending size, ties by smallest user id.

Resolution
    ``resolution > 1`` favours more, smaller communities. Modularity at ``resolution = 1``
    cannot resolve groups much smaller than ``sqrt(2m)`` (Fortunato & Barthelemy 2007), so on
    graphs with many small real groups a larger value recovers them better; the default
    stays 1, the value every modularity figure refers to.
"""

from __future__ import annotations

import random
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ._graph import SocialGraph, build_graph, resolve_engine
from .structure import relabel_by_size

__all__ = ["CommunityResult", "detect_communities", "modularity_terms"]

#: ``n_runs=None`` does this many runs on graphs up to :data:`_MANY_RUNS_MAX_EDGES`
#: undirected edges, and one run above.
_SMALL_GRAPH_RUNS = 10
_MANY_RUNS_MAX_EDGES = 200_000


class CommunityResult(NamedTuple):
    """What :func:`detect_communities` returns (unpacks like a tuple)."""

    membership: pd.DataFrame
    """``user_id, community_id``."""
    communities: pd.DataFrame
    """``community_id, size, modularity_contribution, top_members``."""
    modularity: float
    """Standard modularity (resolution 1) of the partition; NaN for a graph without weight."""
    info: dict[str, Any]
    """Method, engine, resolution, objective, runs, seed and the modularity of every run."""


def modularity_terms(
    labels: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    w: np.ndarray,
    n_nodes: int,
    resolution: float = 1.0,
) -> np.ndarray:
    """Per-community modularity terms ``L_c / m - resolution * (K_c / 2m)^2``.

    ``labels`` are community ids ``0..C-1`` per node; ``(u, v, w)`` the undirected edges,
    each once (self-loops once). The sum is ``nx.community.modularity``.

    Examples
    --------
    >>> import numpy as np
    >>> u, v, w = np.array([0, 2]), np.array([1, 3]), np.array([1.0, 1.0])
    >>> modularity_terms(np.array([0, 0, 1, 1]), u, v, w, 4).tolist()
    [0.25, 0.25]
    """
    labels = np.asarray(labels)
    c = int(labels.max()) + 1 if labels.size else 0
    m = float(w.sum())
    if m == 0:
        return np.full(c, np.nan)
    strength = np.bincount(u, weights=w, minlength=n_nodes) + np.bincount(
        v, weights=w, minlength=n_nodes
    )
    k_c = np.bincount(labels, weights=strength, minlength=c)
    inside = labels[u] == labels[v]
    l_c = np.bincount(labels[u][inside], weights=w[inside], minlength=c)
    return l_c / m - resolution * (k_c / (2.0 * m)) ** 2


def _igraph_partition(
    g: SocialGraph, u: np.ndarray, v: np.ndarray, w: np.ndarray, method: str,
    resolution: float, seed: int, n_iterations: int,
) -> np.ndarray:
    import igraph as ig

    G = ig.Graph(n=g.n_nodes, directed=False)
    G.add_edges(np.column_stack([u, v]))
    G.es["weight"] = w.tolist()
    # python-igraph draws from a Python random generator: seed a private one, then restore
    # igraph's default (the global ``random`` module).
    ig.set_random_number_generator(random.Random(seed))
    try:
        if method == "leiden":
            part = G.community_leiden(
                objective_function="modularity", weights="weight", resolution=resolution,
                beta=0.01, n_iterations=n_iterations,
            )
        else:
            part = G.community_multilevel(weights="weight", resolution=resolution)
    finally:
        ig.set_random_number_generator(random)
    return np.asarray(part.membership, dtype=np.int64)


def _networkx_partition(
    g: SocialGraph, u: np.ndarray, v: np.ndarray, w: np.ndarray, resolution: float, seed: int
) -> np.ndarray:
    import networkx as nx

    G = nx.Graph()
    G.add_nodes_from(range(g.n_nodes))
    G.add_weighted_edges_from(zip(u.tolist(), v.tolist(), w.tolist(), strict=True))
    comms = nx.community.louvain_communities(G, weight="weight", resolution=resolution,
                                             seed=seed)
    lab = np.empty(g.n_nodes, dtype=np.int64)
    for i, c in enumerate(comms):
        lab[list(c)] = i
    return lab


def _top_members(
    labels: np.ndarray, scores: np.ndarray, node_ids: np.ndarray, n_comms: int, top: int
) -> list[list[Any]]:
    if n_comms == 0:  # no user at all (the loop below would yield one empty list)
        return []
    n = labels.size
    order = np.lexsort((np.arange(n), -scores, labels))  # by community, score desc, id
    lab_sorted = labels[order]
    starts = np.searchsorted(lab_sorted, np.arange(n_comms))
    rank = np.arange(n) - starts[lab_sorted]
    chosen = order[rank < top]
    chosen_lab = labels[chosen]
    bounds = np.searchsorted(chosen_lab, np.arange(1, n_comms))
    ids = node_ids[chosen].tolist()
    out, prev = [], 0
    for b in bounds.tolist() + [len(ids)]:
        out.append(ids[prev:b])
        prev = b
    return out


def detect_communities(
    edges: Any,
    nodes: Any = None,
    *,
    method: str = "leiden",
    resolution: float = 1.0,
    n_runs: int | None = None,
    n_iterations: int | None = None,
    seed: int = 0,
    engine: str = "auto",
    scores: Any = None,
    top_members: int = 5,
    source: str = "source",
    target: str = "target",
    weight: str | None = "weight",
) -> CommunityResult:
    """Communities of the undirected weighted graph (see the module docstring).

    Parameters
    ----------
    edges : pandas.DataFrame, pyarrow.Table or SocialGraph
        Directed weighted edges; directions are dropped and reciprocal weights summed.
    nodes : iterable, optional
        All user ids; users without edges become singleton communities.
    method : {"leiden", "louvain"}
    resolution : float
        Modularity resolution ``gamma`` the algorithm optimises. Default 1.
    n_runs : int, optional
        Seeded runs, the best objective is kept. Default: 10 on graphs up to 200,000
        undirected edges, 1 above.
    n_iterations : int, optional
        Leiden iterations per run; -1 iterates until the partition is stable. Default: -1 up
        to 200,000 undirected edges, 2 above (igraph's default: on a 1M-edge graph the
        iterations after the second add about 0.004 modularity for 10x the time).
    seed : int
        Seed of the first run.
    engine : {"auto", "igraph", "networkx"}
        Leiden runs on igraph; Louvain on networkx for small graphs, igraph otherwise.
    scores : array-like or DataFrame, optional
        Centrality used to pick each community's top members: an array in user-id order, or
        a DataFrame with ``user_id`` and ``pagerank``. Default: PageRank.
    top_members : int
        How many members to list per community. Default 5.

    Returns
    -------
    CommunityResult
        ``(membership, communities, modularity, info)``; ``communities`` has
        ``community_id, size, modularity_contribution, top_members`` (a list of user ids,
        highest score first).

    Examples
    --------
    >>> import pandas as pd
    >>> e = pd.DataFrame({"source": ["a", "b", "c", "d", "e", "f", "a"],
    ...                   "target": ["b", "c", "a", "e", "f", "d", "d"]})
    >>> res = detect_communities(e, seed=1)
    >>> res.membership.community_id.tolist()
    [0, 0, 0, 1, 1, 1]
    >>> round(res.modularity, 4)
    0.3571
    >>> res.communities[["community_id", "size", "top_members"]]
       community_id  size top_members
    0             0     3   [a, c, b]
    1             1     3   [d, e, f]
    """
    g = build_graph(edges, nodes, source=source, target=target, weight=weight)
    if method not in ("leiden", "louvain"):
        raise ValueError(f"method must be 'leiden' or 'louvain', got {method!r}")
    allowed = ("igraph",) if method == "leiden" else ("igraph", "networkx")
    eng = resolve_engine(engine, g, allowed=allowed, compiled="igraph", measure="communities")
    u, v, w = g.undirected()
    n = g.n_nodes
    if n_runs is None:
        n_runs = _SMALL_GRAPH_RUNS if u.size <= _MANY_RUNS_MAX_EDGES else 1
    if n_runs < 1:
        raise ValueError("n_runs must be at least 1")
    if n_iterations is None:
        n_iterations = -1 if u.size <= _MANY_RUNS_MAX_EDGES else 2
    best_lab, best_obj, run_q = None, -np.inf, []
    if w.sum() > 0:
        for r in range(n_runs):
            if eng == "networkx":
                lab = _networkx_partition(g, u, v, w, resolution, seed + r)
            else:
                lab = _igraph_partition(g, u, v, w, method, resolution, seed + r,
                                        n_iterations)
            lab, _ = relabel_by_size(lab)
            obj = float(modularity_terms(lab, u, v, w, n, resolution).sum())
            run_q.append(obj)
            if best_lab is None or obj > best_obj:  # a NaN modularity still gives a result
                best_lab, best_obj = lab, obj
    else:  # no weight at all: every user is its own community
        best_lab, best_obj = np.arange(n, dtype=np.int64), float("nan")
    assert best_lab is not None  # n_runs >= 1 runs, and the first one is always kept
    labels, sizes = relabel_by_size(best_lab)
    terms = modularity_terms(labels, u, v, w, n, 1.0)
    q = float(terms.sum()) if w.sum() > 0 else float("nan")

    if scores is None:
        from .centrality import pagerank_scores

        score_arr, _ = pagerank_scores(g)
    elif isinstance(scores, pd.DataFrame):
        s = scores.set_index("user_id")["pagerank"]
        score_arr = s.reindex(g.node_ids).to_numpy(dtype=np.float64, na_value=0.0)
    else:
        score_arr = np.asarray(scores, dtype=np.float64)
        if score_arr.shape != (n,):
            raise ValueError(f"scores must have one value per user ({n}), got {score_arr.shape}")
    n_comms = sizes.size
    communities = pd.DataFrame(
        {
            "community_id": np.arange(n_comms, dtype=np.int64),
            "size": sizes.astype(np.int64),
            "modularity_contribution": terms,
            "top_members": _top_members(labels, score_arr, g.node_ids, n_comms, top_members),
        }
    )
    info = {
        "method": method,
        "engine": eng,
        "resolution": float(resolution),
        "objective": best_obj,
        "modularity": q,
        "n_runs": int(n_runs),
        "n_iterations": int(n_iterations) if method == "leiden" else None,
        "seed": int(seed),
        "run_objectives": run_q,
        "n_communities": int(n_comms),
        "n_undirected_edges": int(u.size),
    }
    return CommunityResult(g.frame(community_id=labels), communities, q, info)
