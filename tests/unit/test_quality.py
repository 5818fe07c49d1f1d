"""Quality gates: a good warehouse passes, each kind of bad data fails the right gate.

Every bad case is one SQL mutation of a small, consistent sample warehouse
(:func:`social_warehouse.quality.sample.build_sample_warehouse`) and asserts that the failure
message names the stage, table, column, expectation, observed value and an example.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
from social_warehouse.contract import ENTITIES
from social_warehouse.quality import (
    GateFailed,
    QualityConfigError,
    load_suite_specs,
    load_thresholds,
    run_gate,
)
from social_warehouse.quality.sample import build_sample_warehouse

from tests.helpers import assert_names, the_failure

REPO = Path(__file__).resolve().parents[2]
EXPECTATIONS = REPO / "expectations"
DS = date(2026, 1, 8)
RUN_ID = "scheduled__2026-01-08T00:00:00+00:00"


@pytest.fixture(scope="module")
def good_db(tmp_path_factory) -> Path:
    return build_sample_warehouse(tmp_path_factory.mktemp("wh") / "good.duckdb", ds=DS)


@pytest.fixture
def db(good_db, tmp_path) -> Path:
    """A private copy of the good warehouse, to break."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(good_db, path)
    return path


def mutate(path: Path, *statements: str) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()


def gate(stage: str, path: Path, **kwargs):
    kwargs.setdefault("record", False)
    kwargs.setdefault("expectations_dir", EXPECTATIONS)
    return run_gate(stage, path, ds=DS, run_id=RUN_ID, **kwargs)


def failing(stage: str, path: Path, **kwargs) -> GateFailed:
    with pytest.raises(GateFailed) as info:
        gate(stage, path, **kwargs)
    return info.value




# --------------------------------------------------------------------------- the good case


def test_good_warehouse_passes_every_stage(db):
    for stage in ("raw", "staging", "core"):
        result = gate(stage, db)
        assert result.success, result.message()
        assert not result.warnings, result.message()
        assert result.rows and all(r["status"] == "passed" for r in result.rows)
        assert result.checkpoint == f"social_warehouse_daily__{stage}"
    # The connection was read-only and closed: a writer can open the file right away.
    duckdb.connect(str(db)).close()


def test_timestamps_are_judged_by_the_logical_date_not_the_wall_clock(tmp_path):
    # A partition years ahead of today's clock passes: "future" means after ds (+ tolerance).
    future_ds = date(2031, 3, 1)
    path = build_sample_warehouse(tmp_path / "future.duckdb", ds=future_ds, history_days=3)
    result = run_gate("raw", path, ds=future_ds, run_id="backfill", record=False,
                      expectations_dir=EXPECTATIONS)
    assert result.success, result.message()


# --------------------------------------------------------------------------- bad data


def test_duplicate_keys_fail_core(db):
    mutate(db, "insert into core.fct_interactions select * from core.fct_interactions "
               "where event_id in ('e7_1', 'e7_2')")
    exc = failing("core", db)
    row = the_failure(exc, "core.fct_interactions", "event_id", "expect_column_values_to_be_unique")
    assert row["unexpected_count"] == 4
    assert_names(exc, "[core]", "table core.fct_interactions", "column event_id",
                 "expect_column_values_to_be_unique", "observed 4 unexpected", "e7_1")


def test_orphan_interactions_fail_referential_integrity(db):
    mutate(db, """
        insert into core.fct_interactions
        select 'ghost_event_' || i, 'ghost_user_' || (i % 7), post_id, author_id, event_type,
               occurred_at, event_date, watch_time_s, value, watch_ratio, ds
        from (select *, row_number() over () as i from core.fct_interactions) where i <= 1000
    """)
    exc = failing("core", db)
    row = the_failure(exc, "core.fct_interactions__metrics", "user_ri_share",
                      "expect_column_max_to_be_between")
    assert 0.93 < float(row["observed_value"]) < 0.95
    assert_names(exc, "table core.fct_interactions (suite core.fct_interactions__metrics)",
                 "column user_ri_share", "min_value=0.99",
                 "user_id=ghost_user_0 not in core.dim_users")


