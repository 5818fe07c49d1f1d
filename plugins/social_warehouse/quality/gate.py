"""``run_gate``: validate one stage of the build warehouse with its GX checkpoint.

For every validation definition of the checkpoint ``social_warehouse_daily__<stage>``:

1. ``kind: rows`` suites run inside DuckDB (read-only connection, closed before returning):
   each row-level expectation is a SQL aggregate (violation counts + a few examples, see
   :mod:`.pushdown`), whose result is stored as GX's validation result; with
   ``engine="pandas"`` the projected rows are read into pandas and GX scans them instead;
2. ``kind: metrics`` suites: a one-row frame of SQL metrics (see :mod:`.metrics`), which the
   validation definition validates with the suite's parameters (``thresholds.yml`` +
   run-time values such as ``max_timestamp``);
3. each expectation becomes a result row: critical failures fail the gate, failures of
   ``severity: warning`` (e.g. a ``mostly`` under a soft threshold) are warnings.

Then the run's Data Docs are rebuilt and made to work offline, the rows are recorded in the
audit store, and :class:`GateFailed` is raised if anything critical failed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from ..ingest import declared_time_window
from .docs import install_severity_icons, mark_warning_suites, warning_only_validations
from .frames import rows_frame, source_locations, table_exists
from .gx_project import checkpoint_name, get_context, prepare_run_project, sync_context
from .metrics import build_metrics
from .pushdown import metrics_supported, validate_metrics_suite, validate_rows_suite
from .result import GateFailed, GateResult, format_value, result_row
from .specs import SuiteSpec, load_suite_specs
from .thresholds import QualityConfigError, load_thresholds

__all__ = ["run_gate", "runtime_parameters", "allowed_event_types", "STAGES"]

log = logging.getLogger(__name__)

#: Stages gated today; analytics and marts get suites (and so a gate) by adding suite JSON.
STAGES = ("raw", "staging", "core", "analytics", "marts")
#: Engines for ``rows`` suites (see :func:`run_gate`); ``$SW_GATE_ENGINE`` picks the default.
ENGINES = ("sql", "pandas")
ENGINE_ENV_VAR = "SW_GATE_ENGINE"
_SKIP_KWARGS = {"column", "column_list", "result_format", "catch_exceptions", "meta", "batch_id"}


def _as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


@contextmanager
def _database(db) -> Iterator:
    """A read-only connection to ``db`` (a path), or ``db`` itself if it is a connection."""
    if hasattr(db, "execute"):
        yield db
        return
    import duckdb

    if not Path(db).is_file():
        raise FileNotFoundError(f"warehouse file {db} does not exist")
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


def allowed_event_types(con, ds: date) -> list[str]:
    """Event types allowed for ``ds``: the contract's plus those in ``raw.event_types``."""
    from ..contract import EVENT_TYPES

    allowed = set(EVENT_TYPES)
    if table_exists(con, "raw.event_types"):
        cols = {r[0] for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'raw' and table_name = 'event_types'").fetchall()}
        rows = []
        if "ds" in cols:
            rows = con.execute(
                "select distinct event_type from raw.event_types where ds = ?", [ds]
            ).fetchall()
        if not rows:
            rows = con.execute("select distinct event_type from raw.event_types").fetchall()
        allowed |= {r[0] for r in rows if r[0] is not None}
    return sorted(allowed)


def runtime_parameters(ds: date, params: dict[str, Any], event_types: list[str]) -> dict[str, Any]:
    """Parameters the gate computes from the run: the time window and the allowed event types.

    ``max_timestamp`` is the end of the logical date plus ``future_tolerance_hours``, never
    the wall clock, so a backfill of last year's partition is judged by last year's date.
    """
    import pandas as pd

    start = params.get("platform_start_date", "2006-01-01")
    tolerance = float(params.get("future_tolerance_hours", 0) or 0)
    end = datetime(ds.year, ds.month, ds.day, tzinfo=UTC) + timedelta(days=1)
    return {
        "ds": ds,
        "min_timestamp": pd.Timestamp(str(start), tz="UTC"),
        "max_timestamp": pd.Timestamp(end + timedelta(hours=tolerance)),
        "allowed_event_types": sorted(
            set(event_types) | set(params.get("extra_event_types") or [])
        ),
    }


def _stage_specs(gx_dir: Path, stage: str, thresholds) -> dict[str, SuiteSpec]:
    """The stage's suites, after checking that the thresholds define all their parameters."""
    stage_specs = {n: s for n, s in load_suite_specs(gx_dir).items() if s.stage == stage}
    if not stage_specs:
        raise QualityConfigError(f"no suites for stage {stage!r} under {gx_dir / 'expectations'}")
    for spec in stage_specs.values():
        wanted = spec.parameters - {"ds", "min_timestamp", "max_timestamp", "allowed_event_types"}
        missing = sorted(wanted - set(thresholds.for_suite(spec)))
        if missing:
            raise QualityConfigError(
                f"suite {spec.name} uses parameter(s) {missing} that {thresholds.path} "
                f"does not define (defaults/stages/tables/suites)"
            )
    return stage_specs


def _column_of(kwargs: dict) -> str | None:
    if kwargs.get("column"):
        return kwargs["column"]
    if kwargs.get("column_list"):
        return ",".join(kwargs["column_list"])
    if kwargs.get("column_A"):
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    return None


def _kwargs_text(kwargs: dict) -> str:
    parts = []
    for key, value in kwargs.items():
        if key in _SKIP_KWARGS or key.startswith("column_") or value is None:
            continue
        if key == "mostly" and value == 1:
            continue
        if isinstance(value, list) and len(value) > 8:
            value = value[:8] + ["..."]
        parts.append(f"{key}={format_value(value)}")
    return ", ".join(parts)


def _exception_text(info) -> str | None:
    if not info:
        return None
    if isinstance(info, dict) and "raised_exception" in info:
        infos = [info]
    elif isinstance(info, dict):
        infos = [v for v in info.values() if isinstance(v, dict)]
    else:
        infos = [getattr(info, "__dict__", {})]
    messages = [i.get("exception_message") for i in infos if i.get("raised_exception")]
    return "; ".join(m for m in messages if m)[:500] or None


def _examples(values) -> list:
    out: list = []
    for value in values or []:
        value = value if isinstance(value, str | int | float | bool | dict) else str(value)
        if value not in out:
            out.append(value)
        if len(out) == 5:
            break
    return out


def _rows_from_validation(validation, spec: SuiteSpec, base: dict, frame, examples, missing):
    rows = []
    for res in validation.results:
        config = res.expectation_config
        kwargs = dict(config.kwargs)
        column = _column_of(kwargs)
        result = res.result or {}
        severity = getattr(config.severity, "value", str(config.severity))
        exception = _exception_text(res.exception_info)
        if exception is None and column and any(c in missing for c in column.split(",")):
            exception = f"column {column!r} is missing from {spec.table}"
        observed: Any = result.get("observed_value")
        if spec.kind == "metrics" and column in (frame.columns if frame is not None else []):
            observed = frame[column].iloc[0]
            observed = None if observed != observed else observed  # NaN -> null
        if observed is not None or spec.kind == "metrics":
            observed_text = format_value(observed)
        elif result.get("unexpected_count") is not None:
            observed_text = (
                f"{result['unexpected_count']} unexpected of {result.get('element_count')} rows "
                f"({format_value(result.get('unexpected_percent') or 0.0, 4)}%)"
            )
        elif exception:
            observed_text = "error"
        else:
            observed_text = "null"
        if spec.kind == "metrics" and column in examples:
            sample = examples[column]
        else:
            sample = _examples(result.get("partial_unexpected_list"))
        if res.success:
            status = "passed"
        else:
            status = "failed" if severity == "critical" else "warning"
        rows.append(result_row(
            **base,
            suite=spec.name,
            table_name=spec.table,
            expectation=config.type,
            column=column,
            kwargs=_kwargs_text(kwargs),
            success=bool(res.success),
            severity=severity,
            status=status,
            observed_value=observed_text,
            unexpected_count=result.get("unexpected_count"),
            unexpected_percent=result.get("unexpected_percent"),
            unexpected_examples=json.dumps(sample if not res.success else [], default=str),
            exception=exception,
        ))
    return rows


def _add_source_locations(con, spec: SuiteSpec, params: dict, rows: list[dict]) -> None:
    """Failed row checks on lineage tables name the file and row of their examples."""
    for row in rows:
        column = row.get("column")
        if row["success"] or not column or "," in column:
            continue
        examples = json.loads(row["unexpected_examples"] or "[]")
        if not examples and not row.get("unexpected_count"):
            continue
        try:
            # no examples but unexpected rows: a not-null check, whose examples are nulls
            locations = source_locations(con, spec.table, column, examples or [None],
                                         spec.where, params)
        except Exception:  # noqa: BLE001 - a location is a courtesy, never a gate error
            continue
        if locations:
            row["unexpected_examples"] = json.dumps(
                [*examples, *(f"at {loc}" for loc in locations)], default=str)


def _error_row(spec: SuiteSpec, base: dict, step: str, exc: BaseException) -> dict:
    """A critical failure for a batch that could not be read or validated at all."""
    return result_row(
        **base,
        suite=spec.name,
        table_name=spec.table,
        expectation=step,
        column=None,
        kwargs="",
        success=False,
        severity="critical",
        status="failed",
        observed_value="error",
        unexpected_count=None,
        unexpected_percent=None,
        unexpected_examples="[]",
        exception=f"{type(exc).__name__}: {exc}"[:500],
    )


def _missing_table_row(spec: SuiteSpec, base: dict) -> dict:
    skipped = spec.optional
    return result_row(
        **base,
        suite=spec.name,
        table_name=spec.table,
        expectation="table_exists",
        column=None,
        kwargs="",
        success=skipped,
        severity="info" if skipped else "critical",
        status="skipped" if skipped else "failed",
        observed_value="missing",
        unexpected_count=None,
        unexpected_percent=None,
        unexpected_examples=json.dumps([spec.table]),
        exception=None if skipped else f"table {spec.table} does not exist",
    )


def _docs_resources(context, docs_dir: Path, stage_specs: dict[str, SuiteSpec]) -> list | None:
    """What a docs build renders: everything the first time in ``docs_dir`` (so every link of
    the index works), then only this stage's suites and validations (+ the index): the pages
    of the stages validated before are on disk already and do not change."""
    if not (docs_dir / "index.html").is_file():
        return None
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    keys: list = [ExpectationSuiteIdentifier(name=name) for name in stage_specs]
    keys += [key for key in context.validation_results_store.list_keys()
             if key.expectation_suite_identifier.name in stage_specs]
    return keys


def run_gate(
    stage: str,
    db_path,
    *,
    ds,
    run_id: str,
    config_path: Path | str | None = None,
    overlay_path: Path | str | None = None,
    docs_dir: Path | None = None,
    data_dir: Path | None = None,
    expectations_dir: Path | None = None,
    record: bool = True,
    build_docs: bool = True,
    engine: str | None = None,
) -> GateResult:
    """Validate ``stage`` of the warehouse at ``db_path`` for the partition ``ds``.

    Parameters
    ----------
    stage
        ``raw``, ``staging``, ``core`` (or any stage that has suites).
    db_path
        The build DuckDB file; opened read-only and closed before returning. An open DuckDB
        connection is accepted too (then it is used as is and left open).
    ds, run_id
        The run's logical date (partition) and Airflow ``run_id``. Time checks are relative
        to ``ds`` (end of day + tolerance), never to the wall clock, so backfills work.
    overlay_path
        A thresholds file whose values override ``config_path``'s (e.g. a source's own
        platform start date); default ``$SW_QUALITY_OVERLAY``.
    config_path
        Thresholds file; default ``$SW_QUALITY_THRESHOLDS`` or ``expectations/thresholds.yml``.
    docs_dir
        Where the run's Data Docs go; default ``<data_dir>/reports/<run>/attempt-<n>/data_docs``.
    data_dir, expectations_dir
        Default from :func:`social_warehouse.config.get_settings`.
    record
        Write the result rows to the audit store (``<data_dir>/audit``) before returning or
        raising. ``record=False`` (tests) keeps nothing unless ``docs_dir`` is given.
    engine
        How ``rows`` suites are evaluated: ``"sql"`` (default, or ``$SW_GATE_ENGINE``) runs
        each row-level expectation as a DuckDB aggregate (violation counts + a few
        examples, see :mod:`.pushdown`) and checks the one-row metrics of ``metrics`` suites
        with GX's rule itself; ``"pandas"`` reads the projected table into pandas and lets
        GX scan it and the metrics frame (the reference the tests compare ``sql`` with).

    Returns
    -------
    GateResult
        When no critical expectation failed (warnings may be present).

    Raises
    ------
    GateFailed
        When a critical expectation failed; its message names the stage, table, column,
        expectation, observed value and a few unexpected examples; ``.result`` has all rows.
    QualityConfigError
        When suites or thresholds are inconsistent (a parameter missing, no suite for stage).
    """
    from .. import audit
    from ..config import get_settings

    t0 = time.perf_counter()
    engine = engine or os.environ.get(ENGINE_ENV_VAR) or "sql"
    if engine not in ENGINES:
        raise QualityConfigError(f"gate engine {engine!r} is not one of {list(ENGINES)}")
    settings = get_settings()
    data_dir = Path(data_dir) if data_dir else settings.data_dir
    expectations_dir = Path(expectations_dir) if expectations_dir else settings.expectations_dir
    ds = _as_date(ds)
    thresholds = load_thresholds(config_path, expectations_dir=expectations_dir,
                                 overlay=overlay_path)
    _stage_specs(expectations_dir / "gx", stage, thresholds)  # fail fast, before any write

    import tempfile

    tmp = None
    if record:
        store_dir = data_dir / "audit"
        ref = audit.current_run(run_id, store_dir=store_dir, create=True, logical_date=ds)
        work_dir = ref.path / "gx"
        docs_dir = Path(docs_dir) if docs_dir else audit.report_dir(ref, data_dir / "reports") / (
            "data_docs")
    else:
        tmp = tempfile.TemporaryDirectory(prefix="sw_gate_")
        work_dir = Path(tmp.name) / "gx"
        if docs_dir is None:
            build_docs = False
            docs_dir = Path(tmp.name) / "data_docs"
    timings = {"prepare": 0.0, "read": 0.0, "validate": 0.0, "docs": 0.0, "record": 0.0}
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[phase] += now - clock
        clock = now

    try:
        prepare_run_project(expectations_dir, work_dir, Path(docs_dir))
        shutil.copy2(thresholds.path, work_dir / f"thresholds.{stage}.yml")
        # the run's copy of the suites is what GX validates, so plan from the same copy
        stage_specs = _stage_specs(work_dir / "gx", stage, thresholds)
        context = get_context(work_dir)
        sync_context(context, load_suite_specs(work_dir / "gx"), stages=[stage])
        checkpoint = context.checkpoints.get(checkpoint_name(stage))
        from great_expectations.core.run_identifier import RunIdentifier

        run_identifier = RunIdentifier(run_name=run_id, run_time=datetime.now(UTC))
        result_format = checkpoint.result_format or {"result_format": "SUMMARY"}
        base = {"run_id": run_id, "ds": ds, "stage": stage}
        rows: list[dict] = []
        lap("prepare")
        with _database(db_path) as con:
            event_types = allowed_event_types(con, ds)
            # a source mapping's declared export time range replaces platform_start_date
            declared = declared_time_window(con, ds)
            for vd in checkpoint.validation_definitions:
                spec = stage_specs[vd.suite.name]
                params = thresholds.for_suite(spec)
                params.update(runtime_parameters(ds, params, event_types))
                params.update(declared)
                if not table_exists(con, spec.table):
                    rows.append(_missing_table_row(spec, base))
                    continue
                examples: dict = {}
                missing: list[str] = []
                frame = None
                if spec.kind == "rows" and engine == "sql":
                    try:
                        validation, missing = validate_rows_suite(
                            con, context, vd, spec, params, result_format, run_identifier,
                            checkpoint.id)
                        new_rows = _rows_from_validation(
                            validation, spec, base, None, examples, missing)
                        _add_source_locations(con, spec, params, new_rows)
                        rows.extend(new_rows)
                    except Exception as exc:  # noqa: BLE001 - a named, recorded failure
                        rows.append(_error_row(spec, base, "validate_batch", exc))
                    finally:
                        lap("validate")
                    continue
                try:
                    if spec.kind == "metrics":
                        metrics = build_metrics(con, spec.table, spec.metrics, params)
                        frame, examples = metrics.to_pandas(), metrics.examples
                    else:
                        frame, missing = rows_frame(
                            con, spec.table, spec.columns, spec.where, params)
                except Exception as exc:  # noqa: BLE001 - becomes a named, recorded failure
                    rows.append(_error_row(spec, base, "read_batch", exc))
                    continue
                finally:
                    lap("read")
                try:
                    if (engine == "sql" and spec.kind == "metrics"
                            and metrics_supported(spec, metrics.values)):
                        validation = validate_metrics_suite(
                            context, vd, spec, metrics.values, params, run_identifier,
                            checkpoint.id)
                    else:
                        validation = vd.run(
                            checkpoint_id=checkpoint.id,
                            batch_parameters={"dataframe": frame},
                            expectation_parameters=params,
                            result_format=result_format,
                            run_id=run_identifier,
                        )
                    new_rows = _rows_from_validation(
                        validation, spec, base, frame, examples, missing)
                    if spec.kind == "rows":
                        _add_source_locations(con, spec, params, new_rows)
                    rows.extend(new_rows)
                except Exception as exc:  # noqa: BLE001
                    rows.append(_error_row(spec, base, "validate_batch", exc))
                finally:
                    del frame
                    lap("validate")
        docs_index = None
        if build_docs:
            from ..reporting.offline import make_offline

            try:
                # the build re-renders the pages of every stage validated so far
                install_severity_icons({e["type"] for spec in load_suite_specs(
                    work_dir / "gx").values() for e in spec.expectations})
                context.build_data_docs(resource_identifiers=_docs_resources(
                    context, Path(docs_dir), stage_specs))
                mark_warning_suites(Path(docs_dir), warning_only_validations(
                    work_dir / "gx" / "uncommitted" / "validations"))
                make_offline(Path(docs_dir))
                docs_index = Path(docs_dir) / "index.html"
            except Exception:  # noqa: BLE001 - reports must not mask the gate's outcome
                log.warning("Data Docs of run %s could not be built", run_id, exc_info=True)
            lap("docs")
        result = GateResult(
            stage=stage,
            run_id=run_id,
            ds=ds,
            checkpoint=checkpoint.name,
            rows=rows,
            docs_index=docs_index,
            thresholds_path=thresholds.path,
            timings=timings,
        )
        if record:
            audit.record_gate(run_id, result, store_dir=data_dir / "audit")
            lap("record")
        result.seconds = time.perf_counter() - t0
    finally:
        if tmp is not None:
            tmp.cleanup()
    if not result.success:
        raise GateFailed(result)
    return result
