"""Same landing data and config -> byte-identical core and marts, through the real DAG.

Built on the suite's shared two-day world (``daily_world`` in tests/conftest.py, real
``airflow dags test`` runs), with one more DAG run of its own:

* the world's day 2 run again on its own output (``world_rerun``, shared with
  test_daily_dag.py) must leave every core and mart table as it was;
* the world's day 1 replayed from scratch in another data dir must give the tables the
  world served after its day 1.

Every core and mart table is checksummed (order-independent, exact values:
:func:`social_warehouse.pipeline.table_checksums`). On a difference the message names each
table and column that differs. ``analytics.*`` differences are printed for diagnosis.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import WORLD_DAYS, pipeline_settings, world_checksums

pytestmark = pytest.mark.e2e
SCHEMAS = ("core", "marts")


def _differences(a: dict, b: dict, schemas: tuple[str, ...]) -> list[str]:
    out = []
    for name in sorted(set(a) | set(b)):
        if name.split(".")[0] not in schemas:
            continue
        if name not in a or name not in b:
            out.append(f"{name}: only in {'first' if name in a else 'second'}")
            continue
        x, y = a[name], b[name]
        if (x["rows"], x["checksum"]) == (y["rows"], y["checksum"]):
            continue
        cols = sorted(c for c in x["columns"] if x["columns"][c] != y["columns"].get(c))
        out.append(f"{name}: rows {x['rows']} vs {y['rows']}; differing columns: "
                   f"{', '.join(cols) or '(none alone: row pairing differs)'}")
    return out


@pytest.fixture(scope="module")
def snapshots(daily_world, world_rerun) -> dict[str, dict]:
    w = daily_world
    replay = pipeline_settings(w.root / "replay" / "data")
    replay.landing_dir.mkdir(parents=True)
    shutil.copytree(w.settings.landing_dir / WORLD_DAYS[0], replay.landing_dir / WORLD_DAYS[0])
    w.run(WORLD_DAYS[0], "replay_day1.log", settings=replay)
    out = {"a": w.checksums_day2, "a_rerun": world_rerun["after"],
           "a_day1": w.checksums_day1, "b_day1": world_checksums(replay.warehouse_path)}
    for name, sums in out.items():
        (w.root / f"checksums_{name}.json").write_text(json.dumps(sums, indent=2, sort_keys=True))
    pairs = (("a", "a_rerun"), ("a_day1", "b_day1"))
    analytics = {f"{x} vs {y}": _differences(out[x], out[y], ("analytics",)) for x, y in pairs}
    print("analytics.* differences (diagnosis):", json.dumps(analytics, indent=2))
    for x, y in pairs:
        print(f"core/marts differences {x} vs {y}:", _differences(out[x], out[y], SCHEMAS))
    print("checksum files:", w.root)
    return out


def test_every_core_and_mart_table_is_checksummed(snapshots):
    tables = {name.split(".")[0] for name in snapshots["a"]}
    assert {"core", "marts"} <= tables
    assert sum(1 for n in snapshots["a"] if n.startswith("marts.")) >= 10
    assert all(v["rows"] > 0 for n, v in snapshots["a"].items() if n.startswith("core."))


def test_rerun_of_a_day_gives_byte_identical_core_and_marts(snapshots):
    diff = _differences(snapshots["a"], snapshots["a_rerun"], SCHEMAS)
    assert not diff, "rerun of the same day changed:\n  " + "\n  ".join(diff)


def test_replay_in_another_data_dir_gives_byte_identical_core_and_marts(snapshots):
    diff = _differences(snapshots["a_day1"], snapshots["b_day1"], SCHEMAS)
    assert not diff, "a replay of the same day changed:\n  " + "\n  ".join(diff)
