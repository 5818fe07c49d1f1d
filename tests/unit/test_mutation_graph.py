"""``analytics/graph`` at its edges: input forms, errors, engine choice and run details.

``test_graph.py`` compares every measure with networkx on random graphs; these tests pin
what those comparisons do not see (found by mutation testing, issue 15): the input forms
(pyarrow, mappings, node lists with an index), the error messages, the exact size limit of
``engine="auto"``, tiny graphs (0, 1 and 2 users), the run details of
:func:`compute_graph_metrics`, and the community options. Expected values come from
networkx on the same small graphs (to 1e-12) or are computed by hand in the comments.
"""

from __future__ import annotations

import os

import networkx as nx
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from social_warehouse.analytics.graph import (
    NETWORKX_MAX_EDGES,
    SocialGraph,
    build_graph,
    choose_sources,
    compute_betweenness,
    compute_closeness,
    compute_components,
    compute_core_number,
    compute_degrees,
    compute_graph_metrics,
    compute_pagerank,
    compute_path_centrality,
    detect_communities,
    modularity_terms,
    relabel_by_size,
)
from social_warehouse.analytics.graph._graph import resolve_engine
from social_warehouse.analytics.graph.centrality import pagerank_scores
from social_warehouse.analytics.graph.paths import _default_threads

from tests.unit.test_graph import as_series, reference_graph

TOL = 1e-12


def _edges(rows) -> pd.DataFrame:
    s, t, w = zip(*rows, strict=True)
    return pd.DataFrame({"source": list(s), "target": list(t), "weight": list(w)})


# a: two parallel rows to b, a self-loop on c, a zero-weight edge d -> a, reciprocal a <-> b
EDGES = _edges([("a", "b", 1.0), ("a", "b", 2.0), ("b", "a", 4.0), ("b", "c", 1.0),
                ("c", "c", 5.0), ("d", "a", 0.0), ("c", "e", 2.0)])
NODES = ["f", "a"]  # f isolated, a repeated


def _nx(edges: pd.DataFrame, nodes=(), loops: bool = True) -> nx.DiGraph:
    """networkx reference built from the rows (parallel rows summed; test_graph's builder)."""
    all_nodes = sorted(set(edges.source) | set(edges.target) | set(nodes))
    if not loops:
        edges = edges[edges.source != edges.target]
    return reference_graph(edges, all_nodes)


_series = as_series


# --------------------------------------------------------------------------- build_graph


def test_graph_structure_by_hand():
    g = build_graph(EDGES, NODES)
    assert g.node_ids.tolist() == ["a", "b", "c", "d", "e", "f"]
    assert (g.n_nodes, g.n_edges, g.n_self_loops, g.n_input_rows) == (6, 6, 1, 7)
    assert repr(g) == "SocialGraph(n_nodes=6, n_edges=6, n_self_loops=1)"
    dense = g.adj.toarray()
    expected = np.zeros((6, 6))
    expected[0, 1], expected[1, 0], expected[1, 2] = 3.0, 4.0, 1.0
    expected[2, 2], expected[2, 4] = 5.0, 0 + 2.0
    np.testing.assert_array_equal(dense, expected)
    assert g.adj[3, 0] == 0.0 and g.adj.nnz == 6  # the zero weight is a stored edge
    assert g.rows.tolist() == [0, 1, 1, 2, 2, 3]
    assert g.loop_mask.tolist() == [False, False, False, True, False, False]
    indptr, indices = g.pattern
    assert indptr.tolist() == [0, 1, 3, 4, 5, 5, 5] and indices.tolist() == [1, 0, 2, 4, 0]
    assert indptr.dtype == np.int64
    assert g.has_out_edge.tolist() == [True, True, True, True, False, False]
    pc = g.pattern_csr.toarray()
    assert pc.sum() == 5 and pc[2, 2] == 0 and pc[3, 0] == 1
    np.testing.assert_array_equal(g.pattern_t.toarray(), pc.T)
    s, t, w = g.edge_arrays(loops=False)
    assert (s.tolist(), t.tolist(), w.tolist()) == (
        [0, 1, 1, 2, 3], [1, 0, 2, 4, 0], [3.0, 4.0, 1.0, 2.0, 0.0])
    s, t, w = g.edge_arrays()
    assert len(s) == 6 and (2, 2, 5.0) in set(zip(s.tolist(), t.tolist(), w.tolist(),
                                                  strict=True))
    # undirected: a-b 3 + 4, b-c 1, c loop 5 (once), c-e 2; d-a has weight 0: left out
    u, v, w = g.undirected()
    assert list(zip(u.tolist(), v.tolist(), w.tolist(), strict=True)) == [
        (0, 1, 7.0), (1, 2, 1.0), (2, 2, 5.0), (2, 4, 2.0)]
    assert u.dtype == v.dtype == np.int64 and w.dtype == np.float64
    G = g.to_networkx(loops=False)
    assert sorted(G.nodes) == list(range(6)) and G.number_of_edges() == 5
    assert not nx.number_of_selfloops(G) and G[0][1]["weight"] == 3.0
    assert nx.number_of_selfloops(g.to_networkx()) == 1
    f = g.frame(x=np.arange(6))
    assert list(f.columns) == ["user_id", "x"] and f.user_id.tolist() == g.node_ids.tolist()


def test_build_graph_input_forms_agree():
    ref = build_graph(EDGES, NODES)
    arrow = build_graph(pa.Table.from_pandas(EDGES), NODES)
    mapping = build_graph({c: EDGES[c].tolist() for c in EDGES}, tuple(NODES))
    shuffled = EDGES.sample(frac=1, random_state=3).set_index(pd.Index(range(100, 107)))
    series = build_graph(shuffled, pd.Series(NODES, index=[7, 9]))
    generator = build_graph(EDGES, (x for x in NODES))
    for g in (arrow, mapping, series, generator):
        assert g.node_ids.tolist() == ref.node_ids.tolist()
        assert (g.adj != ref.adj).nnz == 0 and g.n_input_rows == 7
    assert build_graph(ref) is ref


