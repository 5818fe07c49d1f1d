"""Quality gates of the audience and recommendation outputs (stages ``analytics`` and ``marts``).

The fixture is the derived warehouse of ``test_quality_analytics.py`` (its ``AUDIENCE_SQL``
and ``AUDIENCE_MARTS_SQL``: 18 engaged users, 12 posts, 3 topics, 3 segments); each bad case
is one SQL mutation of it and asserts that the gate names the table, column, expectation,
observed value and an example. The good fixture passing both gates is
``test_good_outputs_pass_the_analytics_and_marts_gates`` there.
"""

from __future__ import annotations

import pytest
import yaml
from social_warehouse.db import quote_ident
from social_warehouse.quality import load_suite_specs, load_thresholds

from tests.unit import test_quality_analytics as qa
from tests.unit.test_quality_analytics import (
    AUDIENCE_MARTS_SQL,
    DS,
    EXPECTATIONS,
    METRIC_CHECK,
    REPO,
    assert_names,
    failing,
    gate,
    mutate,
    the_failure,
)

# the fixtures of the derived warehouse: `good_db` once per module, `db` a private copy
good_db = qa.good_db
db = qa.db

AUDIENCE_OUTPUTS = (
    "topics", "item_topics", "user_interests", "user_profiles", "user_segments",
    "segment_profiles", "user_recommendations", "recommender_eval", "propensity_eval",
)
AUDIENCE_MARTS = (
    "mart_topics", "mart_user_interests", "mart_user_segments", "mart_segments",
    "mart_user_recommendations", "mart_recommender_eval", "mart_propensity_eval",
)
BETWEEN = "expect_column_values_to_be_between"


def only_failing_suites(exc, *suites: str) -> None:
    assert {r["suite"] for r in exc.result.failures} == set(suites), str(exc)


# --------------------------------------------------------------------------- recommendations


def test_recommended_item_already_seen_fails(db):
    # u03 engaged with p03 (score 2.0); a zero score (u03 on p05, recommended at rank 1 in
    # the good fixture) is not "seen" for the recommender and passes
    mutate(db, "update analytics.user_recommendations set post_id = 'p03' "
               "where user_id = 'u03' and rank = 3")
    exc = failing("analytics", db)
    row = the_failure(exc, "analytics.user_recommendations__metrics", "recommended_seen_items",
                      METRIC_CHECK)
    assert row["observed_value"] == "1"
    assert_names(exc, "[analytics] table analytics.user_recommendations",
                 "column recommended_seen_items", "min_value=0, max_value=0",
                 "user_id=u03, rank=3, post_id=p03, model=content")
    only_failing_suites(exc, "analytics.user_recommendations__metrics")
    # the mart is checked the same way
    mutate(db, *AUDIENCE_MARTS_SQL)
    exc = failing("marts", db)
    the_failure(exc, "marts.mart_user_recommendations__metrics", "recommended_seen_items",
                METRIC_CHECK)
    assert_names(exc, "[marts] table marts.mart_user_recommendations",
                 "user_id=u03, rank=3, post_id=p03, model=content")
    only_failing_suites(exc, "marts.mart_user_recommendations__metrics")


def test_duplicate_user_rank_fails(db):
    mutate(db, "update analytics.user_recommendations set rank = 1 "
               "where user_id = 'u05' and rank = 2")
    exc = failing("analytics", db)
    row = the_failure(exc, "analytics.user_recommendations", "user_id,rank",
                      "expect_compound_columns_to_be_unique")
    assert row["unexpected_count"] == 2
    gaps = the_failure(exc, "analytics.user_recommendations__metrics", "users_with_rank_gaps",
                       METRIC_CHECK)
    assert gaps["observed_value"] == "1"
    assert_names(exc, "column user_id,rank", '"rank": 1, "user_id": "u05"',
                 "user_id=u05: rank 1..3 with 2 distinct value(s) over 3 row(s) (0 null), "
                 "expected 1..3")


