"""The SQL gate engine against the pandas engine: same verdicts and counts on the same tables.

Row-level expectations run as DuckDB aggregates (``engine="sql"``, the default, see
:mod:`social_warehouse.quality.pushdown`) or, as before, on the projected table read into
pandas and scanned by Great Expectations (``engine="pandas"``). Every case below runs every
suite of the named stages with both engines on one warehouse (the good sample and derived
warehouses of ``test_quality.py`` / ``test_quality_analytics.py``, and SQL mutations of them
that fail each kind of row check, including nulls, NaN, infinities and empty tables) and
requires, per expectation: the same status, success, unexpected count and percent, observed
value, whether it raised, and, where all violations fit in the examples, the same examples.
"""

from __future__ import annotations

import json
import math
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
from social_warehouse.quality import GateFailed, run_gate
from social_warehouse.quality.sample import build_sample_warehouse

from tests.unit import test_quality_analytics as qa

REPO = Path(__file__).resolve().parents[2]
EXPECTATIONS = REPO / "expectations"
DS = date(2026, 1, 8)
PARTITION = "ds = DATE '2026-01-08'"

#: case -> (warehouse, stages, SQL mutations, the case must fail the gate)
CASES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], bool]] = {
    "sample_good": ("sample", ("raw", "staging", "core"), (), False),
    "raw_broken": ("sample", ("raw",), (
        # timestamps after ds (+ tolerance) and before the platform existed
        f"update raw.interactions set occurred_at = occurred_at + interval 3 day "
        f"where {PARTITION} and event_id in ('e7_10', 'e7_11', 'e7_12')",
        f"update raw.users set created_at = TIMESTAMP '1999-12-31 23:00:00' "
        f"where {PARTITION} and user_id = 'u7'",
        # nulls under a soft `mostly` (a warning) and in a key (a failure)
        f"update raw.interactions set occurred_at = null where {PARTITION} "
        "and cast(split_part(event_id, '_', 2) as INTEGER) < 40",
        f"update raw.posts set author_id = null where {PARTITION} and post_id = 'p7'",
        # negative, NaN and infinite numbers
        f"update raw.users set followers_count = -5 where {PARTITION} and user_id = 'u7'",
        f"update raw.interactions set watch_time_s = 'nan'::DOUBLE where {PARTITION} "
        "and event_id in ('e7_3', 'e7_4')",
        f"update raw.interactions set watch_time_s = 'inf'::DOUBLE where {PARTITION} "
        "and event_id = 'e7_5'",
        f"update raw.posts set duration_s = '-inf'::DOUBLE where {PARTITION} and post_id = 'p7'",
        # values outside a set (and a null one), a pair in the wrong order (and a null one)
        f"update raw.interactions set event_type = 'poke' where {PARTITION} "
        "and event_id like 'e7_1%'",
        f"update raw.interactions set event_type = null where {PARTITION} "
        "and event_id = 'e7_2'",
        f"update raw.campaigns set ends_at = starts_at - interval 1 day where {PARTITION}",
        "update raw.campaigns set ends_at = null where ds = DATE '2026-01-07'",), True),
    "core_broken": ("sample", ("core",), (
        "insert into core.fct_interactions select * from core.fct_interactions "
        "where event_id in ('e7_1', 'e7_2', 'e6_3')",
        "update core.fct_interactions set watch_time_s = -1 where event_id = 'e3_5'",
        "update core.fct_user_item_scores set score = 'nan'::DOUBLE "
        "where (user_id, post_id) in (select user_id, post_id from core.fct_user_item_scores "
        "order by all limit 3)",), True),
    "missing_column_and_table": ("sample", ("raw", "core"), (
        "alter table raw.users drop column handle",
        "drop table core.fct_user_edges",), True),
    "empty_partition": ("sample", ("raw",), (
        f"delete from raw.campaigns where {PARTITION}",), True),  # only the volume fails
    "derived_good": ("derived", ("analytics", "marts"), (), False),
    "derived_broken": ("derived", ("analytics", "marts"), (
        "update analytics.kol_collaborations set partner_id = kol_id "
        "where kol_id = 'u17' and rank = 1",
        "update analytics.kol_collaborations set rank = 1 where kol_id = 'u16' and rank = 2",
        "update analytics.campaign_performance set ctr = 1.2 where campaign_id = 'c1'",
        "update analytics.user_recommendations set score = 'nan'::FLOAT "
        "where user_id = 'u08' and rank = 2",
        "update marts.mart_kol_leaderboard set leaderboard_rank = 5 "
        "where leaderboard_rank = 4",), True),
    "derived_empty_outputs": ("derived", ("analytics",), tuple(
        f"delete from analytics.{t}" for t in (
            "user_recommendations", "recommender_eval", "topics", "item_topics",
            "user_interests")), False),
}
#: Examples that differ by design: duplicates are listed per value (not in row order), and a
#: column pair is named ``{"ends_at": ..., "starts_at": ...}`` where pandas printed a tuple of
#: numpy values.
_OWN_EXAMPLES = (
    "expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique",
    "expect_column_pair_values_a_to_be_greater_than_b",
)
COMPARED = ("status", "success", "unexpected_count", "observed_value", "severity")


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("engines")
    return {
        "sample": build_sample_warehouse(root / "sample.duckdb", ds=DS),
        "derived": qa.build_derived_warehouse(root / "derived.duckdb"),
    }


