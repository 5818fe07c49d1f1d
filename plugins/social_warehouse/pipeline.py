"""The steps of one daily run, as plain functions the DAG's tasks call.

Write-audit-publish: a run copies the served warehouse to a working *build* file,
writes only there (ingest, dbt, analytics), audits it, and publishes by an atomic
rename of the build file over the served file. Readers of the served file never see
a half-built warehouse, and a failed run leaves the served file byte-for-byte as it was.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from .config import Settings, get_settings
from .db import connect, quote_ident

__all__ = [
    "PipelineError",
    "DbtBuildError",
    "prepare_build",
    "run_ingest",
    "run_dbt",
    "publish",
    "record_error",
    "jsonable",
    "run_quality_gate",
    "finalize_run",
    "warehouse_summary",
    "format_summary",
]

log = logging.getLogger(__name__)


class PipelineError(Exception):
    """A step failed for a reason a retry will not fix (bad input, failed test)."""


class DbtBuildError(PipelineError):
    """dbt reported failing models or tests."""


def jsonable(value):
    """A copy of ``value`` that strict JSON (Airflow's XCom) accepts: NaN/inf become None."""
    import math

    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return jsonable(value.item())
    return value


def _validate_ds(ds: str | date) -> str:
    ds = ds.isoformat() if isinstance(ds, date) else str(ds)
    try:
        date.fromisoformat(ds)
    except ValueError as exc:
        raise PipelineError(f"logical date {ds!r} is not YYYY-MM-DD") from exc
    return ds


def prepare_build(run_id: str, ds: str, settings: Settings | None = None) -> dict:
    """Start a run: fresh build file copied from the served warehouse, a per-run folder."""
    s = settings or get_settings()
    ds = _validate_ds(ds)
    run_dir = s.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    s.build_dir.mkdir(parents=True, exist_ok=True)
    build = s.build_path
    for stale in (build, build.with_name(build.name + ".wal")):
        stale.unlink(missing_ok=True)
    if s.warehouse_path.exists():
        tmp = build.with_name(build.name + ".copying")
        shutil.copy2(s.warehouse_path, tmp)
        os.replace(tmp, build)
        source = str(s.warehouse_path)
    else:
        source = None
    info = {
        "run_id": run_id,
        "ds": ds,
        "build_path": str(build),
        "run_dir": str(run_dir),
        "copied_from": source,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (run_dir / "run.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    (run_dir / "errors.jsonl").unlink(missing_ok=True)
    (run_dir / "published.json").unlink(missing_ok=True)
    from . import audit

    audit.start_run(run_id, logical_date=ds, ds=ds, store_dir=s.data_dir / "audit",
                    dag_id="social_warehouse_daily")
    return info


def record_error(run_id: str, task: str, error: BaseException | str,
                 settings: Settings | None = None) -> None:
    """Remember why a task failed, for the run's audit record and report."""
    s = settings or get_settings()
    run_dir = s.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "errors.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"task": task, "error": str(error)}) + "\n")


def run_quality_gate(stage: str, run_id: str, ds: str, settings: Settings | None = None,
                     thresholds: str | None = None) -> str:
    """Great Expectations gate of ``stage`` on the build file; raise on a critical failure.

    ``thresholds`` is an optional overlay file (e.g. ``sources/<source>.thresholds.yml``).
    """
    from .quality import GateFailed, run_gate

    s = settings or get_settings()
    overlay = None
    if thresholds:
        overlay = Path(thresholds)
        if not overlay.is_absolute() and not overlay.exists():
            overlay = s.home / overlay
    try:
        result = run_gate(stage, s.build_path, ds=_validate_ds(ds), run_id=run_id,
                          data_dir=s.data_dir, expectations_dir=s.expectations_dir,
                          overlay_path=overlay)
    except GateFailed as exc:
        raise PipelineError(str(exc)) from exc
    return result.summary()


def finalize_run(run_id: str, ds: str, settings: Settings | None = None) -> dict:
    """Close the run's audit record (success only if it was published) and build reports.

    Raises :class:`PipelineError` for a run that did not publish, so the DAG run fails.
    """
    from . import audit

    s = settings or get_settings()
    run_dir = s.run_dir(run_id)
    published = run_dir / "published.json"
    errors_file = run_dir / "errors.jsonl"
    errors = []
    if errors_file.exists():
        errors = [json.loads(line) for line in errors_file.read_text(encoding="utf-8").splitlines()
                  if line.strip()]
    status = "success" if published.exists() else "failed"
    error = "; ".join(f"{e['task']}: {e['error']}" for e in errors) or None
    if status == "failed" and not error:
        error = "an upstream task failed (see the Airflow task logs)"
    audit.finish_run(run_id, status, error, store_dir=s.data_dir / "audit",
                     reports_dir=s.data_dir / "reports")
    report = {"status": status, "error": error, "reports_index": str(s.data_dir / "reports" /
                                                                     "index.html")}
    if status != "success":
        raise PipelineError(f"run {run_id} (ds={ds}) was not published: {error}")
    return report


def run_ingest(ds: str, settings: Settings | None = None, landing_dir: str | None = None,
               run_id: str | None = None) -> dict:
    """Load ``landing/<ds>/`` into the build file's ``raw`` schema."""
    from .ingest import IngestError, ingest_partition

    s = settings or get_settings()
    ds = _validate_ds(ds)
    try:
        result = ingest_partition(s.build_path, Path(landing_dir or s.landing_dir), ds)
    except IngestError as exc:
        raise PipelineError(f"ingest of ds={ds} failed: {exc}") from exc
    if run_id:
        from . import audit

        audit.record_inputs(run_id, s.build_path, ds, store_dir=s.data_dir / "audit")
    return result.to_dict()


def run_import(ds: str, mapping: str | None, source_dir: str | None,
               settings: Settings | None = None, landing_dir: str | None = None) -> dict:
    """Import a real export with a source mapping into ``landing/<ds>/`` (no-op without one)."""
    if not mapping:
        return {"imported": False}
    from .mapping import MappingError, SourceError, import_export

    s = settings or get_settings()
    ds = _validate_ds(ds)
    if not source_dir:
        raise PipelineError("param 'mapping' needs 'source_dir' (the folder of the export)")
    mapping_path = Path(mapping)
    if not mapping_path.is_absolute() and not mapping_path.exists():
        mapping_path = s.home / mapping_path
    try:
        result = import_export(mapping_path, Path(source_dir), ds,
                               Path(landing_dir or s.landing_dir), overwrite=True)
    except (MappingError, SourceError) as exc:
        raise PipelineError(f"import with {mapping_path} failed: {exc}") from exc
    print(result.summary())
    return {"imported": True, **result.to_dict()}


def _dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(
    select: list[str],
    ds: str,
    settings: Settings | None = None,
    run_dir: Path | str | None = None,
    extra_vars: dict | None = None,
) -> dict:
    """``dbt build`` the selected models and their tests against the build file.

    dbt runs in a subprocess: dbt-duckdb keeps its own connection open for the whole
    invocation, and a separate process cannot clash with connections of the caller.
    """
    s = settings or get_settings()
    ds = _validate_ds(ds)
    target = s.data_dir / "dbt" / "target"
    logs = s.data_dir / "dbt" / "logs"
    dbt_vars = {"ds": ds, **(extra_vars or {})}
    cmd = [
        _dbt_executable(), "build",
        "--project-dir", str(s.dbt_project_dir),
        "--profiles-dir", str(s.dbt_project_dir),
        "--target-path", str(target),
        "--log-path", str(logs),
        "--vars", json.dumps(dbt_vars),
        "--select", *select,
        "--indirect-selection", "cautious",
    ]
    env = {**os.environ, "SW_DBT_DUCKDB_PATH": str(s.build_path),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=s.dbt_project_dir)
    seconds = time.perf_counter() - t0
    results_path = target / "run_results.json"
    problems, counts = [], {}
    if results_path.exists():
        results = json.loads(results_path.read_text(encoding="utf-8"))
        for r in results.get("results", []):
            counts[r["status"]] = counts.get(r["status"], 0) + 1
            if r["status"] in ("error", "fail", "runtime error"):
                message = (r.get("message") or "").strip()
                problems.append(f"{r['unique_id']}: {r['status']}: {message}")
            elif r["status"] == "warn":
                log.warning("dbt warning: %s: %s", r["unique_id"], r.get("message"))
        if run_dir:
            shutil.copy2(results_path, Path(run_dir) / f"dbt_run_results_{'_'.join(select)}.json"
                         .replace(":", "-"))
    print(proc.stdout[-20000:])
    if proc.returncode != 0:
        detail = "\n  ".join(problems) or (proc.stdout[-4000:] + proc.stderr[-4000:])
        raise DbtBuildError(f"dbt build --select {' '.join(select)} (ds={ds}) failed:\n  {detail}")
    return {"select": select, "seconds": round(seconds, 2), "statuses": counts}


def warehouse_summary(path: Path | str) -> list[tuple[str, str, int]]:
    """``(schema, table, rows)`` for every table and view of a DuckDB file."""
    with connect(path, read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema not in ('information_schema', 'pg_catalog') "
            "order by table_schema, table_name"
        ).fetchall()
        out = []
        for schema, table in tables:
            n = con.execute(
                f"select count(*) from {quote_ident(schema)}.{quote_ident(table)}"
            ).fetchone()[0]
            out.append((schema, table, int(n)))
    return out


@dataclass
class PublishResult:
    run_id: str
    ds: str
    served_path: str
    published_at: str
    tables: list[tuple[str, str, int]]

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "ds": self.ds,
            "served_path": self.served_path,
            "published_at": self.published_at,
            "tables": [list(t) for t in self.tables],
        }


def publish(run_id: str, ds: str, settings: Settings | None = None) -> dict:
    """Atomically replace the served warehouse by the audited build file."""
    s = settings or get_settings()
    ds = _validate_ds(ds)
    build = s.build_path
    if not build.exists():
        raise PipelineError(f"nothing to publish: build file {build} does not exist")
    from . import audit

    store = s.data_dir / "audit"
    audit.record_publish(run_id, target=s.warehouse_path, db_path=build, store_dir=store)
    with connect(build) as con:
        audit.materialize_audit(store, con, status_overrides={run_id: "success"})
        con.execute("create schema if not exists meta")
        con.execute(
            "create table if not exists meta.publications (run_id VARCHAR, ds DATE, "
            "published_at TIMESTAMP)"
        )
        now = datetime.now(UTC).replace(tzinfo=None)
        con.execute("insert into meta.publications values (?, ?::DATE, ?)", [run_id, ds, now])
        con.execute("checkpoint")
    wal = build.with_name(build.name + ".wal")
    if wal.exists():
        raise PipelineError(f"build file still has a write-ahead log {wal}; refusing to publish")
    tables = warehouse_summary(build)
    s.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(build, s.warehouse_path)  # atomic on one filesystem
    result = PublishResult(run_id, ds, str(s.warehouse_path), now.isoformat(timespec="seconds"),
                           tables)
    run_dir = s.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "published.json").write_text(json.dumps(result.to_dict(), indent=2),
                                            encoding="utf-8")
    (s.data_dir / "published.json").write_text(json.dumps(result.to_dict(), indent=2),
                                               encoding="utf-8")
    return result.to_dict()


def format_summary(path: Path | str, schemas: tuple[str, ...] = ("core", "marts", "audit")) -> str:
    """A short text summary of a served warehouse for people."""
    lines = [f"Served warehouse: {path}"]
    for schema, table, rows in warehouse_summary(path):
        if schema in schemas:
            lines.append(f"  {schema}.{table:<34} {rows:>12,} rows")
    reports = Path(path).parent / "reports" / "index.html"
    if reports.exists():
        lines.append(f"Run reports (offline HTML): {reports}")
    lines += [
        "Query it:",
        f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{path}', read_only=True)"
        ".sql('select * from core.dim_users limit 5'))\"",
        f"  duckdb -readonly {path}   (DuckDB CLI >= 2.0)",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- analytics I/O
# Analytics tasks open the build file read-only and write one Parquet file per output
# under runs/<run_id>/analytics/; a single writer task loads them into ``analytics.*``.


def analytics_dir(run_id: str, settings: Settings | None = None) -> Path:
    s = settings or get_settings()
    path = s.run_dir(run_id) / "analytics"
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_sql(sql: str, params: list | None = None, settings: Settings | None = None):
    """Run a query on the build file opened read-only; a pandas DataFrame via Arrow."""
    s = settings or get_settings()
    with connect(s.build_path, read_only=True) as con:
        return con.sql(sql, params=params or None).to_arrow_table().to_pandas()


def write_outputs(run_id: str, outputs: dict, settings: Settings | None = None) -> dict:
    """Write DataFrames as ``<name>.parquet`` in the run's analytics folder (atomically)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = analytics_dir(run_id, settings)
    written = {}
    for name, frame in outputs.items():
        if not name.isidentifier():
            raise PipelineError(f"analytics output name {name!r} is not a valid table name")
        table = pa.Table.from_pandas(frame, preserve_index=False)
        tmp = folder / f".{name}.parquet.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, folder / f"{name}.parquet")
        written[name] = {"rows": table.num_rows, "path": str(folder / f"{name}.parquet")}
    return written


def load_outputs(run_id: str, settings: Settings | None = None) -> dict:
    """Load every Parquet output of the run into ``analytics.<name>`` (replacing it)."""
    s = settings or get_settings()
    folder = analytics_dir(run_id, s)
    loaded = {}
    with connect(s.build_path) as con:
        con.execute("create schema if not exists analytics")
        con.execute("begin transaction")
        try:
            for path in sorted(folder.glob("*.parquet")):
                name = path.stem
                con.execute(
                    f"create or replace table analytics.{quote_ident(name)} as "
                    f"select * from read_parquet(?)", [str(path)]
                )
                loaded[name] = con.execute(
                    f"select count(*) from analytics.{quote_ident(name)}").fetchone()[0]
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return loaded