def test_non_finite_score_fails(db):
    mutate(
        db,
        "update analytics.user_recommendations set score = 'inf'::FLOAT "
        "where user_id = 'u07' and rank = 1",
        "update analytics.recommender_eval set value = 'inf'::DOUBLE "
        "where model = 'popularity' and metric = 'novelty' and users = 'all'",
    )
    exc = failing("analytics", db)
    row = the_failure(exc, "analytics.user_recommendations__metrics", "non_finite_scores",
                      METRIC_CHECK)
    assert row["observed_value"] == "1"
    the_failure(exc, "analytics.recommender_eval__metrics", "non_finite_values", METRIC_CHECK)
    assert_names(exc, "column non_finite_scores",
                 "user_id=u07, rank=1, post_id=p09, score=inf, model=item_knn",
                 "model=popularity, metric=novelty, users=all, value=inf")
    only_failing_suites(exc, "analytics.user_recommendations__metrics",
                        "analytics.recommender_eval__metrics")


def test_nan_score_fails_as_null(db):
    # NaN reaches pandas as NaN, which Great Expectations counts as null
    mutate(db, "update analytics.user_recommendations set score = 'nan'::FLOAT "
               "where user_id = 'u08' and rank = 2")
    exc = failing("analytics", db)
    row = the_failure(exc, "analytics.user_recommendations", "score",
                      "expect_column_values_to_not_be_null")
    assert row["unexpected_count"] == 1
    the_failure(exc, "analytics.user_recommendations__metrics", "non_finite_scores",
                METRIC_CHECK)


def test_more_recommendations_than_allowed_fail(db, tmp_path):
    # each user has 3 recommendations; a business limit of 2 rejects every rank 3
    thresholds = tmp_path / "thresholds.yml"
    thresholds.write_text((EXPECTATIONS / "thresholds.yml").read_text().replace(
        "max_recommendations_per_user: 10", "max_recommendations_per_user: 2"))
    exc = failing("analytics", db, config_path=thresholds)
    row = the_failure(exc, "analytics.user_recommendations", "rank", BETWEEN)
    assert row["unexpected_count"] == 18
    assert_names(exc, "table analytics.user_recommendations, column rank",
                 "min_value=1, max_value=2", "18 unexpected of 54 rows",
                 "unexpected examples: [3]")
    only_failing_suites(exc, "analytics.user_recommendations")


def test_recommendation_of_an_unknown_post_or_model_fails(db):
    mutate(db, "update analytics.user_recommendations set post_id = 'p99', model = 'als' "
               "where user_id = 'u09' and rank = 2")
    exc = failing("analytics", db)
    share = the_failure(exc, "analytics.user_recommendations__metrics", "post_id_ri_share",
                        METRIC_CHECK)
    assert float(share["observed_value"]) == pytest.approx(53 / 54)
    the_failure(exc, "analytics.user_recommendations", "model",
                "expect_column_values_to_be_in_set")
    assert_names(exc, "post_id=p99 not in core.dim_items", 'unexpected examples: ["als"]')


# --------------------------------------------------------------------------- evaluations


def test_metric_or_probability_outside_0_1_fails(db):
    mutate(
        db,
        "update analytics.recommender_eval set value = 1.2 "
        "where model = 'hybrid' and metric = 'precision' and users = 'all'",
        "update analytics.propensity_eval set value = 1.3 "
        "where model = 'hgb' and metric = 'roc_auc'",
        "update analytics.propensity_eval set value = -0.1 "
        "where model = 'logistic' and metric = 'log_loss'",
        "update analytics.propensity_eval set positive_rate = 1.5 where model = 'base_rate'",
    )
    exc = failing("analytics", db)
    rec = the_failure(exc, "analytics.recommender_eval__metrics", "unit_metrics_outside_0_1",
                      METRIC_CHECK)
    assert rec["observed_value"] == "1"
    auc = the_failure(exc, "analytics.propensity_eval__metrics", "roc_auc_outside_0_1",
                      METRIC_CHECK)
    assert auc["observed_value"] == "1"
    assert the_failure(exc, "analytics.propensity_eval", "value",
                       BETWEEN)["unexpected_count"] == 1  # log loss < 0
    assert the_failure(exc, "analytics.propensity_eval", "positive_rate",
                       BETWEEN)["unexpected_count"] == 2
    assert_names(exc, "model=hybrid, metric=precision, users=all, value=1.2",
                 "model=hgb, metric=roc_auc, split=test, value=1.3",
                 "table analytics.propensity_eval, column positive_rate",
                 "unexpected examples: [1.5]", "unexpected examples: [-0.1]")
    only_failing_suites(exc, "analytics.recommender_eval__metrics",
                        "analytics.propensity_eval", "analytics.propensity_eval__metrics")