def test_future_timestamps_fail_raw(db):
    mutate(db, "update raw.interactions set occurred_at = occurred_at + interval 3 day "
               "where ds = DATE '2026-01-08' and event_id in ('e7_10', 'e7_11', 'e7_12')")
    exc = failing("raw", db)
    row = the_failure(exc, "raw.interactions", "occurred_at", "expect_column_values_to_be_between")
    assert row["unexpected_count"] == 3
    # max_timestamp = end of ds (2026-01-09 00:00 UTC) + 6 h tolerance
    assert "2026-01-09 06:00:00+00:00" in row["kwargs"]
    assert_names(exc, "[raw]", "table raw.interactions", "column occurred_at", "2026-01-11")


def test_timestamps_before_the_platform_existed_fail_raw(db):
    mutate(db, "update raw.users set created_at = TIMESTAMP '1999-12-31 23:00:00' "
               "where ds = DATE '2026-01-08' and user_id = 'u7'")
    exc = failing("raw", db)
    the_failure(exc, "raw.users", "created_at", "expect_column_values_to_be_between")
    assert_names(exc, "column created_at", "1999-12-31")


def test_volume_drop_of_90_percent_fails_raw(db):
    mutate(
        db,
        "delete from raw.interactions where ds = DATE '2026-01-08' "
        "and cast(split_part(event_id, '_', 2) as INTEGER) >= 200",
        "update raw.input_files set rows_loaded = 200, rows_read = 200 + rows_rejected "
        "where ds = DATE '2026-01-08' and entity = 'interactions'",
    )
    exc = failing("raw", db)
    row = the_failure(exc, "raw.interactions__metrics", "volume_ratio",
                      "expect_column_max_to_be_between")
    assert float(row["observed_value"]) == pytest.approx(202 / 2002, rel=1e-3)
    assert_names(exc, "column volume_ratio", "min_value=0.5",
                 "202 rows on 2026-01-08 vs trailing median 2002 over 7 day(s)")


def test_negative_counts_fail_raw_and_core(db):
    mutate(
        db,
        "update raw.users set followers_count = -5 where ds = DATE '2026-01-08' "
        "and user_id = 'u7'",
        "update core.fct_interactions set watch_time_s = -1 where event_id = 'e3_5'",
    )
    exc = failing("raw", db)
    the_failure(exc, "raw.users", "followers_count", "expect_column_values_to_be_between")
    # the example value, then where it came from (file and row of the delivery)
    assert_names(exc, "column followers_count", "min_value=0",
                 'unexpected examples: [-5, "at users.csv:row 7"]')
    exc = failing("core", db)
    the_failure(exc, "core.fct_interactions", "watch_time_s", "expect_column_values_to_be_between")


def _many_rejects(db):
    mutate(
        db,
        """
        insert into raw.interactions_rejects
        select DATE '2026-01-08', 'landing/2026-01-08/interactions.csv', 3000 + r, 'abc',
               TIMESTAMP '2026-01-08 01:00:00', 'e,u,p,view,2026-01-08,-3,',
               'bad_number:watch_time_s'
        from range(300) t(r)
        """,
        "update raw.input_files set rows_rejected = rows_rejected + 300, "
        "rows_read = rows_read + 300 where ds = DATE '2026-01-08' and entity = 'interactions'",
    )


def test_reject_rate_over_threshold_fails_raw(db):
    _many_rejects(db)
    exc = failing("raw", db)
    row = the_failure(exc, "raw.interactions__metrics", "reject_rate",
                      "expect_column_max_to_be_between")
    assert float(row["observed_value"]) == pytest.approx(302 / 2302, rel=1e-3)
    assert_names(exc, "column reject_rate", "max_value=0.02", "bad_number:watch_time_s: 300")


def test_thresholds_come_from_configuration_not_code(db, tmp_path, monkeypatch):
    _many_rejects(db)
    loose = tmp_path / "loose.yml"
    text = (EXPECTATIONS / "thresholds.yml").read_text().replace(
        "tables:\n", "tables:\n  raw.interactions:\n    max_reject_rate: 0.2\n", 1)
    loose.write_text(text)
    # by argument: the reject rate (13%) is now under the hard threshold, over the soft one
    result = gate("raw", db, config_path=loose)
    assert result.success
    warn = [r for r in result.warnings if r["column"] == "reject_rate"]
    assert warn and warn[0]["severity"] == "warning" and "max_value=0.005" in warn[0]["kwargs"]
    # by environment variable
    monkeypatch.setenv("SW_QUALITY_THRESHOLDS", str(loose))
    assert gate("raw", db).success


