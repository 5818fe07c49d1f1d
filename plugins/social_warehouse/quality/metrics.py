"""Derived checks computed in SQL into a one-row metrics DataFrame.

Design: a check that is not a property of single rows (reject rate, volume against the
trailing median, referential-integrity share, follower counts against the edges) is computed
here by DuckDB, where it is one cheap aggregate, into one row of named metrics. A
``<table>__metrics`` suite then validates that row with ordinary expectations
(``expect_column_max_to_be_between(column="reject_rate", max_value={"$PARAMETER": ...})``;
the max of a one-row frame is the metric, so Data Docs print the metric as the observed
value). The thresholds live in the suite and ``thresholds.yml`` like every other check, the
result shows in Data Docs and in ``audit.gate_results``, and GX never scans a million rows
to find a ratio.

Metrics are never null, so that a check either passes or fails: a rate over no rows is 0,
a share over no rows is 1, and ``volume_ratio`` is 1 when there is no baseline yet (fewer
than ``volume_min_history_days`` earlier partitions; ``history_days`` tells). Each metric
may also return ``examples``: a short list of offending values (orphan ids, top reject
reasons, users whose counts disagree) that the gate prints next to a failure.

A metrics suite lists its metrics in ``meta.social_warehouse.metrics``; every entry has a
``metric`` kind (the functions below) and kind-specific options. Options may be parameters
(``{"$PARAMETER": "follower_tolerance_abs"}``), resolved from the thresholds.

=====================  ==================================================================
kind                   columns produced
=====================  ==================================================================
``schema``             ``missing_required_columns``, ``type_mismatches`` (counts)
``reject_rate``        ``rows_loaded``, ``rows_rejected``, ``reject_rate``, ``unaccounted_rows``
``volume``             ``row_count``, ``trailing_median_rows``, ``history_days``, ``volume_ratio``
``referential_share``  ``<name>`` (share of child rows whose key exists in the parent),
                       ``<name>_orphans``
``count_consistency``  ``<name>`` (share of parents whose count column matches the edges)
``row_count``          ``<name>`` (default ``row_count``)
``sql``                ``<name>``: the single value of a custom query
=====================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..db import quote_ident
from .frames import query_params, table_columns, table_exists

__all__ = ["MetricsFrame", "build_metrics", "METRIC_KINDS", "CONTRACT_SQL_TYPES"]

#: Logical contract types -> DuckDB types of the raw layer.
CONTRACT_SQL_TYPES = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "timestamp": "TIMESTAMP",
    "bool": "BOOLEAN",
}
_EXAMPLES = 5


@dataclass
class MetricsFrame:
    values: dict[str, Any] = field(default_factory=dict)
    examples: dict[str, list] = field(default_factory=dict)

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame([self.values])


def _resolve(value, params: dict):
    if isinstance(value, dict) and set(value) == {"$PARAMETER"}:
        name = value["$PARAMETER"]
        if name not in params:
            raise KeyError(f"parameter {name!r} not provided")
        return params[name]
    return value


def _opts(spec: dict, params: dict) -> dict:
    return {k: _resolve(v, params) for k, v in spec.items()}


def _qual(qualified: str) -> str:
    schema, table = qualified.split(".", 1)
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def _one(con, sql: str, params: dict):
    return con.execute(sql, query_params(sql, params)).fetchone()


def _all(con, sql: str, params: dict):
    return con.execute(sql, query_params(sql, params)).fetchall()


# --------------------------------------------------------------------------- kinds


def _schema(con, table: str, opts: dict, params: dict, out: MetricsFrame) -> None:
    """Required columns present and typed as declared (contract entity or explicit map)."""
    if opts.get("contract"):
        from ..contract import ENTITIES

        entity = ENTITIES[opts["contract"]]
        expected = {c.name: CONTRACT_SQL_TYPES[c.type] for c in entity.columns}
        required = entity.required_columns
    else:
        expected = {k: v.upper() for k, v in (opts.get("columns") or {}).items()}
        required = list(opts.get("required") or expected)
    schema, name = table.split(".", 1)
    actual = table_columns(con, schema, name)
    missing = [c for c in required if c not in actual]
    mismatched = [
        f"{c}: {actual[c]} (expected {t})"
        for c, t in expected.items()
        if c in actual and actual[c].upper() != t
    ]
    out.values["missing_required_columns"] = len(missing)
    out.values["type_mismatches"] = len(mismatched)
    out.examples["missing_required_columns"] = missing[:_EXAMPLES]
    out.examples["type_mismatches"] = mismatched[:_EXAMPLES]


def _reject_rate(con, table: str, opts: dict, params: dict, out: MetricsFrame) -> None:
    """Rejected / (loaded + rejected) rows of the partition, and the ingest's own accounting."""
    entity = opts.get("entity") or table.split(".", 1)[1]
    raw, rejects = f"raw.{entity}", f"raw.{entity}_rejects"
    loaded = _one(con, f"select count(*) from {_qual(raw)} where ds = $ds", params)[0]
    rejected, reasons = 0, []
    if table_exists(con, rejects):
        rejected = _one(con, f"select count(*) from {_qual(rejects)} where ds = $ds", params)[0]
        reasons = _all(
            con,
            f"select reason, count(*) as n from {_qual(rejects)} where ds = $ds "
            f"group by reason order by n desc, reason limit {_EXAMPLES}",
            params,
        )
    unaccounted = 0
    if table_exists(con, "raw.input_files"):
        read = _one(
            con,
            "select coalesce(sum(rows_read), 0) from raw.input_files "
            "where ds = $ds and entity = $entity",
            {**params, "entity": entity},
        )[0]
        unaccounted = int(read) - int(loaded) - int(rejected)
    total = loaded + rejected
    out.values.update(
        rows_loaded=int(loaded),
        rows_rejected=int(rejected),
        reject_rate=(rejected / total) if total else 0.0,
        unaccounted_rows=unaccounted,
    )
    out.examples["reject_rate"] = [f"{reason}: {n}" for reason, n in reasons]
    out.examples["rows_rejected"] = out.examples["reject_rate"]


