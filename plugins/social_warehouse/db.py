"""DuckDB connection helpers: one place that sets the session the pipeline relies on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["connect", "quote_ident", "table_exists"]


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (schema, table or column name) for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def connect(path: Path | str, *, read_only: bool = False) -> Iterator:
    """Open a DuckDB file with the pipeline's session settings and always close it.

    Timestamps are interpreted and rendered in UTC regardless of the machine's zone.
    """
    import duckdb

    con = duckdb.connect(str(path), read_only=read_only)
    try:
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


def table_exists(con, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])