def test_follower_counts_inconsistent_with_edges_fail_core(db):
    mutate(db, "update core.dim_users set followers_count = followers_count + 50 "
               "where hash(user_id) % 10 = 0")
    exc = failing("core", db)
    row = the_failure(exc, "core.dim_users__metrics", "followers_consistent_share",
                      "expect_column_max_to_be_between")
    assert 0.8 < float(row["observed_value"]) < 0.95
    assert_names(exc, "column followers_consistent_share", "followers_count=",
                 "edge(s) in core.fct_follow_edges")


def test_event_type_not_allowed_fails_raw(db):
    mutate(db, "update raw.interactions set event_type = 'poke' "
               "where ds = DATE '2026-01-08' and event_id like 'e7_1%'")
    exc = failing("raw", db)
    row = the_failure(exc, "raw.interactions", "event_type", "expect_column_values_to_be_in_set")
    assert json.loads(row["unexpected_examples"]) == ["poke", "at interactions.csv:row 1"]
    assert_names(exc, "column event_type", "expect_column_values_to_be_in_set", "poke")


def test_declared_event_types_are_allowed(db):
    mutate(
        db,
        "insert into raw.event_types values (DATE '2026-01-08', 'duet', 4.0, '_manifest.json')",
        "update raw.interactions set event_type = 'duet' "
        "where ds = DATE '2026-01-08' and event_id like 'e7_1%'",
    )
    assert gate("raw", db).success


def test_missing_required_column_fails_raw(db):
    mutate(db, "alter table raw.users drop column handle")
    exc = failing("raw", db)
    the_failure(exc, "raw.users__metrics", "missing_required_columns",
                "expect_column_max_to_be_between")
    assert_names(exc, "column missing_required_columns", '["handle"]',
                 "expect_table_columns_to_match_set")


def test_missing_table_fails_and_names_it(db):
    mutate(db, "drop table core.fct_user_edges")
    exc = failing("core", db)
    row = the_failure(exc, "core.fct_user_edges", None, "table_exists")
    assert row["observed_value"] == "missing"


def test_a_check_that_cannot_run_is_a_named_failure_not_a_crash(db):
    # the referential checks of the facts need the dimension: its absence fails them by name
    mutate(db, "drop table core.dim_items")
    exc = failing("core", db)
    the_failure(exc, "core.dim_items", None, "table_exists")
    row = the_failure(exc, "core.fct_interactions__metrics", None, "read_batch")
    assert "dim_items" in row["exception"]
    assert_names(exc, "read_batch", "error: CatalogException")


def test_soft_threshold_is_a_warning_not_a_failure(db):
    # 2% of the partition without occurred_at: under `mostly` = warn_min_non_null_share (0.99)
    mutate(db, "update raw.interactions set occurred_at = null "
               "where ds = DATE '2026-01-08' "
               "and cast(split_part(event_id, '_', 2) as INTEGER) < 40")
    result = gate("raw", db)
    assert result.success
    (warning,) = result.warnings
    assert warning["column"] == "occurred_at"
    assert warning["expectation"] == "expect_column_values_to_not_be_null"
    assert warning["unexpected_count"] == 40 and "mostly=0.99" in warning["kwargs"]
    assert "WARN" in result.message()


# --------------------------------------------------------------------------- extending


# a stage of its own: the committed marts suites need the derived outputs, which this
# warehouse (raw to core) does not have
MARTS_SUITE = {
    "name": "sandbox.mart_engagement",
    "meta": {"social_warehouse": {"stage": "sandbox", "table": "marts.mart_engagement"}},
    "expectations": [
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "user_id"}},
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "engagement_rate", "min_value": 0, "max_value": 1}},
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "n_views", "min_value": {"$PARAMETER": "min_views"}}},
    ],
}


