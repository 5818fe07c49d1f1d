"""The real DAG, run by ``airflow dags test`` on two consecutive days of synthetic exports
(the suite's shared ``daily_world``, tests/conftest.py).

A failed delivery leaving the served warehouse untouched, then its corrected rerun, is run
once through the real DAG in test_bad_inputs.py (good day, gate failure, fixed); failures
of each kind (a missing required column among them) are in its in-process matrix.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.conftest import WORLD_DAYS
from tests.helpers import query

pytestmark = pytest.mark.e2e
DAYS = WORLD_DAYS


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
def two_days(daily_world):
    """The suite's shared two-day world (tests/conftest.py: ``daily_world``)."""
    w = daily_world
    return w.settings, w.gen, w.env, w.root


q = query


def test_served_warehouse_has_every_core_table(two_days):
    settings, *_ = two_days
    served = settings.warehouse_path
    assert served.exists()
    assert not list(settings.build_dir.glob("*.duckdb"))  # the build file became the served file
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
    # day 2 carries three rows with unparseable timestamps: quarantined with a reason, and
    # every other exported event is in the fact table
    bad = set(events.event_id[events.event_id.str.startswith("q")])
    assert len(bad) == 3
    rejected = q(served, "select raw_record, reason from raw.interactions_rejects")
    assert len(rejected) == 3
    assert all(any(b in rec for b in bad) and "occurred_at" in reason for rec, reason in rejected)
    assert q(served, "select count(*) from core.fct_interactions") == [
        (events.event_id.nunique() - len(bad),)]
    edges = follows[follows.follower_id != follows.followee_id]
    n_edges = len(edges.drop_duplicates(["follower_id", "followee_id"]))
    assert q(served, "select count(*) from core.fct_follow_edges") == [(n_edges,)]
    # the generator's reported counts are consistent with its edges: so are ours
    mismatched = q(served, "select count(*) from core.dim_users "
                   "where followers_count <> reported_followers_count")
    assert mismatched == [(0,)]
    assert q(served, "select count(*) from core.fct_interactions "
             "where not has_known_user or not has_known_item") == [(0,)]


def test_rerun_of_a_day_replaces_it_and_gives_the_same_tables(two_days, world_rerun):
    """Day 2 run again (the ``world_rerun`` fixture): its raw rows and input files are
    replaced, not appended, and the core tables come out the same (test_determinism.py
    compares every column of every core and mart table)."""
    served = two_days[0].warehouse_path
    files = q(served, "select ds, rows_loaded from raw.input_files where entity = 'interactions' "
              "order by ds")
    assert [str(d) for d, _ in files] == DAYS
    assert q(served, "select count(*) from raw.interactions") == [(sum(n for _, n in files),)]
    for name in ("core.fct_interactions", "core.fct_user_item_scores", "core.dim_users"):
        assert world_rerun["after"][name] == world_rerun["before"][name], name
    assert q(served, "select count(*) from meta.publications where ds = ?", [DAYS[1]]) == [(2,)]
