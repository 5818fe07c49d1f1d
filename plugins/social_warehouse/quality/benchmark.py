"""Time the gates on a large sample warehouse (not a test: run it by hand).

    python -m social_warehouse.quality.benchmark --events 1000000 [--workdir DIR]

Builds a sample warehouse whose ``raw.interactions`` partition, ``staging.stg_interactions``
and ``core.fct_interactions`` have ``--events`` rows, then runs the raw, staging and core
gates (with Data Docs and audit recording, as in the DAG) and prints the time per phase.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m social_warehouse.quality.benchmark")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)

    from .sample import build_sample_warehouse

    ds = date(2026, 1, 8)
    with tempfile.TemporaryDirectory(prefix="sw_bench_") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        db = build_sample_warehouse(work / "bench.duckdb", ds=ds, history_days=0,
                                    n_users=args.users, n_posts=args.posts,
                                    events_per_day=args.events)
        print(f"sample warehouse: {args.events:,} interactions, {args.users:,} users, "
              f"{args.posts:,} posts built in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        from .gx_project import import_gx

        import_gx()
        print(f"import great_expectations: {time.perf_counter() - t:.1f} s")
        from .gate import run_gate

        for stage in ("raw", "staging", "core"):
            result = run_gate(stage, db, ds=ds, run_id="benchmark", data_dir=work / "data")
            phases = ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items())
            print(f"gate {stage:8s} {result.seconds:6.2f} s ({len(result.rows)} expectations, "
                  f"{'pass' if result.success else 'FAIL'}): {phases}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
