"""
### social_warehouse_daily

One run per logical date `ds`: the social exports in `landing/<ds>/` become the
served DuckDB warehouse that BI tools read.

```
prepare_build -> import_export -> ingest -> dbt_staging -> dbt_core
   -> analytics_graph -> analytics_kol      (read-only on the build file, Parquet out)
   -> load_analytics -> dbt_marts -> publish -> report
```

* **Write-audit-publish**: every writing task works on a build copy of the warehouse;
  `publish` renames it over the served file only after every earlier task succeeded,
  so a failed run leaves the served warehouse untouched.
* Every task that writes the build DuckDB file runs in the one-slot pool
  `duckdb_writer` (DuckDB allows one writing process per file).
* With the params `mapping` and `source_dir`, `import_export` first turns a real
  platform export into canonical landing files (see docs/mappings.md); without them
  it does nothing.
* Idempotent: rerunning a day replaces that day's raw partitions and rebuilds the
  tables as of that day.
* dbt runs as one `dbt build` per layer (models and their tests together) rather
  than one Airflow task per model: the single-writer DuckDB file serialises models
  anyway, and a per-layer build keeps a quality gate between layers at ~4 s per layer
  instead of ~1-4 s per model.

Business logic lives in the `social_warehouse` package (`plugins/`); this file only wires it.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import Asset, Param, dag, task

WRITER_POOL = "duckdb_writer"
SERVED_WAREHOUSE = Asset("social_warehouse_served_warehouse")

default_args = {
    "owner": "data-engineering",
    # transient failures (a locked file, a killed worker) retry; bad input and failed
    # checks raise AirflowFailException and fail at once. SW_TASK_RETRIES overrides.
    "retries": int(os.environ.get("SW_TASK_RETRIES", "2")),
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}


def _fail(exc: Exception):
    """Bad input or a failed check: fail now, a retry would fail the same way."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(str(exc))


@dag(
    dag_id="social_warehouse_daily",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["social_warehouse", "duckdb", "dbt"],
    doc_md=__doc__,
    params={
        "landing_dir": Param(
            None, type=["null", "string"],
            description="Landing root to read <ds>/ from (default: SW_LANDING_DIR).",
        ),
        "mapping": Param(
            None, type=["null", "string"],
            description="Source mapping YAML (sources/*.yaml): import a real export into "
                        "landing/<ds>/ before ingest.",
        ),
        "source_dir": Param(
            None, type=["null", "string"],
            description="Folder of the real export the mapping reads.",
        ),
    },
)
def social_warehouse_daily():
    @task(pool=WRITER_POOL)
    def prepare_build(**context) -> dict:
        from social_warehouse.pipeline import prepare_build as run

        return run(run_id=context["run_id"], ds=context["ds"])

    @task
    def import_export(build: dict, **context) -> dict:
        from social_warehouse.pipeline import PipelineError, run_import

        params = context["params"]
        try:
            return run_import(build["ds"], params.get("mapping"), params.get("source_dir"),
                              landing_dir=params.get("landing_dir"))
        except PipelineError as exc:
            raise _fail(exc) from exc

    @task(pool=WRITER_POOL)
    def ingest(build: dict, **context) -> dict:
        from social_warehouse.pipeline import PipelineError, run_ingest

        try:
            return run_ingest(build["ds"], landing_dir=context["params"].get("landing_dir"))
        except PipelineError as exc:
            raise _fail(exc) from exc

    @task(pool=WRITER_POOL)
    def dbt_staging(build: dict) -> dict:
        from social_warehouse.pipeline import DbtBuildError, run_dbt

        try:
            return run_dbt(["tag:staging"], build["ds"], run_dir=build["run_dir"])
        except DbtBuildError as exc:
            raise _fail(exc) from exc

    @task(pool=WRITER_POOL)
    def dbt_core(build: dict) -> dict:
        from social_warehouse.pipeline import DbtBuildError, run_dbt

        try:
            return run_dbt(["tag:core"], build["ds"], run_dir=build["run_dir"])
        except DbtBuildError as exc:
            raise _fail(exc) from exc

    @task
    def analytics_graph(build: dict) -> dict:
        from social_warehouse.stages import run_graph_stage

        return run_graph_stage(build["run_id"], build["ds"])

    @task
    def analytics_kol(build: dict) -> dict:
        from social_warehouse.stages import run_kol_stage

        return run_kol_stage(build["run_id"], build["ds"])

    @task(pool=WRITER_POOL)
    def load_analytics(build: dict) -> dict:
        from social_warehouse.pipeline import load_outputs

        return load_outputs(build["run_id"])

    @task(pool=WRITER_POOL)
    def dbt_marts(build: dict) -> dict:
        from social_warehouse.pipeline import DbtBuildError, run_dbt

        try:
            return run_dbt(["tag:marts"], build["ds"], run_dir=build["run_dir"])
        except DbtBuildError as exc:
            raise _fail(exc) from exc

    @task(pool=WRITER_POOL, outlets=[SERVED_WAREHOUSE])
    def publish(build: dict) -> dict:
        from social_warehouse.pipeline import publish as run

        return run(run_id=build["run_id"], ds=build["ds"])

    @task
    def report(published: dict) -> str:
        from social_warehouse.pipeline import format_summary

        text = format_summary(published["served_path"])
        print(text)
        return published["served_path"]

    build = prepare_build()
    imported = import_export(build)
    loaded = ingest(build)
    imported >> loaded
    staged = dbt_staging(build)
    core = dbt_core(build)
    graph = analytics_graph(build)
    kol = analytics_kol(build)
    analytics_loaded = load_analytics(build)
    marts = dbt_marts(build)
    published = publish(build)
    loaded >> staged >> core >> graph >> kol >> analytics_loaded >> marts >> published
    report(published)


social_warehouse_daily()