def _mutate(path: Path, statements: tuple[str, ...]) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()


def _gate(stage: str, path: Path, engine: str):
    try:
        return run_gate(stage, path, ds=DS, run_id=f"engines_{engine}", record=False,
                        expectations_dir=EXPECTATIONS, engine=engine)
    except GateFailed as exc:
        return exc.result


def _key(row: dict) -> tuple:
    return row["suite"], row["expectation"], row["column"], row["kwargs"]


def _same_number(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(float(a), float(b), rel_tol=1e-9)


def _examples(row: dict) -> set[str]:
    # the file:row locations follow the examples, in the examples' order
    return {json.dumps(v, sort_keys=True, default=str)
            for v in json.loads(row["unexpected_examples"] or "[]")
            if not (isinstance(v, str) and v.startswith("at "))}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sql_engine_matches_pandas_engine(case, warehouses, tmp_path):
    kind, stages, statements, must_fail = CASES[case]
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouses[kind], path)
    _mutate(path, statements)
    failed_somewhere = False
    for stage in stages:
        by_pandas = _gate(stage, path, "pandas")
        by_sql = _gate(stage, path, "sql")
        failed_somewhere |= not by_sql.success
        assert by_sql.success == by_pandas.success, (by_pandas.message(), by_sql.message())
        pandas_rows = {_key(r): r for r in by_pandas.rows}
        sql_rows = {_key(r): r for r in by_sql.rows}
        assert sql_rows.keys() == pandas_rows.keys()
        assert len(by_sql.rows) == len(by_pandas.rows)
        for key, want in pandas_rows.items():
            got = sql_rows[key]
            for field in COMPARED:
                assert got[field] == want[field], (stage, key, field, want[field], got[field])
            assert _same_number(got["unexpected_percent"], want["unexpected_percent"]), key
            assert bool(got["exception"]) == bool(want["exception"]), (key, want, got)
            count = want["unexpected_count"] or 0
            if not want["success"] and 0 < count <= 5 and want["expectation"] not in _OWN_EXAMPLES:
                # all violations fit in the examples: the same values, whatever their order
                assert _examples(got) == _examples(want), (key, want, got)
            if not want["success"] and count:
                assert _examples(got), (key, got)
    assert failed_somewhere == must_fail


