"""The steps of one daily run, as plain functions the DAG's tasks call.

Write-audit-publish: a run copies the served warehouse to its own working *build* file
(``build/<run_id>.duckdb``), writes only there (ingest, dbt, analytics), audits it, and
publishes by an atomic rename of the build file over the served file. Readers of the
served file never see a half-built warehouse, and a failed run leaves the served file
byte-for-byte as it was.

Tasks exchange only the run id, ``ds`` and logical paths (relative to the data dir or to
the storage root, see :mod:`social_warehouse.storage`); every task derives its absolute
paths from its own settings. Every task after :func:`prepare_build` fails with a
:class:`PipelineError` when the run's build file is missing on its host: it never creates one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path

from .config import Settings, get_settings
from .db import connect, quote_ident
from .lineage import ANALYTICS_INPUTS

__all__ = [
    "PipelineError",
    "DbtBuildError",
    "RunSettings",
    "run_settings",
    "build_path",
    "build_rel_path",
    "fault_point",
    "FAULT_ENV",
    "PUBLISH_STEPS",
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
    "table_checksums",
    "write_json_atomic",
    "export_analytics_inputs",
    "expected_analytics_outputs",
    "read_sql",
    "read_output",
    "analytics_dir",
    "write_outputs",
    "load_outputs",
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


# --------------------------------------------------------------------------- run context


@dataclass(frozen=True)
class RunSettings(Settings):
    """Settings bound to one run: the analytics stages' ``read_sql`` then reads that run's
    exported Parquet inputs from the storage root (see :func:`read_sql`)."""

    run_id: str = ""


def run_settings(run_id: str, settings: Settings | None = None) -> RunSettings:
    """``settings`` (default: from the environment) bound to ``run_id``."""
    s = settings or get_settings()
    values = {f.name: getattr(s, f.name) for f in fields(Settings)}
    return RunSettings(**values, run_id=run_id)


def _safe(run_id: str) -> str:
    from .storage import safe_name

    return safe_name(run_id)


def build_rel_path(run_id: str) -> str:
    """The logical path of a run's build file, relative to the build dir's parent."""
    return f"build/{_safe(run_id)}.duckdb"


def build_path(run_id: str, settings: Settings | None = None) -> Path:
    """The run's working DuckDB file: ``<SW_BUILD_DIR>/<safe run_id>.duckdb``."""
    if not run_id:
        raise PipelineError("a run id is needed to find the run's build file")
    s = settings or get_settings()
    return s.build_dir / f"{_safe(run_id)}.duckdb"


def _require_build(run_id: str | None, s: Settings) -> Path:
    """The run's build file, or a :class:`PipelineError` when it does not exist here."""
    if not run_id:
        raise PipelineError("a run id is needed to find the run's build file")
    path = build_path(run_id, s)
    if not path.is_file():
        raise PipelineError(
            f"build file {path} of run {run_id!r} does not exist: prepare_build did not run on "
            "this host (writer tasks must share the host of prepare_build), or the run was "
            "already published or cleaned up as abandoned. Rerun the whole DAG run; no empty "
            "warehouse is created in its place.")
    return path


def _run_storage_prefix(run_id: str) -> str:
    return f"runs/{_safe(run_id)}"


#: Environment variable naming fault points (comma-separated) where the process SIGKILLs
#: itself, for fault-injection tests: e.g. ``SW_FAULT=publish:after_rename``.
FAULT_ENV = "SW_FAULT"

#: The named steps of :func:`publish`, in order (``SW_FAULT=publish:<step>``).
PUBLISH_STEPS = ("before_commit", "after_commit", "after_rename", "after_run_marker",
                 "after_pointer")