def test_build_graph_weights_none_absent_and_renamed():
    e = EDGES.rename(columns={"source": "src", "target": "dst", "weight": "w"})
    g = build_graph(e, source="src", target="dst", weight="w")
    assert g.adj.sum() == EDGES.weight.sum()
    ones = build_graph(e, source="src", target="dst", weight=None)
    assert ones.adj.sum() == len(e) and ones.adj[0, 1] == 2.0  # two rows a -> b
    absent = build_graph(e, source="src", target="dst")  # no "weight" column: 1 per row
    assert (absent.adj != ones.adj).nnz == 0
    arrow = build_graph(pa.Table.from_pandas(e), source="src", target="dst")
    assert (arrow.adj != ones.adj).nnz == 0
    # integer ids
    gi = build_graph(pd.DataFrame({"source": [3, 1], "target": [1, 2]}), nodes=[5])
    assert gi.node_ids.tolist() == [1, 2, 3, 5] and gi.adj[2, 0] == 1.0


def test_build_graph_errors_name_the_problem():
    with pytest.raises(KeyError, match=r"edge table has no column 'src'; columns: "
                                       r"\['source', 'target', 'weight'\]"):
        build_graph(EDGES, source="src")
    with pytest.raises(KeyError, match=r"edge table has no column 'dst'; columns: "
                                       r"\['source', 'target', 'weight'\]"):
        build_graph(pa.Table.from_pandas(EDGES), target="dst")
    with pytest.raises(ValueError, match="pass nodes= to build_graph, not together"):
        build_graph(build_graph(EDGES), nodes=["x"])
    with pytest.raises(ValueError, match=r"column 'weight' must hold finite, non-negative"):
        build_graph(_edges([("a", "b", 1.0), ("b", "a", -0.5)]))
    with pytest.raises(ValueError, match="must not be null"):
        build_graph(EDGES, nodes=["x", None])
    # an empty table is fine, with or without nodes
    empty = build_graph(pd.DataFrame({"source": [], "target": [], "weight": []}))
    assert (empty.n_nodes, empty.n_edges, empty.n_input_rows) == (0, 0, 0)
    assert build_graph(EDGES.iloc[:0], nodes=["x"]).node_ids.tolist() == ["x"]


def test_resolve_engine_at_exactly_the_networkx_limit():
    k = int(np.ceil(np.sqrt(NETWORKX_MAX_EDGES))) + 1
    pairs = [(f"u{i:03d}", f"u{j:03d}") for i in range(k) for j in range(k) if i != j]
    rows = pairs[:NETWORKX_MAX_EDGES]
    at = build_graph(pd.DataFrame(rows, columns=["source", "target"]))
    assert at.n_edges == NETWORKX_MAX_EDGES == 2000
    over = build_graph(pd.DataFrame(pairs[:NETWORKX_MAX_EDGES + 1],
                                    columns=["source", "target"]))
    kw = dict(allowed=("scipy", "networkx"), compiled="scipy", measure="m")
    assert resolve_engine("auto", at, **kw) == "networkx"
    assert resolve_engine("auto", over, **kw) == "scipy"
    assert resolve_engine("auto", at, allowed=("igraph",), compiled="igraph",
                          measure="m") == "igraph"
    assert resolve_engine("scipy", at, **kw) == "scipy"
    with pytest.raises(ValueError, match=r"^pagerank: engine must be one of "
                                         r"\('auto', 'scipy', 'networkx'\), got 'igraph'$"):
        compute_pagerank(EDGES, engine="igraph")


# --------------------------------------------------------------------------- degrees, PageRank


@pytest.mark.parametrize("engine", ["scipy", "networkx"])
def test_degrees_by_hand_and_against_networkx(engine):
    got = compute_degrees(EDGES, NODES, engine=engine)
    G = _nx(EDGES, NODES)
    ids = got.user_id
    # by hand: a in {b, d} out {b}; c in {b, c} out {c, e} (the loop counts both ways)
    assert got.in_degree.tolist() == [2, 1, 2, 0, 1, 0]
    assert got.out_degree.tolist() == [1, 2, 2, 1, 0, 0]
    assert got.weighted_in_degree.tolist() == [4.0, 3.0, 6.0, 0.0, 2.0, 0.0]
    assert got.weighted_out_degree.tolist() == [3.0, 5.0, 7.0, 0.0, 0.0, 0.0]
    assert got.in_degree.dtype == np.int64 and got.weighted_in_degree.dtype == np.float64
    for col, fn in (("degree_centrality", nx.degree_centrality),
                    ("in_degree_centrality", nx.in_degree_centrality),
                    ("out_degree_centrality", nx.out_degree_centrality)):
        np.testing.assert_allclose(got[col], _series(fn(G), ids), rtol=0, atol=TOL)
    assert got.degree_centrality.iloc[2] == 4 / 5


@pytest.mark.parametrize("engine", ["scipy", "networkx"])
def test_degrees_of_zero_one_and_two_users(engine):
    none = compute_degrees(EDGES.iloc[:0], engine=engine)
    assert len(none) == 0 and list(none.columns)[0] == "user_id"
    one = compute_degrees(EDGES.iloc[:0], nodes=["x"], engine=engine)
    assert one.iloc[0, 1:].tolist() == [0, 0, 0.0, 0.0, 1.0, 1.0, 1.0]  # nx: 1 for n = 1
    two = compute_degrees(_edges([("x", "y", 2.0)]), engine=engine)
    assert two.degree_centrality.tolist() == [1.0, 1.0]
    assert two.in_degree_centrality.tolist() == [0.0, 1.0]
    assert two.out_degree_centrality.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("alpha", [0.85, 0.5])
