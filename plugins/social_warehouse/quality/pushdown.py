"""Row-level expectations evaluated by DuckDB: the gate's ``sql`` engine.

A ``rows`` suite used to be validated by reading the table's projected columns into pandas
and letting Great Expectations scan them (at 7M interactions: seconds of Arrow conversion,
gigabytes of RAM, and GX's per-metric passes). Here every row-level expectation of the suite
becomes a pair of SQL conditions on the table, as GX's pandas engine defines them:

* ``missing``: rows the expectation ignores (a null, or a NaN in a floating column, as pandas
  counts NaN as missing; for several columns, ``ignore_row_if``);
* ``unexpected``: non-missing rows that break the rule.

One aggregate scan counts both for all the suite's map expectations; uniqueness is one
``group by`` per key; each expectation with violations then fetches at most
``partial_unexpected_count`` example values (``limit``). Nothing but these counts and examples
leaves DuckDB.

The counts go through GX's own result formatter (``_format_map_output``) and success rule
(``mostly`` over the non-missing rows, vacuously true on no rows), and the suite's result is
stored in the run's GX validation store like :meth:`ValidationDefinition.run` stores it, so
audit rows, messages and Data Docs are what the pandas engine produced, with the same counts
(``tests/unit/test_quality_engines.py`` compares the two engines on every suite).

Expectations that are not row-level (a mean, quantiles, a distribution: *statistical*
rules) are validated by GX on a bounded, seeded reservoir sample of ``gate_sample_rows``
rows; their result carries ``meta.social_warehouse.sample_rows``. A row-level expectation
without a SQL translation here is a named, critical error (never a silent sample): add it to
:data:`SQL_EXPECTATIONS`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..db import quote_ident
from .frames import query_params, sql_value, table_columns

__all__ = ["SQL_EXPECTATIONS", "validate_rows_suite", "validate_metrics_suite",
           "metrics_supported", "DEFAULT_SAMPLE_ROWS"]

DEFAULT_SAMPLE_ROWS = 100_000
_SAMPLE_SEED = 20260101
_FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL", "FLOAT4", "FLOAT8")
_INT_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
              "UINTEGER", "UBIGINT")


@dataclass
class _Check:
    """One expectation as SQL: ``unexpected`` among rows that are not ``missing``."""

    index: int
    unexpected: str | None = None  # boolean SQL over non-missing rows (map checks)
    missing: str | None = None  # boolean SQL; None: no row is ignored
    report_missing: bool = True  # GX reports missing_count (all but not_null)
    group_by: list[str] = field(default_factory=list)  # uniqueness: the key expressions
    values: list[str] = field(default_factory=list)  # example expressions
    names: list[str] = field(default_factory=list)  # their column names (dict examples)
    args: dict[str, Any] = field(default_factory=dict)  # bound parameters
    null_example: Any = None  # how the pandas engine shows a null of this column
    # filled by the queries
    unexpected_count: int = 0
    missing_count: int = 0
    examples: list = field(default_factory=list)
    error: str | None = None


class _Table:
    """Column expressions of one table, typed as the pandas engine reads them."""

    def __init__(self, types: dict[str, str]):
        self.types = {c: t.upper() for c, t in types.items()}

    def expr(self, column: str) -> str:
        dtype = self.types[column]
        ident = quote_ident(column)
        if dtype.startswith("TIMESTAMP") and "TIME ZONE" not in dtype and dtype != "TIMESTAMPTZ":
            return f"timezone('UTC', {ident})"  # naive = UTC (as frames.rows_frame reads it)
        return ident

    def missing(self, column: str) -> str:
        ident = quote_ident(column)
        if self.types[column] in _FLOAT_TYPES:
            return f"({ident} is null or isnan({ident}))"  # pandas: NaN is missing
        return f"({ident} is null)"


def _arg(check: _Check, value: Any) -> str:
    name = f"_sw_{check.index}_{len(check.args)}"
    check.args[name] = sql_value(value)
    return f"${name}"


def _not_null(t: _Table, kw: dict, c: _Check) -> None:
    col = kw["column"]
    c.unexpected, c.report_missing = t.missing(col), False
    c.values, c.names = [t.expr(col)], [col]
    dtype = t.types[col]
    if dtype.startswith("TIMESTAMP"):
        c.null_example = "NaT"  # what pandas holds for a null timestamp
    elif dtype == "VARCHAR" or dtype in _FLOAT_TYPES or dtype in _INT_TYPES:
        c.null_example = float("nan")  # pandas 3 strings and numbers from Arrow: NaN


def _between(t: _Table, kw: dict, c: _Check) -> None:
    col = kw["column"]
    expr, parts = t.expr(col), []
    if kw.get("min_value") is not None:
        op = ">" if kw.get("strict_min") else ">="
        parts.append(f"{expr} {op} {_arg(c, kw['min_value'])}")
    if kw.get("max_value") is not None:
        op = "<" if kw.get("strict_max") else "<="
        parts.append(f"{expr} {op} {_arg(c, kw['max_value'])}")
    if not parts:
        raise ValueError("min_value and max_value cannot both be None")
    c.missing, c.unexpected = t.missing(col), f"not coalesce({' and '.join(parts)}, false)"
    c.values, c.names = [expr], [col]


def _in_set(t: _Table, kw: dict, c: _Check) -> None:
    col = kw["column"]
    values = list(kw.get("value_set") or [])
    c.missing, c.values, c.names = t.missing(col), [t.expr(col)], [col]
    if not values:
        c.unexpected = "true"
        return
    c.unexpected = f"not coalesce(list_contains({_arg(c, values)}, {t.expr(col)}), false)"


def _unique(t: _Table, kw: dict, c: _Check) -> None:
    col = kw["column"]
    c.missing, c.group_by, c.values, c.names = t.missing(col), [t.expr(col)], [t.expr(col)], [col]


def _all_missing(t: _Table, cols: list[str]) -> str:
    return "(" + " and ".join(t.missing(col) for col in cols) + ")"


def _ignore(t: _Table, cols: list[str], rule: str) -> str | None:
    if rule == "all_values_are_missing" or rule == "both_values_are_missing":
        return _all_missing(t, cols)
    if rule == "any_value_is_missing" or rule == "either_value_is_missing":
        return "(" + " or ".join(t.missing(col) for col in cols) + ")"
    if rule == "never" or rule == "neither":
        return None
    raise ValueError(f"unknown ignore_row_if {rule!r}")


def _compound_unique(t: _Table, kw: dict, c: _Check) -> None:
    cols = list(kw["column_list"])
    c.missing = _ignore(t, cols, kw.get("ignore_row_if") or "all_values_are_missing")
    c.group_by = c.values = [t.expr(col) for col in cols]
    c.names = cols


def _unique_within_record(t: _Table, kw: dict, c: _Check) -> None:
    # pandas: nunique(dropna=False, axis=1) >= n, i.e. all values distinct, nulls one value
    cols = list(kw["column_list"])
    c.missing = _ignore(t, cols, kw.get("ignore_row_if") or "all_values_are_missing")
    items = ", ".join(f"{quote_ident(col)}::VARCHAR" for col in cols)
    any_null = " or ".join(t.missing(col) for col in cols)
    c.unexpected = (f"len(list_distinct([{items}])) + (case when {any_null} then 1 else 0 end) "
                    f"< {len(cols)}")
    c.values, c.names = [t.expr(col) for col in cols], cols


def _pair_greater(t: _Table, kw: dict, c: _Check) -> None:
    a, b = kw["column_A"], kw["column_B"]
    op = ">=" if kw.get("or_equal") else ">"
    c.missing = _ignore(t, [a, b], kw.get("ignore_row_if") or "both_values_are_missing")
    c.unexpected = f"not coalesce({t.expr(a)} {op} {t.expr(b)}, false)"
    c.values, c.names = [t.expr(a), t.expr(b)], [a, b]


#: Row-level expectation types evaluated in DuckDB, and how.
SQL_EXPECTATIONS: dict[str, Callable[[_Table, dict, _Check], None]] = {
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_between": _between,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_be_unique": _unique,
    "expect_compound_columns_to_be_unique": _compound_unique,
    "expect_select_column_values_to_be_unique_within_record": _unique_within_record,
    "expect_column_pair_values_a_to_be_greater_than_b": _pair_greater,
}
_TABLE_LEVEL = {"expect_table_columns_to_match_set"}


def _columns_of(kwargs: dict) -> list[str]:
    cols = [kwargs[k] for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)]
    if isinstance(kwargs.get("column_list"), list):
        cols += list(kwargs["column_list"])
    return cols


def _is_row_level(expectation_type: str) -> bool:
    """GX map expectations (a verdict per row) must not be sampled."""
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )
    from great_expectations.expectations.registry import get_expectation_impl

    try:
        impl = get_expectation_impl(expectation_type)
    except Exception:  # noqa: BLE001 - an unknown type: GX reports it when sampled
        return False
    return issubclass(impl, ColumnMapExpectation | ColumnPairMapExpectation
                      | MulticolumnMapExpectation)


def _scan(con, source: str, where_sql: str, where_args: dict, checks: list[_Check]) -> int:
    """Counts of every map check in one pass; returns the row count."""
    selects, args = ["count(*)"], dict(where_args)
    maps = [c for c in checks if c.unexpected is not None]
    for c in maps:
        miss = c.missing or "false"
        selects.append(f"count(*) filter (where {miss})")
        selects.append(f"count(*) filter (where not {miss} and ({c.unexpected}))")
        args.update(c.args)
    row = con.execute(f"select {', '.join(selects)} from {source}{where_sql}", args).fetchall()[0]
    for i, c in enumerate(maps):
        c.missing_count, c.unexpected_count = int(row[1 + 2 * i]), int(row[2 + 2 * i])
    return int(row[0])


def _scan_each(con, source: str, where_sql: str, where_args: dict,
               checks: list[_Check]) -> int:
    """Fallback when the combined scan fails: one query per check, errors kept per check."""
    sql = f"select count(*) from {source}{where_sql}"
    total = int(con.execute(sql, where_args).fetchall()[0][0])
    for c in checks:
        if c.unexpected is None:
            continue
        try:
            _scan(con, source, where_sql, where_args, [c])
        except Exception as exc:  # noqa: BLE001 - becomes this expectation's exception
            c.error = f"{type(exc).__name__}: {exc}"
    return total


def _duplicates(con, source: str, where_sql: str, where_args: dict, c: _Check,
                limit: int) -> None:
    keys = ", ".join(c.group_by)
    cond = f"not {c.missing}" if c.missing else "true"
    glue = " and " if where_sql else " where "
    dups = (f"select {keys}, count(*) as _n from {source}{where_sql}{glue}{cond} "
            f"group by all having count(*) > 1")
    c.unexpected_count = int(con.execute(
        f"select coalesce(sum(_n), 0) from ({dups})", where_args).fetchall()[0][0])
    c.missing_count = int(con.execute(
        f"select count(*) from {source}{where_sql}{glue}{c.missing or 'false'}",
        where_args).fetchall()[0][0])
    if c.unexpected_count and limit:
        rows = con.execute(f"select * from ({dups}) order by _n desc, 1 limit {limit}",
                           where_args).fetchall()
        examples: list = []
        for *values, n in rows:
            examples += [_example(c, values)] * min(int(n), limit - len(examples))
            if len(examples) >= limit:
                break
        c.examples = examples


def _example(c: _Check, values: list) -> Any:
    values = [c.null_example if v is None else _plain(v) for v in values]
    if len(c.names) == 1:
        return values[0]
    return dict(zip(c.names, values, strict=True))


def _plain(value: Any) -> Any:
    if isinstance(value, _dt.datetime) and value.tzinfo is not None:
        import pandas as pd

        return pd.Timestamp(value).tz_convert("UTC")  # as the pandas engine shows it
    return value


def _fetch_examples(con, source: str, where_sql: str, where_args: dict, c: _Check,
                    limit: int) -> None:
    miss = f"not {c.missing} and " if c.missing else ""
    glue = " and " if where_sql else " where "
    sql = (f"select {', '.join(c.values)} from {source}{where_sql}{glue}"
           f"{miss}({c.unexpected}) limit {limit}")
    c.examples = [_example(c, list(r)) for r in con.execute(sql, {**where_args, **c.args})
                  .fetchall()]


def _success(total: int, nonmissing: int, unexpected: int, mostly: float | None,
             report_missing: bool) -> bool:
    mostly = 1.0 if mostly is None else float(mostly)
    considered = nonmissing if report_missing else total
    if total == 0 or considered == 0:
        return True  # vacuously true, as in GX
    return (considered - unexpected) / considered >= mostly


def _exception_info(message: str) -> dict:
    return {"raised_exception": True, "exception_message": message,
            "exception_traceback": None}


def _ok_info() -> dict:
    return {"raised_exception": False, "exception_message": None, "exception_traceback": None}


def validate_rows_suite(con, context, vd, spec, params: dict, result_format: dict,
                        run_identifier, checkpoint_id: str | None):
    """Validate ``spec`` (a ``rows`` suite) in DuckDB; store and return GX's suite result.

    Returns ``(validation, missing_columns)`` like the pandas engine's ``vd.run`` plus
    :func:`.frames.rows_frame`'s missing columns.
    """
    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult,
    )
    from great_expectations.expectations.expectation import _format_map_output
    from great_expectations.expectations.expectation_configuration import parse_result_format

    from .gx_project import DATASOURCE

    fmt = parse_result_format(result_format)
    limit = int(fmt.get("partial_unexpected_count", 20))
    schema, name = spec.table.split(".", 1)
    table = _Table(table_columns(con, schema, name))
    source = f"{quote_ident(schema)}.{quote_ident(name)}"
    where_sql, where_args = "", {}
    if spec.where:
        where_sql, where_args = f" where ({spec.where})", query_params(spec.where, params)
    batch_id = f"{DATASOURCE}-{spec.name}"

    configs = []
    for cfg in vd.suite.expectation_configurations:
        cfg.process_suite_parameters(suite_parameters=params, interactive_evaluation=True,
                                     data_context=context)
        try:  # GX's model coerces the values (e.g. an int bound to float), as in a GX run
            configs.append(cfg.to_domain_obj().configuration)
        except Exception:  # noqa: BLE001 - an invalid config errors below, by expectation
            configs.append(cfg)
    missing_cols = [c for c in spec.columns if c not in table.types]
    checks: dict[int, _Check] = {}
    sampled: list[int] = []
    errors: dict[int, str] = {}
    for i, cfg in enumerate(configs):
        kwargs = dict(cfg.kwargs)
        absent = [c for c in _columns_of(kwargs) if c not in table.types]
        if cfg.type in _TABLE_LEVEL:
            continue
        if absent:
            errors[i] = f'Error: The column "{absent[0]}" in BatchData does not exist.'
        elif cfg.type in SQL_EXPECTATIONS:
            check = _Check(index=i)
            try:
                SQL_EXPECTATIONS[cfg.type](table, kwargs, check)
                checks[i] = check
            except (KeyError, ValueError, TypeError) as exc:
                errors[i] = f"{type(exc).__name__}: {exc}"
        elif _is_row_level(cfg.type):
            errors[i] = (f"{cfg.type} is a row-level expectation without a DuckDB translation "
                         f"(social_warehouse.quality.pushdown.SQL_EXPECTATIONS: "
                         f"{sorted(SQL_EXPECTATIONS)}); it is not validated on a sample")
        else:
            sampled.append(i)

    map_checks = [c for c in checks.values() if not c.group_by]
    try:
        total = _scan(con, source, where_sql, where_args, map_checks)
    except Exception:  # noqa: BLE001 - find which check fails, keep the others
        total = _scan_each(con, source, where_sql, where_args, map_checks)
    for c in checks.values():
        if c.error:
            continue
        try:
            if c.group_by:
                _duplicates(con, source, where_sql, where_args, c, limit)
            elif c.unexpected_count and limit:
                _fetch_examples(con, source, where_sql, where_args, c, limit)
        except Exception as exc:  # noqa: BLE001
            c.error = f"{type(exc).__name__}: {exc}"

    sample_results = _sampled_results(con, vd, spec, configs, sampled, table, source,
                                      where_sql, where_args, params, result_format)

    results = []
    for i, cfg in enumerate(configs):
        cfg.kwargs["batch_id"] = batch_id
        if i in sample_results:
            results.append(sample_results[i])
            continue
        if cfg.type in _TABLE_LEVEL:
            result = _table_columns_result(cfg.kwargs, table, spec.columns)
            success, info = result.pop("success"), _ok_info()
        elif message := errors.get(i) or (checks[i].error if i in checks else None):
            result, success, info = {}, False, _exception_info(message)
        else:
            c = checks[i]
            nonmissing = total - c.missing_count
            success = _success(total, nonmissing, c.unexpected_count, cfg.kwargs.get("mostly"),
                               c.report_missing)
            formatted = _format_map_output(
                result_format=fmt,
                success=success,
                element_count=total,
                nonnull_count=nonmissing if c.report_missing else None,
                unexpected_count=c.unexpected_count,
                unexpected_list=c.examples,
                unexpected_index_list=[],
            )
            result, info = formatted.get("result", {}), _ok_info()
        results.append(ExpectationValidationResult(
            success=success, expectation_config=cfg, result=result, exception_info=info))

    validation = _store(context, vd, spec, results, run_identifier, checkpoint_id,
                        {"engine": "sql", "rows": total,
                         "sample_rows": _sample_size(params) if sampled else None})
    return validation, missing_cols


def _store(context, vd, spec, results: list, run_identifier, checkpoint_id: str | None,
           extra: dict):
    """Wrap ``results`` as GX's suite result and store it as ``ValidationDefinition.run`` does."""
    from great_expectations import __version__ as gx_version
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
    )
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.validator.validation_statistics import calc_validation_statistics

    from .gx_project import DATASOURCE

    batch_id = f"{DATASOURCE}-{spec.name}"
    stats = calc_validation_statistics(results)
    now = _dt.datetime.now(_dt.UTC)
    validation = ExpectationSuiteValidationResult(
        results=results,
        success=stats.success,
        suite_name=vd.suite.name,
        statistics={
            "evaluated_expectations": stats.evaluated_expectations,
            "successful_expectations": stats.successful_expectations,
            "unsuccessful_expectations": stats.unsuccessful_expectations,
            "success_percent": stats.success_percent,
        },
        meta={
            "great_expectations_version": gx_version,
            "batch_spec": {"batch_data": "DuckDB", "table": spec.table, "where": spec.where},
            "batch_markers": {"ge_load_time": now.strftime("%Y%m%dT%H%M%S.%fZ")},
            "active_batch_definition": {
                "datasource_name": DATASOURCE,
                "data_connector_name": "fluent",
                "data_asset_name": spec.name,
                "batch_identifiers": {"table": spec.table},
            },
            "social_warehouse": extra,
            "validation_id": vd.id,
            "checkpoint_id": checkpoint_id,
            "run_id": run_identifier,
            "validation_time": run_identifier.run_time,
            "batch_parameters": None,
        },
        batch_id=batch_id,
    )
    suite_id = ExpectationSuiteIdentifier(name=vd.suite.name)
    context.validation_results_store.store_validation_results(
        suite_validation_result=validation,
        suite_validation_result_identifier=ValidationResultIdentifier(
            batch_identifier=batch_id, expectation_suite_identifier=suite_id,
            run_id=run_identifier),
        expectation_suite_identifier=suite_id,
    )
    return validation


