"""Benchmark: audience overlap for all KOL pairs (and the collaboration recommender).

Synthetic follow graph: ``--users`` users with log-normal out-degree (mean
``--edges / --users``, capped at ``--max-following``); a ``--kol-share`` of the edges go to
``--kols`` KOLs with Zipf popularity, the rest to random non-KOL users. Then, timed:

1. ``build``    - KOL x follower CSR (``sketches.build_audience_matrix``)
2. ``exact``    - all pairs, blocked ``A[i:j] @ A.T`` (``sketches.iter_overlap_blocks``)
3. ``minhash``  - signatures + all-pairs signature comparison, error vs exact on a sample
4. ``recommend``- ``recommend_collaborations`` end to end (top-N per KOL), optional: the
   bounded candidates (co-follow neighbours + overlap-free pool; the default), and with
   ``--reference`` also all pairs, with the recall of the all-pairs top-N and the share of
   KOLs whose list is certified exact. ``--method none`` skips steps 2-3.

Results go to ``benchmarks/results/kol_<kols>_<users>.json`` (``--out`` to change).

Usage (defaults are the issue's scale: 1M users, 10k KOLs, 10M edges)::

    .venv/bin/python benchmarks/bench_kol.py
    .venv/bin/python benchmarks/bench_kol.py --users 100000 --kols 1000 --edges 1000000
    .venv/bin/python benchmarks/bench_kol.py --method exact --recommend
    nice .venv/bin/python benchmarks/bench_kol.py --kols 2000 --method none --recommend
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

from social_warehouse.analytics.collaboration import (  # noqa: E402
    CollaborationConfig,
    recommend_collaborations,
)
from social_warehouse.analytics.sketches import (  # noqa: E402
    build_audience_matrix,
    exact_overlap_work,
    iter_overlap_blocks,
    minhash_error_bound,
)


def make_follows(
    users: int, kols: int, edges: int, kol_share: float, max_following: int, seed: int
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mean = edges / users
    sigma = 1.0
    mu = np.log(mean) - sigma**2 / 2
    deg = np.minimum(rng.lognormal(mu, sigma, users).round().astype(np.int64), max_following)
    src = np.repeat(np.arange(users, dtype=np.int64), deg)
    n = len(src)
    to_kol = rng.random(n) < kol_share
    pop = 1.0 / np.arange(1, kols + 1) ** 0.8
    pop /= pop.sum()
    dst = np.empty(n, dtype=np.int64)
    dst[to_kol] = rng.choice(kols, int(to_kol.sum()), p=pop)
    dst[~to_kol] = rng.integers(kols, users, int((~to_kol).sum()))
    key = np.unique(src * users + dst)  # dedupe
    src, dst = np.divmod(key, users)
    keep = src != dst
    return pd.DataFrame({"follower_id": src[keep], "followee_id": dst[keep]})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--kols", type=int, default=10_000)
    ap.add_argument("--edges", type=int, default=10_000_000)
    ap.add_argument("--kol-share", type=float, default=0.7)
    ap.add_argument("--max-following", type=int, default=5_000)
    ap.add_argument("--method", choices=["exact", "minhash", "both", "none"], default="both")
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--block-size", type=int, default=256)
    ap.add_argument("--recommend", action="store_true", help="also time recommend_collaborations")
    ap.add_argument("--top-n", type=int, default=10)
    ap.add_argument("--reference", action="store_true",
                    help="with --recommend: also all pairs, and recall against them")
    ap.add_argument("--out", default=None, help="output JSON path")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    res: dict = {"args": vars(args)}
    t = time.perf_counter()
    follows = make_follows(
        args.users, args.kols, args.edges, args.kol_share, args.max_following, args.seed
    )
    res["generate_s"] = round(time.perf_counter() - t, 2)
    res["follow_edges"] = len(follows)

    t = time.perf_counter()
    audience = build_audience_matrix(follows, np.arange(args.kols))
    res["build_s"] = round(time.perf_counter() - t, 2)
    res["kol_follower_edges"] = int(audience.matrix.nnz)
    res["distinct_followers"] = int(audience.matrix.shape[1])
    res["audience_size_median_max"] = [
        int(np.median(audience.sizes)),
        int(audience.sizes.max()),
    ]
    res["exact_work_sum_d2"] = exact_overlap_work(audience)
    print(json.dumps(res), flush=True)

    exact_sample = None
    rng = np.random.default_rng(1)
    sample_rows = rng.choice(args.kols, 50, replace=False)
    if args.method in ("exact", "both"):
        t = time.perf_counter()
        pairs_nonzero = 0
        jac_sum = 0.0
        exact_sample = {}
        for blk in iter_overlap_blocks(audience, method="exact", block_size=args.block_size):
            upper = np.arange(blk.start, blk.stop)[:, None] < np.arange(args.kols)[None, :]
            pairs_nonzero += int(((blk.intersection > 0) & upper).sum())
            jac_sum += float(np.nansum(np.where(upper, blk.jaccard, 0.0)))
            for r in sample_rows[(sample_rows >= blk.start) & (sample_rows < blk.stop)]:
                exact_sample[int(r)] = blk.jaccard[r - blk.start].copy()
        res["exact_all_pairs_s"] = round(time.perf_counter() - t, 2)
        res["pairs_total"] = args.kols * (args.kols - 1) // 2
        res["pairs_with_overlap"] = pairs_nonzero
        res["mean_jaccard"] = jac_sum / res["pairs_total"]
        res["peak_rss_mb_after_exact"] = round(peak_rss_mb())
        print(json.dumps(res), flush=True)

    if args.method in ("minhash", "both"):
        t = time.perf_counter()
        errs = []
        for blk in iter_overlap_blocks(
            audience, method="minhash", block_size=args.block_size, num_perm=args.num_perm
        ):
            if exact_sample:
                for r in sample_rows[(sample_rows >= blk.start) & (sample_rows < blk.stop)]:
                    e = blk.jaccard[r - blk.start] - exact_sample[int(r)]
                    errs.append(np.abs(e[np.isfinite(e)]))
        res["minhash_all_pairs_s"] = round(time.perf_counter() - t, 2)
        res["minhash_error_bound_95"] = round(minhash_error_bound(args.num_perm), 4)
        if errs:
            err = np.concatenate(errs)
            res["minhash_abs_error_mean_p99_max"] = [
                round(float(err.mean()), 5),
                round(float(np.quantile(err, 0.99)), 5),
                round(float(err.max()), 5),
            ]
            res["minhash_share_within_bound"] = float((err <= res["minhash_error_bound_95"]).mean())
        res["peak_rss_mb_after_minhash"] = round(peak_rss_mb())
        print(json.dumps(res), flush=True)

    if args.recommend:
        kols = pd.DataFrame(
            {
                "user_id": np.arange(args.kols),
                "platform": "ig",
                "category": np.arange(args.kols) % 12,
                "community_id": np.arange(args.kols) % 40,
                "reach_followers": audience.sizes.astype(float),
            }
        )
        wall, cpu = time.perf_counter(), time.process_time()
        recs = recommend_collaborations(
            kols,
            follows,
            config=CollaborationConfig(
                top_n=args.top_n, block_size=args.block_size, overlap_method="exact"
            ),
        )
        res["recommend_bounded_s"] = round(time.perf_counter() - wall, 2)
        res["recommend_bounded_cpu_s"] = round(time.process_time() - cpu, 2)
        res["recommend_rows"] = len(recs)
        res["candidate_pairs"] = recs.attrs["candidate_pairs"]
        res["candidate_share_of_all_pairs"] = round(
            recs.attrs["candidate_pairs"] / max(1, args.kols * (args.kols - 1)), 5
        )
        res["certified_share"] = round(recs.attrs["certified_share"], 4)
        res["peak_rss_mb_after_recommend"] = round(peak_rss_mb())
        print(json.dumps(res), flush=True)
        if args.reference:
            t = time.perf_counter()
            ref = recommend_collaborations(
                kols,
                follows,
                config=CollaborationConfig(
                    top_n=args.top_n, block_size=args.block_size, overlap_method="exact",
                    candidates="all_pairs",
                ),
            )
            res["recommend_all_pairs_s"] = round(time.perf_counter() - t, 2)
            want = ref.groupby("kol_id")["partner_id"].apply(set)
            got = recs.groupby("kol_id")["partner_id"].apply(set).reindex(want.index)
            res["recall_of_all_pairs_top_n"] = round(float(np.mean(
                [len(w & g) / len(w) if isinstance(g, set) else 0.0
                 for w, g in zip(want, got, strict=True)])), 4)
            res["peak_rss_mb_after_reference"] = round(peak_rss_mb())
            print(json.dumps(res), flush=True)
    res["load_avg_1m"] = round(os.getloadavg()[0], 2)
    out = Path(args.out) if args.out else (
        Path(__file__).resolve().parent / "results" / f"kol_{args.kols}_{args.users}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return res


if __name__ == "__main__":
    main()
