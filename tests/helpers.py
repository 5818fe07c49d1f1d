"""Small assertions and queries shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import duckdb


def query(path: Path | str, sql: str, params=None) -> list[tuple]:
    """Rows of ``sql`` on a DuckDB file opened read-only (as BI tools open the warehouse)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def the_failure(exc, suite: str, column: str, expectation: str) -> dict:
    """The recorded failure of ``suite``/``column``/``expectation`` in a ``GateFailed``."""
    rows = [r for r in exc.result.failures
            if r["suite"] == suite and r["column"] == column and r["expectation"] == expectation]
    assert rows, f"no failure {suite}/{column}/{expectation} in:\n{exc}"
    return rows[0]


def assert_names(exc, *parts: str) -> None:
    """The gate's message contains every one of ``parts``."""
    text = str(exc)
    for part in parts:
        assert part in text, f"{part!r} not in gate message:\n{text}"