def fault_point(name: str) -> None:
    """SIGKILL this process if ``name`` is listed in ``$SW_FAULT`` (fault-injection tests)."""
    wanted = os.environ.get(FAULT_ENV)
    if wanted and name in {w.strip() for w in wanted.split(",")}:
        log.warning("fault injection: SIGKILL at %s", name)
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: dict) -> None:
    """Replace ``path`` by ``data`` as JSON so that a crash leaves the old or the new file:
    temp file in the same folder, fsync, ``os.replace``, fsync of the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, json.dumps(data, indent=2).encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


# --------------------------------------------------------------------------- prepare


def _remove_build_files(path: Path) -> None:
    for stale in (path, path.with_name(path.name + ".wal"),
                  path.with_name(path.name + ".copying")):
        stale.unlink(missing_ok=True)


def prepare_build(run_id: str, ds: str, settings: Settings | None = None) -> dict:
    """Start a run: close abandoned runs, a fresh build file copied from the served
    warehouse, an empty per-run folder and storage prefix.

    Abandoned runs are attempts still ``running`` in the audit store whose process holds
    no live data-dir lock (:func:`social_warehouse.audit.abandon_stale_runs`); they are
    closed ``failed`` with an ``abandoned:`` error. Build files of every other run not
    under the live lock holder are removed (one run at a time: nothing else can be using
    them).

    Returns what the next tasks need, all logical: ``run_id``, ``ds``, ``build`` (relative
    to the data dir), ``run_dir`` (relative to the data dir), ``storage_prefix`` (relative
    to the storage root), ``copied_from`` and ``started_at``.
    """
    from . import audit
    from .locking import current_holder
    from .storage import get_storage

    s = settings or get_settings()
    ds = _validate_ds(ds)
    store = s.data_dir / "audit"
    holder = current_holder(s.data_dir)
    abandoned = audit.abandon_stale_runs(run_id, holder, store_dir=store,
                                         reports_dir=s.data_dir / "reports")
    for ref in abandoned:
        log.warning("closed abandoned run %s attempt %s", ref.run_id, ref.attempt)
    live = {ref.run_id for ref in audit.list_attempts(store_dir=store)
            if ref.run_id != run_id
            and audit.load_attempt(ref)["run"].get("status") == "running"}
    keep = {build_path(r, s).name for r in live}
    build = build_path(run_id, s)
    s.build_dir.mkdir(parents=True, exist_ok=True)
    for stale in sorted(s.build_dir.glob("*.duckdb")):
        if stale.name not in keep and stale != build:
            log.warning("removing stale build file %s", stale)
            _remove_build_files(stale)
    _remove_build_files(build)
    if s.warehouse_path.exists():
        tmp = build.with_name(build.name + ".copying")
        shutil.copy2(s.warehouse_path, tmp)
        _fsync_file(tmp)
        os.replace(tmp, build)
        source = s.warehouse_path.name
    else:
        with connect(build, create=True) as con:
            con.execute("checkpoint")
        source = None
    _fsync_dir(s.build_dir)
    run_dir = s.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in ("errors.jsonl", "published.json"):
        (run_dir / name).unlink(missing_ok=True)
    storage = get_storage(s)
    storage.delete_dir(_run_storage_prefix(run_id))  # outputs of an earlier attempt
    info = {
        "run_id": run_id,
        "ds": ds,
        "build": build_rel_path(run_id),
        "run_dir": f"runs/{_safe(run_id)}",
        "storage_prefix": _run_storage_prefix(run_id),
        "copied_from": source,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "abandoned_runs": sorted({ref.run_id for ref in abandoned}),
    }
    write_json_atomic(run_dir / "run.json", info)
    audit.start_run(run_id, logical_date=ds, ds=ds, store_dir=store,
                    dag_id="social_warehouse_daily", lock_holder=holder)
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
    """Great Expectations gate of ``stage`` on the run's build file; raise on a critical failure.

    ``thresholds`` is an optional overlay file (e.g. ``sources/<source>.thresholds.yml``).
    """
    from .quality import GateFailed, run_gate

    s = settings or get_settings()
    build = _require_build(run_id, s)
    overlay = None
    if thresholds:
        overlay = Path(thresholds)
        if not overlay.is_absolute() and not overlay.exists():
            overlay = s.home / overlay
    try:
        result = run_gate(stage, build, ds=_validate_ds(ds), run_id=run_id,
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
    docs = _publish_dbt_docs(run_id, ds, s) if status == "success" else None
    audit.finish_run(run_id, status, error, store_dir=s.data_dir / "audit",
                     reports_dir=s.data_dir / "reports")
    report = {"status": status, "error": error, "reports_index": str(s.data_dir / "reports" /
                                                                     "index.html")}
    if docs:
        report["dbt_docs"] = docs
    if status != "success":
        raise PipelineError(f"run {run_id} (ds={ds}) was not published: {error}")
    return report


def _publish_dbt_docs(run_id: str, ds: str, settings: Settings) -> str | None:
    """Static dbt docs of the just-published warehouse, beside the attempt's run report.

    Documentation is a by-product: a failure is logged and leaves the run published.
    """
    from . import audit
    from .dbt_docs import DbtDocsError, generate_dbt_docs

    try:
        ref = audit.current_run(run_id, store_dir=settings.data_dir / "audit")
        out = audit.report_dir(ref, settings.data_dir / "reports") / "dbt_docs"
        return str(generate_dbt_docs(out, ds, settings=settings)["index"])
    except (DbtDocsError, LookupError, OSError) as exc:
        log.warning("dbt docs for run %s not generated: %s", run_id, exc)
        return None


def run_ingest(ds: str, settings: Settings | None = None, landing_dir: str | None = None,
               run_id: str | None = None) -> dict:
    """Load ``landing/<ds>/`` into the ``raw`` schema of the run's build file."""
    from .ingest import IngestError, ingest_partition

    s = settings or get_settings()
    ds = _validate_ds(ds)
    if not run_id:
        raise PipelineError("run_ingest needs the run id (its build file and audit record)")
    build = _require_build(run_id, s)
    try:
        result = ingest_partition(build, Path(landing_dir or s.landing_dir), ds)
    except IngestError as exc:
        raise PipelineError(f"ingest of ds={ds} failed: {exc}") from exc
    from . import audit

    audit.record_inputs(run_id, build, ds, store_dir=s.data_dir / "audit")
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
    run_id: str | None = None,
    extra_vars: dict | None = None,
    *,
    db_path: Path | str | None = None,
) -> dict:
    """``dbt build`` the selected models and their tests against the run's build file.

    The file is the build file of ``run_id`` (it must exist: dbt-duckdb would otherwise
    create an empty one); ``db_path`` names another existing file instead (tests, tools).
    dbt's ``run_results.json`` is copied to the run's folder. dbt runs in a subprocess:
    dbt-duckdb keeps its own connection open for the whole invocation, and a separate
    process cannot clash with connections of the caller.
    """
    s = settings or get_settings()
    ds = _validate_ds(ds)
    if db_path is not None:
        db = Path(db_path)
        if not db.is_file():
            raise PipelineError(f"dbt target database {db} does not exist")
    else:
        db = _require_build(run_id, s)
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
    env = {**os.environ, "SW_DBT_DUCKDB_PATH": str(db),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=s.dbt_project_dir)
    seconds = time.perf_counter() - t0
    results_path = target / "run_results.json"
    problems: list[str] = []
    counts: dict[str, int] = {}
    if results_path.exists():
        results = json.loads(results_path.read_text(encoding="utf-8"))
        for r in results.get("results", []):
            counts[r["status"]] = counts.get(r["status"], 0) + 1
            if r["status"] in ("error", "fail", "runtime error"):
                message = (r.get("message") or "").strip()
                problems.append(f"{r['unique_id']}: {r['status']}: {message}")
            elif r["status"] == "warn":
                log.warning("dbt warning: %s: %s", r["unique_id"], r.get("message"))
        if run_id:
            run_dir = s.run_dir(run_id)
            run_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(results_path, run_dir / f"dbt_run_results_{'_'.join(select)}.json"
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


def table_checksums(path: Path | str, schemas: tuple[str, ...] = ("core", "marts"),
                    *, exclude: tuple[str, ...] = (), columns: bool = False) -> dict[str, dict]:
    """An order-independent checksum of every table of ``schemas`` in a DuckDB file.

    ``{"schema.table": {"rows": n, "checksum": "..."}}``: the sum of the 64-bit hashes of
    the rows, so equal tables (same multiset of rows, exact values: a float differing in
    its last bit changes it) give equal checksums whatever their physical row order.
    Columns named in ``exclude`` (e.g. load timestamps, absolute file paths) are left out.
    With ``columns`` each entry also has ``"columns": {column: checksum}``, to name what
    differs.
    """
    out: dict[str, dict] = {}
    with connect(path, read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in (select unnest(?::VARCHAR[])) "
            "order by table_schema, table_name", [list(schemas)]
        ).fetchall()
        for schema, table in tables:
            rel = f"{quote_ident(schema)}.{quote_ident(table)}"
            names = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = ? "
                "and table_name = ? order by ordinal_position", [schema, table]).fetchall()
                if r[0] not in exclude]
            row = ", ".join(quote_ident(n) for n in names) or "0"
            rows, checksum = con.execute(
                f"select count(*), coalesce(sum(hash({row})::HUGEINT), 0)::VARCHAR from {rel}"
            ).fetchone()
            entry: dict = {"rows": int(rows), "checksum": checksum}
            if columns:
                entry["columns"] = {
                    name: con.execute(
                        f"select coalesce(sum(hash({quote_ident(name)})::HUGEINT), 0)::VARCHAR "
                        f"from {rel}").fetchone()[0]
                    for name in names
                }
            out[f"{schema}.{table}"] = entry
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
    """Atomically replace the served warehouse by the run's audited build file.

    The sequence (README "Reliability" says what a crash at each step leaves;
    ``SW_FAULT=publish:<step>`` kills the process at the named step for tests):

    1. ``before_commit``: the audit store records the publication; the audit tables and a
       ``meta.publications`` row are written into the build file and checkpointed.
    2. ``after_commit``: the build file is fsynced (no WAL left, or publish refuses).
    3. ``os.replace(build, served)`` and an fsync of the served file's folder.
    4. ``after_rename``: ``runs/<run>/published.json`` (the run's marker) written atomically.
    5. ``after_run_marker``: ``<data_dir>/published.json`` (the pointer) written atomically.
    6. ``after_pointer``: done.
    """
    s = settings or get_settings()
    ds = _validate_ds(ds)
    if not build_path(run_id, s).is_file() and _latest_publication(s) == (run_id, ds):
        # a retry after a crash past the rename: the served file is already this run's
        return _finish_publish(run_id, ds, s)
    build = _require_build(run_id, s)
    from . import audit

    store = s.data_dir / "audit"
    fault_point("publish:before_commit")
    audit.record_publish(run_id, target=s.warehouse_path, db_path=build, store_dir=store)
    with connect(build, create=False) as con:
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
    _fsync_file(build)
    fault_point("publish:after_commit")
    s.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(build, s.warehouse_path)  # atomic on one filesystem
    _fsync_dir(s.warehouse_path.parent)
    fault_point("publish:after_rename")
    result = PublishResult(run_id, ds, str(s.warehouse_path), now.isoformat(timespec="seconds"),
                           tables)
    return _finish_publish(run_id, ds, s, result)


