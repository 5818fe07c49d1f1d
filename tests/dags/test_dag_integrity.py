"""The DAG file: imports cleanly, stays thin, and is wired as designed."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest

from tests.conftest import REPO_ROOT

DAG_FILE = REPO_ROOT / "dags" / "social_warehouse_daily.py"
HEAVY = ["pandas", "duckdb", "dbt", "great_expectations", "networkx", "sklearn", "pyarrow",
         "numpy", "igraph", "networkit", "social_warehouse.ingest", "social_warehouse.pipeline"]


@pytest.fixture(scope="module")
def dag():
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"), include_examples=False) \
        if "include_examples" in DagBag.__init__.__code__.co_varnames \
        else DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags["social_warehouse_daily"]


def test_dag_file_has_no_heavy_top_level_imports():
    code = (
        "import runpy, sys, json; runpy.run_path(sys.argv[1]); "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(DAG_FILE)], capture_output=True,
                          text=True, check=True)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_schedule_and_run_policy(dag):
    assert dag.dag_id == "social_warehouse_daily"
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert "social_warehouse" in dag.tags
    assert dag.doc_md and "write-audit-publish" in dag.doc_md.lower()
    assert dag.schedule == "@daily"


def test_every_writer_runs_in_the_single_slot_pool(dag):
    writers = {"prepare_build", "ingest", "gate_raw", "dbt_staging", "gate_staging", "dbt_core",
               "gate_core", "load_analytics", "gate_analytics", "dbt_marts", "gate_marts",
               "publish"}
    for task_id in writers:
        assert dag.get_task(task_id).pool == "duckdb_writer", task_id


def test_retries_with_backoff(dag):
    for task in dag.tasks:
        if task.task_id == "finalize":  # records the outcome; nothing to retry
            assert task.trigger_rule == "all_done"
            continue
        assert task.retries >= 1
        assert task.retry_exponential_backoff
        assert task.retry_delay >= timedelta(seconds=10)


def test_publish_comes_after_every_build_step(dag):
    publish = dag.get_task("publish")
    upstream = publish.get_flat_relative_ids(upstream=True)
    assert {"prepare_build", "ingest", "gate_raw", "dbt_staging", "gate_staging", "dbt_core",
            "gate_core", "analytics_graph", "analytics_topics", "analytics_kol",
            "analytics_audience", "load_analytics", "gate_analytics",
            "dbt_marts", "gate_marts"} <= set(upstream)
    assert dag.get_task("finalize").upstream_task_ids == {"publish", "prepare_build"}
    assert dag.get_task("dbt_core").get_flat_relative_ids(upstream=True) >= {"dbt_staging",
                                                                              "ingest"}


def test_every_stage_is_followed_by_its_gate(dag):
    for stage, gate in [("ingest", "gate_raw"), ("dbt_staging", "gate_staging"),
                        ("dbt_core", "gate_core"), ("load_analytics", "gate_analytics"),
                        ("dbt_marts", "gate_marts")]:
        assert gate in dag.get_task(stage).downstream_task_ids


def test_analytics_tasks_do_not_take_the_writer_slot(dag):
    # they open the build file read-only and write Parquet, so they may run in parallel
    for task_id in ("analytics_graph", "analytics_topics", "analytics_kol",
                    "analytics_audience"):
        assert dag.get_task(task_id).pool != "duckdb_writer"


def test_every_data_task_declares_its_lineage(dag):
    """OpenLineage inlets/outlets on the tasks equal social_warehouse.lineage's table."""
    from social_warehouse.lineage import task_lineage

    expected = task_lineage()
    for task_id, (inputs, outputs) in expected.items():
        task = dag.get_task(task_id)
        assert [(d.namespace, d.name) for d in task.inlets] == inputs, task_id
        assert [(d.namespace, d.name) for d in task.outlets] == outputs, task_id
    data_tasks = {t.task_id for t in dag.tasks} - {"prepare_build", "import_export", "publish",
                                                   "finalize"}
    assert set(expected) == data_tasks
