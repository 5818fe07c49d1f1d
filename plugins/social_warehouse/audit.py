"""The audit trail: a file store that outlives every run, and its tables in DuckDB.

A run that fails never reaches the served warehouse, so its record cannot live there. Each
run writes, as it goes, into ``<data_dir>/audit`` (the *store*)::

    runs/<run_id>/attempt-<n>/run.json                 who, when, versions, status, error
    runs/<run_id>/attempt-<n>/input_files.parquet      files of the partition: hash, size, counts
    runs/<run_id>/attempt-<n>/rejects_summary.parquet  rejected rows per entity and reason
    runs/<run_id>/attempt-<n>/rejects_examples.parquet a few rejected records per reason
    runs/<run_id>/attempt-<n>/gate_results.parquet     every expectation of every gate
    runs/<run_id>/attempt-<n>/published.parquet        tables published and their row counts
    runs/<run_id>/attempt-<n>/gx/                      the GX project copy the gates ran in
                                                       (suites, thresholds, validation results)

(``<run_id>`` with characters other than letters, digits and ``-_.+`` replaced by ``_``.)
History only grows: running a ``run_id`` again (an Airflow clear) opens attempt ``n + 1``
and keeps the earlier attempts. :func:`materialize_audit` (re)creates ``audit.*`` tables from
the whole store in a DuckDB connection; the publish step calls it on the build file just
before publishing, so the served warehouse shows every run, the failed ones included.

Call order from the DAG (every function takes ``store_dir=``; default ``<SW_DATA_DIR>/audit``)::

    start_run(run_id, logical_date=...)           # first task
    record_inputs(run_id, build_db, ds)           # after ingest
    run_gate(...)                                 # records its own results (record_gate)
    record_publish(run_id, target=..., tables=...) # after publish
    finish_run(run_id, "success" | "failed", error=...)  # last task, trigger_rule all_done
"""

from __future__ import annotations

import json
import os
import platform
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "RunRef",
    "TABLES",
    "safe_run_id",
    "default_store_dir",
    "start_run",
    "current_run",
    "list_attempts",
    "record_inputs",
    "record_gate",
    "record_publish",
    "finish_run",
    "abandon_stale_runs",
    "ABANDONED_PREFIX",
    "load_attempt",
    "report_dir",
    "materialize_audit",
]

RUN_FILE = "run.json"
STATUSES = ("running", "success", "failed")


def _schemas():
    import pyarrow as pa

    ts = pa.timestamp("us")
    key = [("run_id", pa.string()), ("attempt", pa.int64())]
    return {
        "runs": pa.schema(key + [
            ("dag_id", pa.string()), ("logical_date", ts), ("ds", pa.date32()),
            ("started_at", ts), ("ended_at", ts),
            ("status", pa.string()), ("error", pa.string()),
            ("package_version", pa.string()), ("dbt_version", pa.string()),
            ("gx_version", pa.string()), ("airflow_version", pa.string()),
            ("duckdb_version", pa.string()), ("python_version", pa.string()),
            ("host", pa.string()),
        ]),
        "input_files": pa.schema(key + [
            ("ds", pa.date32()), ("entity", pa.string()), ("path", pa.string()),
            ("sha256", pa.string()), ("size_bytes", pa.int64()), ("format", pa.string()),
            ("rows_read", pa.int64()), ("rows_loaded", pa.int64()),
            ("rows_rejected", pa.int64()), ("loaded_at", ts),
        ]),
        "rejects_summary": pa.schema(key + [
            ("ds", pa.date32()), ("entity", pa.string()), ("reason", pa.string()),
            ("count", pa.int64()),
        ]),
        "rejects_examples": pa.schema(key + [
            ("ds", pa.date32()), ("entity", pa.string()), ("reason", pa.string()),
            ("source_file", pa.string()), ("source_row", pa.int64()),
            ("raw_record", pa.string()),
        ]),
        "gate_results": pa.schema(key + [
            ("ds", pa.date32()), ("stage", pa.string()), ("suite", pa.string()),
            ("table_name", pa.string()), ("expectation", pa.string()), ("column", pa.string()),
            ("kwargs", pa.string()), ("success", pa.bool_()), ("severity", pa.string()),
            ("status", pa.string()), ("observed_value", pa.string()),
            ("unexpected_count", pa.int64()), ("unexpected_percent", pa.float64()),
            ("unexpected_examples", pa.string()), ("exception", pa.string()),
            ("recorded_at", ts),
        ]),
        "published": pa.schema(key + [
            ("target", pa.string()), ("table_name", pa.string()), ("row_count", pa.int64()),
            ("published_at", ts),
        ]),
    }