def _latest_publication(s: Settings) -> tuple[str, str] | None:
    """``(run_id, ds)`` of the served warehouse's latest ``meta.publications`` row."""
    if not s.warehouse_path.is_file():
        return None
    with connect(s.warehouse_path, read_only=True) as con:
        if not con.execute("select count(*) from information_schema.tables where "
                           "table_schema = 'meta' and table_name = 'publications'").fetchone()[0]:
            return None
        row = con.execute("select run_id, ds::VARCHAR from meta.publications "
                          "order by published_at desc limit 1").fetchone()
    return (row[0], row[1]) if row else None


def _finish_publish(run_id: str, ds: str, s: Settings,
                    result: PublishResult | None = None) -> dict:
    """Steps 4-5 of :func:`publish`: the run's marker, then the data dir's pointer."""
    if result is None:  # completing an interrupted publish from the served file itself
        with connect(s.warehouse_path, read_only=True) as con:
            at = con.execute("select max(published_at) from meta.publications where run_id = ?",
                             [run_id]).fetchone()[0]
        result = PublishResult(run_id, ds, str(s.warehouse_path),
                               at.isoformat(timespec="seconds"),
                               warehouse_summary(s.warehouse_path))
    write_json_atomic(s.run_dir(run_id) / "published.json", result.to_dict())
    fault_point("publish:after_run_marker")
    write_json_atomic(s.data_dir / "published.json", result.to_dict())
    fault_point("publish:after_pointer")
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
# The writer exports the core tables the analytics read to Parquet in the storage root
# (export_analytics_inputs); analytics tasks, on any worker, query them through read_sql
# and write one Parquet file per output there (write_outputs); the single writer task
# loads them into ``analytics.*`` of the build file (load_outputs).

