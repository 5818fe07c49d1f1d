"""Graph analytics of the user graph: centrality, components, k-cores and communities.

Plain functions: edges in (a pandas DataFrame or pyarrow Table of ``source, target,
weight``, or a :class:`SocialGraph` built once), DataFrames out, ``seed=`` for anything
random. networkx defines the semantics of every measure; compiled engines (scipy.sparse,
igraph) compute the same numbers fast, and ``engine="auto"`` chooses by the graph's size
(networkx up to :data:`NETWORKX_MAX_EDGES` distinct edges). ``tests/unit/test_graph.py``
proves the engines agree with networkx.

Input conventions (all functions)
    * User ids are mapped to contiguous ints internally (``pandas.factorize``, sorted), so
      outputs are in user-id order whatever the input order.
    * ``nodes=`` adds users without edges; they appear in every output as isolated nodes of
      the networkx graph (degree 0, own component, core 0, own community, dangling-node
      PageRank share, centralities 0) and count in every ``n`` of a normalisation.
    * Rows with the same ``(source, target)`` are summed into one edge of that weight;
      degrees count distinct neighbours.
    * Self-loops follow networkx per measure: counted in degrees and PageRank, irrelevant to
      paths and components, removed for k-cores (networkx refuses them), one undirected loop
      in communities.

================================  ==========================================================
function                          returns
================================  ==========================================================
:func:`compute_degrees`           in/out/weighted degrees, degree centralities
:func:`compute_pagerank`          weighted PageRank
:func:`compute_path_centrality`   betweenness, closeness, harmonic (exact or sampled)
:func:`compute_components`        weak/strong component id and size
:func:`compute_core_number`       k-core number
:func:`detect_communities`        Leiden/Louvain communities, modularity, top members
:func:`compute_graph_metrics`     all of the above, one row per user, plus run info
================================  ==========================================================
"""

from ._graph import ENGINES, NETWORKX_MAX_EDGES, SocialGraph, build_graph
from .centrality import compute_degrees, compute_pagerank
from .communities import CommunityResult, detect_communities, modularity_terms
from .metrics import MEASURES, USER_METRIC_COLUMNS, compute_graph_metrics
from .paths import (
    DEFAULT_K,
    EXACT_MAX_WORK,
    choose_sources,
    compute_betweenness,
    compute_closeness,
    compute_path_centrality,
)
from .structure import compute_components, compute_core_number, relabel_by_size

__all__ = [
    "SocialGraph",
    "build_graph",
    "compute_degrees",
    "compute_pagerank",
    "compute_path_centrality",
    "compute_betweenness",
    "compute_closeness",
    "compute_components",
    "compute_core_number",
    "detect_communities",
    "CommunityResult",
    "compute_graph_metrics",
    "choose_sources",
    "modularity_terms",
    "relabel_by_size",
    "ENGINES",
    "MEASURES",
    "USER_METRIC_COLUMNS",
    "NETWORKX_MAX_EDGES",
    "DEFAULT_K",
    "EXACT_MAX_WORK",
]