#: The ``audit.*`` tables :func:`materialize_audit` creates (``runs`` comes from run.json).
TABLES = ("runs", "input_files", "rejects_summary", "rejects_examples", "gate_results",
          "published")


@dataclass(frozen=True)
class RunRef:
    """One attempt of one run in the store."""

    run_id: str
    attempt: int
    path: Path

    @property
    def key(self) -> str:
        return f"{safe_run_id(self.run_id)}/attempt-{self.attempt}"


def safe_run_id(run_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in run_id)


def default_store_dir() -> Path:
    from .config import get_settings

    return get_settings().data_dir / "audit"


def _store(store_dir) -> Path:
    return Path(store_dir) if store_dir else default_store_dir()


def report_dir(ref: RunRef, reports_dir: Path) -> Path:
    """Folder of an attempt's reports (run report, Data Docs) under ``reports_dir``."""
    return Path(reports_dir) / safe_run_id(ref.run_id) / f"attempt-{ref.attempt}"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _naive_utc(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    from . import __version__

    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "package_version": __version__,
        "dbt_version": version("dbt-core"),
        "gx_version": version("great-expectations"),
        "airflow_version": version("apache-airflow"),
        "duckdb_version": version("duckdb"),
        "python_version": platform.python_version(),
        "host": platform.node(),
    }


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def list_attempts(run_id: str | None = None, *, store_dir=None) -> list[RunRef]:
    """Every attempt in the store (of one ``run_id`` if given), oldest run folder first."""
    runs = _store(store_dir) / "runs"
    if not runs.is_dir():
        return []
    folders = [runs / safe_run_id(run_id)] if run_id else sorted(p for p in runs.iterdir())
    refs = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for sub in folder.iterdir():
            m = re.fullmatch(r"attempt-(\d+)", sub.name)
            if m and (sub / RUN_FILE).is_file():
                refs.append(RunRef(_read_json(sub / RUN_FILE)["run_id"], int(m.group(1)), sub))
    return sorted(refs, key=lambda r: (r.path.parent.name, r.attempt))


def start_run(
    run_id: str,
    *,
    logical_date,
    ds=None,
    store_dir=None,
    started_at: datetime | None = None,
    dag_id: str | None = None,
    lock_holder: dict | None = None,
) -> RunRef:
    """Open a new attempt of ``run_id`` (status ``running``) and return it.

    ``lock_holder`` is the data dir's run-lock holder when the run started
    (:func:`social_warehouse.locking.current_holder`), kept so that a later run can tell
    whether this one is still alive (:func:`abandon_stale_runs`).

    Idempotent for a retried start task: if the latest attempt is still ``running`` it is
    returned as is. An attempt that ended (``success``/``failed``) is never reopened; a new
    one is created instead, so a rerun adds to the history.
    """
    attempts = list_attempts(run_id, store_dir=store_dir)
    if attempts:
        latest = attempts[-1]
        if _read_json(latest.path / RUN_FILE).get("status") == "running":
            return latest
    n = attempts[-1].attempt + 1 if attempts else 1
    path = _store(store_dir) / "runs" / safe_run_id(run_id) / f"attempt-{n}"
    path.mkdir(parents=True, exist_ok=False)
    logical = _naive_utc(logical_date)
    ds = ds or (logical.date() if logical else None)
    record = {
        "run_id": run_id,
        "attempt": n,
        "dag_id": dag_id,
        "logical_date": logical.isoformat() if logical else None,
        "ds": str(_as_date(ds)) if ds else None,
        "started_at": (_naive_utc(started_at) or _now()).isoformat(),
        "ended_at": None,
        "status": "running",
        "error": None,
        "lock_holder": _holder_identity(lock_holder),
        **_versions(),
    }
    _write_json(path / RUN_FILE, record)
    return RunRef(run_id, n, path)