#: What :func:`export_analytics_inputs` exports for the analytics: ``schema.*`` (every
#: table and view of the schema) or ``schema.table``.


def analytics_dir(run_id: str, settings: Settings | None = None) -> Path:
    """A local folder holding the run's analytics outputs, for stages that read an
    upstream stage's Parquet by path (and write their ``<stage>_info.json`` there).

    Local storage root: the outputs folder in the storage root itself. S3 storage root: a
    local cache, ``runs/<run>/analytics/``, refreshed from the storage root on every call
    (Parquet outputs present there are downloaded; cached ones no longer there removed).
    Prefer :func:`read_output`, which fails loudly when an output is missing.
    """
    from .storage import get_storage

    s = settings or get_settings()
    storage = get_storage(s)
    prefix = _outputs_prefix(run_id)
    if storage.is_local:
        path = Path(storage.path(prefix))
        path.mkdir(parents=True, exist_ok=True)
        return path
    path = s.run_dir(run_id) / "analytics"
    path.mkdir(parents=True, exist_ok=True)
    remote = {rel.rsplit("/", 1)[1]: rel for rel in storage.list_files(prefix, ".parquet")}
    for cached in path.glob("*.parquet"):
        if cached.name not in remote:
            cached.unlink()
    for name, rel in sorted(remote.items()):
        import pyarrow.parquet as pq

        tmp = path / f".{name}.tmp"
        pq.write_table(storage.read_parquet(rel), tmp)
        os.replace(tmp, path / name)
    return path


