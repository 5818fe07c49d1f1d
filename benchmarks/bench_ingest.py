"""Ingest throughput: rows/s, wall and CPU time, peak RSS for one landing partition.

    .venv/bin/python benchmarks/bench_ingest.py --profile medium --days 1 --format csv

Generates the exports once into --work (reused when present), then loads the first day
into a fresh DuckDB file and prints the figures.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
from pathlib import Path

from social_warehouse.ingest import ingest_partition
from social_warehouse.synthetic import generate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--profile", default="medium")
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--format", default="csv")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--work", default="/tmp/sw_bench_ingest")
    a = p.parse_args()
    work = Path(a.work) / f"{a.profile}_{a.format}_{a.days}"
    if not (work / "landing").exists():
        t0 = time.perf_counter()
        res = generate(profile=a.profile, days=a.days, seed=a.seed, out=work,
                       start_date="2026-01-01", fmt=a.format)
        print(f"generated {a.profile} in {time.perf_counter() - t0:.1f}s: {res.row_counts}")
    dates = sorted(d.name for d in (work / "landing").iterdir())
    db = work / "bench.duckdb"
    total_rows = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for ds in dates:
        db.unlink(missing_ok=True) if ds == dates[0] else None
        result = ingest_partition(db, work / "landing", ds)
        total_rows += result.rows_read
        for f in result.files:
            print(f"  {ds} {Path(f.path).name:<28} {f.rows_read:>11,} rows "
                  f"loaded {f.rows_loaded:,} rejected {f.rows_rejected:,}")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ingest {a.profile} ({a.format}, {len(dates)} day(s)): {total_rows:,} rows in "
          f"{wall:.1f}s wall / {cpu:.1f}s CPU = {total_rows / wall:,.0f} rows/s; "
          f"peak RSS {peak_mb:,.0f} MB")
    if a.work.startswith("/tmp/"):
        shutil.rmtree(db, ignore_errors=True)


if __name__ == "__main__":
    main()
