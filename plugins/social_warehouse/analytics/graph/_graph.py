"""The internal graph: string user ids mapped to contiguous ints, edges as scipy.sparse CSR.

Every public function of :mod:`social_warehouse.analytics.graph` accepts either an edge
table or a :class:`SocialGraph` built once by :func:`build_graph`, so a pipeline that
computes several measures factorises the ids and builds the sparse matrix only once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["SocialGraph", "build_graph", "ENGINES", "NETWORKX_MAX_EDGES"]

#: Engine names a function may accept. ``"auto"`` picks one from the graph's size.
ENGINES = ("auto", "networkx", "scipy", "igraph")

#: ``engine="auto"`` uses networkx, the reference implementation, while the graph has at
#: most this many distinct edges (every measure then takes milliseconds in networkx) and the
#: compiled engines above it.
NETWORKX_MAX_EDGES = 2_000


class SocialGraph:
    """A directed weighted graph over user ids, stored as a CSR matrix.

    Build it with :func:`build_graph`. Node ``i`` is ``node_ids[i]``; the ids are sorted,
    so every output is in user-id order and does not depend on the order of the input rows.

    Attributes
    ----------
    node_ids : numpy.ndarray
        User ids, sorted ascending, one per node.
    adj : scipy.sparse.csr_array
        ``n x n`` float64 matrix; ``adj[i, j]`` is the summed weight of all input rows
        ``i -> j``. Self-loops are kept on the diagonal. A stored entry is an edge even if its
        weight is 0.
    n_input_rows : int
        Number of edge rows before parallel edges were summed.
    """

    def __init__(self, node_ids: np.ndarray, adj: sp.csr_array, n_input_rows: int) -> None:
        self.node_ids = node_ids
        self.adj = adj
        self.n_input_rows = int(n_input_rows)

    def __repr__(self) -> str:
        return (
            f"SocialGraph(n_nodes={self.n_nodes}, n_edges={self.n_edges}, "
            f"n_self_loops={self.n_self_loops})"
        )

    @property
    def n_nodes(self) -> int:
        """Number of users (nodes), isolated ones included."""
        return int(self.adj.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of distinct directed edges ``(source, target)``, self-loops included."""
        return int(self.adj.nnz)

    @cached_property
    def rows(self) -> np.ndarray:
        """Source node of every stored edge, aligned with ``adj.indices``."""
        return np.repeat(
            np.arange(self.n_nodes, dtype=self.adj.indices.dtype), np.diff(self.adj.indptr)
        )

    @cached_property
    def loop_mask(self) -> np.ndarray:
        """Boolean mask over stored edges: True for self-loops."""
        return self.rows == self.adj.indices

    @property
    def n_self_loops(self) -> int:
        """Number of self-loops ``u -> u``."""
        return int(self.loop_mask.sum())

    @cached_property
    def pattern(self) -> tuple[np.ndarray, np.ndarray]:
        """``(indptr, indices)`` of the unweighted graph without self-loops (int64 indptr)."""
        keep = ~self.loop_mask
        indices = self.adj.indices[keep]
        counts = np.bincount(self.rows[keep], minlength=self.n_nodes)
        indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return indptr, indices

    @cached_property
    def pattern_csr(self) -> sp.csr_array:
        """The unweighted loop-free graph as a CSR matrix of ones (``A[u, v] = 1``)."""
        indptr, indices = self.pattern
        ones = np.ones(indices.size)
        return sp.csr_array((ones, indices, indptr), shape=(self.n_nodes, self.n_nodes))

    @cached_property
    def pattern_t(self) -> sp.csr_array:
        """Transpose of :attr:`pattern_csr` in CSR form (in-edges per row)."""
        return self.pattern_csr.T.tocsr()

    @cached_property
    def has_out_edge(self) -> np.ndarray:
        """True for nodes with at least one out-edge to another node."""
        return np.diff(self.pattern[0]) > 0

    def edge_arrays(self, *, loops: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(source, target, weight)`` int/float arrays of the distinct edges."""
        if loops:
            return self.rows, self.adj.indices, self.adj.data
        keep = ~self.loop_mask
        return self.rows[keep], self.adj.indices[keep], self.adj.data[keep]

    def undirected(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Edges ``(u, v, w)`` with ``u <= v`` of the undirected weighted graph.

        ``w({u, v}) = w(u -> v) + w(v -> u)`` for ``u != v``; a self-loop keeps its weight.
        Edges whose summed weight is 0 are left out (they add nothing to modularity).
        """
        a = self.adj
        # a self-loop u -> u is one undirected loop of weight w: subtract the doubled diagonal
        # (2w - w is exact in floating point). Zero weights drop out: they add no modularity.
        sym = (a + a.T - sp.diags_array(a.diagonal())).tocsr()
        up = sp.triu(sym, format="csr")
        up.sort_indices()
        up = up.tocoo()  # row-major, columns sorted: a deterministic edge order
        keep = up.data != 0
        u = up.row[keep].astype(np.int64)
        v = up.col[keep].astype(np.int64)
        return u, v, up.data[keep].astype(np.float64)

    def frame(self, **columns: Any) -> pd.DataFrame:
        """A DataFrame with ``user_id`` followed by the given per-node columns."""
        return pd.DataFrame({"user_id": self.node_ids, **columns})

    def to_networkx(self, *, loops: bool = True):
        """The same graph as a ``networkx.DiGraph`` with a ``weight`` edge attribute.

        Node names are the integer node indices (map back with ``node_ids``); every node is
        present, isolated ones included.
        """
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from(range(self.n_nodes))
        s, t, w = self.edge_arrays(loops=loops)
        g.add_weighted_edges_from(zip(s.tolist(), t.tolist(), w.tolist(), strict=True))
        return g


def _column(table: Any, name: str) -> pd.Series:
    if isinstance(table, pd.DataFrame):
        if name not in table.columns:
            raise KeyError(f"edge table has no column {name!r}; columns: {list(table.columns)}")
        return table[name].reset_index(drop=True)
    # pyarrow.Table (or anything with column()/column_names)
    if name not in table.column_names:
        raise KeyError(f"edge table has no column {name!r}; columns: {table.column_names}")
    return table.column(name).to_pandas()


def _has_column(table: Any, name: str) -> bool:
    if isinstance(table, pd.DataFrame):
        return name in table.columns
    return name in table.column_names


def build_graph(
    edges: Any,
    nodes: Iterable[Any] | None = None,
    *,
    source: str = "source",
    target: str = "target",
    weight: str | None = "weight",
) -> SocialGraph:
    """Build a :class:`SocialGraph` from an edge table.

    Parameters
    ----------
    edges : pandas.DataFrame, pyarrow.Table or SocialGraph
        One row per directed edge ``source -> target`` (e.g. follower -> followee, or the
        user who interacted -> the author). A ``SocialGraph`` is returned unchanged.
    nodes : iterable of user ids, optional
        All user ids. Users without edges become isolated nodes: degree 0, a component of
        their own, core number 0, a community of their own, and the PageRank share networkx
        gives an isolated node of the same graph (it is a dangling node). Ids that only occur
        in ``edges`` are added; duplicates are ignored.
    source, target : str
        Column names of the edge endpoints. Ids may be strings or integers; they must not
        be null.
    weight : str or None
        Column holding non-negative finite weights. If None or the column is absent every
        row weighs 1. Rows with the same ``(source, target)`` are summed into one edge.

    Returns
    -------
    SocialGraph

    Examples
    --------
    >>> import pandas as pd
    >>> e = pd.DataFrame({"source": ["b", "a", "a"], "target": ["a", "b", "b"],
    ...                   "weight": [1.0, 2.0, 0.5]})
    >>> g = build_graph(e, nodes=["c"])
    >>> g
    SocialGraph(n_nodes=3, n_edges=2, n_self_loops=0)
    >>> g.node_ids.tolist(), g.adj.toarray()[0].tolist()
    (['a', 'b', 'c'], [0.0, 2.5, 0.0])
    """
    if isinstance(edges, SocialGraph):
        if nodes is not None:
            raise ValueError("pass nodes= to build_graph, not together with a SocialGraph")
        return edges
    if isinstance(edges, Mapping) and not isinstance(edges, pd.DataFrame):
        edges = pd.DataFrame(edges)
    src = _column(edges, source)
    dst = _column(edges, target)
    m = len(src)
    if weight is not None and _has_column(edges, weight):
        w = pd.to_numeric(_column(edges, weight), errors="raise").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        if m and not (np.isfinite(w).all() and (w >= 0).all()):
            raise ValueError(f"column {weight!r} must hold finite, non-negative weights")
    else:
        w = np.ones(m, dtype=np.float64)
    parts = [src, dst]
    if nodes is not None:
        node_series = pd.Series(nodes) if not isinstance(nodes, pd.Series) else nodes
        parts.insert(0, node_series.reset_index(drop=True))
    allids = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if allids.isna().any():
        raise ValueError("user ids must not be null (check source, target and nodes)")
    codes, uniques = pd.factorize(allids, sort=True)
    offset = len(allids) - 2 * m
    s = codes[offset : offset + m]
    t = codes[offset + m :]
    n = len(uniques)
    idx_dtype = np.int32 if n < 2**31 - 1 else np.int64
    adj = sp.coo_array(
        (w, (s.astype(idx_dtype), t.astype(idx_dtype))), shape=(n, n)
    ).tocsr()  # sums duplicate (source, target) rows, keeps explicit zeros
    adj.sum_duplicates()
    adj.sort_indices()
    node_ids = uniques.to_numpy()
    return SocialGraph(node_ids, adj, m)


def resolve_engine(engine: str, graph: SocialGraph, *, allowed: tuple[str, ...],
                   compiled: str, measure: str) -> str:
    """Map ``engine`` (possibly ``"auto"``) to a concrete engine for one measure."""
    if engine == "auto":
        if "networkx" in allowed and graph.n_edges <= NETWORKX_MAX_EDGES:
            return "networkx"
        return compiled
    if engine not in allowed:
        raise ValueError(f"{measure}: engine must be one of {('auto', *allowed)}, got {engine!r}")
    return engine