def test_duplicate_evaluation_rows_and_two_chosen_models_fail(db):
    mutate(
        db,
        "insert into analytics.recommender_eval select * from analytics.recommender_eval "
        "where model = 'hybrid' and metric = 'ndcg' and users = 'warm'",
        "update analytics.propensity_eval set chosen = true where model = 'hgb'",
    )
    exc = failing("analytics", db)
    row = the_failure(exc, "analytics.recommender_eval", "model,metric,users",
                      "expect_compound_columns_to_be_unique")
    assert row["unexpected_count"] == 2
    the_failure(exc, "analytics.propensity_eval__metrics", "splits_without_one_chosen_model",
                METRIC_CHECK)
    assert_names(exc, '"metric": "ndcg", "model": "hybrid", "users": "warm"',
                 "split=test, chosen model(s): hgb, logistic")


# --------------------------------------------------------------------------- segments, topics


def test_segment_shares_not_summing_to_one_fail(db):
    mutate(db, "update analytics.segment_profiles set share = 0.4, n_users = 8 "
               "where segment_id = 0")
    exc = failing("analytics", db)
    row = the_failure(exc, "analytics.segment_profiles__metrics", "share_sum_error",
                      METRIC_CHECK)
    assert float(row["observed_value"]) == pytest.approx(0.1)
    members = the_failure(exc, "analytics.segment_profiles__metrics", "n_users_match_members",
                          METRIC_CHECK)
    assert float(members["observed_value"]) == pytest.approx(2 / 3)
    assert_names(exc, "column share_sum_error", "max_value=1e-09",
                 "sum(share) = 0.9 over 3 segment(s)",
                 "segment_id=0: n_users=8 vs 9 member(s) in analytics.user_segments")
    only_failing_suites(exc, "analytics.segment_profiles__metrics")


def test_user_without_a_known_segment_fails(db):
    mutate(db, "update analytics.user_segments set segment_id = 5 where user_id = 'u02'")
    exc = failing("analytics", db)
    the_failure(exc, "analytics.user_segments__metrics", "segment_id_ri_share", METRIC_CHECK)
    assert_names(exc, "segment_id=5 not in analytics.segment_profiles",
                 "segment_id=0: n_users=9 vs 8 member(s) in analytics.user_segments")


def test_orphan_topic_fails(db):
    mutate(db, "update analytics.user_interests set topic_id = 7 "
               "where user_id = 'u04' and rank = 3")
    exc = failing("analytics", db)
    row = the_failure(exc, "analytics.user_interests__metrics", "topic_id_ri_share",
                      METRIC_CHECK)
    assert float(row["observed_value"]) == pytest.approx(53 / 54)
    assert_names(exc, "table analytics.user_interests", "column topic_id_ri_share",
                 "min_value=1, max_value=1", "topic_id=7 not in analytics.topics")
    only_failing_suites(exc, "analytics.user_interests__metrics")
    # the mart built on it names the topic too
    mutate(db, *AUDIENCE_MARTS_SQL)
    exc = failing("marts", db)
    row = the_failure(exc, "marts.mart_user_interests__metrics",
                      "interest_topics_not_in_mart_topics", METRIC_CHECK)
    assert row["observed_value"] == "1"
    assert_names(exc, "topic_id=7 not in marts.mart_topics")
    only_failing_suites(exc, "marts.mart_user_interests__metrics")


