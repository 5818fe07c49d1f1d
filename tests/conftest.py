"""Shared fixtures: paths, an isolated pipeline environment, an Airflow metadata DB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"
VENV_BIN = Path(sys.executable).parent

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


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
