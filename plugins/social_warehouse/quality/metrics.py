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
``row_count_match``    ``<name>``: rows of the table minus rows of ``reference`` (0 = equal)
``aggregate``          ``<name>``: ``select <expression> from <table>`` (e.g. a sum's error)
``violations``         ``<name>``: rows where a cross-column ``condition`` holds (want 0)
``consecutive_rank``   ``<name>``: groups whose ``column`` is not exactly 1, 2, ..., n
``sql``                ``<name>``: the single value of a custom query
``finite``             ``<name>`` (default ``non_finite_values``): NaN/±inf values in the
                       score and weight columns (want 0)
=====================  ==================================================================

``finite`` is the check every score and weight column gets at every stage: pandas and
Great Expectations count NaN as *missing*, so ``expect_column_values_to_be_between(min_value=0)``
passes a NaN score, and DuckDB orders NaN above every number. Its ``columns`` default to the
table's floating-point columns whose name contains ``score`` or ``weight``; nulls are not
counted (the not-null checks own them). ``key`` names the columns printed with an example.

``violations`` may add a ``hint_sql`` (one row of named values) and a ``hint`` (a text with
``{name}`` fields) that the gate prints after the examples when the count is not 0: the
likely cause of a violation (e.g. the score distribution behind ``recommended_seen_items``).

The derived outputs (``analytics.*``, ``marts.*``) mostly use the last five: one row per
user (``row_count_match`` against ``core.dim_users`` plus ``referential_share`` with
``child: core.dim_users`` for the missing ids), PageRank summing to 1 (``aggregate``
``abs(fsum(pagerank) - 1)``), a seed set of size ``k`` (``violations``), a leaderboard
ranked 1..n (``consecutive_rank``), partners that are KOLs (``referential_share`` with
``parent_where: is_kol``). In ``examples_sql`` of ``aggregate``, ``{table}`` is the
suite's table.
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
    """Share of the child's non-null keys that exist in the parent.

    ``where`` filters the child, ``parent_where`` the parent (e.g. ``is_kol``: the partner
    must be a KOL, not merely a user); ``child`` defaults to the suite's table.
    """
    name = opts["name"]
    child = opts.get("child") or table
    col, parent = quote_ident(opts["column"]), _qual(opts["parent"])
    pcol = quote_ident(opts.get("parent_column") or opts["column"])
    where = f" and ({opts['where']})" if opts.get("where") else ""
    pwhere = f" where ({opts['parent_where']})" if opts.get("parent_where") else ""
    pwhere_and = f" and ({opts['parent_where']})" if opts.get("parent_where") else ""
    # one pass for both counts (the child may be a view that is costly to scan)
    total, orphans = _one(
        con,
        f"select count(*), count(*) filter (where p.k is null) from {_qual(child)} c "
        f"left join (select distinct {pcol} as k from {parent}{pwhere}) p on p.k = c.{col} "
        f"where c.{col} is not null{where}",
        params,
    )
    examples = []
    if orphans:
        examples = _all(
            con,
            f"select distinct c.{col} from {_qual(child)} c where c.{col} is not null{where} "
            f"and not exists (select 1 from {parent} p where p.{pcol} = c.{col}{pwhere_and}) "
            f"order by 1 limit {_EXAMPLES}",
            params,
        )
    out.values[name] = (1.0 - orphans / total) if total else 1.0
    out.values[f"{name}_orphans"] = int(orphans)
    parent_text = opts["parent"] + (f" where {opts['parent_where']}"
                                    if opts.get("parent_where") else "")
    out.examples[name] = [
        f"{opts['column']}={row[0]} not in {parent_text}" for row in examples
    ]
    out.examples[f"{name}_orphans"] = out.examples[name]


def _count_consistency(con, table: str, opts: dict, params: dict, out: MetricsFrame) -> None:
    """Share of parents whose stored count matches the number of edges within a tolerance.

    ``where`` limits the check (e.g. to exports that have follow edges at all: a profile
    export without a follow graph has nothing to compare its reported counts with).
    """
    name = opts["name"]
    key, count_col = quote_ident(opts["key"]), quote_ident(opts["count_column"])
    edges, edge_col = _qual(opts["edges"]), quote_ident(opts["edge_column"])
    tol_abs = float(opts.get("tolerance_abs") or 0)
    tol_rel = float(opts.get("tolerance_rel") or 0)
    where = f" and ({opts['where']})" if opts.get("where") else ""
    base = f"""
        with e as (select {edge_col} as k, count(*) as n from {edges} group by 1),
        d as (
            select u.{key} as k, u.{count_col} as c, coalesce(e.n, 0) as n
            from {_qual(table)} u left join e on e.k = u.{key}
            where u.{count_col} is not null{where}
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
    label = opts.get("count_label") or "edge(s)"  # e.g. "member(s)" for community sizes
    out.examples[name] = [
        f"{opts['key']}={k}: {opts['count_column']}={c} vs {n} {label} in {opts['edges']}"
        for k, c, n in worst
    ]


def _row_count(con, table: str, opts: dict, params: dict, out: MetricsFrame) -> None:
    name = opts.get("name") or "row_count"
    where = f" where {opts['where']}" if opts.get("where") else ""
    out.values[name] = int(_one(con, f"select count(*) from {_qual(table)}{where}", params)[0])


def _row_count_match(con, table: str, opts: dict, params: dict, out: MetricsFrame) -> None:
    """Rows of the table minus rows of ``reference`` (e.g. one row per ``core.dim_users``).

    Signed, so the observed value says which side has more rows; check it with
    ``expect_column_max_to_be_between(min_value=0, max_value=0)``.
    """
    name = opts.get("name") or "row_count_diff"
    reference = opts["reference"]
    where = f" where {opts['where']}" if opts.get("where") else ""
    rwhere = f" where {opts['reference_where']}" if opts.get("reference_where") else ""
    n = int(_one(con, f"select count(*) from {_qual(table)}{where}", params)[0])
    m = int(_one(con, f"select count(*) from {_qual(reference)}{rwhere}", params)[0])
    out.values[name] = n - m
    out.examples[name] = [f"{table}: {n} rows, {reference}{rwhere}: {m} rows"]


def _aggregate(con, table: str, opts: dict, params: dict, out: MetricsFrame) -> None:
    """``select <expression> from <table> [where ...]``: one aggregate of the suite's table.

    E.g. ``abs(fsum(pagerank) - 1)``: the error of a probability vector's sum. Write the
    expression so that it is never null (``coalesce``) when the table may be empty.
    ``examples_sql`` (``{table}`` = the suite's table) returns a few explanatory rows.
    """
    name = opts["name"]
    where = f" where {opts['where']}" if opts.get("where") else ""
    row = _one(con, f"select {opts['expression']} from {_qual(table)}{where}", params)
    out.values[name] = row[0] if row else None
    if opts.get("examples_sql"):
        sql = opts["examples_sql"].replace("{table}", _qual(table))
        rows = _all(con, sql, params)[:_EXAMPLES]
        out.examples[name] = [", ".join(str(v) for v in r) for r in rows]


def _violations(con, table: str, opts: dict, params: dict, out: MetricsFrame) -> None:
    """Rows where ``condition`` (a rule across columns, e.g. ``len(seed_set) <> k``) holds.

    The count is the metric (never null: 0 for an empty table); ``columns`` (SQL
    expressions, default ``*``) of the first offending rows, in ``order_by`` order, are
    the examples. A null condition is not a violation: write ``is distinct from`` or
    ``coalesce`` when null should count.
    """
    name = opts["name"]
    cond = f"({opts['condition']})"
    where = f" and ({opts['where']})" if opts.get("where") else ""
    n = int(_one(con, f"select count(*) from {_qual(table)} where {cond}{where}", params)[0])
    out.values[name] = n
    if n:
        cols = opts.get("columns") or ["*"]
        cols = [cols] if isinstance(cols, str) else list(cols)
        order = f" order by {opts['order_by']}" if opts.get("order_by") else ""
        sql = (f"select {', '.join(cols)} from {_qual(table)} where {cond}{where}{order} "
               f"limit {_EXAMPLES}")
        cursor = con.execute(sql, query_params(sql, params))
        names = [d[0] for d in cursor.description]
        texts = [", ".join(f"{c}={v}" for c, v in zip(names, r, strict=True))
                 for r in cursor.fetchall()]
        out.examples[name] = list(dict.fromkeys(texts))  # e.g. one stale ds, not five
        if opts.get("hint"):
            out.examples[name].append(_hint(con, opts, params))


def _hint(con, opts: dict, params: dict) -> str:
    """``hint`` with its ``{name}`` fields filled from the one row of ``hint_sql``."""
    from .result import HINT_PREFIX, format_value

    values: dict[str, str] = {}
    if opts.get("hint_sql"):
        cursor = con.execute(opts["hint_sql"], query_params(opts["hint_sql"], params))
        row = cursor.fetchone() or ()
        values = {d[0]: format_value(v, 3) for d, v in zip(cursor.description, row,
                                                           strict=False)}
    text = opts["hint"].format(**values)
    return text if text.startswith(HINT_PREFIX) else HINT_PREFIX + text


_FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")
_SCORE_OR_WEIGHT = ("score", "weight")


def _finite(con, table: str, opts: dict, params: dict, out: MetricsFrame) -> None:
    """NaN and ±infinity in the score and weight columns (nulls are not counted)."""
    name = opts.get("name") or "non_finite_values"
    schema, tname = table.split(".", 1)
    types = table_columns(con, schema, tname)
    columns = opts.get("columns")
    if columns is None:
        columns = [c for c, t in types.items() if t.upper() in _FLOAT_TYPES
                   and any(w in c.lower() for w in _SCORE_OR_WEIGHT)]
    columns = [columns] if isinstance(columns, str) else list(columns)
    absent = [c for c in columns if c not in types]
    if absent:
        raise KeyError(f"finite: column(s) {absent} not in {table}")
    where = f" and ({opts['where']})" if opts.get("where") else ""
    keys = opts.get("key") or []
    keys = [keys] if isinstance(keys, str) else list(keys)
    counts = [0] * len(columns)
    if columns:  # one scan for all columns
        counts = list(_one(con, "select " + ", ".join(
            f"count(*) filter (where not isfinite({quote_ident(c)}))" for c in columns)
            + f" from {_qual(table)} where true{where}", params))
    total = 0
    texts: list[str] = []
    for col, n in zip(columns, counts, strict=True):
        cond = f"not isfinite({quote_ident(col)})"
        total += int(n)
        if n and len(texts) < _EXAMPLES:
            cols = ", ".join(quote_ident(c) for c in [col, *keys])
            order = f" order by {', '.join(quote_ident(k) for k in keys)}" if keys else ""
            rows = _all(con, f"select {cols} from {_qual(table)} where {cond}{where}{order} "
                             f"limit {_EXAMPLES - len(texts)}", params)
            for value, *key in rows:
                at = ", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True))
                texts.append(f"{col}={value}" + (f" at {at}" if at else ""))
    out.values[name] = total
    out.examples[name] = texts


def _consecutive_rank(con, table: str, opts: dict, params: dict, out: MetricsFrame) -> None:
    """Groups (``partition_by``, default the whole table) whose ranks are not 1, 2, ..., n.

    A group is broken when a rank is null, duplicated, or the ranks do not run from 1 to
    the group's row count. The metric is the number of broken groups (want 0).
    """
    name = opts["name"]
    col = quote_ident(opts["column"])
    parts = opts.get("partition_by") or []
    parts = [parts] if isinstance(parts, str) else list(parts)
    keys = ", ".join(quote_ident(p) for p in parts)
    where = f" where {opts['where']}" if opts.get("where") else ""
    select_keys = f"{keys}, " if parts else ""
    group = f" group by {keys}" if parts else ""
    groups = f"""
        select {select_keys}count(*) as n, count({col}) as n_ranked,
               count(distinct {col}) as n_distinct, min({col}) as lo, max({col}) as hi
        from {_qual(table)}{where}{group}
    """
    broken = "n_ranked <> n or n_distinct <> n or lo <> 1 or hi <> n"
    bad = int(_one(con, f"select count(*) from ({groups}) g where {broken}", params)[0])
    out.values[name] = bad
    if bad:
        order = keys if parts else "1"
        rows = _all(con, f"select * from ({groups}) g where {broken} order by {order} "
                         f"limit {_EXAMPLES}", params)
        texts = []
        for row in rows:
            key = ", ".join(f"{p}={v}" for p, v in zip(parts, row, strict=False))
            n, n_ranked, n_distinct, lo, hi = row[len(parts):]
            texts.append(
                (f"{key}: " if key else "")
                + f"{opts['column']} {lo}..{hi} with {n_distinct} distinct value(s) "
                f"over {n} row(s) ({n - n_ranked} null), expected 1..{n}"
            )
        out.examples[name] = texts


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
    "row_count_match": _row_count_match,
    "aggregate": _aggregate,
    "violations": _violations,
    "consecutive_rank": _consecutive_rank,
    "sql": _sql,
    "finite": _finite,
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
