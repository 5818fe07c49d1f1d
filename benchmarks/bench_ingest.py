"""Ingest throughput: rows/s, wall and CPU time, peak RSS for one landing partition.

    .venv/bin/python benchmarks/bench_ingest.py --profile medium --days 1 --format csv
    .venv/bin/python benchmarks/bench_ingest.py --profile medium --days 1 --format csv \
        --parser duckdb

Generates the exports once into --work (reused when present), then loads the first day
into a fresh DuckDB file and prints the figures.

``--parser duckdb`` times the alternative the ingest was compared with: DuckDB's own
``read_csv`` (all columns VARCHAR, ``store_rejects``) loading the same CSV files into
tables, without the typing and accounting of ``ingest_partition``. It parses faster, but
does not give the ingest's guarantees: an unclosed quote makes it reject the records the
quote swallowed as one error (they are not resynchronised and loaded), and its reject
rows are per column error, not per record, so ``loaded + rejected`` does not count
physical records (see ``docs/mappings.md`` and ``tests/unit/test_ingest_records.py``).
"""

from __future__ import annotations

import argparse
import gzip
import resource
import shutil
import time
from pathlib import Path

from social_warehouse.ingest import ingest_partition
from social_warehouse.synthetic import generate


def _duckdb_read_csv(db: Path, partition: Path) -> int:
    """Load every CSV file of the partition with DuckDB read_csv + store_rejects."""
    import duckdb
    from social_warehouse.contract import ENTITIES, detect_format, entity_for_file
    from social_warehouse.db import quote_ident

    con = duckdb.connect(str(db))
    rows = 0
    try:
        for path in sorted(partition.iterdir()):
            fmt, entity = detect_format(path.name), entity_for_file(path.name)
            if path.name.startswith("_") or not fmt or fmt[0] != "csv" or not entity:
                continue
            with (gzip.open(path, "rt", encoding="utf-8-sig") if fmt[1] else
                  open(path, encoding="utf-8-sig")) as fh:
                header = fh.readline().strip().split(",")
            columns = {c: "VARCHAR" for c in header}
            table = quote_ident(f"{path.name.split('.')[0]}_csv")
            con.execute(
                f"create or replace table {table} as select * from read_csv(?, header = true, "
                "auto_detect = false, columns = ?, quote = '\"', escape = '\"', "
                "store_rejects = true, strict_mode = true)", [str(path), columns])
            n = con.execute(f"select count(*) from {table}").fetchone()[0]
            bad = con.execute("select count(distinct line) from reject_errors").fetchone()[0]
            print(f"  {path.name:<28} {n:>11,} rows, {bad:,} rejected line(s) "
                  f"[{ENTITIES[entity].name}]")
            rows += n + bad
    finally:
        con.close()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--profile", default="medium")
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--format", default="csv")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--work", default="/tmp/sw_bench_ingest")
    p.add_argument("--parser", choices=["ingest", "duckdb"], default="ingest",
                   help="ingest_partition (default) or DuckDB read_csv for comparison")
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
        if a.parser == "duckdb":
            total_rows += _duckdb_read_csv(db, work / "landing" / ds)
            continue
        result = ingest_partition(db, work / "landing", ds)
        total_rows += result.rows_read
        for f in result.files:
            print(f"  {ds} {Path(f.path).name:<28} {f.rows_read:>11,} rows "
                  f"loaded {f.rows_loaded:,} rejected {f.rows_rejected:,}")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{a.parser} {a.profile} ({a.format}, {len(dates)} day(s)): {total_rows:,} rows in "
          f"{wall:.1f}s wall / {cpu:.1f}s CPU = {total_rows / wall:,.0f} rows/s; "
          f"peak RSS {peak_mb:,.0f} MB")
    if a.work.startswith("/tmp/"):
        shutil.rmtree(db, ignore_errors=True)


if __name__ == "__main__":
    main()