@pytest.mark.parametrize("engine", ["scipy", "networkx"])
def test_pagerank_weighted_with_loops_dangling_and_zero_weight(engine, alpha):
    got = compute_pagerank(EDGES, NODES, alpha=alpha, tol=1e-14, engine=engine)
    ref = nx.pagerank(_nx(EDGES, NODES), alpha=alpha, tol=1e-16, max_iter=10_000,
                      weight="weight")
    np.testing.assert_allclose(got.pagerank, _series(ref, got.user_id), rtol=0, atol=1e-12)
    assert got.pagerank.sum() == pytest.approx(1.0, abs=1e-12)


def test_pagerank_scores_defaults_iterations_and_empty_graph():
    g = build_graph(EDGES, NODES)
    x, it = pagerank_scores(g)
    ref = nx.pagerank(_nx(EDGES, NODES), tol=1e-16, max_iter=10_000)
    np.testing.assert_allclose(x, _series(ref, g.node_ids), rtol=0, atol=1e-9)
    # an independent power iteration with the same L1 stopping rule counts the same steps
    G = _nx(EDGES, NODES)
    ids = list(g.node_ids)
    n = len(ids)
    P = nx.to_numpy_array(G, nodelist=ids, weight="weight")
    out = P.sum(axis=1)
    dangling = out == 0
    P[~dangling] /= out[~dangling, None]
    v = np.full(n, 1 / n)
    steps = 0
    while True:
        steps += 1
        new = 0.85 * (v @ P + v[dangling].sum() / n) + 0.15 / n
        done = np.abs(new - v).sum() < 1e-10
        v = new
        if done:
            break
    assert it == steps
    assert pagerank_scores(g, engine="networkx")[1] == -1
    with pytest.raises(nx.PowerIterationFailedConvergence, match="within 2 iterations"):
        pagerank_scores(g, tol=1e-15, max_iter=2)
    assert pagerank_scores(g, tol=1e-12)[1] > steps
    x0, it0 = pagerank_scores(build_graph(EDGES.iloc[:0]))
    assert x0.shape == (0,) and it0 == 0
    assert compute_pagerank(EDGES.iloc[:0]).empty


# --------------------------------------------------------------------------- paths


def _path_reference(edges, nodes=()):
    G = _nx(edges, nodes, loops=False)
    return (G, nx.betweenness_centrality(G), nx.closeness_centrality(G),
            nx.harmonic_centrality(G))


@pytest.mark.parametrize("engine", ["scipy", "networkx"])
def test_path_centralities_by_hand_on_a_chain(engine):
    e = _edges([("a", "b", 1.0), ("b", "c", 1.0), ("c", "d", 1.0), ("d", "d", 1.0)])
    got = compute_path_centrality(e, nodes=["e"], engine=engine, n_threads=1)
    # n = 5; b lies on a->c, a->d; c on a->d, b->d: 2 / ((n-1)(n-2)) = 1/6
    np.testing.assert_allclose(got.betweenness, [0, 1 / 6, 1 / 6, 0, 0], rtol=0, atol=TOL)
    # d is reached by c, b, a at 1, 2, 3 hops: (r-1)^2 / ((n-1) * 6) = 9 / 24
    np.testing.assert_allclose(got.closeness, [0, 1 / 4, 4 / 12, 9 / 24, 0], rtol=0, atol=TOL)
    np.testing.assert_allclose(got.harmonic, [0, 1, 1.5, 1 + 1 / 2 + 1 / 3, 0],
                               rtol=0, atol=TOL)
    assert got.betweenness_k.tolist() == [5] * 5 and got.closeness_k.tolist() == [5] * 5
    assert set(got.closeness_method) == {"exact"} and got.seed.tolist() == [0] * 5


def test_path_centralities_on_a_star_use_the_dense_levels():
    # the hub's first level touches every edge: one sparse product instead of gathers
    hub = [("h", f"s{i}", 1.0) for i in range(12)]
    back = [(f"s{i}", "h", 1.0) for i in range(0, 12, 3)] + [("s1", "s2", 1.0)]
    e = _edges(hub + back)
    _, bc, cl, hm = _path_reference(e)
    for threads in (1, 2):
        got = compute_path_centrality(e, engine="scipy", n_threads=threads)
        ids = got.user_id
        np.testing.assert_allclose(got.betweenness, _series(bc, ids), rtol=0, atol=TOL)
        np.testing.assert_allclose(got.closeness, _series(cl, ids), rtol=0, atol=TOL)
        np.testing.assert_allclose(got.harmonic, _series(hm, ids), rtol=0, atol=TOL)


def test_path_centralities_of_two_users_and_of_nobody():
    two = compute_path_centrality(_edges([("x", "y", 1.0)]), engine="scipy")
    assert two.betweenness.tolist() == [0.0, 0.0]  # n = 2: nothing lies between
    assert two.closeness.tolist() == [0.0, 1.0] and two.harmonic.tolist() == [0.0, 1.0]
    iso = compute_path_centrality(EDGES.iloc[:0], nodes=["p", "q", "r"])
    assert (iso[["betweenness", "closeness", "harmonic"]] == 0).all().all()


def test_path_centrality_measure_subsets_and_errors():
    only_b = compute_path_centrality(EDGES, measures=("betweenness",))
    assert list(only_b.columns) == ["user_id", "betweenness", "betweenness_method",
                                    "betweenness_k", "seed"]
    only_h = compute_path_centrality(EDGES, measures=("harmonic",), seed=4)
    assert list(only_h.columns) == ["user_id", "harmonic", "closeness_method",
                                    "closeness_k", "seed"]
    assert only_h.seed.tolist() == [4] * len(only_h)
    _, bc, cl, hm = _path_reference(EDGES)
    np.testing.assert_allclose(only_h.harmonic, _series(hm, only_h.user_id), rtol=0, atol=TOL)
    only_c = compute_path_centrality(EDGES, measures=["closeness"], engine="networkx")
    assert list(only_c.columns) == ["user_id", "closeness", "closeness_method",
                                    "closeness_k", "seed"]
    np.testing.assert_allclose(only_c.closeness, _series(cl, only_c.user_id), rtol=0, atol=TOL)
    with pytest.raises(ValueError, match=r"unknown measure 'pagerank'; choose from "
                                         r"\('betweenness', 'closeness', 'harmonic'\)"):
        compute_path_centrality(EDGES, measures=("pagerank",))
    with pytest.raises(ValueError, match=r"k must be None, 'all' or a positive int, got 'x'"):
        compute_path_centrality(EDGES, k="x")
    with pytest.raises(ValueError, match="k must be positive, got 0"):
        compute_path_centrality(EDGES, k=0)