#: ``error`` of an attempt closed by :func:`abandon_stale_runs` starts with this.
ABANDONED_PREFIX = "abandoned:"


def _holder_identity(holder: dict | None) -> dict | None:
    if not holder:
        return None
    return {k: holder.get(k) for k in ("pid", "host", "started_at")}


def abandon_stale_runs(
    current_run_id: str,
    holder: dict | None,
    *,
    store_dir=None,
    reports_dir: Path | None = None,
) -> list[RunRef]:
    """Close every attempt still ``running`` whose process is gone: status ``failed``,
    error ``abandoned: ...``. Returns the attempts closed.

    ``holder`` is the live holder of the data dir's run lock now (None: no live process
    holds it). An attempt of another run is abandoned unless it was started under that
    same live holder (same pid, host and lock start time): the lock dies with its process,
    so an attempt recorded under another holder, or under none, has no process left.
    ``current_run_id`` (the run calling this, from ``prepare_build``) is never touched.
    """
    live = _holder_identity(holder)
    closed = []
    for ref in list_attempts(store_dir=store_dir):
        if ref.run_id == current_run_id:
            continue
        record = _read_json(ref.path / RUN_FILE)
        if record.get("status") != "running":
            continue
        if live is not None and record.get("lock_holder") == live:
            continue
        was = record.get("lock_holder")
        who = (f"pid {was.get('pid')} on {was.get('host')}" if isinstance(was, dict)
               else "no run-lock holder recorded")
        record.update(
            status="failed", ended_at=_now().isoformat(),
            error=f"{ABANDONED_PREFIX} its process ({who}) ended without finishing the run; "
                  f"closed by run {current_run_id}",
        )
        _write_json(ref.path / RUN_FILE, record)
        closed.append(ref)
    if closed and reports_dir is not None:
        from .reporting import build_run_report

        for ref in closed:
            build_run_report(ref, store_dir=_store(store_dir), reports_dir=Path(reports_dir))
    return closed


def current_run(run_id: str, *, store_dir=None, create: bool = False, logical_date=None) -> RunRef:
    """The latest attempt of ``run_id``; with ``create`` a first one is opened if none exists."""
    attempts = list_attempts(run_id, store_dir=store_dir)
    if attempts:
        return attempts[-1]
    if not create:
        raise LookupError(f"run {run_id!r} has no attempt in {_store(store_dir)}; call start_run")
    return start_run(run_id, logical_date=logical_date, store_dir=store_dir)