#: Metric checks evaluated without GX's validator: the max of a one-row frame is the metric.
METRIC_EXPECTATIONS = ("expect_column_max_to_be_between",)


def metrics_supported(spec, values: dict) -> bool:
    """A metrics suite the SQL engine validates itself: only ``expect_column_max_to_be_between``
    on numeric (or null) metrics; anything else goes through GX on the one-row frame."""
    if any(e.get("type") not in METRIC_EXPECTATIONS for e in spec.expectations):
        return False
    return all(v is None or (isinstance(v, int | float) and not isinstance(v, bool))
               for v in values.values())


def validate_metrics_suite(context, vd, spec, values: dict, params: dict, run_identifier,
                           checkpoint_id: str | None):
    """GX's rule for ``expect_column_max_to_be_between`` on the one-row metrics frame
    (``_validate_metric_value_between``: a null/NaN metric fails, bounds inclusive unless
    ``strict_*``), stored as GX's validation result."""
    import math

    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult,
    )

    from .gx_project import DATASOURCE

    results = []
    for cfg in vd.suite.expectation_configurations:
        cfg.process_suite_parameters(suite_parameters=params, interactive_evaluation=True,
                                     data_context=context)
        try:
            cfg = cfg.to_domain_obj().configuration
        except Exception:  # noqa: BLE001 - kept as written; errors below name it
            pass
        kw = cfg.kwargs
        kw["batch_id"] = f"{DATASOURCE}-{spec.name}"
        column = kw.get("column")
        info, result = _ok_info(), {}
        if column not in values:
            success = False
            info = _exception_info(f'Error: The column "{column}" in BatchData does not exist.')
        else:
            value = values[column]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                success, result = False, {"observed_value": None}
            else:
                lo, hi = kw.get("min_value"), kw.get("max_value")
                above = lo is None or (value > lo if kw.get("strict_min") else value >= lo)
                below = hi is None or (value < hi if kw.get("strict_max") else value <= hi)
                success, result = bool(above and below), {"observed_value": value}
        results.append(ExpectationValidationResult(
            success=success, expectation_config=cfg, result=result, exception_info=info))
    return _store(context, vd, spec, results, run_identifier, checkpoint_id,
                  {"engine": "sql", "kind": "metrics"})