def test_choose_sources_at_exactly_the_exact_work_limit():
    g = build_graph(EDGES, NODES)
    cand = np.flatnonzero(g.has_out_edge)
    work = cand.size * g.pattern[1].size  # 4 users with out-edges x 5 loop-free edges
    assert work == 20
    src, exact = choose_sources(g, None, exact_max_work=20)
    assert exact and src.tolist() == cand.tolist()
    src, exact = choose_sources(g, None, exact_max_work=19)
    assert exact  # DEFAULT_K (256) sources exceed the 4 candidates: still every one
    src, exact = choose_sources(g, 3, seed=1)
    assert not exact and src.size == 3 and set(src) <= set(cand)
    assert src.tolist() == sorted(src.tolist())
    src, exact = choose_sources(g, 4)
    assert exact and src.tolist() == cand.tolist()
    src, exact = choose_sources(g, 1.0)  # an integral float is an int
    assert not exact and src.size == 1


def test_sampled_path_centralities_scale_by_candidates_over_sampled_sources():
    # sources a, b, c, d (every user with an out-edge); sampled: k = 2 of them
    g = build_graph(EDGES, NODES)
    src, exact = choose_sources(g, 2, seed=5)
    assert not exact
    G = g.to_networkx(loops=False)
    n = g.n_nodes
    cand = g.has_out_edge
    in_s = np.isin(np.arange(n), src)
    scale = np.array([(cand.sum() - cand[v]) / (2 - in_s[v]) for v in range(n)])
    raw = nx.betweenness_centrality_subset(G, sources=src.tolist(), targets=list(G))
    reach, dsum, harm = np.zeros(n), np.zeros(n), np.zeros(n)
    for s in src.tolist():
        for v, d in nx.single_source_shortest_path_length(G, s).items():
            if d:
                reach[v] += 1
                dsum[v] += d
                harm[v] += 1 / d
    close = np.divide(scale * reach**2, (n - 1) * dsum, out=np.zeros(n), where=dsum > 0)
    for engine in ("scipy", "networkx"):
        got = compute_path_centrality(g, k=2, seed=5, engine=engine)
        bc = np.array([raw[i] for i in range(n)]) * scale / ((n - 1) * (n - 2))
        np.testing.assert_allclose(got.betweenness, bc, rtol=0, atol=TOL)
        np.testing.assert_allclose(got.closeness, close, rtol=0, atol=TOL)
        np.testing.assert_allclose(got.harmonic, harm * scale, rtol=0, atol=TOL)
        assert set(got.betweenness_method) == {"sampled"} and set(got.betweenness_k) == {2}


def test_default_threads_are_the_cpu_count_up_to_four():
    assert _default_threads() == max(1, min(4, os.cpu_count() or 1))
    _, info = compute_graph_metrics(EDGES, NODES)[1:]
    assert info["betweenness"]["n_threads"] == _default_threads()


# --------------------------------------------------------------------------- structure


def test_relabel_by_size_ties_and_empty():
    new, sizes = relabel_by_size(np.array([7, 3, 3, 7, 1, 9, 9]))
    # sizes 2 (7: first at 0), 2 (3: first at 1), 2 (9: first at 5), 1 (1)
    assert new.tolist() == [0, 1, 1, 0, 3, 2, 2] and sizes.tolist() == [2, 2, 2, 1]
    new, sizes = relabel_by_size(np.array([], dtype=np.int32))
    assert new.dtype == np.int64 and sizes.dtype == np.int64 and new.size == sizes.size == 0


@pytest.mark.parametrize("engine", ["scipy", "networkx"])
def test_components_by_hand(engine):
    got = compute_components(EDGES, NODES, engine=engine)
    # weak: {a, b, c, d, e}, {f}; strong: {a, b}, then c, d, e, f alone
    assert got.wcc_id.tolist() == [0, 0, 0, 0, 0, 1]
    assert got.wcc_size.tolist() == [5, 5, 5, 5, 5, 1]
    assert got.scc_id.tolist() == [0, 0, 1, 2, 3, 4]
    assert got.scc_size.tolist() == [2, 2, 1, 1, 1, 1]


@pytest.mark.parametrize("engine", ["igraph", "networkx"])
def test_core_number_without_self_loops(engine):
    got = compute_core_number(EDGES, NODES, engine=engine)
    ref = nx.core_number(_nx(EDGES, NODES, loops=False))
    assert got.core_number.tolist() == _series(ref, got.user_id).astype(int).tolist()
    assert got.core_number.tolist() == [2, 2, 1, 1, 1, 0]


# --------------------------------------------------------------------------- communities


def _two_triangles() -> pd.DataFrame:
    return _edges([("a", "b", 1.0), ("b", "c", 2.0), ("c", "a", 1.0), ("d", "e", 1.0),
                   ("e", "f", 1.0), ("f", "d", 3.0), ("a", "d", 1.0), ("b", "b", 2.0)])


