"""What the reports know about runs beyond one attempt: history, dbt results, the served run.

Sources, all files the pipeline already writes (nothing is read from the warehouse unless the
publication file is missing):

* the audit store (:mod:`social_warehouse.audit`): inputs, rejects and gate results per attempt;
* the run folder (``<runs>/<run_id>/``): ``dbt_run_results_<selector>.json`` (a copy of dbt's
  ``run_results.json`` per dbt task), ``analytics/<stage>_info.json`` (``seconds`` per analytics
  stage; also read from a local storage root, ``<data>/storage/runs/<run_id>/analytics``) and
  ``task_metrics.jsonl`` (:mod:`social_warehouse.taskmetrics`: wall time of every task; it
  wins over the figures derived from the other two);
* ``<data>/published.json`` (the run currently served; fallback ``meta.publications`` of the
  served file).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import audit, taskmetrics

__all__ = [
    "RunPoint",
    "collect_history",
    "dbt_results",
    "task_durations",
    "served_run",
    "failure_reason",
]

#: dbt layers in build order (selector ``tag:<layer>``); unknown selectors sort last.
LAYERS = ("staging", "core", "marts")


@dataclass
class RunPoint:
    """One attempt as a point of the trend charts."""

    ref: audit.RunRef
    run: dict[str, Any]
    rows_loaded: dict[str, int] = field(default_factory=dict)
    rows_rejected: int = 0
    gate_failed: int = 0
    gate_warnings: int = 0
    durations: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        ds = self.run.get("ds") or (self.run.get("logical_date") or "")[:10] or self.ref.run_id
        return f"{ds[5:] if len(ds) == 10 else ds}" + (f" #{self.ref.attempt}"
                                                        if self.ref.attempt > 1 else "")

    @property
    def reject_rate(self) -> float | None:
        total = sum(self.rows_loaded.values()) + self.rows_rejected
        return None if total == 0 else self.rows_rejected / total


def _seconds(run: dict[str, Any]) -> float | None:
    try:
        return (datetime.fromisoformat(run["ended_at"])
                - datetime.fromisoformat(run["started_at"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None


def _layer(path: Path, data: dict[str, Any]) -> str:
    select = (data.get("args") or {}).get("select") or []
    text = " ".join(select) if isinstance(select, list) else str(select)
    m = re.search(r"tag:(\w+)", text) or re.search(r"dbt_run_results_(?:tag-)?(\w+)", path.stem)
    return m.group(1) if m else path.stem


def dbt_results(run_dir: Path | None) -> dict[str, dict[str, Any]]:
    """``{layer: {"elapsed": s, "results": [...]}}`` from the run's dbt run_results copies.

    Each result: ``unique_id``, ``kind`` (model/test/seed/...), ``name``, ``status``,
    ``seconds``, ``message``, ``failures``. Layers are in build order.
    """
    if run_dir is None or not Path(run_dir).is_dir():
        return {}
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(run_dir).glob("dbt_run_results_*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            out[path.stem] = {"elapsed": None, "results": [], "error": f"{path.name}: {exc}"}
            continue
        results = []
        for r in data.get("results", []):
            uid = str(r.get("unique_id", ""))
            kind, _, rest = uid.partition(".")
            results.append({
                "unique_id": uid,
                "kind": kind,
                "name": rest.split(".", 1)[-1] if rest else uid,
                "status": r.get("status"),
                "seconds": r.get("execution_time"),
                "message": r.get("message"),
                "failures": r.get("failures"),
            })
        out[_layer(path, data)] = {"elapsed": data.get("elapsed_time"), "results": results,
                                   "file": path.name}
    order = {name: i for i, name in enumerate(LAYERS)}
    return dict(sorted(out.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def task_durations(run_dir: Path | None, analytics_dirs: tuple[Path, ...] = ()
                   ) -> dict[str, float]:
    """Seconds per task of one run, from the files in its run folder (see module doc).

    ``analytics_dirs``: other folders holding the analytics ``*_info.json`` (the local
    storage root's ``runs/<run>/analytics``); ``<run_dir>/analytics`` is always read.
    """
    if run_dir is None or not Path(run_dir).is_dir():
        return {}
    run_dir = Path(run_dir)
    out: dict[str, float] = {}
    for layer, info in dbt_results(run_dir).items():
        if info.get("elapsed") is not None:
            out[f"dbt_{layer}"] = float(info["elapsed"])
    infos = [p for folder in (run_dir / "analytics", *analytics_dirs)
             for p in sorted(Path(folder).glob("*_info.json"))]
    for path in infos:
        try:
            seconds = json.loads(path.read_text(encoding="utf-8")).get("seconds")
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(seconds, int | float):
            out[f"analytics_{path.stem[: -len('_info')]}"] = float(seconds)
    # the runner's own figures (social_warehouse.taskmetrics): wall time per task
    metrics = run_dir / taskmetrics.FILE_NAME
    if metrics.is_file():
        for line in metrics.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                out[str(row["task"])] = float(row["wall_s"])
            except (ValueError, KeyError, TypeError):
                continue
    return out


def default_runs_dir(store_dir: Path | str) -> Path:
    """``<data>/runs`` next to ``<data>/audit``."""
    return Path(store_dir).parent / "runs"


def run_dir_of(ref: audit.RunRef, runs_dir: Path | None) -> Path | None:
    return None if runs_dir is None else Path(runs_dir) / audit.safe_run_id(ref.run_id)


def collect_history(
    store_dir: Path | str, runs_dir: Path | str | None = None, *, limit: int = 60
) -> list[RunPoint]:
    """Every finished or running attempt as a :class:`RunPoint`, oldest first (last ``limit``)."""
    runs = Path(runs_dir) if runs_dir else default_runs_dir(store_dir)

    def started(ref: audit.RunRef) -> tuple[str, int]:
        try:
            run = json.loads((ref.path / audit.RUN_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            run = {}
        return (run.get("started_at") or "", ref.attempt)

    # only the newest ``limit`` attempts are read in full (a year of runs stays cheap)
    refs = sorted(audit.list_attempts(store_dir=store_dir), key=started)[-limit:]
    points = []
    for ref in refs:
        data = audit.load_attempt(ref)
        loaded: dict[str, int] = {}
        rejected = 0
        for f in data["input_files"]:
            loaded[f["entity"]] = loaded.get(f["entity"], 0) + int(f["rows_loaded"] or 0)
            rejected += int(f["rows_rejected"] or 0)
        gates = data["gate_results"]
        storage = Path(store_dir).parent / "storage" / "runs" / audit.safe_run_id(ref.run_id)
        durations = task_durations(run_dir_of(ref, runs), (storage / "analytics",))
        total = _seconds(data["run"])
        if total is not None:
            durations["whole run"] = total
        points.append(RunPoint(
            ref=ref, run=data["run"], rows_loaded=loaded, rows_rejected=rejected,
            gate_failed=sum(r["status"] == "failed" for r in gates),
            gate_warnings=sum(r["status"] == "warning" for r in gates),
            durations=durations,
        ))
    return points


def served_run(data_dir: Path | str) -> dict[str, Any] | None:
    """``{"run_id", "ds", "published_at"}`` of the run being served, or None.

    Reads ``<data>/published.json`` (written by the publish step after the atomic replace);
    without it, the newest row of ``meta.publications`` in ``<data>/warehouse.duckdb``
    (opened read-only in a fresh process-level instance and closed again).
    """
    data_dir = Path(data_dir)
    marker = data_dir / "published.json"
    if marker.is_file():
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
            return {k: info.get(k) for k in ("run_id", "ds", "published_at", "served_path")}
        except (OSError, json.JSONDecodeError):
            pass
    served = data_dir / "warehouse.duckdb"
    if not served.is_file():
        return None
    import duckdb

    try:
        con = duckdb.connect(str(served), read_only=True)
    except duckdb.Error:
        return None
    try:
        row = con.execute(
            "select run_id, ds, published_at from meta.publications "
            "order by published_at desc limit 1").fetchone()
    except duckdb.Error:
        row = None
    finally:
        con.close()
    if row is None:
        return None
    return {"run_id": row[0], "ds": str(row[1]), "published_at": str(row[2]),
            "served_path": str(served)}


def failure_reason(data: dict[str, Any], limit: int = 240) -> str | None:
    """One line saying why an attempt failed: failing gates first, then the recorded error."""
    run = data["run"]
    if run.get("status") != "failed":
        return None
    failed = [r for r in data["gate_results"] if r["status"] == "failed"]
    if failed:
        first = failed[0]
        column = f".{first['column']}" if first.get("column") else ""
        more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
        return (f"gate {first['stage']}: {first['table_name']}{column} "
                f"{first['expectation']} failed{more}")
    error = (run.get("error") or "no error recorded").strip().splitlines()[0]
    return error if len(error) <= limit else error[: limit - 1] + "…"
