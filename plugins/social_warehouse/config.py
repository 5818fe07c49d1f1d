"""Runtime settings, from environment variables with embedded defaults.

=======================  ======================================  =================================
variable                 meaning                                 default
=======================  ======================================  =================================
``SW_HOME``              project root (holds ``dbt_project/``)   the repository checkout
``SW_DATA_DIR``          everything the pipeline writes          ``$SW_HOME/data``
``SW_LANDING_DIR``       landing zone, one folder per ``ds``     ``$SW_DATA_DIR/landing``
``SW_WAREHOUSE``         the served DuckDB file (BI reads)       ``$SW_DATA_DIR/warehouse.duckdb``
``SW_BUILD_DIR``         working copy built and audited per run  ``$SW_DATA_DIR/build``
``SW_RUNS_DIR``          per-run artefacts (Parquet, logs)       ``$SW_DATA_DIR/runs``
``SW_DBT_PROJECT_DIR``   dbt project                             ``$SW_HOME/dbt_project``
``SW_EXPECTATIONS_DIR``  Great Expectations project              ``$SW_HOME/expectations``
=======================  ======================================  =================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "get_settings", "WRITER_POOL"]

#: The Airflow pool every task that writes the build DuckDB file runs in (one slot).
WRITER_POOL = "duckdb_writer"

_PACKAGE_DIR = Path(__file__).resolve().parent


def _default_home() -> Path:
    # plugins/social_warehouse/config.py -> repository root, when run from a checkout.
    candidate = _PACKAGE_DIR.parent.parent
    if (candidate / "dbt_project").is_dir():
        return candidate
    return Path.cwd()


@dataclass(frozen=True)
class Settings:
    home: Path
    data_dir: Path
    landing_dir: Path
    warehouse_path: Path
    build_dir: Path
    runs_dir: Path
    dbt_project_dir: Path
    expectations_dir: Path

    @property
    def build_path(self) -> Path:
        """The working DuckDB file a run writes before it is published."""
        return self.build_dir / "warehouse.duckdb"

    def run_dir(self, run_id: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in run_id)
        return self.runs_dir / safe


def get_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Resolve the settings from ``env`` (default: ``os.environ``)."""
    if env is None:
        env = os.environ
    home = Path(env.get("SW_HOME") or _default_home()).resolve()
    data = Path(env.get("SW_DATA_DIR") or home / "data").resolve()
    return Settings(
        home=home,
        data_dir=data,
        landing_dir=Path(env.get("SW_LANDING_DIR") or data / "landing").resolve(),
        warehouse_path=Path(env.get("SW_WAREHOUSE") or data / "warehouse.duckdb").resolve(),
        build_dir=Path(env.get("SW_BUILD_DIR") or data / "build").resolve(),
        runs_dir=Path(env.get("SW_RUNS_DIR") or data / "runs").resolve(),
        dbt_project_dir=Path(env.get("SW_DBT_PROJECT_DIR") or home / "dbt_project").resolve(),
        expectations_dir=Path(env.get("SW_EXPECTATIONS_DIR") or home / "expectations").resolve(),
    )
