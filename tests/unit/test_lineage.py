"""Task-level lineage (social_warehouse.lineage) derived from the dbt project and the DAG."""

from __future__ import annotations

from collections import defaultdict

import pytest
from social_warehouse import lineage
from social_warehouse.contract import ENTITIES

from tests.conftest import REPO_ROOT, pipeline_settings


@pytest.fixture(scope="module")
def task_lineage(tmp_path_factory):
    return lineage.task_lineage(pipeline_settings(tmp_path_factory.mktemp("lineage") / "data"))


def reachable(task_lineage, start: str) -> set[str]:
    """Every dataset name reachable from the dataset named ``start`` through the tasks."""
    edges = defaultdict(set)
    for inputs, outputs in task_lineage.values():
        for _, i in inputs:
            edges[i] |= {o for _, o in outputs}
    seen, todo = set(), [start]
    while todo:
        for nxt in edges[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_every_landing_entity_reaches_the_marts(task_lineage):
    landing = [i for _, i in task_lineage["ingest"][0]]
    assert len(landing) == len(ENTITIES)
    marts = {o for _, o in task_lineage["dbt_marts"][1]}
    assert len(marts) == len(list((REPO_ROOT / "dbt_project" / "models" / "marts").glob("*.sql")))
    # interactions feed every analytics family; follows feed the graph marts
    from_events = reachable(task_lineage, next(x for x in landing if x.endswith("/interactions")))
    assert {"marts.mart_kol_leaderboard", "marts.mart_user_recommendations",
            "marts.mart_topics", "marts.mart_campaign_performance"} <= from_events
    from_follows = reachable(task_lineage, next(x for x in landing if x.endswith("/follows")))
    assert {"analytics_outputs/graph_user_metrics", "analytics.graph_user_metrics",
            "marts.mart_user_graph_metrics", "marts.mart_communities"} <= from_follows


def test_analytics_tasks_read_and_write_only_parquet(task_lineage):
    storage = {ns for ns, _ in task_lineage["export_analytics_inputs"][1]}
    assert len(storage) == 1 and next(iter(storage)).startswith("file://")
    for task in ("analytics_graph", "analytics_topics", "analytics_kol", "analytics_audience"):
        inputs, outputs = task_lineage[task]
        assert inputs and outputs, task
        assert {ns for ns, _ in inputs + outputs} == storage, task
    # each analytics model has exactly one producing task, and load_analytics reads them all
    produced = [o for t, (_, outs) in task_lineage.items() if t.startswith("analytics_")
                for _, o in outs]
    assert len(produced) == len(set(produced))
    assert sorted(produced) == sorted(i for _, i in task_lineage["load_analytics"][0])


def test_the_copy_of_the_exported_relations_matches_the_pipeline():
    from social_warehouse.pipeline import ANALYTICS_INPUTS

    assert lineage.ANALYTICS_INPUTS == ANALYTICS_INPUTS


def test_an_s3_storage_root_names_the_bucket_and_keeps_the_prefix(monkeypatch, tmp_path):
    monkeypatch.setenv("SW_STORAGE_ROOT", "s3://team-bucket/social/prod")
    lin = lineage.task_lineage(pipeline_settings(tmp_path / "data"))
    (ns, name), *_ = lin["export_analytics_inputs"][1]
    assert ns == "s3://team-bucket" and name.startswith("social/prod/analytics_inputs/core.")


def test_openlineage_settings_default_off_and_custom(tmp_path):
    import json

    from social_warehouse.airflow_setup import openlineage_settings

    s = pipeline_settings(tmp_path / "data")
    default = openlineage_settings(s, {})
    transport = json.loads(default["transport"])
    assert transport["type"] == "file" and default["disabled"] == "False"
    assert transport["log_file_path"].startswith(str(s.data_dir / "lineage"))
    assert (s.data_dir / "lineage").is_dir()
    assert openlineage_settings(s, {"SW_LINEAGE": "off"}) == {"disabled": "True"}
    custom = '{"type": "http", "url": "http://127.0.0.1:5000"}'
    assert openlineage_settings(s, {"SW_OPENLINEAGE_TRANSPORT": custom})["transport"] == custom
