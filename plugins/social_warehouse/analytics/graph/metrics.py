"""The graph stage in one call: every measure per user, the communities and run details."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ._graph import NETWORKX_MAX_EDGES, build_graph, resolve_engine
from .centrality import compute_degrees, pagerank_scores
from .communities import detect_communities
from .paths import EXACT_MAX_WORK, _path_arrays
from .structure import component_labels, core_numbers, relabel_by_size

__all__ = ["compute_graph_metrics", "MEASURES", "USER_METRIC_COLUMNS"]

#: Measure names accepted as keys of a per-measure ``engine`` dict, with their engines.
MEASURES: dict[str, tuple[str, ...]] = {
    "degrees": ("scipy", "networkx"),
    "pagerank": ("scipy", "networkx"),
    "betweenness": ("scipy", "igraph", "networkx"),
    "closeness": ("scipy", "networkx"),
    "components": ("scipy", "networkx"),
    "core_number": ("igraph", "networkx"),
    "communities": ("igraph", "networkx"),
}

#: Columns of the per-user table returned by :func:`compute_graph_metrics`.
USER_METRIC_COLUMNS = (
    "user_id", "in_degree", "out_degree", "weighted_in_degree", "weighted_out_degree",
    "degree_centrality", "in_degree_centrality", "out_degree_centrality", "pagerank",
    "betweenness", "closeness", "harmonic", "wcc_id", "wcc_size", "scc_id", "scc_size",
    "core_number", "community_id", "betweenness_method", "betweenness_k", "closeness_method",
    "closeness_k", "seed", "engine",
)


def _engine_for(engine: str | dict[str, str], measure: str, community_method: str) -> str:
    if isinstance(engine, dict):
        unknown = set(engine) - set(MEASURES)
        if unknown:
            raise ValueError(f"unknown measures in engine: {sorted(unknown)}; use {list(MEASURES)}")
        return engine.get(measure, "auto")
    if engine == "auto":
        return "auto"
    allowed = MEASURES[measure]
    if measure == "communities" and community_method == "leiden":
        allowed = ("igraph",)
    # a single engine name is a preference: measures it does not implement use "auto"
    return engine if engine in allowed else "auto"


def compute_graph_metrics(
    edges: Any,
    nodes: Any = None,
    engine: str | dict[str, str] = "auto",
    seed: int = 0,
    *,
    source: str = "source",
    target: str = "target",
    weight: str | None = "weight",
    alpha: float = 0.85,
    tol: float = 1e-10,
    max_iter: int = 1000,
    k: int | str | None = None,
    exact_max_work: float = EXACT_MAX_WORK,
    n_threads: int | None = None,
    community_method: str = "leiden",
    resolution: float = 1.0,
    n_runs: int | None = None,
    n_iterations: int | None = None,
    top_members: int = 5,
    progress: Callable[[str, str], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Compute every graph measure for every user.

    Parameters
    ----------
    edges : pandas.DataFrame, pyarrow.Table or SocialGraph
        Directed weighted edges ``source -> target`` (string user ids). Parallel rows are
        summed into one edge; self-loops follow networkx per measure (see each function).
    nodes : iterable, optional
        All user ids, so users without edges get a row (isolated: degree 0, own component,
        core 0, own community, networkx's PageRank share of an isolated node).
    engine : str or dict
        ``"auto"`` (networkx on graphs of at most
        :data:`~social_warehouse.analytics.graph.NETWORKX_MAX_EDGES` edges, compiled engines
        above), an engine name applied to every measure that implements it (others stay on
        ``"auto"``), or a dict ``{measure: engine}`` over :data:`MEASURES`.
    seed : int
        Seed of the betweenness/closeness source sample and of the community runs.
    alpha, tol, max_iter
        PageRank, see :func:`compute_pagerank`.
    k, exact_max_work, n_threads
        Shortest-path centralities, see :func:`compute_path_centrality`.
    community_method, resolution, n_runs, n_iterations, top_members
        Communities, see :func:`detect_communities`.
    progress : callable, optional
        Called as ``progress("start" | "end", step)`` around every step (for logging or
        memory profiling); steps are the keys of ``run_info["timings"]``.

    Returns
    -------
    user_metrics : pandas.DataFrame
        One row per user, columns :data:`USER_METRIC_COLUMNS`. ``engine`` lists the engine of
        each measure, e.g. ``"pagerank=scipy;betweenness=scipy;..."``.
    communities : pandas.DataFrame
        ``community_id, size, modularity_contribution, top_members`` (top users by PageRank).
    run_info : dict
        ``modularity``, ``n_nodes``, ``n_edges`` (distinct directed edges), ``n_input_rows``,
        ``n_self_loops``, ``n_isolated``, ``n_communities``, ``timings`` (wall seconds per
        measure), ``cpu_times``, ``engines`` (per measure), ``betweenness``/``closeness``
        sampling details, ``communities`` details, ``pagerank_iterations``, ``seed``.

    Examples
    --------
    >>> import pandas as pd
    >>> e = pd.DataFrame({"source": ["a", "b", "c", "d"], "target": ["b", "c", "a", "a"]})
    >>> users, comms, info = compute_graph_metrics(e, nodes=["z"])
    >>> users[["user_id", "in_degree", "scc_size", "core_number", "community_id"]]
      user_id  in_degree  scc_size  core_number  community_id
    0       a          2         3            2             0
    1       b          1         3            2             1
    2       c          1         3            2             1
    3       d          0         1            1             0
    4       z          0         1            0             2
    >>> info["n_nodes"], info["n_edges"], info["engines"]["pagerank"]
    (5, 4, 'networkx')
    """
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    engines: dict[str, str] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        if progress is not None:
            progress("start", name)
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        timings[name] = time.perf_counter() - w0
        cpu[name] = time.process_time() - c0
        if progress is not None:
            progress("end", name)
        return out

    g = timed("build_graph", lambda: build_graph(edges, nodes, source=source, target=target,
                                                 weight=weight))
    n = g.n_nodes

    def eng(measure: str, compiled: str) -> str:
        allowed = MEASURES[measure]
        if measure == "communities" and community_method == "leiden":
            allowed = ("igraph",)  # networkx has no Leiden of its own
        e = resolve_engine(_engine_for(engine, measure, community_method), g,
                           allowed=allowed, compiled=compiled, measure=measure)
        engines[measure] = e
        return e

    deg = timed("degrees", lambda: compute_degrees(g, engine=eng("degrees", "scipy")))
    pr, pr_iter = timed("pagerank", lambda: pagerank_scores(
        g, alpha=alpha, tol=tol, max_iter=max_iter, engine=eng("pagerank", "scipy")))
    path_engine = {"betweenness": eng("betweenness", "scipy"),
                   "closeness": eng("closeness", "scipy")}
    paths, path_info = timed("betweenness_closeness", lambda: _path_arrays(
        g, measures=("betweenness", "closeness", "harmonic"), k=k, seed=seed,
        exact_max_work=exact_max_work, engine=path_engine, n_threads=n_threads))

    def comps() -> tuple[np.ndarray, ...]:
        weak, strong = component_labels(g, eng("components", "scipy"))
        wid, wsize = relabel_by_size(weak)
        sid, ssize = relabel_by_size(strong)
        return wid, wsize[wid], sid, ssize[sid]

    wid, wsz, sid, ssz = timed("components", comps)
    core = timed("core_number", lambda: core_numbers(g, eng("core_number", "igraph")))
    ce = eng("communities", "igraph")
    comm = timed("communities", lambda: detect_communities(
        g, method=community_method, resolution=resolution, n_runs=n_runs,
        n_iterations=n_iterations, seed=seed, engine=ce, scores=pr, top_members=top_members))

    def assemble() -> pd.DataFrame:
        engine_label = ";".join(f"{m}={e}" for m, e in engines.items())
        df = deg.copy()
        df["pagerank"] = pr
        df["betweenness"] = paths["betweenness"]
        df["closeness"] = paths["closeness"]
        df["harmonic"] = paths["harmonic"]
        df["wcc_id"], df["wcc_size"], df["scc_id"], df["scc_size"] = wid, wsz, sid, ssz
        df["core_number"] = core
        df["community_id"] = comm.membership["community_id"].to_numpy()
        df["betweenness_method"] = path_info["method"]
        df["betweenness_k"] = path_info["k"]
        df["closeness_method"] = path_info["method"]
        df["closeness_k"] = path_info["k"]
        df["seed"] = int(seed)
        df["engine"] = pd.Categorical([engine_label] * n) if n else engine_label
        return df[list(USER_METRIC_COLUMNS)]

    users = timed("assemble", assemble)
    deg_total = users["in_degree"].to_numpy() + users["out_degree"].to_numpy()
    run_info = {
        "modularity": comm.modularity,
        "n_nodes": n,
        "n_edges": g.n_edges,
        "n_input_rows": g.n_input_rows,
        "n_self_loops": g.n_self_loops,
        "n_isolated": int((deg_total == 0).sum()),
        "n_communities": int(comm.info["n_communities"]),
        "n_wcc": int(wsz.size and wid.max() + 1),
        "n_scc": int(ssz.size and sid.max() + 1),
        "timings": timings,
        "cpu_times": cpu,
        "engines": engines,
        "pagerank_iterations": int(pr_iter),
        "betweenness": {k_: path_info[k_] for k_ in ("method", "k", "n_sources", "seed",
                                                     "n_threads")},
        "closeness": {k_: path_info[k_] for k_ in ("method", "k", "n_sources", "seed")},
        "communities": comm.info,
        "seed": int(seed),
        "networkx_max_edges": NETWORKX_MAX_EDGES,
    }
    return users, comm.communities, run_info