def read_output(run_id: str, name: str, columns: list[str] | None = None,
                settings: Settings | None = None):
    """An analytics output of the run as a DataFrame; :class:`PipelineError` if missing."""
    from .storage import StorageError, get_storage

    storage = get_storage(settings or get_settings())
    try:
        table = storage.read_parquet(f"{_outputs_prefix(run_id)}/{name}.parquet")
    except StorageError as exc:
        raise PipelineError(f"analytics output {name!r} of run {run_id!r} is missing: {exc}") \
            from exc
    if columns is not None:
        table = table.select(columns)
    return table.to_pandas()


def _inputs_prefix(run_id: str) -> str:
    return f"{_run_storage_prefix(run_id)}/inputs"


def _outputs_prefix(run_id: str) -> str:
    return f"{_run_storage_prefix(run_id)}/analytics"


def export_analytics_inputs(run_id: str, settings: Settings | None = None,
                            inputs: tuple[str, ...] = ANALYTICS_INPUTS) -> dict:
    """Export the relations the analytics read (``inputs``, default
    :data:`ANALYTICS_INPUTS`) from the run's build file to Parquet in the storage root,
    ``runs/<run>/inputs/<schema>/<table>.parquet``. Rows are written in a total order
    (``order by all``), so the files, and what reads them, are the same on every rerun.
    A named relation that does not exist fails the task."""
    from .storage import get_storage

    s = settings or get_settings()
    build = _require_build(run_id, s)
    storage = get_storage(s)
    storage.delete_dir(_inputs_prefix(run_id))
    exported = {}
    with connect(build, read_only=True) as con:
        present = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "order by table_schema, table_name").fetchall()
        relations = []
        for spec in inputs:
            schema, _, table = spec.partition(".")
            found = [r for r in present if r[0] == schema and table in ("*", r[1])]
            if not found:
                raise PipelineError(f"analytics input {spec} does not exist in build file "
                                    f"{build}: nothing for the analytics to read")
            relations += [r for r in found if r not in relations]
        for schema, table in relations:
            rel = f"{quote_ident(schema)}.{quote_ident(table)}"
            reader = con.sql(f"select * from {rel} order by all").to_arrow_reader(100_000)
            rel_path = f"{_inputs_prefix(run_id)}/{schema}/{table}.parquet"
            rows = storage.write_parquet(rel_path, reader)
            exported[f"{schema}.{table}"] = {"rows": rows, "path": storage.uri(rel_path)}
    return exported


@contextmanager
def _analytics_connection(run_id: str, s: Settings) -> Iterator:
    """An in-memory DuckDB whose ``<schema>.<table>`` are views over the run's exported
    Parquet inputs in the storage root (pyarrow datasets: no httpfs needed)."""
    import duckdb

    from .storage import get_storage

    storage = get_storage(s)
    prefix = _inputs_prefix(run_id)
    schemas = sorted({spec.partition(".")[0] for spec in ANALYTICS_INPUTS})
    files = [rel for schema in schemas
             for rel in storage.list_files(f"{prefix}/{schema}", ".parquet")]
    if not files:
        raise PipelineError(
            f"no analytics inputs for run {run_id!r} in {storage.uri(prefix)}: the writer task "
            "export_analytics_inputs has not run (or the storage root differs between hosts)")
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        for i, rel in enumerate(files):
            schema, filename = rel[len(prefix) + 1:].split("/", 1)
            table = filename[: -len(".parquet")]
            con.execute(f"create schema if not exists {quote_ident(schema)}")
            name = f"_sw_input_{i}"
            con.register(name, storage.dataset(rel))
            con.execute(f"create view {quote_ident(schema)}.{quote_ident(table)} as "
                        f"select * from {quote_ident(name)}")
        yield con
    finally:
        con.close()