def test_modularity_terms_match_networkx_with_resolution():
    g = build_graph(_two_triangles())
    u, v, w = g.undirected()
    U = nx.Graph()
    U.add_nodes_from(range(g.n_nodes))
    U.add_weighted_edges_from(zip(u.tolist(), v.tolist(), w.tolist(), strict=True))
    labels = np.array([0, 0, 0, 1, 1, 1])
    for gamma in (1.0, 0.5, 2.0):
        terms = modularity_terms(labels, u, v, w, g.n_nodes, gamma)
        ref = nx.community.modularity(U, [{0, 1, 2}, {3, 4, 5}], resolution=gamma)
        assert terms.sum() == pytest.approx(ref, abs=TOL)
    # by hand at gamma 1: m = 12; L = (1 + 2 + 1 + 2, 1 + 1 + 3); K = (3 + 7 + 3, 5 + 2 + 4)
    # (the loop b-b counts twice in b's strength, once in L)
    terms = modularity_terms(labels, u, v, w, g.n_nodes)
    np.testing.assert_allclose(terms, [6 / 12 - (13 / 24) ** 2, 5 / 12 - (11 / 24) ** 2],
                               rtol=0, atol=TOL)
    assert np.isnan(modularity_terms(labels, u, v, w * 0, 6)).all()
    assert modularity_terms(np.array([], dtype=int), u[:0], v[:0], w[:0], 0).size == 0


@pytest.mark.parametrize("method,engine", [("leiden", "auto"), ("louvain", "networkx"),
                                           ("louvain", "igraph")])
def test_detect_communities_two_triangles(method, engine):
    res = detect_communities(_two_triangles(), nodes=["z"], method=method, engine=engine,
                             seed=2, n_runs=3)
    assert res.membership.community_id.tolist() == [0, 0, 0, 1, 1, 1, 2]
    g = build_graph(_two_triangles(), ["z"])
    u, v, w = g.undirected()
    U = nx.Graph()
    U.add_nodes_from(range(7))
    U.add_weighted_edges_from(zip(u.tolist(), v.tolist(), w.tolist(), strict=True))
    q = nx.community.modularity(U, [{0, 1, 2}, {3, 4, 5}, {6}])
    assert res.modularity == pytest.approx(q, abs=TOL)
    assert res.communities["size"].tolist() == [3, 3, 1]
    assert res.communities.modularity_contribution.sum() == pytest.approx(q, abs=TOL)
    assert res.communities.community_id.tolist() == [0, 1, 2]
    info = res.info
    assert (info["method"], info["n_runs"], info["seed"], info["n_communities"]) == (
        method, 3, 2, 3)
    assert info["engine"] == ("igraph" if method == "leiden" else engine)
    assert info["n_iterations"] == (-1 if method == "leiden" else None)
    assert info["resolution"] == 1.0 and info["n_undirected_edges"] == 8
    assert len(info["run_objectives"]) == 3
    assert info["objective"] == pytest.approx(max(info["run_objectives"]), abs=0)
    assert info["objective"] == pytest.approx(q, abs=TOL)
    assert info["modularity"] == res.modularity


def test_detect_communities_defaults_and_errors():
    res = detect_communities(_two_triangles())
    assert res.info["n_runs"] == 10 and res.info["n_iterations"] == -1
    assert res.info["method"] == "leiden" and res.info["seed"] == 0
    with pytest.raises(ValueError, match="method must be 'leiden' or 'louvain', got 'x'"):
        detect_communities(_two_triangles(), method="x")
    with pytest.raises(ValueError, match="n_runs must be at least 1"):
        detect_communities(_two_triangles(), n_runs=0)
    with pytest.raises(ValueError, match=r"scores must have one value per user \(6\), "
                                         r"got \(2,\)"):
        detect_communities(_two_triangles(), scores=[1.0, 2.0])
    with pytest.raises(ValueError, match="engine must be one of"):
        detect_communities(_two_triangles(), engine="networkx")  # no Leiden in networkx


def test_detect_communities_without_any_weight_is_singletons():
    e = _edges([("a", "b", 0.0), ("b", "c", 0.0)])
    res = detect_communities(e, nodes=["d"], n_runs=2)
    assert res.membership.community_id.tolist() == [0, 1, 2, 3]
    assert np.isnan(res.modularity) and np.isnan(res.info["objective"])
    assert res.info["run_objectives"] == [] and res.communities["size"].tolist() == [1] * 4


def test_top_members_by_scores_array_frame_and_default_pagerank():
    e = _two_triangles()
    scores = np.array([0.1, 0.5, 0.3, 0.3, 0.2, 0.9])
    res = detect_communities(e, scores=scores, top_members=2, seed=1)
    # community 0 = a b c: b (0.5), c (0.3); community 1 = d e f: f, then d (0.3 > 0.2)
    assert res.communities.top_members.tolist() == [["b", "c"], ["f", "d"]]
    frame = pd.DataFrame({"user_id": ["f", "e", "d", "c", "b"],  # a missing: score 0
                          "pagerank": [0.0, 0.4, 0.4, 0.0, 0.2]})
    res = detect_communities(e, scores=frame, top_members=5, seed=1)
    # ties broken by user id: e and d both 0.4 -> d first; a and c both 0 -> a first
    assert res.communities.top_members.tolist() == [["b", "a", "c"], ["d", "e", "f"]]
    res = detect_communities(e, top_members=1, seed=1)
    pr = compute_pagerank(e, tol=1e-12).set_index("user_id").pagerank
    assert res.communities.top_members.tolist() == [[pr[list("abc")].idxmax()],
                                                    [pr[list("def")].idxmax()]]
    res = detect_communities(e, top_members=0, seed=1)
    assert res.communities.top_members.tolist() == [[], []]


# --------------------------------------------------------------------------- all at once


