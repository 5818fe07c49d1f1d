"""Connected components and k-core numbers.

* Weakly / strongly connected components are networkx's
  (``nx.weakly_connected_components`` / ``nx.strongly_connected_components``) on the graph
  that includes every user passed through ``nodes=``: a user without edges is a component
  of size 1 (a networkx graph built from the edge list alone would not contain it).
  Component ids are deterministic: ``0`` is the largest component, ties broken by the
  smallest user id in the component.
* The core number is ``nx.core_number`` of the directed graph, whose degree is
  in-degree + out-degree (a reciprocal pair counts twice). networkx refuses graphs with
  self-loops, so self-loops are removed first, as its documentation suggests. Isolated users
  have core number 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import csgraph

from ._graph import SocialGraph, build_graph, resolve_engine

__all__ = ["compute_components", "compute_core_number", "relabel_by_size"]


def relabel_by_size(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber group labels: 0 = largest group, ties by smallest member index.

    Returns ``(new_labels, sizes)`` where ``sizes[c]`` is the size of new group ``c``.

    Examples
    --------
    >>> relabel_by_size(np.array([5, 5, 2, 9, 9, 9]))
    (array([1, 1, 2, 0, 0, 0]), array([3, 2, 1]))
    """
    labels = np.asarray(labels)
    n = labels.size
    if n == 0:
        return labels.astype(np.int64), np.zeros(0, dtype=np.int64)
    uniq, inv = np.unique(labels, return_inverse=True)
    sizes = np.bincount(inv)
    first = np.full(uniq.size, n, dtype=np.int64)
    np.minimum.at(first, inv, np.arange(n))
    order = np.lexsort((first, -sizes))  # descending size, then smallest member
    new_id = np.empty(uniq.size, dtype=np.int64)
    new_id[order] = np.arange(uniq.size)
    return new_id[inv], sizes[order]


def _labels_from_sets(sets: Any, n: int) -> np.ndarray:
    lab = np.empty(n, dtype=np.int64)
    for i, comp in enumerate(sets):
        lab[list(comp)] = i
    return lab


def component_labels(g: SocialGraph, engine: str = "scipy") -> tuple[np.ndarray, np.ndarray]:
    """Raw weak and strong component labels in node order (engine already resolved)."""
    if engine == "networkx":
        import networkx as nx

        G = g.to_networkx()
        return (
            _labels_from_sets(nx.weakly_connected_components(G), g.n_nodes),
            _labels_from_sets(nx.strongly_connected_components(G), g.n_nodes),
        )
    _, weak = csgraph.connected_components(g.adj, directed=True, connection="weak")
    _, strong = csgraph.connected_components(g.adj, directed=True, connection="strong")
    return weak, strong


def compute_components(
    edges: Any,
    nodes: Any = None,
    *,
    engine: str = "auto",
    source: str = "source",
    target: str = "target",
    weight: str | None = "weight",
) -> pd.DataFrame:
    """Each user's weakly and strongly connected component and its size.

    Parameters
    ----------
    edges : pandas.DataFrame, pyarrow.Table or SocialGraph
    nodes : iterable, optional
        All user ids; a user without edges is its own component.
    engine : {"auto", "scipy", "networkx"}
        scipy is ``scipy.sparse.csgraph.connected_components``.

    Returns
    -------
    pandas.DataFrame
        ``user_id, wcc_id, wcc_size, scc_id, scc_size``; ids numbered from 0 by descending
        size, ties by smallest user id.

    Examples
    --------
    >>> import pandas as pd
    >>> e = pd.DataFrame({"source": ["a", "b", "c"], "target": ["b", "a", "d"]})
    >>> compute_components(e, nodes=["e"])
      user_id  wcc_id  wcc_size  scc_id  scc_size
    0       a       0         2       0         2
    1       b       0         2       0         2
    2       c       1         2       1         1
    3       d       1         2       2         1
    4       e       2         1       3         1
    """
    g = build_graph(edges, nodes, source=source, target=target, weight=weight)
    eng = resolve_engine(engine, g, allowed=("scipy", "networkx"), compiled="scipy",
                         measure="components")
    weak, strong = component_labels(g, eng)
    wid, wsize = relabel_by_size(weak)
    sid, ssize = relabel_by_size(strong)
    return g.frame(wcc_id=wid, wcc_size=wsize[wid], scc_id=sid, scc_size=ssize[sid])


def core_numbers(g: SocialGraph, engine: str = "igraph") -> np.ndarray:
    """Core number per node (engine already resolved)."""
    n = g.n_nodes
    s, t, _ = g.edge_arrays(loops=False)
    if engine == "networkx":
        import networkx as nx

        G = g.to_networkx(loops=False)
        c = nx.core_number(G)
        return np.array([c[i] for i in range(n)], dtype=np.int64)
    import igraph as ig

    G = ig.Graph(n=n, directed=True)
    G.add_edges(np.column_stack([s, t]))
    return np.asarray(G.coreness(mode="all"), dtype=np.int64)


def compute_core_number(
    edges: Any,
    nodes: Any = None,
    *,
    engine: str = "auto",
    source: str = "source",
    target: str = "target",
    weight: str | None = "weight",
) -> pd.DataFrame:
    """k-core number of each user (``nx.core_number`` semantics, self-loops removed).

    Parameters
    ----------
    edges : pandas.DataFrame, pyarrow.Table or SocialGraph
    nodes : iterable, optional
        All user ids; users without edges have core number 0.
    engine : {"auto", "igraph", "networkx"}
        igraph is ``Graph.coreness(mode="all")``.

    Returns
    -------
    pandas.DataFrame
        ``user_id, core_number``.

    Examples
    --------
    >>> import pandas as pd
    >>> e = pd.DataFrame({"source": ["a", "b", "c", "c"], "target": ["b", "c", "a", "d"]})
    >>> compute_core_number(e)
      user_id  core_number
    0       a            2
    1       b            2
    2       c            2
    3       d            1
    """
    g = build_graph(edges, nodes, source=source, target=target, weight=weight)
    eng = resolve_engine(engine, g, allowed=("igraph", "networkx"), compiled="igraph",
                         measure="core_number")
    return g.frame(core_number=core_numbers(g, eng))