def _volume(con, table: str, opts: dict, params: dict, out: MetricsFrame) -> None:
    """The partition's arrivals against the median of the trailing days that had data."""
    entity = opts.get("entity") or table.split(".", 1)[1]
    days = int(opts.get("trailing_days", params.get("volume_trailing_days", 7)))
    min_days = int(opts.get("min_history_days", params.get("volume_min_history_days", 3)))
    if table_exists(con, "raw.input_files"):
        daily = (
            "select ds, sum(rows_read) as n from raw.input_files "
            "where entity = $entity group by ds"
        )
    else:
        daily = f"select ds, count(*) as n from {_qual(table)} group by ds"
    sql = f"""
        with daily as ({daily})
        select
            (select coalesce(sum(n), 0) from daily where ds = $ds) as today,
            (select median(n) from daily
              where ds < $ds and ds >= $ds - $days::INTEGER) as med,
            (select count(*) from daily
              where ds < $ds and ds >= $ds - $days::INTEGER) as hist
    """
    today, med, hist = _one(con, sql, {**params, "entity": entity, "days": days})
    ratio = 1.0  # no baseline yet (too little history): nothing to compare, neutral value
    if hist >= min_days and med:
        ratio = float(today) / float(med)
    out.values.update(
        row_count=int(today),
        trailing_median_rows=float(med) if med is not None else None,
        history_days=int(hist),
        volume_ratio=ratio,
    )
    out.examples["volume_ratio"] = [
        f"{int(today)} rows on {params['ds']} vs trailing median "
        f"{'n/a' if med is None else f'{float(med):g}'} over {hist} day(s) of the last {days}"
    ]


