"""Real dbt builds of the staging and core layers on a temporary DuckDB file."""

from __future__ import annotations

import json
import math
import subprocess
from datetime import datetime

import duckdb
import pytest
from social_warehouse.ingest import ingest_partition
from social_warehouse.pipeline import DbtBuildError, run_dbt

from tests.conftest import VENV_BIN, pipeline_settings
from tests.unit.test_ingest import USERS_HEADER, write_csv, write_jsonl

D1, D2 = "2026-02-01", "2026-02-02"
POSTS_HEADER = ["post_id", "author_id", "created_at", "text", "media_type", "duration_s",
                "hashtags", "campaign_id"]
FOLLOWS_HEADER = ["follower_id", "followee_id", "followed_at"]


def user(uid, handle, followers=0, following=0):
    return [uid, handle, uid.upper(), " bio ", str(followers), str(following), "false",
            "2025-01-01T00:00:00Z", "us", "Food"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("dbt")
    settings = pipeline_settings(root / "data")
    land = root / "landing"
    d1, d2 = land / D1, land / D2
    d1.mkdir(parents=True)
    d2.mkdir(parents=True)
    write_csv(d1 / "users.csv", USERS_HEADER,
              [user("a", "@Alice"), user("b", "BOB"), user("c", "carol")])
    write_csv(d2 / "users.csv", USERS_HEADER, [user("a", "@ALICE_NEW", followers=2)])
    write_csv(d1 / "follows.csv", FOLLOWS_HEADER, [
        ["b", "a", "2026-02-01T01:00:00Z"], ["c", "a", "2026-02-01T02:00:00Z"],
        ["b", "a", "2026-02-01T03:00:00Z"],  # duplicate edge
        ["a", "a", "2026-02-01T04:00:00Z"],  # self-follow
    ])
    write_csv(d2 / "follows.csv", FOLLOWS_HEADER, [["a", "c", "2026-02-02T01:00:00Z"]])
    write_csv(d1 / "posts.csv", POSTS_HEADER, [
        ["p1", "a", "2026-02-01T00:00:00Z", "Ramen night #Food 🍜 #拉面", "video", "60", "", "c1"],
        ["p2", "c", "2026-02-01T00:00:00Z", "hello", "image", "", "#Hello", ""],
    ])
    write_jsonl(d1 / "interactions.jsonl", [
        {"event_id": "e1", "user_id": "b", "post_id": "p1", "event_type": "view",
         "occurred_at": "2026-02-01T10:00:00Z", "watch_time_s": 30},
        {"event_id": "e2", "user_id": "b", "post_id": "p1", "event_type": "like",
         "occurred_at": "2026-02-01T10:01:00Z"},
        {"event_id": "e3", "user_id": "zz", "post_id": "p2", "event_type": "view",
         "occurred_at": "2026-02-01T11:00:00Z", "watch_time_s": 5},
    ])
    write_jsonl(d2 / "interactions.jsonl", [
        {"event_id": "e4", "user_id": "c", "post_id": "p1", "event_type": "share",
         "occurred_at": "2026-02-02T09:00:00Z"},
        {"event_id": "e1", "user_id": "b", "post_id": "p1", "event_type": "view",  # re-delivered
         "occurred_at": "2026-02-01T10:00:00Z", "watch_time_s": 90},
    ])
    write_jsonl(d1 / "campaigns.jsonl", [
        {"campaign_id": "c1", "brand": "Noodle Co", "name": "Launch",
         "starts_at": "2026-02-01T00:00:00Z", "ends_at": "2026-02-10T00:00:00Z", "budget": 100}])
    for ds in (D1, D2):
        ingest_partition(settings.build_path, land, ds)

    def build(ds):
        return run_dbt(["tag:staging", "tag:core"], ds, settings=settings,
                       db_path=settings.build_path)

    return settings, build, root


def q(settings, sql):
    con = duckdb.connect(str(settings.build_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_build_as_of_day_one_ignores_later_partitions(built):
    settings, build, _ = built
    result = build(D1)
    assert result["statuses"].get("success", 0) + result["statuses"].get("pass", 0) > 0
    assert q(settings, "select user_id, handle from core.dim_users order by 1") == [
        ("a", "alice"), ("b", "bob"), ("c", "carol")]
    assert q(settings, "select count(*) from core.fct_follow_edges") == [(2,)]


def test_build_latest_records_dedup_and_graph_counts(built):
    settings, build, root = built
    result = build(D2)
    # the dbt unit tests ran inside the build and passed
    results = json.loads((settings.data_dir / "dbt" / "target" / "run_results.json").read_text())
    units = [r for r in results["results"] if r["unique_id"].startswith("unit_test.")]
    assert len(units) >= 3 and all(r["status"] == "pass" for r in units)
    assert result["statuses"].get("error", 0) == 0
    # latest record per user wins; handles lower-cased without '@'
    assert q(settings, "select handle, reported_followers_count, followers_count, "
             "following_count, country, category, bio from core.dim_users "
             "where user_id = 'a'") == [("alice_new", 2, 2, 1, "US", "food", "bio")]
    # duplicates and self-follows removed
    assert q(settings, "select follower_id, followee_id from core.fct_follow_edges "
             "order by 1, 2") == [("a", "c"), ("b", "a"), ("c", "a")]
    # re-delivered event kept once with its latest values; orphan user kept and flagged
    assert q(settings, "select event_id, watch_time_s, watch_ratio from core.fct_interactions "
             "where event_id = 'e1'") == [("e1", 90.0, 1.0)]
    assert q(settings, "select has_known_user from core.fct_interactions "
             "where event_id = 'e3'") == [(False,)]
    assert q(settings, "select hashtags from core.dim_items where post_id = 'p1'") == [
        (["food", "拉面"],)]
    assert q(settings, "select kol_ids, n_posts from core.dim_campaigns") == [(["a"], 1)]
    # user edges: b follows a and engaged with a's post (view 1 + like 3 + follow 1)
    assert q(settings, "select weight, is_follow, n_interactions from core.fct_user_edges "
             "where source_id = 'b' and target_id = 'a'") == [(5.0, True, 2)]


def test_scores_match_an_independent_computation(built):
    """fct_user_item_scores' formula, recomputed here: event weight * max(0.5 ^ (age /
    14 days), 0.05), age counted from the user's newest event (capped at the end of the
    logical date), plus 2.0 * max(watch ratio)."""
    settings, build, _ = built
    build(D2)

    def decay(ts, anchor):
        return max(0.5 ** ((anchor - ts).total_seconds() / 86400 / 14), 0.05)

    anchor_b = datetime(2026, 2, 1, 10, 1)  # b's newest event (the like)
    expected_b = (1 * decay(datetime(2026, 2, 1, 10), anchor_b)
                  + 3 * decay(datetime(2026, 2, 1, 10, 1), anchor_b) + 2.0 * 1.0)
    expected_c = 5 * decay(datetime(2026, 2, 2, 9), datetime(2026, 2, 2, 9))
    got = dict(q(settings, "select user_id, score from core.fct_user_item_scores "
                 "where post_id = 'p1'"))
    assert math.isclose(got["b"], expected_b, rel_tol=1e-9)
    assert math.isclose(got["c"], expected_c, rel_tol=1e-9)


def test_failing_dbt_test_raises_with_the_node_named(built):
    settings, build, _ = built
    con = duckdb.connect(str(settings.build_path))
    # bypass ingest (which would quarantine it): a key-less row reaches staging
    con.execute("insert into raw.users (user_id, handle, ds, _source_row) values "
                "(null, 'ghost', ?, 1000)", [D2])
    con.close()
    try:
        with pytest.raises(DbtBuildError, match="not_null_stg_users_user_id"):
            build(D2)
    finally:
        con = duckdb.connect(str(settings.build_path))
        con.execute("delete from raw.users where user_id is null")
        con.close()


def test_docs_generate(built):
    settings, _, root = built
    proc = subprocess.run(
        [str(VENV_BIN / "dbt"), "docs", "generate", "--project-dir", str(settings.dbt_project_dir),
         "--profiles-dir", str(settings.dbt_project_dir), "--target-path", str(root / "docs"),
         "--vars", json.dumps({"ds": D2})],
        env={**__import__("os").environ, "SW_DBT_DUCKDB_PATH": str(settings.build_path)},
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    catalog = json.loads((root / "docs" / "catalog.json").read_text())
    assert "model.social_warehouse.fct_user_item_scores" in catalog["nodes"]