def _table_columns_result(kwargs: dict, table: _Table, projection: list[str]) -> dict:
    """``expect_table_columns_to_match_set`` (GX's rule) on the columns the pandas engine
    reads: the suite's projection, i.e. the columns its expectations name that exist."""
    actual = [c for c in projection if c in table.types]
    expected = list(kwargs.get("column_set") or [])
    exact = kwargs.get("exact_match", True)
    exact = True if exact is None else exact
    unexpected = [c for c in actual if c not in expected]
    missing = [c for c in expected if c not in actual]
    success = not missing and (not exact or not unexpected)
    mismatched = {}
    if unexpected:
        mismatched["unexpected"] = unexpected
    if missing:
        mismatched["missing"] = missing
    result: dict = {"success": success, "observed_value": sorted(actual)}
    if mismatched:
        result["details"] = {"mismatched": mismatched}
    return result


def _sample_size(params: dict) -> int:
    return int(params.get("gate_sample_rows") or DEFAULT_SAMPLE_ROWS)


def _sampled_results(con, vd, spec, configs, indexes: list[int], table: _Table, source: str,
                     where_sql: str, where_args: dict, params: dict,
                     result_format: dict) -> dict:
    """Statistical expectations validated by GX on a seeded reservoir sample."""
    if not indexes:
        return {}
    from great_expectations.validator.v1_validator import Validator

    n = _sample_size(params)
    cols = []
    for i in indexes:
        cols += [c for c in _columns_of(dict(configs[i].kwargs)) if c not in cols]
    select = ", ".join(f"{table.expr(c)} as {quote_ident(c)}" for c in cols) or "1 as _row"
    sql = (f"select * from (select {select} from {source}{where_sql}) "
           f"using sample reservoir({n} rows) repeatable ({_SAMPLE_SEED})")
    # a complete result (DuckDB refuses a relation while an execute() result is unfinished)
    frame = con.execute(sql, where_args).to_arrow_table().to_pandas()
    validator = Validator(batch_definition=vd.batch_definition,
                          batch_parameters={"dataframe": frame}, result_format=result_format)
    out = {}
    expectations = vd.suite.expectations
    for i in indexes:
        res = validator.validate_expectation(expectations[i], params)
        res.meta = {**(res.meta or {}),
                    "social_warehouse": {"sample_rows": len(frame), "sample_limit": n}}
        out[i] = res
    return out