def _write_table(path: Path, name: str, rows: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schemas()[name]
    table = pa.Table.from_pylist(
        [{f.name: row.get(f.name) for f in schema} for row in rows], schema=schema
    )
    target = path / f"{name}.parquet"
    tmp = path / f".{name}.parquet.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, target)
    return target


def _read_table(path: Path, name: str) -> list[dict]:
    import pyarrow.parquet as pq

    file = path / f"{name}.parquet"
    if not file.is_file():
        return []
    return pq.read_table(file).to_pylist()


def _as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def record_inputs(run_id: str, db_path, ds, *, store_dir=None) -> dict[str, int]:
    """Copy the partition's ingest audit into the run: files, rejects by reason, examples.

    Reads ``raw.input_files`` and every ``raw.*_rejects`` of ``ds`` (read-only; an open DuckDB
    connection may be passed instead of a path). Returns a few totals for the task log.
    """
    ds = _as_date(ds)
    ref = current_run(run_id, store_dir=store_dir, create=True, logical_date=ds)
    key = {"run_id": ref.run_id, "attempt": ref.attempt, "ds": ds}
    files, summary, examples = [], [], []
    with _database(db_path) as con:
        tables = {r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()}
        if "input_files" in tables:
            cur = con.execute(
                "select entity, path, sha256, size_bytes, format, rows_read, rows_loaded, "
                "rows_rejected, loaded_at from raw.input_files where ds = ? order by entity, path",
                [ds],
            )
            names = [d[0] for d in cur.description]
            files = [{**key, **dict(zip(names, row, strict=True))} for row in cur.fetchall()]
        for table in sorted(t for t in tables if t.endswith("_rejects")):
            entity = table[: -len("_rejects")]
            for reason, n in con.execute(
                f'select reason, count(*) from raw."{table}" where ds = ? '
                f"group by reason order by count(*) desc, reason",
                [ds],
            ).fetchall():
                summary.append({**key, "entity": entity, "reason": reason, "count": n})
            for reason, source_file, source_row, raw_record in con.execute(
                f"""
                select reason, _source_file, _source_row, left(raw_record, 500) from (
                    select *, row_number() over (
                        partition by reason order by _source_file, _source_row) as rn
                    from raw."{table}" where ds = ?
                ) where rn <= 3 order by reason, _source_file, _source_row
                """,
                [ds],
            ).fetchall():
                examples.append({**key, "entity": entity, "reason": reason,
                                 "source_file": source_file, "source_row": source_row,
                                 "raw_record": raw_record})
    _write_table(ref.path, "input_files", files)
    _write_table(ref.path, "rejects_summary", summary)
    _write_table(ref.path, "rejects_examples", examples)
    return {
        "files": len(files),
        "rows_loaded": sum(int(f["rows_loaded"] or 0) for f in files),
        "rows_rejected": sum(int(f["rows_rejected"] or 0) for f in files),
    }


class _database:
    """Read-only DuckDB connection to a path, or pass an open connection through."""

    def __init__(self, db):
        self.db, self.con, self.owned = db, None, False

    def __enter__(self):
        if hasattr(self.db, "execute"):
            self.con = self.db
        else:
            import duckdb

            if not Path(self.db).is_file():
                raise FileNotFoundError(f"warehouse file {self.db} does not exist")
            self.con, self.owned = duckdb.connect(str(self.db), read_only=True), True
            self.con.execute("SET TimeZone = 'UTC'")
        return self.con

    def __exit__(self, *exc):
        if self.owned and self.con is not None:
            self.con.close()
        return False


def record_gate(run_id: str, result, *, store_dir=None) -> Path:
    """Store a gate's rows (a ``GateResult`` or a list of row dicts) in the run.

    Rows of the same stage recorded earlier in this attempt (a retried task) are replaced.
    """
    rows = list(getattr(result, "rows", result))
    stages = {r["stage"] for r in rows} | ({result.stage} if hasattr(result, "stage") else set())
    ds = getattr(result, "ds", None)
    ref = current_run(run_id, store_dir=store_dir, create=True, logical_date=ds)
    kept = [r for r in _read_table(ref.path, "gate_results") if r["stage"] not in stages]
    now = _now()
    new = [{**r, "run_id": ref.run_id, "attempt": ref.attempt,
            "ds": _as_date(r["ds"]) if r.get("ds") else None, "recorded_at": now} for r in rows]
    return _write_table(ref.path, "gate_results", kept + new)


def record_publish(
    run_id: str,
    *,
    target: str | Path,
    tables: dict[str, int] | None = None,
    db_path=None,
    schemas: tuple[str, ...] = ("core", "analytics", "marts", "audit"),
    published_at: datetime | None = None,
    store_dir=None,
) -> Path:
    """Record what was published to ``target``: ``tables`` ({name: rows}) or, when omitted,
    the row count of every table in ``schemas`` of ``db_path`` (read-only)."""
    if tables is None:
        if db_path is None:
            raise ValueError("record_publish needs tables= or db_path=")
        tables = {}
        with _database(db_path) as con:
            found = con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_type = 'BASE TABLE' order by 1, 2"
            ).fetchall()
            for schema, name in found:
                if schema in schemas:
                    tables[f"{schema}.{name}"] = con.execute(
                        f'select count(*) from "{schema}"."{name}"').fetchone()[0]
    ref = current_run(run_id, store_dir=store_dir, create=True)
    when = _naive_utc(published_at) or _now()
    rows = [{"run_id": ref.run_id, "attempt": ref.attempt, "target": str(target),
             "table_name": name, "row_count": int(n), "published_at": when}
            for name, n in sorted(tables.items())]
    return _write_table(ref.path, "published", rows)