def test_a_new_table_needs_only_its_suite_json_and_thresholds(db, tmp_path):
    expectations = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS, expectations, ignore=shutil.ignore_patterns("uncommitted"))
    suite_file = expectations / "gx" / "expectations" / "sandbox" / "mart_engagement.json"
    suite_file.parent.mkdir(parents=True)
    suite_file.write_text(json.dumps(MARTS_SUITE))
    mutate(db, "create schema marts", """
        create table marts.mart_engagement as
        select user_id, least(1.0, count(*) / 50.0) as engagement_rate, count(*) as n_views
        from core.fct_interactions group by 1
    """)
    # the suite uses a parameter the thresholds do not define yet
    with pytest.raises(QualityConfigError, match="min_views"):
        run_gate("sandbox", db, ds=DS, run_id=RUN_ID, record=False,
                 expectations_dir=expectations)
    thresholds = expectations / "thresholds.yml"
    thresholds.write_text(thresholds.read_text().replace(
        "stages:\n", "stages:\n  sandbox:\n    min_views: 0\n", 1))
    result = run_gate("sandbox", db, ds=DS, run_id=RUN_ID, record=False,
                      expectations_dir=expectations)
    assert result.success and result.checkpoint == "social_warehouse_daily__sandbox"
    mutate(db, "update marts.mart_engagement set engagement_rate = 1.5 where user_id = 'u3'")
    with pytest.raises(GateFailed, match="column engagement_rate"):
        run_gate("sandbox", db, ds=DS, run_id=RUN_ID, record=False,
                 expectations_dir=expectations)


# --------------------------------------------------------------------------- the project


def test_committed_project_is_in_sync_with_its_suites(tmp_path):
    from social_warehouse.quality.gx_project import sync_project

    copy = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS / "gx", copy / "gx", ignore=shutil.ignore_patterns("uncommitted"))
    assert sync_project(copy) == [], "run `python -m social_warehouse.quality sync` and commit"


def test_raw_suites_follow_the_contract():
    specs = load_suite_specs(EXPECTATIONS / "gx")
    for name, entity in ENTITIES.items():
        rows = specs[f"raw.{name}"]
        assert rows.where == "ds = $ds"
        not_null = {e["kwargs"]["column"] for e in rows.expectations
                    if e["type"] == "expect_column_values_to_not_be_null"
                    and e.get("severity", "critical") == "critical"}
        assert set(entity.key_columns) <= not_null, name
        (table_cols,) = [e for e in rows.expectations
                         if e["type"] == "expect_table_columns_to_match_set"]
        assert table_cols["kwargs"]["column_set"] == entity.required_columns
        metrics = specs[f"raw.{name}__metrics"]
        kinds = {m["metric"] for m in metrics.metrics}
        assert {"schema", "reject_rate", "volume"} <= kinds
        for column in entity.columns:
            if column.nonnegative:
                assert column.name in rows.columns, f"{name}.{column.name} not range-checked"


def test_every_stage_has_a_suite_per_table():
    specs = load_suite_specs(EXPECTATIONS / "gx")
    tables = {(s.stage, s.table) for s in specs.values()}
    for entity in ENTITIES:
        assert ("raw", f"raw.{entity}") in tables
        assert ("staging", f"staging.stg_{entity}") in tables
    for table in ("dim_users", "dim_items", "fct_interactions", "fct_follow_edges",
                  "fct_user_edges", "fct_user_item_scores", "dim_campaigns"):
        assert ("core", f"core.{table}") in tables


def test_thresholds_resolve_defaults_stage_table_suite(tmp_path):
    path = tmp_path / "t.yml"
    path.write_text(
        "defaults: {max_reject_rate: 0.02, a: 1}\n"
        "stages: {raw: {a: 2}}\n"
        "tables: {raw.users: {a: 3}}\n"
        "suites: {raw.users__metrics: {a: 4}}\n"
    )
    thresholds = load_thresholds(path, expectations_dir=EXPECTATIONS)
    specs = load_suite_specs(EXPECTATIONS / "gx")
    assert thresholds.for_suite(specs["raw.posts"])["a"] == 2
    assert thresholds.for_suite(specs["raw.users"])["a"] == 3
    assert thresholds.for_suite(specs["raw.users__metrics"])["a"] == 4
    assert thresholds.for_suite(specs["core.dim_users"])["a"] == 1
    path.write_text("defaults: {}\nstage: {}\n")
    with pytest.raises(QualityConfigError, match="unknown top-level"):
        load_thresholds(path, expectations_dir=EXPECTATIONS)


def test_every_suite_parameter_is_defined_in_the_committed_thresholds():
    thresholds = load_thresholds(None, expectations_dir=EXPECTATIONS, env={})
    computed = {"ds", "min_timestamp", "max_timestamp", "allowed_event_types"}
    for spec in load_suite_specs(EXPECTATIONS / "gx").values():
        missing = spec.parameters - computed - set(thresholds.for_suite(spec))
        assert not missing, f"{spec.name}: {missing}"
