"""Shared fixtures: paths, an isolated pipeline environment, an Airflow metadata DB."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"
VENV_BIN = Path(sys.executable).parent

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


_SESSION_STARTED = time.time()
#: evidence files that tests write for the people reading the run (printed at the end, also
#: when the test ran on an xdist worker, whose own output is not shown)
EVIDENCE = {"CELERY EVIDENCE": REPO_ROOT / "test-artifacts" / "celery_evidence.json"}


def pytest_terminal_summary(terminalreporter):
    for title, path in EVIDENCE.items():
        if path.is_file() and path.stat().st_mtime >= _SESSION_STARTED:
            terminalreporter.write_sep("=", title)
            terminalreporter.write_line(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the real-data tests, but {SHARED_DATASETS} is missing")
        pytest.skip(f"real datasets not available at {SHARED_DATASETS}")
    return SHARED_DATASETS


def pipeline_settings(data_dir: Path):
    """Settings for an isolated pipeline under ``data_dir`` (checkout's dbt project)."""
    from social_warehouse.config import get_settings

    return get_settings({"SW_HOME": str(REPO_ROOT), "SW_DATA_DIR": str(data_dir)})


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> Path:
    """One migrated SQLite Airflow metadata DB for the whole session (migrate costs ~8 s)."""
    from social_warehouse.cli import airflow_env, ensure_airflow

    home = tmp_path_factory.mktemp("airflow_home")
    env = airflow_env(pipeline_settings(home / "unused"), base={**os.environ,
                                                                "AIRFLOW_HOME": str(home)})
    ensure_airflow(env)
    return home


@pytest.fixture
def dag_runner(airflow_home, tmp_path):
    """Run the real DAG with ``airflow dags test`` against an isolated data dir."""
    from social_warehouse.cli import airflow_env, run_dag

    settings = pipeline_settings(tmp_path / "data")

    class Runner:
        def __init__(self):
            self.settings = settings
            self.env = airflow_env(settings, base={**os.environ, "AIRFLOW_HOME": str(airflow_home)})
            self.runs = 0

        def run(self, ds: str, conf: dict | None = None) -> tuple[int, str]:
            self.runs += 1
            log = tmp_path / "logs" / f"dag_{self.runs:02d}_{ds}.log"
            rc = run_dag(ds, self.env, conf=conf, log_path=log)
            return rc, log.read_text(encoding="utf-8", errors="replace")

    return Runner()


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "social-warehouse"), *args], capture_output=True,
                          text=True, env=env)


# ----------------------------------------------------------------------------- xdist groups

#: test files that read the shared two-day world (``daily_world`` below)
WORLD_FILES = frozenset({
    "tests/e2e/test_daily_dag.py", "tests/e2e/test_determinism.py",
    "tests/e2e/test_synthetic_truth.py", "tests/e2e/test_lineage_events.py",
    "tests/bi/test_superset_dashboard.py",
})


#: The longest work units, longest first (figures from the CI runs' ``--durations``). xdist
#: queues units by their number of tests, which puts these few-test files last: on two
#: workers the last of them then ran alone for a quarter of an hour while the other worker
#: idled. Starting them first keeps both workers busy to the end.
LONGEST_UNITS = (
    "tests/e2e/test_bad_inputs.py", "daily_world",
    "tests/e2e/test_real_datasets.py::test_movielens_score_mirror_and_evaluation",
    "tests/e2e/test_celery.py",
    "tests/e2e/test_real_datasets.py::test_lastfm_recommenders_and_reconciliation",
    "tests/e2e/test_faults.py", "tests/bi/test_bi_reflection.py",
    "tests/e2e/test_real_datasets.py::test_email_eu_core_communities_against_departments",
    "tests/e2e/test_real_datasets.py::test_instagram_scores_against_the_files_own_ranking",
    "tests/bi/test_bi_concurrency.py", "tests/unit/test_pipeline_reliability.py",
)
#: Files whose tests share nothing but session fixtures: one work unit per test.
PER_TEST_FILES = frozenset({"tests/e2e/test_real_datasets.py"})