def test_interest_weights_not_summing_to_one_fail(db):
    mutate(db, "update analytics.user_interests set weight = 0.2 "
               "where user_id = 'u06' and rank = 3",
           "update analytics.item_topics set weight = 0.5 where post_id = 'p01' and rank = 1")
    exc = failing("analytics", db)
    users = the_failure(exc, "analytics.user_interests__metrics", "weight_sum_error",
                        METRIC_CHECK)
    assert float(users["observed_value"]) == pytest.approx(0.1, rel=1e-5)
    posts = the_failure(exc, "analytics.item_topics__metrics", "weight_sum_error", METRIC_CHECK)
    assert float(posts["observed_value"]) == pytest.approx(0.25)
    assert_names(exc, "max_value=1e-05", "user_id=u06: sum(weight) = 1.1",
                 "post_id=p01: sum(weight) = 0.75")
    only_failing_suites(exc, "analytics.user_interests__metrics",
                        "analytics.item_topics__metrics")


def test_duplicate_topic_term_and_bad_term_weight_fail(db):
    mutate(db, "update analytics.topics set term = 't1_w1', weight = -1 "
               "where topic_id = 1 and rank = 2")
    exc = failing("analytics", db)
    the_failure(exc, "analytics.topics", "topic_id,term", "expect_compound_columns_to_be_unique")
    the_failure(exc, "analytics.topics", "weight", BETWEEN)
    assert_names(exc, '"term": "t1_w1", "topic_id": 1', "unexpected examples: [-1.0]")


# --------------------------------------------------------------------------- marts


def test_bad_audience_marts_fail_the_marts_gate(db):
    mutate(
        db,
        "update marts.mart_segments set share = share / 2 where segment_id = 1",
        "update marts.mart_user_interests set interests = to_json([struct_pack(topic_id := 0, "
        "topic_label := 't0_w1 / t0_w2 / t0_w3', weight := 1.5::FLOAT)]) where user_id = 'u01'",
        "update marts.mart_topics set top_term_weights = to_json([1.0, 'inf'::DOUBLE, 0.5, 0.25]) "
        "where topic_id = 2",
        # a duplicate of today's row: the previous day's identical key is no duplicate
        f"insert into marts.mart_recommender_eval select * from marts.mart_recommender_eval "
        f"where ds = DATE '{DS}' and model = 'popularity' and metric = 'map' "
        f"and user_group = 'cold'",
        f"update marts.mart_propensity_eval set is_chosen_model = false "
        f"where ds = DATE '{DS}'",
        "delete from marts.mart_user_segments where user_id = 'u10'",
    )
    exc = failing("marts", db)
    shares = the_failure(exc, "marts.mart_segments__metrics", "share_sum_error", METRIC_CHECK)
    assert float(shares["observed_value"]) == pytest.approx(1 / 6, rel=1e-5)
    the_failure(exc, "marts.mart_segments__metrics", "n_users_match_members", METRIC_CHECK)
    the_failure(exc, "marts.mart_user_interests__metrics", "interest_weights_outside_0_1",
                METRIC_CHECK)
    the_failure(exc, "marts.mart_user_interests__metrics", "interest_weight_sum_error",
                METRIC_CHECK)
    the_failure(exc, "marts.mart_topics__metrics", "bad_term_weights", METRIC_CHECK)
    the_failure(exc, "marts.mart_recommender_eval", "ds,model,metric,user_group",
                "expect_compound_columns_to_be_unique")
    rows = the_failure(exc, "marts.mart_recommender_eval__metrics",
                       "rows_of_ds_minus_analytics", METRIC_CHECK)
    assert rows["observed_value"] == "1"
    the_failure(exc, "marts.mart_propensity_eval__metrics", "splits_without_one_chosen_model",
                METRIC_CHECK)
    the_failure(exc, "marts.mart_user_segments__metrics", "rows_minus_user_segments",
                METRIC_CHECK)
    assert_names(
        exc,
        "user_id=u01, topic_id=0, weight=1.5",
        "user_id=u01: sum(weight) = 1.5",
        "topic_id=2: term weight inf",
        "segment_id=1: n_users=6 vs 5 member(s) in marts.mart_user_segments",
        "marts.mart_recommender_eval: 37 rows, analytics.recommender_eval: 36 rows",
        f"ds={DS}, split=test, chosen model(s): none",
        "marts.mart_user_segments: 17 rows, analytics.user_segments: 18 rows",
    )