def read_sql(sql: str, params: list | None = None, settings: Settings | None = None):
    """Run an analytics query; a pandas DataFrame via Arrow.

    With :class:`RunSettings` (``run_settings(run_id)``, as the DAG's analytics tasks pass)
    the query runs on the run's exported Parquet inputs in the storage root, so it works
    on any worker. With plain settings it reads the DuckDB file ``settings.build_path``
    read-only (tools and tests that build one file directly); that file must exist.
    """
    s = settings or get_settings()
    run_id = getattr(s, "run_id", "")
    if run_id:
        with _analytics_connection(run_id, s) as con:
            return con.sql(sql, params=params or None).to_arrow_table().to_pandas()
    if not Path(s.build_path).is_file():
        raise PipelineError(f"read_sql: {s.build_path} does not exist; analytics tasks pass "
                            "settings=run_settings(run_id) to read the run's exported inputs")
    with connect(s.build_path, read_only=True) as con:
        return con.sql(sql, params=params or None).to_arrow_table().to_pandas()


def write_outputs(run_id: str, outputs: dict, settings: Settings | None = None) -> dict:
    """Write DataFrames as ``runs/<run>/analytics/<name>.parquet`` in the storage root."""
    import pyarrow as pa

    from .storage import get_storage

    storage = get_storage(settings or get_settings())
    written = {}
    for name, frame in outputs.items():
        if not name.isidentifier():
            raise PipelineError(f"analytics output name {name!r} is not a valid table name")
        table = pa.Table.from_pandas(frame, preserve_index=False)
        rel = f"{_outputs_prefix(run_id)}/{name}.parquet"
        rows = storage.write_parquet(rel, table)
        written[name] = {"rows": rows, "path": storage.uri(rel)}
    return written


def expected_analytics_outputs(settings: Settings | None = None) -> list[str]:
    """The analytics outputs the marts read, from the dbt project: the tables of a source
    named ``analytics`` and the models under ``models/analytics/`` (which register the
    outputs written by the Python tasks)."""
    import yaml

    s = settings or get_settings()
    models = s.dbt_project_dir / "models"
    names = {path.stem for path in (models / "analytics").glob("*.sql")}
    for path in sorted(models.rglob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        sources = doc.get("sources") if isinstance(doc, dict) else None
        for source in sources or []:
            if isinstance(source, dict) and source.get("name") == "analytics":
                names.update(t["name"] for t in source.get("tables") or [])
    if not names:
        raise PipelineError(f"the dbt project {s.dbt_project_dir} declares no analytics output "
                            "(no 'analytics' source, no models/analytics/*.sql)")
    return sorted(names)


def load_outputs(run_id: str, settings: Settings | None = None,
                 expected: list[str] | None = None) -> dict:
    """Load the run's Parquet outputs from the storage root into ``analytics.<name>``.

    Every output in ``expected`` (default: :func:`expected_analytics_outputs`) must exist,
    or a :class:`PipelineError` names the missing ones and nothing is loaded: yesterday's
    ``analytics.*`` is never kept silently. Other outputs found are loaded too.
    """
    from .storage import get_storage

    s = settings or get_settings()
    build = _require_build(run_id, s)
    storage = get_storage(s)
    prefix = _outputs_prefix(run_id)
    found = {rel[len(prefix) + 1: -len(".parquet")]: rel
             for rel in storage.list_files(prefix, ".parquet")}
    wanted = expected_analytics_outputs(s) if expected is None else list(expected)
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise PipelineError(
            f"analytics output(s) {', '.join(missing)} missing in {storage.uri(prefix)} for run "
            f"{run_id!r}: an analytics task did not write them (found: "
            f"{', '.join(sorted(found)) or 'none'})")
    loaded = {}
    with connect(build, create=False) as con:
        views = {name: f"_sw_output_{name}" for name in sorted(found)}
        for name, view in views.items():
            con.register(view, storage.read_parquet(found[name]))
        con.execute("begin transaction").fetchall()
        try:
            con.execute("create schema if not exists analytics").fetchall()
            for name, view in views.items():
                con.execute(f"create or replace table analytics.{quote_ident(name)} as "
                            f"select * from {quote_ident(view)}").fetchall()
                loaded[name] = con.execute(
                    f"select count(*) from analytics.{quote_ident(name)}").fetchone()[0]
            con.execute("commit").fetchall()
        except BaseException:
            con.execute("rollback")
            raise
    return loaded
