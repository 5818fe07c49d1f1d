"""The real DAG, run by ``airflow dags test`` on two consecutive days of synthetic exports."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from social_warehouse.synthetic import generate

from tests.helpers import query

pytestmark = pytest.mark.e2e
DAYS = ["2026-03-01", "2026-03-02"]


def read_landing(path: Path) -> pd.DataFrame:
    """Read a landing file independently of the ingest code (pandas / pyarrow)."""
    name = path.name
    if name.endswith(".parquet"):
        return pq.read_table(path).to_pandas()
    if ".jsonl" in name:
        return pd.read_json(path, lines=True, dtype=False,
                            compression="gzip" if name.endswith(".gz") else None)
    return pd.read_csv(path, dtype=str, keep_default_na=False,
                       compression="gzip" if name.endswith(".gz") else None)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def two_days(airflow_home, tmp_path_factory):
    import os

    from social_warehouse.cli import airflow_env, run_dag

    from tests.conftest import pipeline_settings

    root = tmp_path_factory.mktemp("e2e")
    settings = pipeline_settings(root / "data")
    gen = generate(profile="small", days=2, seed=11, out=settings.data_dir,
                   start_date=DAYS[0], fmt="mixed")
    env = airflow_env(settings, base={**os.environ, "AIRFLOW_HOME": str(airflow_home),
                                      "SW_TASK_RETRIES": "0"})
    logs = []
    for i, ds in enumerate(DAYS):
        log = root / f"run_{i}_{ds}.log"
        rc = run_dag(ds, env, log_path=log)
        logs.append(log.read_text(errors="replace"))
        assert rc == 0, logs[-1][-5000:]
    return settings, gen, env, root


q = query


def test_served_warehouse_has_every_core_table(two_days):
    settings, *_ = two_days
    served = settings.warehouse_path
    assert served.exists()
    assert not settings.build_path.exists()  # the build file became the served file
    tables = {f"{s}.{t}" for s, t in q(served, "select table_schema, table_name from "
                                        "information_schema.tables")}
    for t in ["raw.users", "raw.interactions_rejects", "raw.input_files", "core.dim_users",
              "core.dim_items", "core.fct_interactions", "core.fct_follow_edges",
              "core.fct_user_edges", "core.fct_user_item_scores", "core.dim_campaigns"]:
        assert t in tables
    assert [r[0].isoformat() for r in q(served, "select ds from meta.publications order by 1")] \
        == DAYS


def test_every_landing_file_reconciles(two_days):
    settings, gen, *_ = two_days
    served = settings.warehouse_path
    recorded = {r[0]: r[1:] for r in q(served, "select path, rows_read, rows_loaded, "
                                       "rows_rejected, sha256 from raw.input_files")}
    files = [p for ds in DAYS for p in sorted((settings.landing_dir / ds).iterdir())
             if not p.name.startswith("_")]
    assert len(files) == 10 and set(map(str, files)) == set(recorded)
    for path in files:
        read, loaded, rejected, digest = recorded[str(path)]
        assert read == len(read_landing(path)), path
        assert loaded + rejected == read
        assert digest == sha256(path)
        entity = path.name.split(".")[0]
        assert q(served, f"select count(*) from raw.{entity} where _source_file = ?",
                 [str(path)]) == [(loaded,)]


def test_core_tables_reconcile_with_the_exports(two_days):
    settings, *_ = two_days
    served = settings.warehouse_path

    def landing(entity):
        frames = [read_landing(p) for ds in DAYS
                  for p in (settings.landing_dir / ds).glob(f"{entity}.*")]
        return pd.concat(frames, ignore_index=True).astype(str)

    users, posts, events, follows = (landing(e) for e in
                                     ("users", "posts", "interactions", "follows"))
    assert q(served, "select count(*) from core.dim_users") == [(users.user_id.nunique(),)]
    assert q(served, "select count(*) from core.dim_items") == [(posts.post_id.nunique(),)]
    assert q(served, "select count(*) from core.fct_interactions") == [
        (events.event_id.nunique(),)]
    edges = follows[follows.follower_id != follows.followee_id]
    n_edges = len(edges.drop_duplicates(["follower_id", "followee_id"]))
    assert q(served, "select count(*) from core.fct_follow_edges") == [(n_edges,)]
    # the generator's reported counts are consistent with its edges: so are ours
    mismatched = q(served, "select count(*) from core.dim_users "
                   "where followers_count <> reported_followers_count")
    assert mismatched == [(0,)]
    assert q(served, "select count(*) from core.fct_interactions "
             "where not has_known_user or not has_known_item") == [(0,)]


def test_rerun_of_a_day_replaces_it_and_gives_the_same_tables(two_days):
    settings, _, env, root = two_days
    from social_warehouse.cli import run_dag

    served = settings.warehouse_path
    core_sql = ("select (select count(*) from core.fct_interactions), "
                "(select sum(score) from core.fct_user_item_scores), "
                "(select count(*) from raw.interactions)")
    before = q(served, core_sql)
    rc = run_dag(DAYS[1], env, log_path=root / "rerun.log")
    assert rc == 0, (root / "rerun.log").read_text()[-4000:]
    after = q(served, core_sql)
    assert after[0][0] == before[0][0] and after[0][2] == before[0][2]
    assert after[0][1] == pytest.approx(before[0][1], rel=1e-12)
    assert len(q(served, "select * from meta.publications")) == 3


def test_failed_run_leaves_the_served_warehouse_untouched(two_days):
    settings, _, env, root = two_days
    from social_warehouse.cli import run_dag

    served = settings.warehouse_path
    bad_day = settings.landing_dir / "2026-03-03"
    bad_day.mkdir()
    (bad_day / "users.csv").write_text("user_id,handle\nu1,x\n")  # required columns missing
    digest = sha256(served)
    rc = run_dag("2026-03-03", env, log_path=root / "bad.log")
    log = (root / "bad.log").read_text(errors="replace")
    assert rc != 0
    assert "missing required column" in log and "users.csv" in log
    assert sha256(served) == digest
    # a corrected delivery publishes normally
    (bad_day / "users.csv").unlink()
    for src in (settings.landing_dir / DAYS[1]).iterdir():
        (bad_day / src.name).write_bytes(src.read_bytes()) if src.name.startswith("follows") \
            else None
    rc = run_dag("2026-03-03", env, log_path=root / "fixed.log")
    assert rc == 0, (root / "fixed.log").read_text()[-4000:]
    assert sha256(served) != digest
    assert json.loads((settings.data_dir / "published.json").read_text())["ds"] == "2026-03-03"