def test_compute_graph_metrics_run_info_by_hand():
    steps = []
    users, comms, info = compute_graph_metrics(
        EDGES, NODES, seed=3, progress=lambda what, step: steps.append((what, step)))
    names = ["build_graph", "degrees", "pagerank", "betweenness_closeness", "components",
             "core_number", "communities", "assemble"]
    assert steps == [(w, s) for s in names for w in ("start", "end")]
    assert list(info["timings"]) == names and list(info["cpu_times"]) == names
    assert all(t >= 0 for t in info["timings"].values())
    assert (info["n_nodes"], info["n_edges"], info["n_input_rows"], info["n_self_loops"]) == (
        6, 6, 7, 1)
    assert info["n_isolated"] == 1  # f
    assert (info["n_wcc"], info["n_scc"]) == (2, 5)
    assert info["seed"] == 3 and info["networkx_max_edges"] == NETWORKX_MAX_EDGES
    assert info["communities"]["seed"] == 3 and info["betweenness"]["seed"] == 3
    assert info["pagerank_iterations"] == -1  # networkx on a small graph
    assert info["betweenness"]["method"] == "exact" and info["betweenness"]["k"] == 6
    assert set(info["betweenness"]) == {"method", "k", "n_sources", "seed", "n_threads"}
    assert info["closeness"] == {"method": "exact", "k": 6, "n_sources": 4, "seed": 3}
    assert info["n_communities"] == len(comms) == info["communities"]["n_communities"]
    assert info["engines"] == {"degrees": "networkx", "pagerank": "networkx",
                               "betweenness": "networkx", "closeness": "networkx",
                               "components": "networkx", "core_number": "networkx",
                               "communities": "igraph"}
    label = ("degrees=networkx;pagerank=networkx;betweenness=networkx;closeness=networkx;"
             "components=networkx;core_number=networkx;communities=igraph")
    assert set(users.engine) == {label} and users.engine.dtype == "category"
    assert users.seed.tolist() == [3] * 6
    assert users.betweenness_method.tolist() == ["exact"] * 6
    assert users.closeness_k.tolist() == [6] * 6 and users.betweenness_k.tolist() == [6] * 6
    assert users.closeness_method.tolist() == ["exact"] * 6
    ref = nx.pagerank(_nx(EDGES, NODES), tol=1e-16, max_iter=10_000)
    np.testing.assert_allclose(users.pagerank, _series(ref, users.user_id), rtol=0, atol=1e-9)
    _, bc, cl, hm = _path_reference(EDGES, NODES)
    for col, ref in (("betweenness", bc), ("closeness", cl), ("harmonic", hm)):
        np.testing.assert_allclose(users[col], _series(ref, users.user_id), rtol=0, atol=TOL)
    assert users.scc_size.tolist() == [2, 2, 1, 1, 1, 1]
    assert users.core_number.tolist() == [2, 2, 1, 1, 1, 0]
    assert users.community_id.tolist() == detect_communities(
        EDGES, NODES, seed=3).membership.community_id.tolist()
    assert users.in_degree.tolist() == [2, 1, 2, 0, 1, 0]


def test_compute_graph_metrics_engine_choice():
    _, _, info = compute_graph_metrics(EDGES, NODES, engine="scipy", k=2, alpha=0.5,
                                       tol=1e-12, max_iter=500)
    assert info["engines"] == {"degrees": "scipy", "pagerank": "scipy", "betweenness": "scipy",
                               "closeness": "scipy", "components": "scipy",
                               "core_number": "networkx", "communities": "igraph"}
    assert info["pagerank_iterations"] > 0 and info["betweenness"]["method"] == "sampled"
    assert info["betweenness"]["k"] == 2 and info["betweenness"]["n_sources"] == 2
    # engine "networkx" with Leiden: communities stay on igraph ("auto")
    _, _, info = compute_graph_metrics(EDGES, engine="networkx")
    assert info["engines"]["communities"] == "igraph"
    # Louvain may use networkx; igraph as a single name reaches the measures that have it
    _, _, info = compute_graph_metrics(EDGES, engine="networkx", community_method="louvain")
    assert info["engines"]["communities"] == "networkx"
    assert info["communities"]["method"] == "louvain"
    _, _, info = compute_graph_metrics(EDGES, engine="igraph")
    assert info["engines"]["betweenness"] == "igraph"
    assert info["engines"]["core_number"] == "igraph"
    assert info["engines"]["pagerank"] == "networkx"  # "auto" on a small graph
    _, _, info = compute_graph_metrics(EDGES, engine={"pagerank": "scipy"})
    assert info["engines"]["pagerank"] == "scipy" and info["engines"]["degrees"] == "networkx"
    with pytest.raises(ValueError, match=r"unknown measures in engine: \['bogus'\]; use "
                                         r"\['degrees', 'pagerank'"):
        compute_graph_metrics(EDGES, engine={"bogus": "scipy"})


def test_compute_graph_metrics_parameters_reach_each_measure():
    users, comms, info = compute_graph_metrics(
        EDGES, NODES, alpha=0.5, resolution=2.0, n_runs=2, n_iterations=3, top_members=1,
        community_method="leiden", seed=1, weight=None)
    ones = EDGES.assign(weight=1.0)
    ref = nx.pagerank(_nx(ones, NODES), alpha=0.5, tol=1e-16, max_iter=10_000)
    np.testing.assert_allclose(users.pagerank, _series(ref, users.user_id), rtol=0, atol=1e-9)
    assert info["communities"]["resolution"] == 2.0 and info["communities"]["n_runs"] == 2
    assert info["communities"]["n_iterations"] == 3
    assert all(len(t) <= 1 for t in comms.top_members)
    renamed = EDGES.rename(columns={"source": "s", "target": "t", "weight": "w"})
    u2, _, _ = compute_graph_metrics(renamed, NODES, source="s", target="t", weight="w")
    u1, _, _ = compute_graph_metrics(EDGES, NODES)
    pd.testing.assert_frame_equal(u1.drop(columns="engine"), u2.drop(columns="engine"))
    assert isinstance(SocialGraph, type)


def test_compute_graph_metrics_of_no_user():
    # an empty edge table without nodes (an empty day): empty frames, not an error
    res = detect_communities(EDGES.iloc[:0])
    assert len(res.membership) == len(res.communities) == 0 and np.isnan(res.modularity)
    assert list(res.communities.columns) == ["community_id", "size",
                                             "modularity_contribution", "top_members"]
    users, comms, info = compute_graph_metrics(EDGES.iloc[:0])
    assert len(users) == 0 and len(comms) == 0
    assert (info["n_nodes"], info["n_wcc"], info["n_scc"], info["n_isolated"]) == (0, 0, 0, 0)


