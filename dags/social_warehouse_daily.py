"""
### social_warehouse_daily

One run per logical date `ds`: the social exports in `landing/<ds>/` become the
served DuckDB warehouse that BI tools read.

```
prepare_build -> import_export -> ingest -> gate_raw
  -> dbt_staging -> gate_staging -> dbt_core -> gate_core -> export_analytics_inputs
  -> analytics_graph + analytics_topics -> analytics_kol -> analytics_audience
                                             (read-only on the build file, Parquet out)
  -> load_analytics -> gate_analytics -> dbt_marts -> gate_marts
  -> publish -> finalize (audit record + reports)
```

* **Write-audit-publish**: every writing task works on a build copy of the warehouse;
  `publish` renames it over the served file only after every gate passed, so a failed
  run leaves the served warehouse byte-for-byte as it was.
* **Gates**: Great Expectations suites (`expectations/`) after every stage; a failed
  gate fails its task with a message naming stage, table, column, expectation, observed
  value and examples, and nothing downstream runs.
* **Audit**: `finalize` always runs; it records the run (success or failure, with the
  reason) in the audit store under `data/audit/` and rebuilds the offline run reports in
  `data/reports/`. A run that did not publish ends failed.
* Every task that writes the build DuckDB file runs in the one-slot pool
  `duckdb_writer` (DuckDB allows one writing process per file).
* With the params `mapping` and `source_dir`, `import_export` first turns a real
  platform export into canonical landing files (see docs/mappings.md); without them
  it does nothing.
* Idempotent: rerunning a day replaces that day's raw partitions and rebuilds the
  tables as of that day.
* Lineage: every task declares its inputs and outputs (landing files, DuckDB tables,
  Parquet) for OpenLineage; by default the events go to `data/lineage/`.
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
from social_warehouse.lineage import dag_lineage
from social_warehouse.notify import RunFailureNotifier

WRITER_POOL = "duckdb_writer"
# Celery queue of every task that touches the DuckDB files or the data dir: pin it to the
# writer host (`airflow celery worker --queues default,duckdb_writer`). Analytics tasks
# read Parquet from the storage root and run on the default queue, on any worker.
WRITER_QUEUE = "duckdb_writer"
SERVED_WAREHOUSE = Asset("social_warehouse_served_warehouse")

# execution_timeout per task class, sized from the `large` profile (1M users, issue 12:
# slowest writer dbt_core 45 s, slowest gate 70 s, slowest analytics task 407 s on day 2,
# whole run 19 min on a quiet 2-core machine) with a wide margin for load and growth:
# a hung task frees the one-slot writer pool after this long instead of never.
WRITER_TIMEOUT = timedelta(minutes=60)
GATE_TIMEOUT = timedelta(minutes=30)
ANALYTICS_TIMEOUT = timedelta(minutes=90)
DAGRUN_TIMEOUT = timedelta(hours=6)
WRITER = {"pool": WRITER_POOL, "queue": WRITER_QUEUE, "execution_timeout": WRITER_TIMEOUT}
GATE = {"pool": WRITER_POOL, "queue": WRITER_QUEUE, "execution_timeout": GATE_TIMEOUT}
ANALYTICS = {"queue": "default", "execution_timeout": ANALYTICS_TIMEOUT}
# OpenLineage inlets/outlets per task (landing -> raw -> ... -> marts; social_warehouse.lineage)
LINEAGE = dag_lineage()

default_args = {
    "owner": "data-engineering",
    # transient failures (a locked file, a killed worker) retry; bad input, bad config and
    # failed checks raise AirflowFailException and fail at once (notify.is_permanent).
    # SW_TASK_RETRIES overrides the count.
    "retries": int(os.environ.get("SW_TASK_RETRIES", "2")),
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": WRITER_TIMEOUT,
    # one notification per failed task (after its last try): file + log by default,
    # webhook / Slack / SMTP by configuration (see social_warehouse.notify)
    "on_failure_callback": [RunFailureNotifier()],
}


def _step(build: dict, name: str, func, *args, **kwargs):
    """Run one pipeline step; a deterministic failure is recorded and fails the task now."""
    from social_warehouse.notify import is_permanent
    from social_warehouse.pipeline import PipelineError, jsonable, record_error
    from social_warehouse.taskmetrics import measure

    try:
        # wall, CPU and peak RSS of this task's process tree -> runs/<run_id>/task_metrics.jsonl
        with measure(build["run_id"], name):
            result = func(*args, **kwargs)
        return jsonable(result)
    except Exception as exc:
        from airflow.sdk.exceptions import AirflowFailException

        message = str(exc) if isinstance(exc, PipelineError) else f"{type(exc).__name__}: {exc}"
        record_error(build["run_id"], name, message)
        if is_permanent(exc):  # a retry would repeat it
            raise AirflowFailException(message) from exc
        raise


@dag(
    dag_id="social_warehouse_daily",
    description="Daily social exports -> gated DuckDB warehouse (write-audit-publish) for BI",
    schedule="@daily",
    dagrun_timeout=DAGRUN_TIMEOUT,
    # early, so that backfills of historic exports (Last.fm 2011) run their tasks
    start_date=datetime(2000, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["social_warehouse", "duckdb", "dbt", "great_expectations"],
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
        "thresholds": Param(
            None, type=["null", "string"],
            description="Thresholds overlay for the quality gates (e.g. "
                        "sources/lastfm_hetrec2011.thresholds.yml).",
        ),
    },
)
def social_warehouse_daily():
    @task(**WRITER)
    def prepare_build(**context) -> dict:
        from social_warehouse.pipeline import prepare_build as run
        from social_warehouse.taskmetrics import measure

        with measure(context["run_id"], "prepare_build"):
            return run(run_id=context["run_id"], ds=context["ds"])

    @task(queue=WRITER_QUEUE)  # writes the landing folder on the writer host
    def import_export(build: dict, **context) -> dict:
        from social_warehouse.pipeline import run_import

        params = context["params"]
        return _step(build, "import_export", run_import, build["ds"], params.get("mapping"),
                     params.get("source_dir"), landing_dir=params.get("landing_dir"))

    @task(**WRITER, **LINEAGE.get("ingest", {}))
    def ingest(build: dict, **context) -> dict:
        from social_warehouse.pipeline import run_ingest

        return _step(build, "ingest", run_ingest, build["ds"],
                     landing_dir=context["params"].get("landing_dir"), run_id=build["run_id"])

    def gate(stage: str):
        @task(task_id=f"gate_{stage}", **GATE, **LINEAGE.get(f"gate_{stage}", {}))
        def run_gate(build: dict, **context) -> str:
            from social_warehouse.pipeline import run_quality_gate

            return _step(build, f"gate_{stage}", run_quality_gate, stage, build["run_id"],
                         build["ds"], thresholds=context["params"].get("thresholds"))

        return run_gate

    def dbt_layer(layer: str):
        @task(task_id=f"dbt_{layer}", **WRITER, **LINEAGE.get(f"dbt_{layer}", {}))
        def run_layer(build: dict) -> dict:
            from social_warehouse.pipeline import run_dbt

            return _step(build, f"dbt_{layer}", run_dbt, [f"tag:{layer}"], build["ds"],
                         run_id=build["run_id"])

        return run_layer

    @task(**ANALYTICS, **LINEAGE.get("analytics_graph", {}))
    def analytics_graph(build: dict) -> dict:
        from social_warehouse.pipeline import run_settings
        from social_warehouse.stages import run_graph_stage

        return _step(build, "analytics_graph", run_graph_stage, build["run_id"], build["ds"],
                     settings=run_settings(build["run_id"]))

    @task(**ANALYTICS, **LINEAGE.get("analytics_topics", {}))
    def analytics_topics(build: dict) -> dict:
        from social_warehouse.pipeline import run_settings
        from social_warehouse.stages import run_topics_stage

        return _step(build, "analytics_topics", run_topics_stage, build["run_id"], build["ds"],
                     settings=run_settings(build["run_id"]))

    @task(**ANALYTICS, **LINEAGE.get("analytics_audience", {}))
    def analytics_audience(build: dict) -> dict:
        from social_warehouse.pipeline import run_settings
        from social_warehouse.stages import run_audience_stage

        return _step(build, "analytics_audience", run_audience_stage, build["run_id"],
                     build["ds"], settings=run_settings(build["run_id"]))

    @task(**ANALYTICS, **LINEAGE.get("analytics_kol", {}))
    def analytics_kol(build: dict) -> dict:
        from social_warehouse.pipeline import run_settings
        from social_warehouse.stages import run_kol_stage

        return _step(build, "analytics_kol", run_kol_stage, build["run_id"], build["ds"],
                     settings=run_settings(build["run_id"]))

    @task(**WRITER, **LINEAGE.get("export_analytics_inputs", {}))
    def export_analytics_inputs(build: dict) -> dict:
        from social_warehouse.pipeline import export_analytics_inputs as run

        return _step(build, "export_analytics_inputs", run, build["run_id"])

    @task(**WRITER, **LINEAGE.get("load_analytics", {}))
    def load_analytics(build: dict) -> dict:
        from social_warehouse.pipeline import load_outputs

        return _step(build, "load_analytics", load_outputs, build["run_id"])

    @task(**WRITER, outlets=[SERVED_WAREHOUSE])
    def publish(build: dict) -> dict:
        from social_warehouse.pipeline import publish as run

        return _step(build, "publish", run, run_id=build["run_id"], ds=build["ds"])

    # records the outcome of a failed run too; its own failure ("not published") repeats the
    # failure already notified, so it notifies nobody
    @task(trigger_rule="all_done", retries=0, queue=WRITER_QUEUE, on_failure_callback=[])
    def finalize(build: dict) -> dict:
        from social_warehouse.pipeline import finalize_run, format_summary

        report = _step(build, "finalize", finalize_run, build["run_id"], build["ds"])
        from social_warehouse.config import get_settings

        print(format_summary(get_settings().warehouse_path))
        return report

    build = prepare_build()
    core_gate = gate("core")(build)
    chain = [
        import_export(build),
        ingest(build),
        gate("raw")(build),
        dbt_layer("staging")(build),
        gate("staging")(build),
        dbt_layer("core")(build),
        core_gate,
        export_analytics_inputs(build),
    ]
    # graph and topics are independent; KOL scores use both; audience uses KOL flags
    graph, topics = analytics_graph(build), analytics_topics(build)
    kol = analytics_kol(build)
    tail = [
        kol,
        analytics_audience(build),
        load_analytics(build),
        gate("analytics")(build),
        dbt_layer("marts")(build),
        gate("marts")(build),
        publish(build),
        finalize(build),
    ]
    for upstream, downstream in zip(chain, chain[1:], strict=False):
        upstream >> downstream
    chain[-1] >> [graph, topics] >> kol
    for upstream, downstream in zip(tail, tail[1:], strict=False):
        upstream >> downstream


social_warehouse_daily()
