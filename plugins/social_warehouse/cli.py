"""``social-warehouse`` command line.

Sub-commands::

    social-warehouse generate --profile small --days 3 --seed 42 --out data
    social-warehouse run --ds 2026-01-01 [--end 2026-01-31]    # the DAG for each day
    social-warehouse demo                                     # generate + run + summary
    social-warehouse ingest --ds 2026-01-01 --db build.duckdb # ingest only, no Airflow
    social-warehouse import --mapping sources/email_eu_core.yaml \
        --from ../shared/datasets/email_eu_core --ds 2026-01-01 --run  # a real export
    social-warehouse summary                                  # tables of the served warehouse
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from .config import WRITER_POOL, Settings, get_settings

__all__ = ["main", "airflow_env", "run_dag"]


def airflow_env(settings: Settings | None = None, base: dict | None = None) -> dict:
    """Environment for Airflow commands with the project's embedded defaults.

    SQLite metadata under ``$SW_DATA_DIR/airflow`` unless ``AIRFLOW_HOME`` is set; DAGs
    and plugins from the checkout; no example DAGs.
    """
    s = settings or get_settings()
    env = dict(os.environ if base is None else base)
    env.setdefault("AIRFLOW_HOME", str(s.data_dir / "airflow"))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(s.home / "dags"))
    env.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(s.home / "plugins"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "120")
    env.setdefault("GX_ANALYTICS_ENABLED", "False")
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    env["SW_HOME"] = str(s.home)
    env["SW_DATA_DIR"] = str(s.data_dir)
    env["SW_LANDING_DIR"] = str(s.landing_dir)
    env["SW_WAREHOUSE"] = str(s.warehouse_path)
    env["SW_BUILD_DIR"] = str(s.build_dir)
    env["SW_RUNS_DIR"] = str(s.runs_dir)
    return env


def _airflow(args: list[str], env: dict, capture: bool = False) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("airflow")
    return subprocess.run([str(exe) if exe.exists() else "airflow", *args], env=env,
                          capture_output=capture, text=True)


def ensure_airflow(env: dict) -> None:
    """Create the metadata database (idempotent) and the single-writer pool."""
    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    if not db.exists():
        Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
        proc = _airflow(["db", "migrate"], env, capture=True)
        if proc.returncode != 0:
            raise SystemExit(
                f"airflow db migrate failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    proc = _airflow(["pools", "set", WRITER_POOL, "1", "DuckDB allows one writing process"],
                    env, capture=True)
    if proc.returncode != 0:
        raise SystemExit(f"airflow pools set failed:\n{proc.stderr[-3000:]}")


def run_dag(ds: str, env: dict, conf: dict | None = None, log_path: Path | None = None) -> int:
    """Run ``social_warehouse_daily`` for one logical date with ``airflow dags test``."""
    args = ["dags", "test", "social_warehouse_daily", ds]
    if conf:
        args += ["--conf", json.dumps(conf)]
    if log_path:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w", encoding="utf-8") as fh:
            exe = Path(sys.executable).with_name("airflow")
            return subprocess.run([str(exe), *args], env=env, stdout=fh,
                                  stderr=subprocess.STDOUT).returncode
    return _airflow(args, env).returncode


def _dates(start: str, end: str | None) -> list[str]:
    d0 = date.fromisoformat(start)
    d1 = date.fromisoformat(end) if end else d0
    if d1 < d0:
        raise SystemExit(f"--end {end} is before --ds {start}")
    return [(d0 + timedelta(days=i)).isoformat() for i in range((d1 - d0).days + 1)]


def cmd_generate(a) -> int:
    from .synthetic import generate

    result = generate(profile=a.profile, days=a.days, seed=a.seed, out=Path(a.out),
                      start_date=a.start_date, fmt=a.format)
    print(f"wrote {len(result.dates)} days of '{a.profile}' exports to {result.landing_dir} "
          f"(planted truth in {result.truth_dir}) in {result.seconds:.1f}s")
    for ds, counts in result.row_counts.items():
        print(f"  {ds}: " + ", ".join(f"{k}={v:,}" for k, v in counts.items()))
    return 0


def _run_days(days: list[str], s: Settings, conf: dict | None) -> int:
    env = airflow_env(s)
    ensure_airflow(env)
    for ds in days:
        t0 = time.perf_counter()
        log = s.data_dir / "logs" / f"dag_{ds}.log"
        rc = run_dag(ds, env, conf=conf, log_path=log)
        status = "ok" if rc == 0 else "FAILED"
        print(f"  {ds}: DAG run {status} in {time.perf_counter() - t0:.1f}s (log: {log})")
        if rc != 0:
            _print_failure(log)
            return rc
    return 0


def _print_failure(log: Path) -> None:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    hits = [ln for ln in lines if "AirflowFailException" in ln or "Error" in ln][-10:]
    print("  last errors:\n    " + "\n    ".join(hits))


def cmd_run(a) -> int:
    s = get_settings()
    conf = {k: v for k, v in (("landing_dir", a.landing_dir), ("thresholds", a.thresholds)) if v}
    rc = _run_days(_dates(a.ds, a.end), s, conf or None)
    if rc == 0 and s.warehouse_path.exists():
        from .pipeline import format_summary

        print(format_summary(s.warehouse_path))
    return rc


def cmd_demo(a) -> int:
    from .pipeline import format_summary

    s = get_settings()
    t0 = time.perf_counter()
    if a.fresh:
        import shutil

        for p in (s.warehouse_path, s.build_dir, s.runs_dir, s.landing_dir):
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    from .synthetic import generate

    result = generate(profile=a.profile, days=a.days, seed=a.seed, out=s.data_dir,
                      start_date=a.start_date, fmt=a.format)
    print(f"generated {a.days} days of '{a.profile}' exports in {s.landing_dir} "
          f"({result.seconds:.1f}s); running the DAG for each day:")
    rc = _run_days(result.dates, s, None)
    if rc != 0:
        return rc
    print(f"\nDemo finished in {time.perf_counter() - t0:.0f}s.")
    print(format_summary(s.warehouse_path))
    return 0


def cmd_ingest(a) -> int:
    from .ingest import IngestError, ingest_partition

    s = get_settings()
    try:
        result = ingest_partition(Path(a.db or s.build_path), Path(a.landing_dir or s.landing_dir),
                                  a.ds)
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2))
    return 0


def cmd_import(a) -> int:
    from .mapping import MappingError, SourceError, import_export

    s = get_settings()
    if not a.thresholds:
        candidate = Path(a.mapping).with_suffix(".thresholds.yml")
        a.thresholds = str(candidate.resolve()) if candidate.exists() else None
    try:
        result = import_export(a.mapping, a.source_dir, a.ds, a.landing_dir or s.landing_dir,
                               fmt=a.format, overwrite=a.overwrite)
    except (MappingError, SourceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    if a.run:
        conf = {k: v for k, v in (("landing_dir", a.landing_dir), ("thresholds", a.thresholds))
                if v}
        rc = _run_days([a.ds], s, conf or None)
        if rc == 0:
            from .pipeline import format_summary

            print(format_summary(s.warehouse_path))
        return rc
    return 0


def cmd_summary(a) -> int:
    from .pipeline import format_summary

    s = get_settings()
    path = Path(a.db or s.warehouse_path)
    if not path.exists():
        print(f"no served warehouse at {path} yet: run `make run` first", file=sys.stderr)
        return 1
    print(format_summary(path))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="social-warehouse", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def gen_args(sp, out_default=None):
        sp.add_argument("--profile", default="small", choices=["small", "medium", "large"])
        sp.add_argument("--days", type=int, default=3)
        sp.add_argument("--seed", type=int, default=42)
        sp.add_argument("--start-date", default="2026-01-01")
        sp.add_argument("--format", default="mixed",
                        choices=["csv", "csv.gz", "jsonl", "jsonl.gz", "parquet", "mixed"])
        if out_default is not None:
            sp.add_argument("--out", default=out_default,
                            help="output root: writes OUT/landing/<ds>/ and OUT/truth/")

    g = sub.add_parser("generate", help="write synthetic social exports with planted truth")
    gen_args(g, out_default=str(get_settings().data_dir))
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("run", help="run the daily DAG for a date or a date range (backfill)")
    r.add_argument("--ds", required=True, help="first logical date YYYY-MM-DD")
    r.add_argument("--end", help="last logical date (inclusive) for a backfill")
    r.add_argument("--landing-dir", help="landing root (default SW_LANDING_DIR)")
    r.add_argument("--thresholds", help="quality-gate thresholds overlay file")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="generate sample exports, run the DAG for each day, summarise")
    gen_args(d)
    d.add_argument("--no-fresh", dest="fresh", action="store_false",
                   help="keep the existing warehouse and landing files")
    d.set_defaults(func=cmd_demo)

    i = sub.add_parser("ingest", help="load one landing partition into a DuckDB file (no Airflow)")
    i.add_argument("--ds", required=True)
    i.add_argument("--landing-dir")
    i.add_argument("--db", help="DuckDB file (default: the build file)")
    i.set_defaults(func=cmd_ingest)

    im = sub.add_parser("import", help="turn a real export into canonical landing files with a "
                                       "source mapping (sources/*.yaml)")
    im.add_argument("--mapping", required=True,
                    help="mapping YAML, e.g. sources/email_eu_core.yaml")
    im.add_argument("--from", dest="source_dir", required=True, help="folder of the export")
    im.add_argument("--ds", required=True, help="landing partition to write (YYYY-MM-DD)")
    im.add_argument("--landing-dir", help="landing root (default SW_LANDING_DIR)")
    im.add_argument("--format", default="parquet", choices=["parquet", "csv"])
    im.add_argument("--overwrite", action="store_true",
                    help="replace files of the partition that another source wrote")
    im.add_argument("--run", action="store_true", help="then run the daily DAG for --ds")
    im.add_argument("--thresholds",
                    help="quality-gate thresholds overlay for this source (default: "
                         "sources/<mapping name>.thresholds.yml if it exists)")
    im.set_defaults(func=cmd_import)

    m = sub.add_parser("summary", help="row counts of the served warehouse")
    m.add_argument("--db")
    m.set_defaults(func=cmd_summary)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