def test_sql_engine_stores_gx_validation_results_and_docs(warehouses, tmp_path):
    """The SQL engine's results reach GX's validation store and Data Docs, counts included."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouses["sample"], path)
    _mutate(path, ("insert into core.fct_interactions select * from core.fct_interactions "
                   "where event_id = 'e7_1'",))
    with pytest.raises(GateFailed):
        run_gate("core", path, ds=DS, run_id="engines_docs", data_dir=tmp_path / "data",
                 expectations_dir=EXPECTATIONS, engine="sql")
    stored = list((tmp_path / "data" / "audit").rglob(
        "uncommitted/validations/core/fct_interactions/*/*/*.json"))
    assert len(stored) == 1, stored
    validation = json.loads(stored[0].read_text())
    assert validation["meta"]["social_warehouse"]["engine"] == "sql"
    unique = [r for r in validation["results"]
              if r["expectation_config"]["type"] == "expect_column_values_to_be_unique"
              and r["expectation_config"]["kwargs"]["column"] == "event_id"]
    assert unique[0]["success"] is False and unique[0]["result"]["unexpected_count"] == 2
    assert unique[0]["result"]["partial_unexpected_list"] == ["e7_1", "e7_1"]
    pages = list((tmp_path / "data" / "reports").rglob(
        "validations/core/fct_interactions/*/*/*.html"))
    assert pages and "e7_1" in pages[0].read_text()


def test_unknown_engine_is_a_config_error(warehouses):
    from social_warehouse.quality import QualityConfigError

    with pytest.raises(QualityConfigError, match="pandas"):
        run_gate("raw", warehouses["sample"], ds=DS, run_id="x", record=False,
                 expectations_dir=EXPECTATIONS, engine="spark")


SANDBOX_SUITE = {
    "name": "sandbox.fct_interactions",
    "meta": {"social_warehouse": {"stage": "sandbox", "table": "core.fct_interactions"}},
    "expectations": [
        # statistical: validated by GX on a seeded sample of `gate_sample_rows` rows
        {"type": "expect_column_mean_to_be_between",
         "kwargs": {"column": "watch_time_s", "min_value": 25, "max_value": 35}},
        {"type": "expect_column_mean_to_be_between",
         "kwargs": {"column": "watch_time_s", "min_value": 100}},
        # row-level without a DuckDB translation: a named failure, never a sampled verdict
        {"type": "expect_column_values_to_match_regex",
         "kwargs": {"column": "event_id", "regex": "^e"}},
    ],
}


def test_statistical_rules_run_on_a_bounded_sample_and_untranslated_row_rules_fail(
        warehouses, tmp_path):
    expectations = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS, expectations, ignore=shutil.ignore_patterns("uncommitted"))
    suite = expectations / "gx" / "expectations" / "sandbox" / "fct_interactions.json"
    suite.parent.mkdir(parents=True)
    suite.write_text(json.dumps(SANDBOX_SUITE))
    thresholds = expectations / "thresholds.yml"
    thresholds.write_text(thresholds.read_text().replace(
        "  gate_sample_rows: 100000", "  gate_sample_rows: 500", 1))
    with pytest.raises(GateFailed) as info:
        run_gate("sandbox", warehouses["sample"], ds=DS, run_id="sampled", record=False,
                 expectations_dir=expectations, engine="sql")
    rows = {(r["expectation"], r["kwargs"]): r for r in info.value.result.rows}
    mean_ok = rows[("expect_column_mean_to_be_between", "min_value=25, max_value=35")]
    mean_bad = rows[("expect_column_mean_to_be_between", "min_value=100")]
    assert mean_ok["success"] and not mean_bad["success"]
    assert 25 <= float(mean_ok["observed_value"]) <= 35  # watch_time_s is k % 60: mean 29.5
    regex = rows[("expect_column_values_to_match_regex", "regex=^e")]
    assert regex["status"] == "failed" and "without a DuckDB translation" in regex["exception"]
