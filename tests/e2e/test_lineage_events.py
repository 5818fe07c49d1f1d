"""OpenLineage events of real DAG runs: every data task emits what it read and wrote, and
the events alone connect the landing files to the marts.

The shared two-day world (``daily_world``, tests/conftest.py) runs with the project's
default OpenLineage settings: the provider's listener writes one JSON event per file into
``<data dir>/lineage/``.
"""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from social_warehouse.lineage import task_lineage

pytestmark = pytest.mark.e2e
DAG_ID = "social_warehouse_daily"


@pytest.fixture(scope="module")
def complete_events(daily_world) -> dict[str, list[dict]]:
    """COMPLETE events of the world's task runs by task id."""
    folder = daily_world.settings.data_dir / "lineage"
    events = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("event*"))]
    assert events, f"no OpenLineage events in {folder}"
    by_task: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        name = e.get("job", {}).get("name", "")
        if e.get("eventType") == "COMPLETE" and name.startswith(f"{DAG_ID}."):
            by_task[name.split(".", 1)[1]].append(e)
    print({t: len(v) for t, v in sorted(by_task.items())})
    return by_task


def _refs(datasets: list[dict]) -> list[tuple[str, str]]:
    return sorted((d["namespace"], d["name"]) for d in datasets)


def test_every_data_task_emitted_its_inputs_and_outputs_on_each_day(daily_world,
                                                                     complete_events):
    expected = task_lineage(daily_world.settings)
    for task, (inputs, outputs) in expected.items():
        events = complete_events.get(task, [])
        assert len(events) >= 2, f"{task}: {len(events)} COMPLETE events for two days"
        for e in events:
            assert _refs(e["inputs"]) == sorted(inputs), task
            assert _refs(e["outputs"]) == sorted(outputs), task


def test_the_events_alone_connect_landing_files_to_the_marts(complete_events):
    edges: dict[tuple, set] = defaultdict(set)
    for events in complete_events.values():
        for e in events:
            for i in e["inputs"]:
                edges[(i["namespace"], i["name"])] |= {(o["namespace"], o["name"])
                                                      for o in e["outputs"]}
    (ingest,) = {tuple(_refs(e["inputs"])) for e in complete_events["ingest"]}
    seen: set = set()
    todo = [r for r in ingest if r[1].endswith("/interactions")]
    assert todo
    while todo:
        for nxt in edges[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    names = {n for _, n in seen}
    assert {"raw.interactions", "staging.stg_interactions", "core.fct_interactions",
            "analytics_inputs/core.fct_interactions", "analytics_outputs/kol_scores",
            "analytics.kol_scores", "marts.mart_kol_leaderboard",
            "marts.mart_user_recommendations"} <= names
