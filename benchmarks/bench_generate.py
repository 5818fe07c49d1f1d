"""Synthetic generator throughput: seconds, rows/s and peak RSS for one profile.

    .venv/bin/python benchmarks/bench_generate.py --profile medium --days 3 --out /tmp/sw_gen

Writes the exports to --out (replaced when present), then prints the row counts per entity,
the wall-clock time, rows written per second and the peak resident set size of the process.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
from pathlib import Path

from social_warehouse.synthetic import PROFILES, generate
from social_warehouse.synthetic.writers import FORMATS


def main() -> None:
    """Parse the arguments, run the generator once and print the figures."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="medium", choices=sorted(PROFILES))
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--format", default="csv", choices=FORMATS)
    p.add_argument("--out", default="/tmp/sw_bench_generate")
    p.add_argument("--keep", action="store_true", help="keep the output (default: delete)")
    a = p.parse_args()
    out = Path(a.out)
    if out.exists():
        shutil.rmtree(out)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    res = generate(profile=a.profile, days=a.days, seed=a.seed, out=out, fmt=a.format)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    totals = res.totals
    rows = sum(totals.values())
    size_mb = sum(f.stat().st_size for f in res.landing_dir.rglob("*") if f.is_file()) / 2**20
    for ds, counts in res.row_counts.items():
        print(f"  {ds}: " + ", ".join(f"{k}={v:,}" for k, v in counts.items()))
    print("  total: " + ", ".join(f"{k}={v:,}" for k, v in totals.items()))
    print(f"generate {a.profile} ({a.format}, {a.days} day(s)): {rows:,} rows, {size_mb:,.0f} MB "
          f"in {wall:.1f}s wall / {cpu:.1f}s CPU = {rows / wall:,.0f} rows/s; "
          f"peak RSS {peak_mb:,.0f} MB")
    if not a.keep:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