def pytest_xdist_make_scheduler(config, log):
    """``pytest -n N --dist loadfile`` (``make test``): one work unit per test file, except
    that the files reading the shared two-day world are one unit, so the world's DAG runs
    happen once, on one worker, and each real-dataset test is a unit of its own; the
    longest units are handed out first (``LONGEST_UNITS``). (xdist's ``loadgroup`` marks
    do not work with pytest 9: xdist 3.8 renames ``item._nodeid``, which pytest 9 no
    longer reads.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class WorldScheduling(LoadFileScheduling):
        _ordered = False

        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            if path in WORLD_FILES:
                return "daily_world"
            return nodeid.split("[", 1)[0] if path in PER_TEST_FILES else path

        def _assign_work_unit(self, node) -> None:
            if not self._ordered:  # the first call: the queue is complete
                self._ordered = True
                rank = {scope: i for i, scope in enumerate(LONGEST_UNITS)}
                ordered = sorted(self.workqueue.items(),
                                 key=lambda kv: rank.get(kv[0], len(rank)))
                self.workqueue.clear()
                self.workqueue.update(ordered)
            super()._assign_work_unit(node)

    return WorldScheduling(config, log)


# ------------------------------------------------------------------- the shared two-day world

WORLD_DAYS = ["2026-03-01", "2026-03-02"]
WORLD_SEED = 11
#: timing columns measure the machine, not the data
VOLATILE_COLUMNS = ("selection_seconds",)


def world_checksums(warehouse: Path) -> dict:
    """Per-table and per-column checksums of core, marts and analytics (volatile excluded)."""
    from social_warehouse.pipeline import table_checksums

    return table_checksums(warehouse, ("core", "marts", "analytics"),
                           exclude=VOLATILE_COLUMNS, columns=True)


@dataclass
class DailyWorld:
    """Two days of the ``small`` profile (seed 11, day 2 with three quarantined rows)
    published by two real ``airflow dags test`` runs.

    ``settings``/``env`` are the live data dir (tests may run further days in it);
    ``frozen`` is a copy of the data dir taken right after day 2, for readers that need
    exactly the two published days whatever ran later; ``checksums_day1`` are the served
    tables' checksums after day 1 (for the replay comparison).
    """

    settings: object
    gen: object
    env: dict
    root: Path
    frozen: object
    checksums_day1: dict
    checksums_day2: dict

    def run(self, ds: str, log_name: str, settings=None) -> None:
        """One more real DAG run of ``ds`` (in ``settings``' data dir, default the live one)."""
        from social_warehouse.cli import airflow_env, run_dag

        env = self.env if settings is None else airflow_env(settings, base=self.env)
        log = self.root / log_name
        rc = run_dag(ds, env, log_path=log)
        assert rc == 0, log.read_text(errors="replace")[-6000:]


@pytest.fixture(scope="session")
def daily_world(airflow_home, tmp_path_factory) -> DailyWorld:
    """The one shared DAG-run world of the suite: tests/e2e/test_daily_dag.py,
    test_determinism.py, test_synthetic_truth.py and tests/bi/test_superset_dashboard.py
    read it instead of running the same two days each (each DAG day costs minutes)."""
    from social_warehouse.cli import airflow_env, run_dag
    from social_warehouse.synthetic import generate

    root = tmp_path_factory.mktemp("daily_world")
    settings = pipeline_settings(root / "data")
    gen = generate(profile="small", days=len(WORLD_DAYS), seed=WORLD_SEED,
                   out=settings.data_dir, start_date=WORLD_DAYS[0], fmt="mixed",
                   quarantine_day=1)
    assert gen.dates == WORLD_DAYS
    env = airflow_env(settings, base={**os.environ, "AIRFLOW_HOME": str(airflow_home),
                                      "SW_TASK_RETRIES": "0"})
    sums = []
    for i, ds in enumerate(WORLD_DAYS):
        log = root / f"run_{i}_{ds}.log"
        rc = run_dag(ds, env, log_path=log)
        assert rc == 0, log.read_text(errors="replace")[-6000:]
        sums.append(world_checksums(settings.warehouse_path))
    frozen_dir = root / "frozen" / "data"
    shutil.copytree(settings.data_dir, frozen_dir, ignore=shutil.ignore_patterns("*.lock"))
    return DailyWorld(settings=settings, gen=gen, env=env, root=root,
                      frozen=pipeline_settings(frozen_dir), checksums_day1=sums[0],
                      checksums_day2=sums[1])


@pytest.fixture(scope="session")
def world_rerun(daily_world) -> dict:
    """Day 2 of the shared world run again on its own output: checksums before and after."""
    daily_world.run(WORLD_DAYS[1], "rerun_day2.log")
    return {"before": daily_world.checksums_day2,
            "after": world_checksums(daily_world.settings.warehouse_path)}