# --------------------------------------------------------------------------- empty outputs


def test_empty_audience_outputs_pass(db):
    """A skipped stage writes its outputs empty (stages._EMPTY_OUTPUTS): both gates pass.

    The empty frames have fewer columns than the real ones, so this also checks that the
    suites only name columns every run writes.
    """
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq
    from social_warehouse.stages import _EMPTY_OUTPUTS, _empty

    assert set(_EMPTY_OUTPUTS) == set(AUDIENCE_OUTPUTS)
    con = duckdb.connect(str(db))
    try:
        for name in _EMPTY_OUTPUTS:
            frame = _empty(name)
            if name != "item_topics":  # as run_topics_stage / run_audience_stage write them
                frame.insert(0, "ds", str(DS))
            path = db.parent / f"{name}.parquet"  # as write_outputs / load_outputs do
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
            con.execute(f"create or replace table analytics.{quote_ident(name)} as "
                        "select * from read_parquet(?)", [str(path)])
        for sql in AUDIENCE_MARTS_SQL:
            con.execute(sql)
        assert con.execute("select count(*) from marts.mart_user_recommendations").fetchone() \
            == (0,)
    finally:
        con.close()
    for stage in ("analytics", "marts"):
        result = gate(stage, db)
        assert result.success, result.message()
        assert all(r["status"] == "passed" for r in result.rows), result.message()


# --------------------------------------------------------------------------- the suites


def test_every_audience_output_and_mart_has_rows_and_metrics_suites():
    specs = load_suite_specs(EXPECTATIONS / "gx")
    for schema, tables in (("analytics", AUDIENCE_OUTPUTS), ("marts", AUDIENCE_MARTS)):
        for table in tables:
            assert specs[f"{schema}.{table}"].kind == "rows"
            assert specs[f"{schema}.{table}__metrics"].kind == "metrics"
    for table in AUDIENCE_OUTPUTS:
        metrics = {m["name"] for m in specs[f"analytics.{table}__metrics"].metrics}
        assert ("rows_not_of_ds" in metrics) == (table not in qa.WITHOUT_DS), table
    # the seen-items rule is the recommender's own (recommend.py: a positive score)
    for suite in ("analytics.user_recommendations__metrics",
                  "marts.mart_user_recommendations__metrics"):
        seen = {m["name"]: m for m in specs[suite].metrics}["recommended_seen_items"]
        assert "core.fct_user_item_scores where score > 0" in seen["condition"]


def test_recommendation_limit_matches_the_analytics_config():
    """``max_recommendations_per_user`` is the stage's ``audience.n_recommendations``."""
    config = yaml.safe_load((REPO / "config" / "analytics.yml").read_text(encoding="utf-8"))
    specs = load_suite_specs(EXPECTATIONS / "gx")
    thresholds = load_thresholds(None, expectations_dir=EXPECTATIONS, env={})
    for suite in ("analytics.user_recommendations", "marts.mart_user_recommendations"):
        params = thresholds.for_suite(specs[suite])
        assert params["max_recommendations_per_user"] == config["audience"]["n_recommendations"]
        assert {"item_knn", "user_knn", "content", "popularity"} <= set(
            params["recommender_models"])