def _referential_share(con, table: str, opts: dict, params: dict, out: MetricsFrame) -> None:
    """Share of the child's non-null keys that exist in the parent."""
    name = opts["name"]
    child = opts.get("child") or table
    col, parent = quote_ident(opts["column"]), _qual(opts["parent"])
    pcol = quote_ident(opts.get("parent_column") or opts["column"])
    where = f" and ({opts['where']})" if opts.get("where") else ""
    # one pass for both counts (the child may be a view that is costly to scan)
    total, orphans = _one(
        con,
        f"select count(*), count(*) filter (where p.k is null) from {_qual(child)} c "
        f"left join (select distinct {pcol} as k from {parent}) p on p.k = c.{col} "
        f"where c.{col} is not null{where}",
        params,
    )
    examples = []
    if orphans:
        examples = _all(
            con,
            f"select distinct c.{col} from {_qual(child)} c where c.{col} is not null{where} "
            f"and not exists (select 1 from {parent} p where p.{pcol} = c.{col}) "
            f"order by 1 limit {_EXAMPLES}",
            params,
        )
    out.values[name] = (1.0 - orphans / total) if total else 1.0
    out.values[f"{name}_orphans"] = int(orphans)
    out.examples[name] = [
        f"{opts['column']}={row[0]} not in {opts['parent']}" for row in examples
    ]
    out.examples[f"{name}_orphans"] = out.examples[name]


def _count_consistency(con, table: str, opts: dict, params: dict, out: MetricsFrame) -> None:
    """Share of parents whose stored count matches the number of edges within a tolerance."""
    name = opts["name"]
    key, count_col = quote_ident(opts["key"]), quote_ident(opts["count_column"])
    edges, edge_col = _qual(opts["edges"]), quote_ident(opts["edge_column"])
    tol_abs = float(opts.get("tolerance_abs") or 0)
    tol_rel = float(opts.get("tolerance_rel") or 0)
    base = f"""
        with e as (select {edge_col} as k, count(*) as n from {edges} group by 1),
        d as (
            select u.{key} as k, u.{count_col} as c, coalesce(e.n, 0) as n
            from {_qual(table)} u left join e on e.k = u.{key}
            where u.{count_col} is not null
        )
    """
    ok = f"abs(c - n) <= greatest({tol_abs}, {tol_rel} * n)"
    total, good = con.execute(
        f"{base} select count(*), count(*) filter (where {ok}) from d"
    ).fetchone()
    worst = con.execute(
        f"{base} select k, c, n from d where not ({ok}) order by abs(c - n) desc, k "
        f"limit {_EXAMPLES}"
    ).fetchall()
    out.values[name] = (good / total) if total else 1.0
    out.examples[name] = [
        f"{opts['key']}={k}: {opts['count_column']}={c} vs {n} edge(s) in {opts['edges']}"
        for k, c, n in worst
    ]


def _row_count(con, table: str, opts: dict, params: dict, out: MetricsFrame) -> None:
    name = opts.get("name") or "row_count"
    where = f" where {opts['where']}" if opts.get("where") else ""
    out.values[name] = int(_one(con, f"select count(*) from {_qual(table)}{where}", params)[0])


def _sql(con, table: str, opts: dict, params: dict, out: MetricsFrame) -> None:
    """A custom metric: ``sql`` returns one value; ``examples_sql`` a few offending rows."""
    name = opts["name"]
    row = _one(con, opts["sql"], params)
    out.values[name] = row[0] if row else None
    if opts.get("examples_sql"):
        rows = _all(con, opts["examples_sql"], params)[:_EXAMPLES]
        out.examples[name] = [", ".join(str(v) for v in r) for r in rows]


METRIC_KINDS: dict[str, Callable] = {
    "schema": _schema,
    "reject_rate": _reject_rate,
    "volume": _volume,
    "referential_share": _referential_share,
    "count_consistency": _count_consistency,
    "row_count": _row_count,
    "sql": _sql,
}


def build_metrics(con, table: str, metric_specs, params: dict) -> MetricsFrame:
    """Compute every metric of a metrics suite into one :class:`MetricsFrame`."""
    out = MetricsFrame()
    for spec in metric_specs:
        kind = spec.get("metric")
        if kind not in METRIC_KINDS:
            raise KeyError(f"unknown metric kind {kind!r}; known: {sorted(METRIC_KINDS)}")
        METRIC_KINDS[kind](con, table, _opts(spec, params), params, out)
    return out
