"""Read the suites of the GX project as plain JSON: which table, which stage, which columns.

Planning a gate (which tables to read, which columns to project, which parameters to fill)
needs no Great Expectations import: the suites are JSON files under
``expectations/gx/expectations/<stage>/<table>.json`` (GX stores a suite named
``raw.interactions`` as ``raw/interactions.json``). Each suite carries, in
``meta.social_warehouse``, what batch it validates:

``{"stage": "raw", "table": "raw.interactions", "kind": "rows", "where": "ds = $ds"}``
    the rows of the table (optionally filtered; ``$name`` are parameters), projected to
    the columns its expectations name;

``{"stage": "raw", "table": "raw.interactions", "kind": "metrics", "metrics": [...]}``
    a one-row DataFrame of metrics computed in SQL (see :mod:`.metrics`), validated with
    ordinary column expectations. Such a suite is named ``<table>__metrics``.

``stage`` defaults to the first part of the suite name and ``table`` to the name without a
``__metrics`` suffix, so a new table's suite needs no more than its expectations.
``"optional": true`` makes a missing table a skipped check instead of a failure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SuiteSpec", "load_suite_specs", "METRICS_SUFFIX", "parameter_names"]

METRICS_SUFFIX = "__metrics"
_COLUMN_KWARGS = ("column", "column_A", "column_B")
_COLUMN_LIST_KWARGS = ("column_list", "column_set")


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    stage: str
    table: str
    kind: str  # rows | metrics
    path: Path
    expectations: tuple[dict, ...]
    where: str | None = None
    metrics: tuple[dict, ...] = ()
    optional: bool = False
    extra_columns: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def schema_name(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def table_name(self) -> str:
        return self.table.split(".", 1)[1]

    @property
    def columns(self) -> list[str]:
        """Columns the expectations read, in first-mention order (the projection)."""
        seen: dict[str, None] = {}
        for exp in self.expectations:
            kwargs = exp.get("kwargs", {})
            for key in _COLUMN_KWARGS:
                if isinstance(kwargs.get(key), str):
                    seen.setdefault(kwargs[key])
            for key in _COLUMN_LIST_KWARGS:
                if isinstance(kwargs.get(key), list):
                    for col in kwargs[key]:
                        seen.setdefault(col)
        for col in self.extra_columns:
            seen.setdefault(col)
        return list(seen)

    @property
    def parameters(self) -> set[str]:
        """Every ``$PARAMETER`` the suite's expectations and metric definitions use."""
        names = set()
        for exp in self.expectations:
            names |= parameter_names(exp.get("kwargs", {}))
        for metric in self.metrics:
            names |= parameter_names(metric)
        if self.where:
            names |= set(re.findall(r"\$([A-Za-z_]\w*)", self.where))
        return names


def parameter_names(obj: Any) -> set[str]:
    """Names of the ``{"$PARAMETER": name}`` references anywhere inside ``obj``."""
    found: set[str] = set()
    if isinstance(obj, dict):
        if set(obj) == {"$PARAMETER"} and isinstance(obj["$PARAMETER"], str):
            found.add(obj["$PARAMETER"])
        else:
            for value in obj.values():
                found |= parameter_names(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            found |= parameter_names(value)
    return found


def load_suite_specs(gx_dir: Path) -> dict[str, SuiteSpec]:
    """All suites of the GX project rooted at ``gx_dir`` (the folder holding ``expectations/``)."""
    root = Path(gx_dir) / "expectations"
    specs: dict[str, SuiteSpec] = {}
    for path in sorted(root.rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        name = data.get("name")
        if not name:
            raise ValueError(f"{path}: suite without a name")
        meta = (data.get("meta") or {}).get("social_warehouse") or {}
        is_metrics = name.endswith(METRICS_SUFFIX)
        table = meta.get("table") or (name[: -len(METRICS_SUFFIX)] if is_metrics else name)
        if "." not in table:
            raise ValueError(f"{path}: table {table!r} must be <schema>.<table>")
        kind = meta.get("kind") or ("metrics" if is_metrics else "rows")
        if kind not in ("rows", "metrics"):
            raise ValueError(f"{path}: kind must be 'rows' or 'metrics', not {kind!r}")
        if kind == "metrics" and not meta.get("metrics"):
            raise ValueError(f"{path}: a metrics suite needs meta.social_warehouse.metrics")
        specs[name] = SuiteSpec(
            name=name,
            stage=meta.get("stage") or name.split(".", 1)[0],
            table=table,
            kind=kind,
            path=path,
            expectations=tuple(data.get("expectations") or ()),
            where=meta.get("where"),
            metrics=tuple(meta.get("metrics") or ()),
            optional=bool(meta.get("optional", False)),
            extra_columns=tuple(meta.get("columns") or ()),
            meta=meta,
        )
    return specs
