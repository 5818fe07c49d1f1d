"""Same landing data and config -> byte-identical core and marts, through the real DAG.

Three ``airflow dags test`` runs of one day of synthetic exports (the fewest that cover
both questions):

* data dir A: the day, then the same day again (a rerun on its own output);
* data dir B: the same day replayed from scratch in another folder.

Every core and mart table is checksummed (order-independent, exact values:
:func:`social_warehouse.pipeline.table_checksums`) after A's run, A's rerun and B's run;
all three must be equal. On a difference the message names each table and
column that differs. ``analytics.*`` checksums are printed for diagnosis.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from social_warehouse.pipeline import table_checksums
from social_warehouse.synthetic import generate

pytestmark = pytest.mark.e2e
DAYS = ["2026-03-01"]
SCHEMAS = ("core", "marts")
# timing columns measure the machine, not the data
VOLATILE = ("selection_seconds",)


def _run(settings, airflow_home: Path, ds: str, log: Path) -> None:
    from social_warehouse.cli import airflow_env, run_dag

    env = airflow_env(settings, base={**os.environ, "AIRFLOW_HOME": str(airflow_home),
                                      "SW_TASK_RETRIES": "0"})
    rc = run_dag(ds, env, log_path=log)
    assert rc == 0, log.read_text(errors="replace")[-6000:]


def _snapshot(settings, label: str, root: Path) -> dict:
    """Checksums of the served warehouse (core, marts, analytics) with per-column detail."""
    served = settings.warehouse_path
    sums = table_checksums(served, (*SCHEMAS, "analytics"), exclude=VOLATILE, columns=True)
    (root / f"checksums_{label}.json").write_text(json.dumps(sums, indent=2, sort_keys=True))
    return sums


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
def snapshots(airflow_home, tmp_path_factory) -> dict[str, dict]:
    from tests.conftest import pipeline_settings

    root = tmp_path_factory.mktemp("determinism")
    source = root / "generated"
    generate(profile="small", days=len(DAYS), seed=23, out=source, start_date=DAYS[0],
             fmt="mixed")
    out = {}
    for name in ("a", "b"):
        settings = pipeline_settings(root / name / "data")
        settings.data_dir.mkdir(parents=True)
        shutil.copytree(source / "landing", settings.landing_dir)
        for ds in DAYS:
            _run(settings, airflow_home, ds, root / f"{name}_{ds}.log")
        out[name] = _snapshot(settings, name, root)
        if name == "a":
            _run(settings, airflow_home, DAYS[-1], root / f"a_rerun_{DAYS[-1]}.log")
            out["a_rerun"] = _snapshot(settings, "a_rerun", root)
    analytics = {f"{x} vs {y}": _differences(out[x], out[y], ("analytics",))
                 for x, y in (("a", "a_rerun"), ("a", "b"))}
    print("analytics.* differences (diagnosis):", json.dumps(analytics, indent=2))
    for pair in (("a", "a_rerun"), ("a", "b")):
        print(f"core/marts differences {pair}:", _differences(out[pair[0]], out[pair[1]],
                                                               SCHEMAS))
    print("checksum files:", root)
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
    diff = _differences(snapshots["a"], snapshots["b"], SCHEMAS)
    assert not diff, "a replay of the same days changed:\n  " + "\n  ".join(diff)
