"""Scores and weights are finite at every stage, and a seen-item failure names its likely cause.

pandas and Great Expectations count NaN as missing, so ``score between 0 ...`` passes a NaN
score; DuckDB orders NaN above every number. Every table with a score or weight column
therefore has a ``finite`` metric (``non_finite_scores_weights``) in its metrics suite, and a
NaN or infinite event weight (declared in a delivery's ``_manifest.json``) fails the raw gate
before it can become NaN scores in the served warehouse.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
from social_warehouse.quality import GateFailed, load_suite_specs, run_gate
from social_warehouse.quality.sample import build_sample_warehouse

from tests.helpers import assert_names, the_failure
from tests.unit import test_quality_analytics as qa

REPO = Path(__file__).resolve().parents[2]
EXPECTATIONS = REPO / "expectations"
DS = date(2026, 1, 8)
METRIC = "non_finite_scores_weights"
CHECK = "expect_column_max_to_be_between"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    return build_sample_warehouse(tmp_path_factory.mktemp("finite") / "sample.duckdb", ds=DS)


@pytest.fixture(scope="module")
def derived_db(tmp_path_factory) -> Path:
    return qa.build_derived_warehouse(tmp_path_factory.mktemp("finite") / "derived.duckdb")


def _copy(src: Path, tmp_path: Path, *statements: str) -> Path:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(src, path)
    con = duckdb.connect(str(path))
    try:
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()
    return path


def _failing(stage: str, path: Path) -> GateFailed:
    with pytest.raises(GateFailed) as info:
        run_gate(stage, path, ds=DS, run_id="finite", record=False,
                 expectations_dir=EXPECTATIONS)
    return info.value


def test_nan_manifest_weight_fails_raw_and_its_nan_scores_fail_core(sample_db, tmp_path):
    # a delivery declared {"play": {"weight": "nan"}}; the core scores summed it
    path = _copy(
        sample_db, tmp_path,
        "insert into raw.event_types values (DATE '2026-01-08', 'play', 'nan'::DOUBLE, "
        "'_manifest.json')",
        "update core.fct_user_item_scores set score = 'nan'::DOUBLE "
        "where user_id in ('u1', 'u2')",
    )
    exc = _failing("raw", path)
    row = the_failure(exc, "raw.event_types__metrics", METRIC, CHECK)
    assert row["observed_value"] == "1"
    assert_names(exc, "table raw.event_types (suite raw.event_types__metrics)",
                 f"column {METRIC}", "weight=nan at event_type=play")
    assert {r["suite"] for r in exc.result.failures} == {"raw.event_types__metrics"}, str(exc)
    exc = _failing("core", path)
    row = the_failure(exc, "core.fct_user_item_scores__metrics", METRIC, CHECK)
    n_nan = int(row["observed_value"])
    assert n_nan > 0
    assert_names(exc, "score=nan at user_id=u1, post_id=")
    # the row check alone would have passed it: NaN is "missing" to pandas and GX
    between = [r for r in exc.result.rows if r["suite"] == "core.fct_user_item_scores"
               and r["column"] == "score"]
    assert between and all(r["success"] for r in between)


def test_infinite_and_negative_weights_fail(sample_db, tmp_path):
    path = _copy(
        sample_db, tmp_path,
        "insert into raw.event_types values (DATE '2026-01-08', 'duet', -1e308, "
        "'_manifest.json'), (DATE '2026-01-08', 'stitch', 'inf'::DOUBLE, '_manifest.json')",
        "alter table core.fct_user_edges alter column weight type DOUBLE",
        "update core.fct_user_edges set weight = '-inf'::DOUBLE "
        "where source_id = 'u3' and is_follow",
    )
    exc = _failing("raw", path)
    assert the_failure(exc, "raw.event_types__metrics", METRIC, CHECK)["observed_value"] == "1"
    row = the_failure(exc, "raw.event_types__metrics", "non_positive_weights", CHECK)
    assert row["observed_value"] == "1"  # -1e308 (inf is counted as not finite)
    assert_names(exc, "event_type=duet, weight=-1e+308", "weight=inf at event_type=stitch")
    exc = _failing("core", path)
    the_failure(exc, "core.fct_user_edges__metrics", METRIC, CHECK)
    assert_names(exc, "weight=-inf at source_id=u3")


def test_nan_kol_score_and_infinite_topic_weight_fail_analytics(derived_db, tmp_path):
    path = _copy(derived_db, tmp_path,
                 "update analytics.kol_scores set score = 'nan'::DOUBLE where user_id = 'u17'",
                 "update analytics.item_topics set weight = 'inf'::FLOAT "
                 "where post_id = (select min(post_id) from analytics.item_topics)")
    exc = _failing("analytics", path)
    the_failure(exc, "analytics.kol_scores__metrics", METRIC, CHECK)
    the_failure(exc, "analytics.item_topics__metrics", METRIC, CHECK)
    assert_names(exc, "score=nan at user_id=u17", "weight=inf at post_id=")
    # of the row checks, only not-null sees a NaN (pandas counts it as null); the range
    # check does not
    assert {r["expectation"] for r in exc.result.failures if r["suite"] == "analytics.kol_scores"
            } <= {"expect_column_values_to_not_be_null"}


def test_seen_item_failure_names_the_decayed_score_distribution(derived_db, tmp_path):
    # events 20 years old: scores of 1e-234 round to 0 in a float32 matrix, so the model
    # recommends items the user has seen; the gate names that likely cause
    path = _copy(derived_db, tmp_path,
                 "update core.fct_user_item_scores set score = score * 1e-234",
                 "update analytics.user_recommendations set post_id = 'p03' "
                 "where user_id = 'u03' and rank = 3")
    exc = _failing("analytics", path)
    row = the_failure(exc, "analytics.user_recommendations__metrics", "recommended_seen_items",
                      CHECK)
    examples = json.loads(row["unexpected_examples"])
    hint = examples[-1]
    assert hint.startswith("likely cause: core.fct_user_item_scores.score has min=")
    lo, hi, zeros = _score_stats(path)
    assert f"max={hi:.3g}" in hint and f"{zeros} zero(s)" in hint
    assert "positive score(s) below float32's smallest normal" in hint
    assert "decayed to 0" in hint
    # printed whole after the examples, not cut with them
    assert_names(exc, "user_id=u03, rank=3, post_id=p03", "; likely cause: ",
                 "make seen items look unseen to the recommender")
    assert lo == 0 or f"min={lo:.3g}" in hint


def _score_stats(path: Path) -> tuple[float, float, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("select min(score), max(score), count(*) filter (where score = 0) "
                           "from core.fct_user_item_scores").fetchone()
    finally:
        con.close()


def test_every_score_and_weight_column_is_checked_for_finiteness(sample_db, derived_db):
    """Each gated table with a floating score/weight column has a ``finite`` metric."""
    specs = load_suite_specs(EXPECTATIONS / "gx")
    finite_tables = {s.table for s in specs.values() if s.kind == "metrics"
                     and any(m.get("metric") == "finite" for m in s.metrics)}
    gated = {s.table for s in specs.values()}
    found = []
    for path in (sample_db, derived_db):
        con = duckdb.connect(str(path), read_only=True)
        try:
            found += con.execute(
                "select table_schema || '.' || table_name, column_name from "
                "information_schema.columns where data_type in ('DOUBLE', 'FLOAT', 'REAL') "
                "and (column_name ilike '%score%' or column_name ilike '%weight%')").fetchall()
        finally:
            con.close()
    assert len(found) >= 15  # the fixtures hold score and weight columns at every stage
    unchecked = sorted({f"{t}.{c}" for t, c in found if t in gated and t not in finite_tables})
    assert not unchecked
    assert {"raw.event_types", "core.fct_user_item_scores", "core.fct_user_edges"} <= gated