def finish_run(
    run_id: str,
    status: str,
    error: str | BaseException | None = None,
    *,
    store_dir=None,
    reports_dir: Path | None = None,
    build_reports: bool = True,
) -> RunRef:
    """Close the latest attempt with ``status`` (``success``/``failed``) and build its reports.

    The run report (``<reports>/<run>/attempt-<n>/report.html``) and the index of all runs
    (``<reports>/index.html``) are rebuilt; ``reports_dir`` defaults to ``<store>/../reports``.
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
    ref = current_run(run_id, store_dir=store_dir, create=True)
    record = _read_json(ref.path / RUN_FILE)
    if isinstance(error, BaseException):
        error = f"{type(error).__name__}: {error}"
    record.update(status=status, ended_at=_now().isoformat(), error=error)
    _write_json(ref.path / RUN_FILE, record)
    if build_reports:
        from .reporting import build_index, build_run_report

        store = _store(store_dir)
        reports = Path(reports_dir) if reports_dir else store.parent / "reports"
        build_run_report(ref, store_dir=store, reports_dir=reports)
        build_index(store_dir=store, reports_dir=reports)
    return ref


def load_attempt(ref: RunRef) -> dict[str, Any]:
    """Everything stored for one attempt: ``run`` (dict) and one list of rows per table."""
    data: dict[str, Any] = {"run": _read_json(ref.path / RUN_FILE)}
    for name in TABLES[1:]:
        data[name] = _read_table(ref.path, name)
    return data


def materialize_audit(
    store_dir, con, *, status_overrides: dict[str, str] | None = None
) -> dict[str, int]:
    """(Re)create ``audit.<table>`` in ``con`` from every attempt in the store; return row counts.

    Tables: ``runs``, ``input_files``, ``rejects_summary``, ``rejects_examples``,
    ``gate_results``, ``published``; each row carries ``run_id`` and ``attempt``.

    ``status_overrides`` ({run_id: status}) sets the status shown for the latest attempt of
    runs still ``running``: the publish step passes ``{run_id: "success"}``, because the
    build file it materializes into is only ever served if that publish succeeds.
    """
    import pyarrow as pa

    schemas = _schemas()
    refs = list_attempts(store_dir=store_dir)
    rows: dict[str, list[dict]] = {name: [] for name in TABLES}
    for ref in refs:
        run = _read_json(ref.path / RUN_FILE)
        run_row = {f.name: run.get(f.name) for f in schemas["runs"]}
        for col in ("logical_date", "started_at", "ended_at"):
            run_row[col] = _naive_utc(run_row[col])
        run_row["ds"] = _as_date(run_row["ds"]) if run_row.get("ds") else None
        run_row["attempt"] = ref.attempt
        override = (status_overrides or {}).get(ref.run_id)
        if override and run_row["status"] == "running":
            run_row["status"] = override
        rows["runs"].append(run_row)
        for name in TABLES[1:]:
            rows[name].extend(_read_table(ref.path, name))
    con.execute("create schema if not exists audit")
    counts = {}
    for name in TABLES:
        table = pa.Table.from_pylist(
            [{f.name: r.get(f.name) for f in schemas[name]} for r in rows[name]],
            schema=schemas[name],
        )
        view = f"_sw_audit_{name}"
        con.register(view, table)
        try:
            con.execute(f'create or replace table audit."{name}" as select * from "{view}"')
        finally:
            con.unregister(view)
        counts[name] = table.num_rows
    return counts
