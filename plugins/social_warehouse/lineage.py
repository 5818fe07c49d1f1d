"""Table-level lineage of the daily DAG's tasks, emitted through OpenLineage.

Every task of ``social_warehouse_daily`` declares what it reads and writes as OpenLineage
datasets (its ``inlets`` and ``outlets``); the OpenLineage provider's listener sends them
with the task's START and COMPLETE events. The chain is

    landing files -> ingest -> raw.* -> dbt_staging -> staging.* -> dbt_core -> core.*
      -> export_analytics_inputs -> analytics inputs (Parquet)
      -> analytics_<stage> -> analytics outputs (Parquet) -> load_analytics -> analytics.*
      -> dbt_marts -> marts.*

and the gates read the tables of their stage. Nothing here is written twice: the dbt
layers and their dependencies come from the dbt project's own model files (``ref`` and
``source`` calls, and ``meta.produced_by_task`` of the analytics models, which names the
DAG task that writes each output), the landing entities from :data:`contract.ENTITIES`,
and the Parquet names from :data:`pipeline.ANALYTICS_INPUTS`' layout.

Dataset names (OpenLineage naming: a namespace per store, a name inside it):

* landing: namespace ``file://<host>``, name ``<landing dir>/<entity>`` (one dataset per
  entity: its daily files);
* DuckDB tables: namespace ``duckdb://<host><served warehouse path>``, name
  ``<schema>.<table>``. Writers work on a per-run build copy that ``publish`` renames over
  the served file, so the served path names the tables users see;
* Parquet: namespace the storage root (``file://<host><dir>`` or ``s3://bucket``), name
  ``analytics_inputs/<schema>.<table>`` or ``analytics_outputs/<table>`` (per run they live
  under ``runs/<run_id>/``).

Where the events go is Airflow's ``[openlineage] transport`` setting; the project sets a
file transport into ``<data dir>/lineage/`` by default (see
:func:`social_warehouse.airflow_setup.openlineage_env`).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .config import Settings, get_settings
from .contract import ENTITIES

#: dbt model folders in build order; each folder's models land in the schema of its name
LAYERS = ("staging", "core", "analytics", "marts")
#: the relations ``pipeline.export_analytics_inputs`` writes to Parquet (defined here, in a
#: module light enough for the DAG file; the pipeline imports it)
ANALYTICS_INPUTS = ("core.*", "staging.stg_event_types")
RAW_EXTRA = ("input_files", "event_types")  # raw tables ingest writes besides the entities
GATED = ("raw", "staging", "core", "analytics", "marts")  # gate_<stage> reads that schema

_REF = re.compile(r"""\bref\(\s*['"]([A-Za-z0-9_]+)['"]\s*\)""")
_SOURCE = re.compile(r"""\bsource\(\s*['"]([A-Za-z0-9_]+)['"]\s*,\s*['"]([A-Za-z0-9_]+)['"]\s*\)""")
_TASK = re.compile(r"""['"]produced_by_task['"]\s*:\s*['"]([A-Za-z0-9_]+)['"]""")

Ref = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Model:
    """One dbt model: its schema, what it reads (``schema.table``) and, for analytics
    outputs, the DAG task that writes it."""

    schema: str
    name: str
    reads: tuple[str, ...]
    task: str | None

    @property
    def table(self) -> str:
        return f"{self.schema}.{self.name}"


@lru_cache(maxsize=8)
def dbt_models(project_dir: Path) -> dict[str, Model]:
    """Every model of the dbt project by name, from its SQL file (refs, sources, task)."""
    files = {p.stem: (layer, p) for layer in LAYERS
             for p in sorted((Path(project_dir) / "models" / layer).glob("*.sql"))}
    models = {}
    for name, (layer, path) in files.items():
        sql = path.read_text(encoding="utf-8")
        reads = [f"{files[r][0]}.{r}" for r in _REF.findall(sql) if r in files]
        reads += [f"{schema}.{table}" for schema, table in _SOURCE.findall(sql)]
        task = _TASK.search(sql)
        models[name] = Model(layer, name, tuple(dict.fromkeys(reads)),
                             task.group(1) if task else None)
    return models


@dataclass(frozen=True)
class Namespaces:
    """OpenLineage namespaces of the three stores, and the storage root's key prefix."""

    landing: str
    duckdb: str
    storage: str
    prefix: str = ""

    @classmethod
    def of(cls, settings: Settings) -> Namespaces:
        host = socket.gethostname()
        root = (os.environ.get("SW_STORAGE_ROOT") or "").strip()
        if root.startswith("s3://"):
            bucket, _, prefix = root[len("s3://"):].partition("/")
            storage, prefix = f"s3://{bucket}", prefix.strip("/")
        else:
            storage = f"file://{host}{Path(root or settings.data_dir / 'storage').resolve()}"
            prefix = ""
        return cls(landing=f"file://{host}",
                   duckdb=f"duckdb://{host}{settings.warehouse_path.resolve()}",
                   storage=storage, prefix=prefix)

    def parquet(self, name: str) -> Ref:
        return self.storage, f"{self.prefix}/{name}" if self.prefix else name


def task_lineage(settings: Settings | None = None) -> dict[str, tuple[list[Ref], list[Ref]]]:
    """``{task_id: (inputs, outputs)}`` for every task of the daily DAG that reads or
    writes data (``prepare_build``, ``import_export`` and ``finalize`` do not appear)."""
    s = settings or get_settings()
    ns = Namespaces.of(s)
    models = dbt_models(s.dbt_project_dir)

    def table(name: str) -> Ref:
        return ns.duckdb, name

    def tables(schema: str) -> list[str]:
        if schema == "raw":
            return [f"raw.{e}" for e in (*ENTITIES, *RAW_EXTRA)]
        return sorted(m.table for m in models.values() if m.schema == schema)

    def uniq(refs: Iterable[Ref]) -> list[Ref]:
        return list(dict.fromkeys(refs))

    exported = [t for spec in ANALYTICS_INPUTS for t in tables(spec.partition(".")[0])
                if spec.endswith(".*") or t == spec]
    lineage: dict[str, tuple[list[Ref], list[Ref]]] = {
        "ingest": ([(ns.landing, f"{s.landing_dir.resolve()}/{e}") for e in ENTITIES],
                   [table(t) for t in tables("raw")]),
        "export_analytics_inputs": ([table(t) for t in exported],
                                    [ns.parquet(f"analytics_inputs/{t}") for t in exported]),
    }
    for layer in ("staging", "core", "marts"):
        own = tables(layer)
        reads = [r for t in own for r in models[t.split(".")[1]].reads if r not in own]
        lineage[f"dbt_{layer}"] = (uniq(map(table, reads)), [table(t) for t in own])
    outputs = [m for m in models.values() if m.schema == "analytics" and m.task]
    for task in sorted({m.task for m in outputs if m.task}):
        mine = [m for m in outputs if m.task == task]
        sources: list[Ref] = []
        for m in mine:
            for r in m.reads:
                if r in exported:
                    sources.append(ns.parquet(f"analytics_inputs/{r}"))
                elif r.startswith("analytics.") and r not in {x.table for x in mine}:
                    sources.append(ns.parquet(f"analytics_outputs/{r.split('.')[1]}"))
        lineage[task] = (uniq(sources), [ns.parquet(f"analytics_outputs/{m.name}") for m in mine])
    lineage["load_analytics"] = ([ns.parquet(f"analytics_outputs/{m.name}") for m in outputs],
                                 [table(m.table) for m in outputs])
    for stage in GATED:
        lineage[f"gate_{stage}"] = ([table(t) for t in tables(stage)], [])
    return lineage


def dag_lineage(settings: Settings | None = None) -> dict[str, dict[str, list]]:
    """``{task_id: {"inlets": [...], "outlets": [...]}}``: OpenLineage datasets to pass to
    the DAG's ``@task`` decorators (empty when the OpenLineage client is not installed)."""
    try:
        from openlineage.client.event_v2 import Dataset
    except ImportError:  # the provider is optional in a bare install
        return {}
    return {task: {"inlets": [Dataset(namespace=n, name=m) for n, m in inputs],
                   "outlets": [Dataset(namespace=n, name=m) for n, m in outputs]}
            for task, (inputs, outputs) in task_lineage(settings).items()}
