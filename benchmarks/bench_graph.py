"""Graph stage benchmark: wall time, CPU time and peak RSS per measure, against networkx.

    .venv/bin/python benchmarks/bench_graph.py --tier 100k            # ~100k users / 1M edges
    .venv/bin/python benchmarks/bench_graph.py --tier 1m              # ~1M users / 10M edges
    .venv/bin/python benchmarks/bench_graph.py --accuracy             # sampled vs exact only
    .venv/bin/python benchmarks/bench_graph.py --tier 100k --accuracy --json out.json

The graph: a synthetic follow graph with planted communities (power-law sizes, 75% of
follows inside the follower's community), heavy-tailed popularity (who is followed) and
activity (who follows), a few self-follows and repeated rows (summed into weights), and the
user ids as Arrow strings ``u0000123``, as the warehouse hands them over.

Our stage is ``compute_graph_metrics`` (every measure, defaults of the pipeline), timed per
step with a memory sampler (RSS every 10 ms). networkx runs the same measures on the same
graph: betweenness from ``--nx-sources`` sampled sources and closeness from as many BFS,
extrapolated linearly to the sample size our stage used; Louvain at the 1m tier is
extrapolated from a run on a graph 10x smaller (``--nx-louvain run`` forces it; it needs
about 10 GB). Extrapolated figures are labelled ``(extrapolated)``.

``--accuracy`` measures what the betweenness/closeness sample costs in accuracy: exact values
on a smaller graph of the same family (default 20k users / 200k edges) against sampled
estimates for several k: overlap of the top 20 / top 100 and Spearman correlation.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from social_warehouse.analytics.graph import (
    build_graph,
    compute_graph_metrics,
    compute_path_centrality,
)

TIERS = {"100k": (100_000, 1_000_000), "1m": (1_000_000, 10_000_000)}


# --------------------------------------------------------------------------- data
def social_graph(n_users: int, n_edges: int, seed: int = 0) -> tuple[pa.Table, pa.Array]:
    """Directed follow edges ``(source, target, weight)`` and all user ids."""
    rng = np.random.default_rng(seed)
    n_comm = max(2, n_users // 400)
    comm_p = rng.pareto(1.3, n_comm) + 1.0
    comm = rng.choice(n_comm, n_users, p=comm_p / comm_p.sum())
    popularity = rng.pareto(1.1, n_users) + 1.0
    activity = rng.pareto(1.8, n_users) + 1.0
    activity[rng.random(n_users) < 0.01] = 0.0  # ~1% of users never follow anyone
    src = rng.choice(n_users, n_edges, p=activity / activity.sum())
    # global follows by popularity
    dst = rng.choice(n_users, n_edges, p=popularity / popularity.sum())
    # local follows: popularity-weighted inside the follower's community
    local = rng.random(n_edges) < 0.75
    perm = np.argsort(comm, kind="stable")
    cum = np.cumsum(popularity[perm])
    comm_sorted = comm[perm]
    lo_idx = np.searchsorted(comm_sorted, np.arange(n_comm), side="left")
    hi_idx = np.searchsorted(comm_sorted, np.arange(n_comm), side="right")
    base = np.concatenate([[0.0], cum])
    c = comm[src[local]]
    lo, hi = base[lo_idx[c]], base[hi_idx[c]]
    r = lo + rng.random(c.size) * (hi - lo)
    pick = np.minimum(np.searchsorted(cum, r, side="right"), hi_idx[c] - 1)
    dst[local] = perm[pick]
    weight = rng.geometric(0.5, n_edges).astype(np.float64)  # interactions per follow
    ids = pa.array([f"u{i:07d}" for i in range(n_users)])
    table = pa.table({"source": pc.take(ids, pa.array(src)),
                      "target": pc.take(ids, pa.array(dst)),
                      "weight": weight})
    return table, ids


# --------------------------------------------------------------------------- measuring
class Sampler:
    """Samples this process's RSS every ``interval`` seconds, attributing it to a step."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.step = "idle"
        self.peak: dict[str, float] = {}
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss_mb(self) -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self.rss_mb()
            if rss > self.peak.get(self.step, 0.0):
                self.peak[self.step] = rss
            time.sleep(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def set(self, step: str) -> None:
        rss = self.rss_mb()  # account the boundary too
        self.peak[self.step] = max(self.peak.get(self.step, 0.0), rss)
        self.step = step
        self.peak[step] = max(self.peak.get(step, 0.0), rss)


def measure(sampler: Sampler, name: str, fn: Callable[[], Any]) -> tuple[Any, dict]:
    sampler.set(name)
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    row = {"wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0}
    sampler.set("idle")
    row["peak_rss_mb"] = sampler.peak.get(name, 0.0)
    return out, row


def fmt_row(name: str, row: dict | None, note: str = "") -> str:
    if row is None:
        return f"  {name:<24} {'-':>9} {'-':>9} {'-':>10}  {note}"
    rss = f"{row['peak_rss_mb']:>8,.0f}MB" if row.get("peak_rss_mb") else f"{'-':>10}"
    return f"  {name:<24} {row['wall_s']:>8.1f}s {row['cpu_s']:>8.1f}s {rss}  {note}"


# --------------------------------------------------------------------------- our stage
def run_ours(table: pa.Table, ids: pa.Array, seed: int, k: int | None) -> tuple[dict, dict]:
    with Sampler() as sampler:
        base = sampler.rss_mb()

        def progress(event: str, step: str) -> None:
            sampler.set(step if event == "start" else "idle")

        w0, c0 = time.perf_counter(), time.process_time()
        users, comms, info = compute_graph_metrics(table, nodes=ids, seed=seed, k=k,
                                                   progress=progress)
        total = {"wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0}
    rows = {}
    for step, wall in info["timings"].items():
        rows[step] = {"wall_s": wall, "cpu_s": info["cpu_times"][step],
                      "peak_rss_mb": sampler.peak.get(step, 0.0)}
    total["peak_rss_mb"] = max(sampler.peak.values())
    rows["TOTAL"] = total
    summary = {
        "baseline_rss_mb": base,
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "n_nodes": info["n_nodes"], "n_edges": info["n_edges"],
        "n_input_rows": info["n_input_rows"], "n_isolated": info["n_isolated"],
        "modularity": info["modularity"], "n_communities": info["n_communities"],
        "engines": info["engines"], "betweenness": info["betweenness"],
        "pagerank_iterations": info["pagerank_iterations"],
        "leiden_iterations": info["communities"].get("n_iterations"),
        "n_wcc": info["n_wcc"], "n_scc": info["n_scc"],
        "largest_community": int(comms["size"].iloc[0]),
    }
    return rows, summary


# --------------------------------------------------------------------------- networkx
def run_networkx(table: pa.Table, ids: pa.Array, k_ours: int, nx_sources: int, seed: int,
                 louvain: str, louvain_scale: tuple[pa.Table, pa.Array] | None) -> dict:
    import networkx as nx

    g = build_graph(table, nodes=ids)  # only to hand networkx the same summed edges
    s, t, w = g.edge_arrays()
    names = g.node_ids
    n = g.n_nodes
    rows: dict[str, dict | None] = {}
    notes: dict[str, str] = {}
    with Sampler() as sampler:

        def build() -> nx.DiGraph:
            G = nx.DiGraph()
            G.add_nodes_from(names.tolist())
            G.add_weighted_edges_from(zip(names[s].tolist(), names[t].tolist(), w.tolist(),
                                          strict=True))
            return G

        G, rows["build_graph"] = measure(sampler, "build_graph", build)
        _, rows["degrees"] = measure(sampler, "degrees", lambda: (
            dict(G.in_degree()), dict(G.out_degree()), dict(G.in_degree(weight="weight")),
            dict(G.out_degree(weight="weight")), nx.degree_centrality(G),
            nx.in_degree_centrality(G), nx.out_degree_centrality(G)))
        _, rows["pagerank"] = measure(sampler, "pagerank", lambda: nx.pagerank(
            G, tol=1e-10 / n, max_iter=1000))
        # shortest paths: a few sources, extrapolated to our sample size
        rng = random.Random(seed)
        srcs = rng.sample([v for v in G if G.out_degree(v) > 0], nx_sources)
        _, bc = measure(sampler, "betweenness", lambda: nx.betweenness_centrality_subset(
            G, sources=srcs, targets=list(G)))
        _, cl = measure(sampler, "closeness", lambda: [
            nx.single_source_shortest_path_length(G, x) for x in srcs])
        factor = k_ours / nx_sources
        rows["betweenness_closeness"] = {
            "wall_s": (bc["wall_s"] + cl["wall_s"]) * factor,
            "cpu_s": (bc["cpu_s"] + cl["cpu_s"]) * factor,
            "peak_rss_mb": max(bc["peak_rss_mb"], cl["peak_rss_mb"])}
        notes["betweenness_closeness"] = (f"(extrapolated: {nx_sources} sources x {factor:.0f}; "
                                          f"betweenness {bc['wall_s'] * factor:.0f}s + "
                                          f"closeness {cl['wall_s'] * factor:.0f}s)")

        def components() -> tuple:
            return (list(nx.weakly_connected_components(G)),
                    list(nx.strongly_connected_components(G)))

        _, rows["components"] = measure(sampler, "components", components)

        def core() -> dict:
            H = G.copy()
            H.remove_edges_from(list(nx.selfloop_edges(H)))
            return nx.core_number(H)

        _, rows["core_number"] = measure(sampler, "core_number", core)

        def louvain_on(Gd: nx.DiGraph) -> list:
            U = nx.Graph()
            U.add_nodes_from(Gd)
            for a, b, x in Gd.edges(data="weight"):
                if a != b and U.has_edge(a, b):
                    U[a][b]["weight"] += x
                else:
                    U.add_edge(a, b, weight=x)
            return nx.community.louvain_communities(U, weight="weight", seed=seed)

        if louvain == "run" or louvain_scale is None:
            _, rows["communities"] = measure(sampler, "communities", lambda: louvain_on(G))
            notes["communities"] = "(Louvain)"
        else:
            del G
            small_t, small_ids = louvain_scale
            gs = build_graph(small_t, nodes=small_ids)
            ss, ts, ws = gs.edge_arrays()
            Gs = nx.DiGraph()
            Gs.add_nodes_from(range(gs.n_nodes))
            Gs.add_weighted_edges_from(zip(ss.tolist(), ts.tolist(), ws.tolist(), strict=True))
            _, r = measure(sampler, "communities", lambda: louvain_on(Gs))
            f = g.n_edges / gs.n_edges
            rows["communities"] = {"wall_s": r["wall_s"] * f, "cpu_s": r["cpu_s"] * f,
                                   "peak_rss_mb": None}
            notes["communities"] = (f"(extrapolated: Louvain on {gs.n_edges:,} edges took "
                                    f"{r['wall_s']:.0f}s, x {f:.1f} linear in edges)")
    total_wall = sum(r["wall_s"] for r in rows.values() if r)
    total_cpu = sum(r["cpu_s"] for r in rows.values() if r)
    rows["TOTAL"] = {"wall_s": total_wall, "cpu_s": total_cpu,
                     "peak_rss_mb": max(sampler.peak.values())}
    return {"rows": rows, "notes": notes}


# --------------------------------------------------------------------------- accuracy
def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(float)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def accuracy_study(n_users: int, seed: int, ks: list[int]) -> dict:
    table, ids = social_graph(n_users, 10 * n_users, seed=seed + 1)
    g = build_graph(table, nodes=ids)
    t0 = time.perf_counter()
    exact = compute_path_centrality(g, k="all")
    t_exact = time.perf_counter() - t0
    print(f"\naccuracy of sampled estimates on {g.n_nodes:,} users / {g.n_edges:,} edges "
          f"(exact in {t_exact:.1f}s wall)")
    print(f"  {'k':>5} {'measure':<12} {'top20':>6} {'top100':>7} {'spearman':>9} "
          f"{'med.rel.err top1%':>18} {'time':>7}")
    out: dict[str, Any] = {"n_nodes": g.n_nodes, "n_edges": g.n_edges, "exact_s": t_exact,
                           "rows": []}
    top1 = max(20, g.n_nodes // 100)
    for k in ks:
        for rep in range(3):
            t0 = time.perf_counter()
            est = compute_path_centrality(g, k=k, seed=seed + rep)
            dt = time.perf_counter() - t0
            for col in ("betweenness", "closeness", "harmonic"):
                x, y = exact[col].to_numpy(), est[col].to_numpy()
                top = {n_: set(np.argsort(-x, kind="stable")[:n_]) for n_ in (20, 100)}
                got = {n_: set(np.argsort(-y, kind="stable")[:n_]) for n_ in (20, 100)}
                ov20 = len(top[20] & got[20]) / 20
                ov100 = len(top[100] & got[100]) / 100
                idx = np.argsort(-x, kind="stable")[:top1]
                rel = float(np.median(np.abs(y[idx] - x[idx]) / x[idx]))
                rho = spearman(x, y)
                out["rows"].append({"k": k, "seed": seed + rep, "measure": col, "top20": ov20,
                                    "top100": ov100, "spearman": rho, "median_rel_err": rel,
                                    "seconds": dt})
                print(f"  {k:>5} {col:<12} {ov20:>6.0%} {ov100:>7.0%} {rho:>9.3f} "
                      f"{rel:>18.3f} {dt:>6.1f}s  (seed {seed + rep})")
    return out


# --------------------------------------------------------------------------- main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tier", choices=sorted(TIERS), help="graph size to benchmark")
    p.add_argument("--users", type=int, help="override the tier's user count")
    p.add_argument("--edges", type=int, help="override the tier's edge count")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", type=int, default=None,
                   help="betweenness/closeness sources (default: the stage's own choice)")
    p.add_argument("--networkx", choices=["on", "off"], default="on")
    p.add_argument("--nx-sources", type=int, default=8,
                   help="sources networkx runs before extrapolating to our k")
    p.add_argument("--nx-louvain", choices=["auto", "run", "extrapolate"], default="auto",
                   help="auto: run up to 2M edges, extrapolate from a 10x smaller graph above")
    p.add_argument("--accuracy", action="store_true", help="sampled-vs-exact accuracy study")
    p.add_argument("--accuracy-users", type=int, default=20_000)
    p.add_argument("--accuracy-k", default="64,128,256,512")
    p.add_argument("--json", help="write all figures to this file")
    a = p.parse_args()
    if not a.tier and not a.accuracy:
        p.error("give --tier and/or --accuracy")
    report: dict[str, Any] = {"cpu_count": os.cpu_count()}
    if a.tier:
        n_users, n_edges = TIERS[a.tier]
        n_users, n_edges = a.users or n_users, a.edges or n_edges
        t0 = time.perf_counter()
        table, ids = social_graph(n_users, n_edges, seed=a.seed)
        print(f"generated {n_users:,} users / {n_edges:,} edge rows in "
              f"{time.perf_counter() - t0:.1f}s (load average {os.getloadavg()[0]:.1f}, "
              f"{os.cpu_count()} CPUs)")
        rows, summary = run_ours(table, ids, a.seed, a.k)
        report.update(tier=a.tier, ours=rows, summary=summary)
        print(f"\nour graph stage (compute_graph_metrics) on {summary['n_nodes']:,} users, "
              f"{summary['n_edges']:,} distinct edges")
        print(f"  {'step':<24} {'wall':>9} {'CPU':>9} {'peak RSS':>10}  engine")
        for step, row in rows.items():
            key = {"betweenness_closeness": "betweenness"}.get(step, step)
            print(fmt_row(step, row, summary["engines"].get(key, "")))
        print(f"  betweenness/closeness: {summary['betweenness']}; PageRank "
              f"{summary['pagerank_iterations']} iterations; modularity "
              f"{summary['modularity']:.4f} in {summary['n_communities']:,} communities "
              f"(largest {summary['largest_community']:,}); {summary['n_wcc']:,} weak / "
              f"{summary['n_scc']:,} strong components; input RSS before the stage "
              f"{summary['baseline_rss_mb']:,.0f} MB")
        if a.networkx == "on":
            k_ours = summary["betweenness"]["n_sources"]
            mode = a.nx_louvain
            if mode == "auto":
                mode = "run" if n_edges <= 2_000_000 else "extrapolate"
            scale = None
            if mode == "extrapolate":
                scale = social_graph(n_users // 10, n_edges // 10, seed=a.seed)
            nxr = run_networkx(table, ids, k_ours, a.nx_sources, a.seed, mode, scale)
            report["networkx"] = nxr
            print("\nnetworkx 3.6 on the same graph")
            print(f"  {'step':<24} {'wall':>9} {'CPU':>9} {'peak RSS':>10}  speed-up (wall)")
            for step, row in nxr["rows"].items():
                ours = rows.get(step)
                ratio = f"{row['wall_s'] / ours['wall_s']:>6.0f}x" if ours and row else ""
                print(fmt_row(step, row, f"{ratio} {nxr['notes'].get(step, '')}"))
    if a.accuracy:
        ks = [int(x) for x in a.accuracy_k.split(",")]
        report["accuracy"] = accuracy_study(a.accuracy_users, a.seed, ks)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1, default=str)


if __name__ == "__main__":
    main()
