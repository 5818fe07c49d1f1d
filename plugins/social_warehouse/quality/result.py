"""What a gate returns (:class:`GateResult`) and raises (:class:`GateFailed`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["GateResult", "GateFailed", "GATE_RESULT_COLUMNS", "result_row", "format_value"]

#: Columns of a gate result row (= audit.gate_results without run_id/attempt bookkeeping).
GATE_RESULT_COLUMNS = (
    "run_id",
    "ds",
    "stage",
    "suite",
    "table_name",
    "expectation",
    "column",
    "kwargs",
    "success",
    "severity",
    "status",
    "observed_value",
    "unexpected_count",
    "unexpected_percent",
    "unexpected_examples",
    "exception",
)
_MAX_MESSAGE_LINES = 12
#: Examples that start with this explain a failure (printed whole, not as an example).
HINT_PREFIX = "likely cause: "


def format_value(value: Any, digits: int = 6) -> str:
    """A short, stable text for an observed value (floats rounded, containers as JSON)."""
    if value is None:
        return "null"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.{digits}g}"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str, sort_keys=True)[:500]
    return str(value)[:500]


def result_row(**kwargs) -> dict:
    row = {c: None for c in GATE_RESULT_COLUMNS}
    row.update(kwargs)
    return row


@dataclass
class GateResult:
    """The outcome of one stage's gate: one row per expectation (see ``GATE_RESULT_COLUMNS``)."""

    stage: str
    run_id: str
    ds: date
    checkpoint: str
    rows: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    docs_index: Path | None = None
    thresholds_path: Path | None = None
    #: seconds per phase: prepare (GX import, project copy, context), read (DuckDB -> pandas,
    #: SQL metrics), validate (GX), docs (Data Docs build + offline rewrite), record (audit)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def failures(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == "failed"]

    @property
    def warnings(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == "warning"]

    @property
    def success(self) -> bool:
        return not self.failures

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(GATE_RESULT_COLUMNS))

    def summary(self) -> str:
        n = len(self.rows)
        return (
            f"quality gate {self.stage!r} {'passed' if self.success else 'FAILED'} "
            f"(run {self.run_id}, ds {self.ds}): {n - len(self.failures) - len(self.warnings)} "
            f"of {n} expectations passed, {len(self.failures)} failed, "
            f"{len(self.warnings)} warning(s) in {self.seconds:.1f} s"
        )

    def describe(self, row: dict) -> str:
        """One line naming stage, table, column, expectation, observed value and examples."""
        parts = [f"[{row['stage']}] table {row['table_name']}"]
        if row["suite"] != row["table_name"]:
            parts[0] += f" (suite {row['suite']})"
        if row["column"]:
            parts.append(f"column {row['column']}")
        exp = row["expectation"]
        if row["kwargs"]:
            exp += f"({row['kwargs']})"
        parts.append(exp)
        text = ", ".join(parts) + f": observed {row['observed_value']}"
        examples = json.loads(row["unexpected_examples"] or "[]")
        # a metric's hint (see metrics.py, ``violations``) is printed whole, after the examples
        hints = [e for e in examples if isinstance(e, str) and e.startswith(HINT_PREFIX)]
        examples = [e for e in examples if e not in hints]
        if examples:
            text += f"; unexpected examples: {format_value(examples)}"
        for hint in hints:
            text += f"; {hint}"
        if row["exception"]:
            text += f"; error: {row['exception']}"
        return text

    def message(self) -> str:
        lines = [self.summary()]
        failed = {(r["suite"], r["column"]) for r in self.failures}
        # a soft threshold on a check whose hard threshold failed adds nothing to the message
        warnings = [r for r in self.warnings if (r["suite"], r["column"]) not in failed]
        for tag, rows in (("FAIL", self.failures), ("WARN", warnings)):
            for row in rows[:_MAX_MESSAGE_LINES]:
                lines.append(f"  {tag} {self.describe(row)}")
            if len(rows) > _MAX_MESSAGE_LINES:
                lines.append(f"  ... and {len(rows) - _MAX_MESSAGE_LINES} more {tag}")
        if self.docs_index:
            lines.append(f"  Data Docs: {self.docs_index}")
        return "\n".join(lines)


class GateFailed(Exception):
    """A quality gate found a critical failure. ``result`` holds every expectation's outcome.

    Raised after the results were recorded in the audit store and the Data Docs built, so
    the task that converts it (to ``AirflowFailException``) has nothing left to save.
    """

    def __init__(self, result: GateResult):
        self.result = result
        super().__init__(result.message())