# --------------------------------------------------------------------------- public wrappers


RENAMED = EDGES.rename(columns={"source": "s", "target": "t", "weight": "w"})
WRAPPERS = [compute_degrees, compute_pagerank, compute_path_centrality, compute_components,
            compute_core_number]


@pytest.mark.parametrize("fn", WRAPPERS + [compute_betweenness, compute_closeness],
                         ids=lambda f: f.__name__)
def test_every_function_reads_named_columns_and_validates_weights(fn):
    expected = fn(EDGES, NODES)
    got = fn(RENAMED, NODES, source="s", target="t", weight="w")
    pd.testing.assert_frame_equal(got, expected)
    assert got.user_id.tolist() == ["a", "b", "c", "d", "e", "f"]  # nodes= reach the graph
    bad = EDGES.assign(weight=EDGES.weight - 1.0)  # d -> a now weighs -1
    with pytest.raises(ValueError, match="'weight' must hold finite, non-negative"):
        fn(bad)
    with pytest.raises(ValueError, match="'w' must hold finite, non-negative"):
        fn(bad.rename(columns={"weight": "w"}), weight="w")


def test_betweenness_and_closeness_wrappers_pass_their_options():
    b = compute_betweenness(EDGES, NODES, k=2, seed=5, engine="scipy")
    full = compute_path_centrality(EDGES, NODES, k=2, seed=5, engine="scipy")
    assert list(b.columns) == ["user_id", "betweenness", "betweenness_method",
                               "betweenness_k", "seed"]
    pd.testing.assert_series_equal(b.betweenness, full.betweenness)
    assert set(b.betweenness_method) == {"sampled"} and set(b.seed) == {5}
    c = compute_closeness(EDGES, NODES, k=2, seed=5, engine="scipy")
    assert list(c.columns) == ["user_id", "closeness", "harmonic", "closeness_method",
                               "closeness_k", "seed"]
    pd.testing.assert_series_equal(c.closeness, full.closeness)
    assert set(c.closeness_method) == {"sampled"}


class _Spy:
    """Counts the calls of a networkx / scipy / igraph function (engine actually used)."""

    def __init__(self, monkeypatch, owner, name):
        self.calls = 0
        real = getattr(owner, name)

        def wrapped(*a, **k):
            self.calls += 1
            return real(*a, **k)

        monkeypatch.setattr(owner, name, wrapped)


def _big_edges() -> pd.DataFrame:
    k = 47  # 47 * 46 = 2162 > NETWORKX_MAX_EDGES ordered pairs
    pairs = [(f"u{i:02d}", f"u{j:02d}") for i in range(k) for j in range(k) if i != j]
    return pd.DataFrame(pairs[:NETWORKX_MAX_EDGES + 1], columns=["source", "target"])


def test_components_and_core_number_run_the_engine_asked_for(monkeypatch):
    import igraph as ig
    from scipy.sparse import csgraph

    nx_wcc = _Spy(monkeypatch, nx, "weakly_connected_components")
    sp_cc = _Spy(monkeypatch, csgraph, "connected_components")
    nx_core = _Spy(monkeypatch, nx, "core_number")
    ig_core = _Spy(monkeypatch, ig.Graph, "coreness")
    compute_components(EDGES, NODES)  # auto, small graph: networkx
    compute_core_number(EDGES, NODES)
    assert (nx_wcc.calls, sp_cc.calls, nx_core.calls, ig_core.calls) == (1, 0, 1, 0)
    compute_components(EDGES, engine="scipy")
    compute_core_number(EDGES, engine="igraph")
    assert (nx_wcc.calls, sp_cc.calls, nx_core.calls, ig_core.calls) == (1, 2, 1, 1)
    big = _big_edges()
    compute_components(big)  # auto above the limit: compiled
    compute_core_number(big)
    assert (nx_wcc.calls, sp_cc.calls, nx_core.calls, ig_core.calls) == (1, 4, 1, 2)
    with pytest.raises(ValueError, match=r"^components: engine must be one of "
                                         r"\('auto', 'scipy', 'networkx'\), got 'igraph'$"):
        compute_components(EDGES, engine="igraph")
    with pytest.raises(ValueError, match=r"^core_number: engine must be one of "
                                         r"\('auto', 'igraph', 'networkx'\), got 'scipy'$"):
        compute_core_number(EDGES, engine="scipy")


def _weighted_random(seed: int, n: int = 40, m: int = 160) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    s, t = rng.integers(0, n, m), rng.integers(0, n, m)
    return pd.DataFrame({"source": [f"v{x:02d}" for x in s], "target": [f"v{x:02d}" for x in t],
                         "weight": rng.integers(1, 9, m).astype(float)})


@pytest.mark.parametrize("seed,resolution", [(3, 1.5), (4, 0.7)])
def test_louvain_on_networkx_is_nx_louvain_with_the_seed_weights_and_resolution(seed,
                                                                                resolution):
    e = _weighted_random(seed)
    g = build_graph(e)
    u, v, w = g.undirected()
    U = nx.Graph()
    U.add_nodes_from(range(g.n_nodes))
    U.add_weighted_edges_from(zip(u.tolist(), v.tolist(), w.tolist(), strict=True))
    ref = nx.community.louvain_communities(U, weight="weight", resolution=resolution,
                                           seed=seed)
    res = detect_communities(e, method="louvain", engine="networkx", n_runs=1, seed=seed,
                             resolution=resolution)
    got = res.membership.groupby("community_id").user_id.apply(frozenset)
    assert set(got) == {frozenset(g.node_ids[list(c)]) for c in ref}
    # here the partition depends on the seed and the resolution (so both are passed on)
    others = [nx.community.louvain_communities(U, weight="weight", resolution=resolution,
                                               seed=seed + 1),
              nx.community.louvain_communities(U, weight="weight", seed=seed)]
    assert all({frozenset(c) for c in o} != {frozenset(c) for c in ref} for o in others)


