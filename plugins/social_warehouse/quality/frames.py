"""DataFrames for Great Expectations, taken from DuckDB through Arrow.

Only the columns a suite's expectations name are read (the projection). ``TIMESTAMP``
columns (UTC by the warehouse's convention) are read as ``TIMESTAMPTZ`` in UTC so that pandas holds
them as tz-aware UTC values: GX compares those vectorised, while naive microsecond
timestamps would be compared one Python object at a time (seconds per million rows).
"""

from __future__ import annotations

import re
from typing import Any

from ..db import quote_ident

__all__ = ["table_columns", "table_exists", "rows_frame", "query_params", "sql_value"]

_PARAM = re.compile(r"\$([A-Za-z_]\w*)")


def table_columns(con, schema: str, table: str) -> dict[str, str]:
    """``{column: data_type}`` of a table or view, empty if it does not exist."""
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    return {name: dtype for name, dtype in rows}


def table_exists(con, qualified: str) -> bool:
    schema, table = qualified.split(".", 1)
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def query_params(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The ``params`` that ``sql`` references as ``$name`` (DuckDB wants exactly those)."""
    names = set(_PARAM.findall(sql))
    missing = names - set(params)
    if missing:
        raise KeyError(f"SQL parameter(s) {sorted(missing)} not provided: {sql}")
    return {name: sql_value(params[name]) for name in names}


def sql_value(value: Any) -> Any:
    """Convert a parameter (maybe a pandas Timestamp or a list) to something DuckDB binds."""
    to_py = getattr(value, "to_pydatetime", None)
    if to_py is not None:
        return to_py()
    return value


def rows_frame(con, qualified: str, columns: list[str], where: str | None, params: dict):
    """Read ``columns`` of ``qualified`` (those that exist) into pandas through Arrow.

    Returns ``(frame, missing_columns)``; an expectation on a missing column then fails in GX
    with the column named, which is the behaviour wanted for schema drift.
    """
    schema, table = qualified.split(".", 1)
    existing = table_columns(con, schema, table)
    present = [c for c in columns if c in existing]
    missing = [c for c in columns if c not in existing]
    select = []
    for col in present:
        dtype = existing[col].upper()
        expr = quote_ident(col)
        if dtype.startswith("TIMESTAMP") and "TIME ZONE" not in dtype and dtype != "TIMESTAMPTZ":
            expr = f"timezone('UTC', {expr})"  # naive = UTC, whatever the session zone
        select.append(f"{expr} as {quote_ident(col)}")
    if not select:  # no column expectation at all (e.g. only table-level checks)
        select = ["1 as _row"]
    sql = f"select {', '.join(select)} from {quote_ident(schema)}.{quote_ident(table)}"
    bound: dict = {}
    if where:
        sql += f" where {where}"
        bound = query_params(where, params)
    frame = con.sql(sql, params=bound or None).to_arrow_table().to_pandas()
    for col in frame.columns:
        tz = getattr(frame[col].dtype, "tz", None)
        if tz is not None and str(tz) != "UTC":
            frame[col] = frame[col].dt.tz_convert("UTC")
    return frame, missing


def source_locations(con, qualified: str, column: str, values: list, where: str | None,
                     params: dict, limit: int = 3) -> list[str]:
    """``file:row`` of the first rows of ``qualified`` whose ``column`` holds one of
    ``values`` (the unexpected examples of a failed row check), for tables that keep
    their lineage (``_source_file``, ``_source_row``: the raw layer). Empty otherwise.
    """
    schema, table = qualified.split(".", 1)
    existing = table_columns(con, schema, table)
    if column not in existing or not {"_source_file", "_source_row"} <= set(existing):
        return []
    col = quote_ident(column)
    base = f"select _source_file, _source_row from {quote_ident(schema)}.{quote_ident(table)}"
    bound = query_params(where, params) if where else {}
    cond = f" where ({where})" if where else " where true"
    out: list[str] = []
    for value in values[:limit]:
        test = f"{col} is null" if value is None else f"{col} = $_example"
        sql = f"{base}{cond} and {test} order by _source_file, _source_row limit 1"
        args = dict(bound)
        if value is not None:
            args["_example"] = value
        row = con.execute(sql, args).fetchone()
        if row:
            out.append(f"{str(row[0]).rsplit('/', 1)[-1]}:row {row[1]}")
    return out
