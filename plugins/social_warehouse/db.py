"""DuckDB connection helpers: one place that sets the session the pipeline relies on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["connect", "quote_ident", "table_exists", "DatabaseMissingError"]


class DatabaseMissingError(FileNotFoundError):
    """A DuckDB file that must already exist does not (``connect(..., create=False)``)."""


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (schema, table or column name) for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def connect(path: Path | str, *, read_only: bool = False, create: bool = True) -> Iterator:
    """Open a DuckDB file with the pipeline's session settings and always close it.

    Timestamps are interpreted and rendered in UTC regardless of the machine's zone.

    ``create=False`` is for every role where the file must already exist (a run's build
    file after ``prepare_build``, the served warehouse): a missing file raises
    :class:`DatabaseMissingError` instead of DuckDB silently creating an empty database.
    ``create=True`` (the default, for ingest into a new file) creates it. A read-only
    connection never creates a file.
    """
    import duckdb

    if (read_only or not create) and not Path(path).is_file():
        raise DatabaseMissingError(
            f"DuckDB file {path} does not exist (refusing to create an empty database here)")
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