def test_pagerank_runs_the_engine_asked_for_with_its_default_iteration_limit(monkeypatch):
    nx_pr = _Spy(monkeypatch, nx, "pagerank")
    compute_pagerank(EDGES, NODES)  # auto, small graph: networkx
    assert nx_pr.calls == 1
    compute_pagerank(EDGES, NODES, engine="scipy")
    compute_pagerank(_big_edges())  # auto above the limit: scipy
    assert nx_pr.calls == 1
    # tol 0 never converges: the error names the default limit of 1000 iterations
    for engine in ("scipy", "networkx"):
        with pytest.raises(nx.PowerIterationFailedConvergence, match="within 1000 iter"):
            compute_pagerank(EDGES, NODES, tol=0.0, engine=engine)
    with pytest.raises(nx.PowerIterationFailedConvergence, match="within 1000 iter"):
        pagerank_scores(build_graph(EDGES), tol=0.0)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_failing_search_batch_raises_in_the_caller(monkeypatch, threads):
    from social_warehouse.analytics.graph import paths

    def boom(self, g, sources):
        raise RuntimeError(f"batch of {sources.size} failed")

    monkeypatch.setattr(paths._Work, "run", boom)
    monkeypatch.setattr(paths, "_STATE_BUDGET", 6)  # one source per batch: 4 batches
    with pytest.raises(RuntimeError, match="^batch of 1 failed$"):
        compute_path_centrality(EDGES, NODES, engine="scipy", n_threads=threads)


def test_compute_graph_metrics_default_seed_and_engine():
    users, _, info = compute_graph_metrics(EDGES, NODES)
    assert info["seed"] == 0 and set(users.seed) == {0}
    assert info["communities"]["seed"] == 0 and info["betweenness"]["seed"] == 0
    assert info["engines"]["degrees"] == "networkx"  # "auto" on a small graph


def test_compute_graph_metrics_passes_pagerank_options_and_scores():
    for kw, limit in (({}, 1000), ({"max_iter": 5}, 5)):
        with pytest.raises(nx.PowerIterationFailedConvergence, match=f"within {limit} iter"):
            compute_graph_metrics(EDGES, engine="scipy", tol=0.0, **kw)
    # the communities' top members are ranked by this run's PageRank (alpha 0.3 here)
    e = _weighted_random(4, n=30, m=70)
    users, comms, _ = compute_graph_metrics(e, alpha=0.3, top_members=3, seed=1)
    expected = (users.sort_values(["community_id", "pagerank", "user_id"],
                                  ascending=[True, False, True])
                .groupby("community_id").user_id.apply(lambda s: list(s[:3])))
    assert comms.top_members.tolist() == expected.tolist()
    _, default_alpha, _ = compute_graph_metrics(e, top_members=3, seed=1)
    assert default_alpha.top_members.tolist() != comms.top_members.tolist()


def test_compute_graph_metrics_engine_dict_reaches_the_path_measures(monkeypatch):
    nx_bc = _Spy(monkeypatch, nx, "betweenness_centrality")
    nx_cl = _Spy(monkeypatch, nx, "closeness_centrality")
    compute_graph_metrics(EDGES, NODES)  # auto on a small graph: the networkx functions
    assert (nx_bc.calls, nx_cl.calls) == (1, 1)
    users, _, info = compute_graph_metrics(EDGES, NODES, n_threads=1,
                                           engine={"betweenness": "scipy",
                                                   "closeness": "scipy"})
    assert (nx_bc.calls, nx_cl.calls) == (1, 1)
    assert info["betweenness"]["n_threads"] == 1
    _, bc, cl, _ = _path_reference(EDGES, NODES)
    np.testing.assert_allclose(users.betweenness, _series(bc, users.user_id), rtol=0, atol=TOL)
    np.testing.assert_allclose(users.closeness, _series(cl, users.user_id), rtol=0, atol=TOL)
    with pytest.raises(ValueError, match=r"^degrees: engine must be one of"):
        compute_graph_metrics(EDGES, engine={"degrees": "igraph"})


def test_compute_graph_metrics_above_the_networkx_limit_uses_compiled_engines():
    _, _, info = compute_graph_metrics(_big_edges(), k=4, n_runs=1)
    assert info["engines"] == {"degrees": "scipy", "pagerank": "scipy", "betweenness": "scipy",
                               "closeness": "scipy", "components": "scipy",
                               "core_number": "igraph", "communities": "igraph"}


def test_compute_graph_metrics_timings_are_durations():
    import time

    w0, c0 = time.perf_counter(), time.process_time()
    _, _, info = compute_graph_metrics(EDGES, NODES)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    assert 0 <= sum(info["timings"].values()) <= wall
    assert all(isinstance(v, float) and v >= 0 for v in info["cpu_times"].values())
    assert sum(info["cpu_times"].values()) <= cpu + 1e-6


def test_degrees_and_communities_run_the_engine_asked_for(monkeypatch):
    nx_dc = _Spy(monkeypatch, nx, "degree_centrality")
    compute_degrees(EDGES, NODES)  # auto, small graph: networkx
    compute_degrees(EDGES, NODES, engine="scipy")
    compute_degrees(_big_edges())  # auto above the limit: scipy
    assert nx_dc.calls == 1
    with pytest.raises(ValueError, match=r"^degrees: engine must be one of "
                                         r"\('auto', 'scipy', 'networkx'\), got 'igraph'$"):
        compute_degrees(EDGES, engine="igraph")
    _, _, info = compute_graph_metrics(EDGES, engine={"communities": "igraph"},
                                       community_method="louvain")
    assert info["engines"]["communities"] == info["communities"]["engine"] == "igraph"
