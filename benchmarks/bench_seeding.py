"""Benchmark: CELF seed selection (independent cascade, Monte Carlo) on a mid-size graph.

Synthetic follow graph of ``--nodes`` users and ``--edges`` distinct follows: followers
uniform, followees Zipf-popular (exponent ``--zipf``), so a few hubs have thousands of
followers, as on the real page graph where the old per-candidate simulation took 1.8 s per
gain (16.5 s for a hub). Candidates are the users ranked by follower count (the score),
capped at ``max_candidates``. Timed: ``select_seed_kols`` with the given config (CELF and
top-k on ``--sims`` selection worlds, both evaluated on ``--eval-sims`` independent worlds).

Prints and writes (``--out``, default ``benchmarks/results/seeding_<nodes>_<edges>``)
JSON and a markdown table: wall time, CPU time, peak RSS, evaluations, spreads, and
whether the time budget cut the selection short.

Usage::

    nice .venv/bin/python benchmarks/bench_seeding.py
    nice .venv/bin/python benchmarks/bench_seeding.py --nodes 22000 --edges 171000 --k 10
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from social_warehouse.analytics.seeding import SeedingConfig, select_seed_kols  # noqa: E402


def make_follows(nodes: int, edges: int, zipf: float, seed: int) -> pd.DataFrame:
    """``edges`` distinct follows without self-follows among ``nodes`` users."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, nodes + 1) ** zipf
    pop /= pop.sum()
    perm = rng.permutation(nodes)  # popular users are not the low ids
    have = np.zeros(0, dtype=np.int64)
    while len(have) < edges:
        m = int((edges - len(have)) * 1.3) + 100
        src = rng.integers(0, nodes, m)
        dst = perm[rng.choice(nodes, m, p=pop)]
        key = src.astype(np.int64) * nodes + dst
        key = key[src != dst]
        have = np.unique(np.concatenate([have, key]))
    have = rng.permutation(have)[:edges]
    src, dst = np.divmod(have, nodes)
    ids = np.array([f"u{i}" for i in range(nodes)], dtype=object)
    return pd.DataFrame({"follower_id": ids[src], "followee_id": ids[dst]})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=20_000)
    ap.add_argument("--edges", type=int, default=200_000)
    ap.add_argument("--zipf", type=float, default=0.9)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--p", default="0.05", help="edge probability or 'weighted_cascade'")
    ap.add_argument("--sims", type=int, default=200)
    ap.add_argument("--eval-sims", type=int, default=500)
    ap.add_argument("--max-candidates", type=int, default=200)
    ap.add_argument("--budget", type=float, default=30.0, help="selection time budget (s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="output path prefix (no extension)")
    a = ap.parse_args(argv)

    t = time.perf_counter()
    follows = make_follows(a.nodes, a.edges, a.zipf, a.seed)
    gen_s = time.perf_counter() - t
    indeg = follows.groupby("followee_id").size()
    cands = pd.DataFrame({"user_id": indeg.index, "score": indeg.to_numpy(dtype="float64")})
    try:
        p: float | str = float(a.p)
    except ValueError:
        p = a.p
    cfg = SeedingConfig(
        edge_probability=p,
        n_simulations=a.sims,
        eval_simulations=a.eval_sims,
        max_candidates=a.max_candidates,
        time_budget_s=a.budget,
        seed=a.seed,
    )
    wall0, cpu0 = time.perf_counter(), time.process_time()
    out = select_seed_kols(follows, cands, a.k, cfg)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    res = {
        "nodes": a.nodes,
        "edges": int(len(follows)),
        "max_in_degree": int(indeg.max()),
        "k": a.k,
        "edge_probability": str(p),
        "simulations": a.sims,
        "eval_simulations": a.eval_sims,
        "max_candidates": a.max_candidates,
        "time_budget_s": a.budget,
        "generate_s": round(gen_s, 2),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(peak_rss_mb()),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "methods": [
            {
                "method": r.method,
                "expected_spread": round(float(r.expected_spread), 2),
                "spread_std_error": round(float(r.spread_std_error), 3),
                "evaluations": int(r.evaluations),
                "selection_seconds": round(float(r.selection_seconds), 2),
                "partial": bool(r.partial),
            }
            for r in out.itertuples()
        ],
    }
    print(json.dumps(res, indent=2), flush=True)
    prefix = Path(a.out) if a.out else (
        Path(__file__).resolve().parent / "results" / f"seeding_{a.nodes}_{len(follows)}"
    )
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    lines = [
        f"# Seeding benchmark: {a.nodes:,} nodes / {len(follows):,} edges",
        "",
        f"`{' '.join(['benchmarks/bench_seeding.py', *(argv or sys.argv[1:])])}`; "
        f"k = {a.k}, p = {p}, {a.sims} selection / {a.eval_sims} evaluation worlds, "
        f"{a.max_candidates} candidates, budget {a.budget} s; 1-min load average at the "
        f"end {res['load_avg_1m']} (2 cores, shared).",
        "",
        "| total wall (s) | CPU (s) | peak RSS (MB) |",
        "|---|---|---|",
        f"| {res['wall_s']} | {res['cpu_s']} | {res['peak_rss_mb']} |",
        "",
        "| method | expected spread | std error | evaluations | selection (s) | partial |",
        "|---|---|---|---|---|---|",
        *(
            f"| {m['method']} | {m['expected_spread']} | {m['spread_std_error']} | "
            f"{m['evaluations']} | {m['selection_seconds']} | {m['partial']} |"
            for m in res["methods"]
        ),
        "",
    ]
    prefix.with_suffix(".md").write_text("\n".join(lines), encoding="utf-8")
    return res


if __name__ == "__main__":
    main()
