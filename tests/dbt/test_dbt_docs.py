"""dbt docs per published run, and the profile that never creates an empty database."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from social_warehouse.dbt_docs import DbtDocsError, generate_dbt_docs

from tests.conftest import VENV_BIN
from tests.dbt.test_dbt_models import D2, built  # noqa: F401  (module fixture)
from tests.helpers import query

#: Builds every dbt layer and runs `dbt docs generate` on it: in `make test`, left out of
#: `make test-fast`.
pytestmark = pytest.mark.integration


def dbt(settings, *args: str, env: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in ("SW_DBT_DUCKDB_PATH", "SW_WAREHOUSE", "SW_DBT_TARGET")}
    return subprocess.run(
        [str(VENV_BIN / "dbt"), *args, "--project-dir", str(settings.dbt_project_dir),
         "--profiles-dir", str(settings.dbt_project_dir)],
        env={**base, **env}, capture_output=True, text=True, cwd=settings.dbt_project_dir,
        timeout=600)


def test_default_profile_fails_on_a_missing_warehouse_and_creates_nothing(built, tmp_path):  # noqa: F811
    settings, _, _ = built
    missing = tmp_path / "nowhere" / "warehouse.duckdb"
    missing.parent.mkdir()
    proc = dbt(settings, "docs", "generate", "--target-path", str(tmp_path / "t"),
               "--log-path", str(tmp_path / "l"), env={"SW_WAREHOUSE": str(missing)})
    assert proc.returncode != 0
    assert "does not exist" in proc.stdout + proc.stderr
    assert re.search(r"target='?served", proc.stdout), proc.stdout[-2000:]
    assert not missing.exists() and list(missing.parent.iterdir()) == []


def test_build_target_without_a_path_fails_clearly(built, tmp_path):  # noqa: F811
    settings, _, _ = built
    proc = dbt(settings, "debug", env={"SW_DBT_TARGET": "build"})
    assert proc.returncode != 0
    assert "SW_DBT_DUCKDB_PATH" in proc.stdout + proc.stderr


def test_generate_dbt_docs_writes_an_offline_page_of_the_served_file(built, tmp_path):  # noqa: F811
    settings, build, _ = built
    build(D2)
    out = tmp_path / "reports" / "run_1" / "attempt-1" / "dbt_docs"
    result = generate_dbt_docs(out, D2, settings=settings, warehouse=settings.build_path)
    html = (out / "index.html").read_text(encoding="utf-8")
    catalog = json.loads((out / "catalog.json").read_text(encoding="utf-8"))
    assert sorted(p.name for p in out.iterdir()) == ["catalog.json", "index.html"]
    # one self-contained page: no script, stylesheet or font from the network
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"https?://", html)
    assert "model.social_warehouse.dim_users" in html  # the manifest is embedded
    assert result["models"] == sum(1 for k in catalog["nodes"] if k.startswith("model."))
    dim_users = catalog["nodes"]["model.social_warehouse.dim_users"]
    assert dim_users["metadata"]["comment"]  # persisted description, read back by the catalog
    assert all(c["comment"] for c in dim_users["columns"].values())
    # read-only: the documented file was not changed, and a rerun replaces the folder
    assert query(settings.build_path, "select count(*) from core.dim_users") == [(3,)]
    again = generate_dbt_docs(out, D2, settings=settings, warehouse=settings.build_path)
    assert again["models"] == result["models"]
    assert not list(out.parent.glob(".dbt_docs*"))


def test_generate_dbt_docs_refuses_a_missing_file(built, tmp_path):  # noqa: F811
    settings, _, _ = built
    with pytest.raises(DbtDocsError, match="does not exist"):
        generate_dbt_docs(tmp_path / "docs", D2, settings=settings,
                          warehouse=tmp_path / "missing.duckdb")
    assert not (tmp_path / "docs").exists()


def test_core_contracts_and_comments(built):  # noqa: F811
    settings, build, _ = built
    build(D2)
    rows = query(settings.build_path,
                 "select table_name, column_name, data_type, comment from duckdb_columns() "
                 "where schema_name = 'core'")
    assert rows and all(comment for *_, comment in rows)
    types = {(t, c): d for t, c, d, _ in rows}
    assert types[("dim_items", "hashtags")] == "VARCHAR[]"
    assert types[("dim_items", "hashtags_text")] == "VARCHAR"
    assert types[("dim_users", "followers_count")] == "BIGINT"
    assert query(settings.build_path, "select hashtags_text from core.dim_items "
                 "where post_id = 'p1'") == [("food 拉面",)]
