"""Quality gates of the derived outputs: stage ``analytics`` (analytics.*) and ``marts`` (marts.*).

A small, consistent warehouse (20 users, 4 KOLs, 2 campaigns, 12 posts, 3 topics) holds every
analytics output and the marts built on them (as the dbt models do); each bad case is one SQL
mutation of it and asserts that the gate names the table, column, expectation, observed value
and an example. The audience and recommendation outputs (topics, interests, segments,
recommendations, evaluations) have their bad cases in ``test_quality_audience.py``, on the
same fixture.

Gating a new output: write its suites under ``expectations/gx/expectations/analytics/`` (and
``marts/`` for its mart), add any parameter to ``expectations/thresholds.yml``
(``stages.analytics``), run ``python -m social_warehouse.quality sync``, add the table to
``ANALYTICS_OUTPUTS`` / ``MARTS`` below and to the fixture.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from social_warehouse.db import quote_ident
from social_warehouse.quality import GateFailed, load_suite_specs, load_thresholds, run_gate
from social_warehouse.quality.metrics import build_metrics

from tests.helpers import assert_names, the_failure

REPO = Path(__file__).resolve().parents[2]
EXPECTATIONS = REPO / "expectations"
DS = date(2026, 1, 8)
RUN_ID = "scheduled__2026-01-08T00:00:00+00:00"

ANALYTICS_OUTPUTS = (
    "graph_user_metrics", "graph_communities", "kol_scores", "kol_audience_quality",
    "kol_collaborations", "campaign_performance", "campaign_kol_performance",
    "campaign_seeding", "topics", "item_topics", "user_interests", "user_profiles",
    "user_segments", "segment_profiles", "user_recommendations", "recommender_eval",
    "propensity_eval",
)
MARTS = (
    "mart_user_graph_metrics", "mart_communities", "mart_kol_leaderboard",
    "mart_kol_collaborations", "mart_campaign_performance", "mart_campaign_kol_performance",
    "mart_campaign_seeding", "mart_topics", "mart_user_interests", "mart_user_segments",
    "mart_segments", "mart_user_recommendations", "mart_recommender_eval",
    "mart_propensity_eval",
)
#: Outputs without a ``ds`` column (the topics stage writes item_topics without one), so no
#: ``rows_not_of_ds`` check.
WITHOUT_DS = ("item_topics",)
#: Tables that hold exactly one row per core.dim_users user.
ONE_ROW_PER_USER = (
    "analytics.graph_user_metrics", "analytics.kol_scores", "marts.mart_user_graph_metrics",
)

_USER = "printf('u%02d', i)"
_CAMPAIGN_COLUMNS = """
    100::BIGINT as views, 20::BIGINT as likes, 4::BIGINT as comments, 3::BIGINT as shares,
    3::BIGINT as saves, 30::BIGINT as engagements, 12::BIGINT as clicks,
    3::BIGINT as conversions, 45.0 as conversion_value, 80::BIGINT as reach,
    70::BIGINT as unique_viewers, 2::BIGINT as posts_with_events, 2::BIGINT as n_posts,
    0.12 as ctr, 0.25 as conversion_rate_click, 0.03 as conversion_rate_view,
    0.3 as engagement_rate, 50.0 as views_per_post
"""

FIXTURE_SQL = [
    "create schema core; create schema analytics; create schema marts",
    f"""create table core.dim_users as
        select {_USER} as user_id, 'handle_' || i as handle, 'cat' || (i % 3) as category,
               'VN' as country, (i % 4)::BIGINT as followers_count
        from range(20) t(i)""",
    """create table core.dim_campaigns as
        select 'c' || i as campaign_id, 1000.0 as budget from range(1, 3) t(i)""",
    # PageRank (i + 1) / 210 sums to 1 over the 20 users
    f"""create table analytics.graph_user_metrics as
        select {_USER} as user_id, '{DS}' as ds,
               (i % 4)::BIGINT as in_degree, (i % 3 + 1)::BIGINT as out_degree,
               (i % 4)::DOUBLE as weighted_in_degree, (i % 3 + 1)::DOUBLE as weighted_out_degree,
               (i % 4 + i % 3 + 1) / 19.0 as degree_centrality,
               (i % 4) / 19.0 as in_degree_centrality, (i % 3 + 1) / 19.0 as out_degree_centrality,
               (i + 1) / 210.0 as pagerank, i / 200.0 as betweenness, i / 40.0 as closeness,
               i * 0.5 as harmonic, 0::BIGINT as wcc_id, 20::BIGINT as wcc_size,
               i::BIGINT as scc_id, 1::BIGINT as scc_size, 1::BIGINT as core_number,
               (i % 2)::BIGINT as community_id
        from range(20) t(i)""",
    f"""create table analytics.graph_communities as
        select '{DS}' as ds, i::BIGINT as community_id, 10::BIGINT as size,
               0.2 as modularity_contribution, 0.4 as modularity
        from range(2) t(i)""",
    # u16..u19 are the KOLs, u18 and u19 the top KOLs
    f"""create table analytics.kol_scores as
        select '{DS}' as ds, {_USER} as user_id, i / 19.0 as score, (i + 1) / 20.0 as score_pct,
               i >= 16 as is_kol, i >= 18 as is_top_kol,
               case when i >= 18 then 'micro' when i >= 16 then 'nano' end as tier,
               (i + 1) / 210.0 as pagerank, i / 19.0 as reach_norm, i / 19.0 as authority_norm,
               0.5 as engagement_per_view_norm, 0.5 as engagement_per_follower_norm,
               0.0 as topic_authority_norm, null::DOUBLE as top_topic_share,
               null::DOUBLE as top_topic_market_share, null::DOUBLE as topic_focus,
               (i % 4)::DOUBLE as followers_graph, (i % 3 + 1)::DOUBLE as following_graph,
               (i % 4)::DOUBLE as reach_followers, (10 * i)::DOUBLE as views_window,
               i::DOUBLE as engagements_window, (i % 5)::DOUBLE as n_posts_window
        from range(20) t(i)""",
    f"""create table analytics.kol_audience_quality as
        select '{DS}' as ds, {_USER} as kol_id, 10::BIGINT as n_followers,
               1::BIGINT as n_inactive_followers, 0.1 as inactive_follower_share,
               0.0 as mass_follower_share, 0.0 as low_ratio_follower_share,
               0.0 as jump_gain_share, 0::BIGINT as n_jump_days, 0.9 as quality_score,
               true as passes_quality_floor
        from range(16, 20) t(i)""",
    f"""create table analytics.kol_collaborations as
        select '{DS}' as ds, printf('u%02d', a) as kol_id, printf('u%02d', b) as partner_id,
               row_number() over (partition by a order by b)::BIGINT as rank, 0.5 as score,
               0.1 as jaccard, 0.2 as overlap_coefficient, 1.0 as intersection,
               5.0 as complementary_reach, 0.5 as complementary_share, 1.0 as topic_fit,
               0.5 as influence_balance, false as same_community,
               10::BIGINT as kol_audience, 10::BIGINT as partner_audience
        from range(16, 20) x(a), range(16, 20) y(b) where a <> b""",
    f"""create table analytics.campaign_performance as
        select '{DS}' as ds, 'c' || i as campaign_id, 1000.0 as budget, {_CAMPAIGN_COLUMNS},
               2::BIGINT as n_kols, 2::BIGINT as n_kols_with_baseline,
               33.3 as cost_per_engagement, 83.3 as cost_per_click,
               333.3 as cost_per_conversion, 10000.0 as cpm, 0.045 as roas,
               28.0 as engagement_rate_expected, 0.07 as engagement_rate_lift,
               10.0 as ctr_expected, 0.2 as ctr_lift,
               2.0 as conversion_rate_view_expected, 0.5 as conversion_rate_view_lift
        from range(1, 3) t(i)""",
    f"""create table analytics.campaign_kol_performance as
        select '{DS}' as ds, 'c' || i as campaign_id, printf('u%02d', k) as kol_id,
               {_CAMPAIGN_COLUMNS},
               200::BIGINT as baseline_views, 50::BIGINT as baseline_engagements,
               20::BIGINT as baseline_clicks, 4::BIGINT as baseline_conversions,
               4::BIGINT as baseline_posts, 50.0 as baseline_views_per_post,
               true as baseline_ok, 0.25 as baseline_engagement_rate,
               0.2 as engagement_rate_lift, 0.1 as baseline_ctr, 0.2 as ctr_lift,
               0.02 as baseline_conversion_rate_view, 0.5 as conversion_rate_view_lift,
               0.0 as views_per_post_lift, 500.0 as allocated_budget,
               16.7 as cost_per_engagement, 41.7 as cost_per_click,
               166.7 as cost_per_conversion, 5000.0 as cpm, 0.09 as roas
        from range(1, 3) t(i), range(16, 18) s(k)""",
    f"""create table analytics.campaign_seeding as
        select '{DS}' as ds, method, 2::BIGINT as k, seed_set, 5.0 as expected_spread,
               0.1 as spread_std_error, 5.1 as selection_spread, evaluations,
               100::BIGINT as simulations, 200::BIGINT as eval_simulations, 0::BIGINT as seed,
               '0.05' as edge_probability, gain as gain_vs_top_k
        from (values ('celf', ['u18', 'u16'], 4::BIGINT, 0.5),
                     ('top_k', ['u19', 'u18'], 0::BIGINT, 0.0))
             v(method, seed_set, evaluations, gain)""",
    # the marts, as the dbt models build them
    """create table marts.mart_user_graph_metrics as
        select u.user_id, u.handle, u.category, u.country, u.followers_count,
               m.* exclude (user_id, ds)
        from core.dim_users u join analytics.graph_user_metrics m using (user_id)""",
    "create table marts.mart_communities as select * exclude (ds) from analytics.graph_communities",
    """create table marts.mart_kol_leaderboard as
        select row_number() over (order by s.score desc, s.user_id) as leaderboard_rank,
               s.user_id as kol_id, s.* exclude (user_id, ds), q.* exclude (kol_id, ds)
        from analytics.kol_scores s left join analytics.kol_audience_quality q
          on q.kol_id = s.user_id
        where s.is_kol""",
    """create table marts.mart_kol_collaborations as
        select * exclude (ds) from analytics.kol_collaborations""",
    """create table marts.mart_campaign_performance as
        select * exclude (ds) from analytics.campaign_performance""",
    """create table marts.mart_campaign_kol_performance as
        select * exclude (ds) from analytics.campaign_kol_performance""",
    "create table marts.mart_campaign_seeding as "
    "select * replace (to_json(seed_set) as seed_set) from analytics.campaign_seeding",
]

# Audience and recommendations: 12 posts p00..p11 by the KOLs, 3 topics of 4 terms, users
# u00..u17 engaged (u18, u19 never did: no profile, interests, segment or recommendations).
# User i engaged with p(i) and p(i + 1) (mod 12) and has a zero score on p(i + 2), which is
# not "seen" for the recommender (recommend.py: a positive score); it is recommended
# p(i + 2), p(i + 3), p(i + 4). Column types are those of the real outputs (FLOAT weights
# and scores, INTEGER ranks and segment ids).
_POST = "printf('p%02d', {})"
AUDIENCE_SQL = [
    f"""create table core.dim_items as
        select {_POST.format('j')} as post_id, printf('u%02d', 16 + j % 4) as author_id,
               'post text ' || j as text, 'video' as media_type
        from range(12) t(j)""",
    f"""create table core.fct_user_item_scores as
        select {_USER} as user_id, {_POST.format('(i + d) % 12')} as post_id,
               [2.0, 1.0, 0.0][d + 1]::DOUBLE as score, (2 - d)::BIGINT as n_events
        from range(18) t(i), range(3) s(d)""",
    f"""create table analytics.topics as
        select '{DS}' as ds, t::BIGINT as topic_id, r::BIGINT as rank,
               printf('t%d_w%d', t, r) as term, ((5 - r) / 4)::DOUBLE as weight,
               printf('t%d_w1 / t%d_w2 / t%d_w3', t, t, t) as label,
               0.5::DOUBLE as coherence_npmi
        from range(3) x(t), range(1, 5) y(r)""",
    f"""create table analytics.item_topics as
        select {_POST.format('j')} as post_id, ((j + r - 1) % 3)::INTEGER as topic_id,
               [0.75, 0.25][r]::FLOAT as weight, r::INTEGER as rank
        from range(12) t(j), range(1, 3) s(r)""",
    f"""create table analytics.user_interests as
        select '{DS}' as ds, {_USER} as user_id, ((i + r - 1) % 3)::INTEGER as topic_id,
               [0.6, 0.3, 0.1][r]::FLOAT as weight, r::INTEGER as rank
        from range(18) t(i), range(1, 4) s(r)""",
    f"""create table analytics.user_profiles as
        select '{DS}' as ds, {_USER} as user_id, 2.0::DOUBLE as n_events,
               (i % 3 / 2)::DOUBLE as kol_share, 0.4::DOUBLE as watch_ratio_mean,
               (i % 3)::INTEGER as top_topic
        from range(18) t(i)""",
    # segments of 9, 6 and 3 users
    f"""create table analytics.user_segments as
        select '{DS}' as ds, {_USER} as user_id,
               (case when i < 9 then 0 when i < 15 then 1 else 2 end)::INTEGER as segment_id
        from range(18) t(i)""",
    f"""create table analytics.segment_profiles as
        select '{DS}' as ds, s::INTEGER as segment_id, n::BIGINT as n_users,
               (n / 18)::DOUBLE as share, 2.0::DOUBLE as mean_n_events,
               [s::BIGINT] as top_topics, 't0_w1 / t0_w2 / t0_w3' as top_topic_labels,
               ['u16', 'u17'] as top_kols, [0.5::DOUBLE, 0.25] as top_kol_follow_share
        from (values (0, 9), (1, 6), (2, 3)) v(s, n)""",
    f"""create table analytics.user_recommendations as
        select '{DS}' as ds, {_USER} as user_id, r::INTEGER as rank,
               {_POST.format('(i + r + 1) % 12')} as post_id, ((4 - r) / 2)::FLOAT as score,
               case when r < 3 then 'item_knn' else 'content' end as model
        from range(18) t(i), range(1, 4) s(r)""",
    # novelty is null for a group that got no recommendation (here: cold users)
    f"""create table analytics.recommender_eval as
        select '{DS}' as ds, model, metric,
               (case when metric <> 'novelty' then 0.25 when users <> 'cold' then 3.5
                end)::DOUBLE as value,
               10::BIGINT as k, n::BIGINT as n_users_evaluated,
               'time:test={DS}' as split, users
        from (values ('hybrid'), ('popularity')) m(model),
             (values ('precision'), ('recall'), ('ndcg'), ('map'), ('coverage'),
                     ('novelty')) x(metric),
             (values ('all', 18), ('warm', 15), ('cold', 3)) g(users, n)""",
    f"""create table analytics.propensity_eval as
        select '{DS}' as ds, model, metric, value::DOUBLE as value, 'test' as split,
               TIMESTAMP '{DS}' as date, 100::BIGINT as n_pairs,
               0.2::DOUBLE as positive_rate, model = 'logistic' as chosen
        from (values ('logistic', 'roc_auc', 0.7), ('logistic', 'log_loss', 0.45),
                     ('hgb', 'roc_auc', 0.68), ('hgb', 'log_loss', 0.46),
                     ('base_rate', 'roc_auc', 0.5), ('base_rate', 'log_loss', 0.5))
             v(model, metric, value)""",
]

#: The audience marts, as the dbt models build them (``create or replace``: rerun after
#: changing the analytics tables). The two evaluation marts are incremental: they also
#: hold the previous day's run.
AUDIENCE_MARTS_SQL = [
    """create or replace table marts.mart_topics as
        with item_counts as (
            select topic_id, count(*) as n_items from analytics.item_topics
            where rank = 1 group by topic_id)
        select topics.topic_id, any_value(topics.label) as topic_label,
               to_json(list(topics.term order by topics.rank)) as top_terms,
               to_json(list(topics.weight order by topics.rank)) as top_term_weights,
               any_value(topics.coherence_npmi) as coherence_npmi,
               coalesce(any_value(item_counts.n_items), 0) as n_items_main_topic
        from analytics.topics left join item_counts using (topic_id)
        group by topics.topic_id""",
    """create or replace table marts.mart_user_interests as
        with labels as (select distinct topic_id, label from analytics.topics),
        interest_lists as (
            select i.user_id,
                   list(struct_pack(topic_id := i.topic_id, topic_label := labels.label,
                                    weight := i.weight) order by i.rank) as interests,
                   arg_max(labels.label, i.weight) as top_topic_label
            from analytics.user_interests i left join labels using (topic_id)
            group by i.user_id)
        select p.user_id, u.handle, l.top_topic_label,
               to_json(coalesce(l.interests, [])) as interests,
               p.* exclude (user_id, ds)
        from analytics.user_profiles p
        left join core.dim_users u using (user_id)
        left join interest_lists l using (user_id)""",
    """create or replace table marts.mart_user_segments as
        select a.user_id, u.handle, u.category, u.country, a.segment_id,
               s.n_users as segment_size, s.share as segment_share,
               s.top_topic_labels as segment_top_topics, s.top_kols as segment_top_kols
        from analytics.user_segments a
        left join core.dim_users u using (user_id)
        left join analytics.segment_profiles s using (segment_id)""",
    """create or replace table marts.mart_segments as
        select * exclude (ds) from analytics.segment_profiles""",
    """create or replace table marts.mart_user_recommendations as
        select r.user_id, r.rank, r.post_id, r.score, r.model, i.author_id,
               a.handle as author_handle, i.media_type, left(i.text, 120) as text_preview
        from analytics.user_recommendations r
        left join core.dim_items i using (post_id)
        left join core.dim_users a on a.user_id = i.author_id""",
    """create or replace table marts.mart_recommender_eval as
        with runs as (
            select * from analytics.recommender_eval
            union all
            select * replace (strftime(ds::DATE - 1, '%Y-%m-%d') as ds)
            from analytics.recommender_eval)
        select cast(ds as date) as ds, model, metric, value, k, n_users_evaluated, split,
               users as user_group
        from runs""",
    """create or replace table marts.mart_propensity_eval as
        with runs as (
            select * from analytics.propensity_eval
            union all
            select * replace (strftime(ds::DATE - 1, '%Y-%m-%d') as ds,
                              date - interval 1 day as date)
            from analytics.propensity_eval)
        select cast(ds as date) as ds, model, metric, value, split,
               cast(date as date) as evaluated_date, n_pairs, positive_rate,
               chosen as is_chosen_model
        from runs""",
]

FIXTURE_SQL += AUDIENCE_SQL + AUDIENCE_MARTS_SQL


def mutate(path: Path, *statements: str) -> None:
    con = duckdb.connect(str(path))
    try:
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()


def build_derived_warehouse(path: Path) -> Path:
    """The good warehouse; decimal literals become DOUBLE, as the real outputs are."""
    mutate(path, *FIXTURE_SQL)
    con = duckdb.connect(str(path))
    try:
        decimals = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type like 'DECIMAL%'").fetchall()
        for schema, table, column in decimals:
            con.execute(f"alter table {quote_ident(schema)}.{quote_ident(table)} "
                        f"alter column {quote_ident(column)} type DOUBLE")
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def good_db(tmp_path_factory) -> Path:
    return build_derived_warehouse(tmp_path_factory.mktemp("derived") / "good.duckdb")


@pytest.fixture
def db(good_db, tmp_path) -> Path:
    """A private copy of the good warehouse, to break."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(good_db, path)
    return path


def gate(stage: str, path: Path, **kwargs):
    kwargs.setdefault("record", False)
    kwargs.setdefault("expectations_dir", EXPECTATIONS)
    kwargs.setdefault("ds", DS)
    return run_gate(stage, path, run_id=RUN_ID, **kwargs)


def failing(stage: str, path: Path, **kwargs) -> GateFailed:
    with pytest.raises(GateFailed) as info:
        gate(stage, path, **kwargs)
    return info.value




METRIC_CHECK = "expect_column_max_to_be_between"

# --------------------------------------------------------------------------- the good case


def test_good_outputs_pass_the_analytics_and_marts_gates(db):
    for stage, tables in (("analytics", ANALYTICS_OUTPUTS), ("marts", MARTS)):
        result = gate(stage, db)
        assert result.success, result.message()
        assert not result.warnings, result.message()
        assert all(r["status"] == "passed" for r in result.rows), result.message()
        assert result.checkpoint == f"social_warehouse_daily__{stage}"
        assert {r["table_name"] for r in result.rows} == {f"{stage}.{t}" for t in tables}
    duckdb.connect(str(db)).close()  # read-only and closed


# --------------------------------------------------------------------------- bad data


def test_pagerank_not_summing_to_one_fails(db, tmp_path):
    # float rounding (1e-12 here; 4e-15 on 2,060 real users) is within the tolerance
    mutate(db, "update analytics.graph_user_metrics set pagerank = pagerank + 1e-12 "
               "where user_id = 'u07'")
    assert gate("analytics", db).success
    # a lost 0.1% of the probability mass is not
    mutate(db, "update analytics.graph_user_metrics set pagerank = pagerank * 0.999")
    exc = failing("analytics", db)
    row = the_failure(exc, "analytics.graph_user_metrics__metrics", "pagerank_sum_error",
                      METRIC_CHECK)
    assert float(row["observed_value"]) == pytest.approx(0.001, rel=1e-6)
    assert_names(exc, "[analytics] table analytics.graph_user_metrics",
                 "column pagerank_sum_error", "max_value=1e-09", "sum(pagerank) = 0.999")
    assert {r["suite"] for r in exc.result.failures} == {"analytics.graph_user_metrics__metrics"}
    # the tolerance is a threshold: a looser one lets the same data pass
    thresholds = tmp_path / "thresholds.yml"
    thresholds.write_text((EXPECTATIONS / "thresholds.yml").read_text().replace(
        "pagerank_sum_tolerance: 1.0e-9", "pagerank_sum_tolerance: 0.01"))
    assert gate("analytics", db, config_path=thresholds).success


def test_kol_paired_with_itself_fails(db):
    mutate(db, "update analytics.kol_collaborations set partner_id = kol_id "
               "where kol_id = 'u17' and rank = 1")
    exc = failing("analytics", db)
    row = the_failure(exc, "analytics.kol_collaborations", "kol_id,partner_id",
                      "expect_select_column_values_to_be_unique_within_record")
    assert row["unexpected_count"] == 1
    assert_names(exc, "table analytics.kol_collaborations", "column kol_id,partner_id",
                 "expect_select_column_values_to_be_unique_within_record",
                 '"kol_id": "u17", "partner_id": "u17"')


def test_duplicate_kol_rank_fails(db):
    mutate(db, "update analytics.kol_collaborations set rank = 1 "
               "where kol_id = 'u17' and rank = 2")
    exc = failing("analytics", db)
    row = the_failure(exc, "analytics.kol_collaborations", "kol_id,rank",
                      "expect_compound_columns_to_be_unique")
    assert row["unexpected_count"] == 2
    gaps = the_failure(exc, "analytics.kol_collaborations__metrics", "kols_with_rank_gaps",
                       METRIC_CHECK)
    assert gaps["observed_value"] == "1"
    assert_names(exc, "column kol_id,rank", "expect_compound_columns_to_be_unique",
                 '"kol_id": "u17", "rank": 1',
                 "kol_id=u17: rank 1..3 with 2 distinct value(s) over 3 row(s)")


def test_rate_above_one_fails(db):
    mutate(db, "update analytics.campaign_performance set ctr = 1.2 where campaign_id = 'c1'",
           "update analytics.campaign_kol_performance set conversion_rate_click = null")
    exc = failing("analytics", db)  # a null rate (no clicks) is fine, 1.2 is not
    row = the_failure(exc, "analytics.campaign_performance", "ctr",
                      "expect_column_values_to_be_between")
    assert row["unexpected_count"] == 1
    assert_names(exc, "table analytics.campaign_performance, column ctr",
                 "expect_column_values_to_be_between(min_value=0, max_value=1)",
                 "1 unexpected of 2 rows", "unexpected examples: [1.2]")
    assert len(exc.result.failures) == 1, str(exc)


def test_missing_user_in_graph_metrics_fails(db):
    mutate(db, "delete from analytics.graph_user_metrics where user_id = 'u05'")
    exc = failing("analytics", db)
    suite = "analytics.graph_user_metrics__metrics"
    assert the_failure(exc, suite, "rows_minus_dim_users", METRIC_CHECK)["observed_value"] == "-1"
    the_failure(exc, suite, "dim_users_covered", METRIC_CHECK)
    assert_names(exc, "column rows_minus_dim_users",
                 "analytics.graph_user_metrics: 19 rows, core.dim_users: 20 rows",
                 "user_id=u05 not in analytics.graph_user_metrics")


def test_stale_output_of_another_day_fails(db):
    # e.g. an output the run did not rewrite, left from the copied served warehouse
    exc = failing("analytics", db, ds=DS + timedelta(days=1))
    stale = {r["table_name"] for r in exc.result.failures if r["column"] == "rows_not_of_ds"}
    assert stale == {f"analytics.{t}" for t in ANALYTICS_OUTPUTS if t not in WITHOUT_DS}
    assert {r["column"] for r in exc.result.failures} == {"rows_not_of_ds"}
    assert_names(exc, f"ds={DS}, expected_ds={DS + timedelta(days=1)}")


def test_bad_marts_fail_the_marts_gate(db):
    mutate(
        db,
        "delete from marts.mart_user_graph_metrics where user_id = 'u05'",
        "update marts.mart_kol_leaderboard set leaderboard_rank = 5 where leaderboard_rank = 4",
        # a partner that is not a KOL (u03), ranked 4th for u16
        "insert into marts.mart_kol_collaborations select * replace ('u03' as partner_id, "
        "4::BIGINT as rank) from marts.mart_kol_collaborations where kol_id = 'u16' and rank = 1",
        "update marts.mart_kol_collaborations set partner_id = kol_id "
        "where kol_id = 'u18' and rank = 2",
        "update marts.mart_campaign_kol_performance set engagement_rate = 1.5 "
        "where campaign_id = 'c2' and kol_id = 'u17'",
    )
    exc = failing("marts", db)
    users = "marts.mart_user_graph_metrics__metrics"
    assert the_failure(exc, users, "rows_minus_dim_users", METRIC_CHECK)["observed_value"] == "-1"
    the_failure(exc, users, "pagerank_sum_error", METRIC_CHECK)
    the_failure(exc, "marts.mart_communities__metrics", "size_matches_members", METRIC_CHECK)
    the_failure(exc, "marts.mart_kol_leaderboard__metrics", "leaderboard_rank_breaks",
                METRIC_CHECK)
    share = the_failure(exc, "marts.mart_kol_collaborations__metrics",
                        "partner_in_leaderboard_share", METRIC_CHECK)
    assert float(share["observed_value"]) == pytest.approx(12 / 13)
    the_failure(exc, "marts.mart_kol_collaborations", "kol_id,partner_id",
                "expect_select_column_values_to_be_unique_within_record")
    the_failure(exc, "marts.mart_campaign_kol_performance", "engagement_rate",
                "expect_column_values_to_be_between")
    assert_names(
        exc,
        "user_id=u05 not in marts.mart_user_graph_metrics",
        "leaderboard_rank 1..5 with 4 distinct value(s) over 4 row(s) (0 null), expected 1..4",
        "partner_id=u03 not in marts.mart_kol_leaderboard",
        '"kol_id": "u18", "partner_id": "u18"',
        "table marts.mart_campaign_kol_performance, column engagement_rate",
    )


# --------------------------------------------------------------------------- the suites


def test_every_analytics_output_and_mart_has_suites():
    specs = load_suite_specs(EXPECTATIONS / "gx")
    rows = {(s.stage, s.table) for s in specs.values() if s.kind == "rows"}
    for table in ANALYTICS_OUTPUTS:
        assert ("analytics", f"analytics.{table}") in rows
    for table in MARTS:
        assert ("marts", f"marts.{table}") in rows
    for table in ONE_ROW_PER_USER:
        metrics = specs[f"{table}__metrics"].metrics
        assert {"metric": "row_count_match", "name": "rows_minus_dim_users",
                "reference": "core.dim_users"} in metrics, table
        assert any(m.get("child") == "core.dim_users" for m in metrics), table
    thresholds = load_thresholds(None, expectations_dir=EXPECTATIONS, env={})
    for suite in ("analytics.graph_user_metrics", "marts.mart_user_graph_metrics"):
        params = thresholds.for_suite(specs[suite])
        assert params["min_ri_share"] == 1.0
        assert params["pagerank_sum_tolerance"] <= 1e-6
        assert set(params["kol_tiers"]) == {"nano", "micro", "macro", "mega"}


# --------------------------------------------------------------------------- metric kinds


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("""
        create schema s;
        create table s.ranks as select * from (values
            ('a', 1, 10), ('a', 2, 11), ('a', 3, 12),
            ('b', 1, 20), ('b', 1, 21), ('b', 3, 22),
            ('c', 2, 30)) v(g, r, x);
        create table s.people as select * from (values ('a', true), ('b', false), ('c', true))
            v(id, is_kol)
    """)
    yield con
    con.close()


def test_consecutive_rank_counts_groups_not_ranked_1_to_n(con):
    out = build_metrics(con, "s.ranks", [
        {"metric": "consecutive_rank", "name": "per_group", "column": "r", "partition_by": "g"},
        {"metric": "consecutive_rank", "name": "overall", "column": "x"},
    ], {})
    assert out.values == {"per_group": 2, "overall": 1}
    assert out.examples["per_group"] == [
        "g=b: r 1..3 with 2 distinct value(s) over 3 row(s) (0 null), expected 1..3",
        "g=c: r 2..2 with 1 distinct value(s) over 1 row(s) (0 null), expected 1..1",
    ]
    assert out.examples["overall"] == [
        "x 10..30 with 7 distinct value(s) over 7 row(s) (0 null), expected 1..7"]


def test_violations_row_count_match_aggregate_and_filtered_parent(con):
    out = build_metrics(con, "s.ranks", [
        {"metric": "violations", "name": "big_x", "condition": "x > $limit",
         "columns": ["g", "x"], "order_by": "x"},
        {"metric": "violations", "name": "none", "condition": "x < 0"},
        {"metric": "row_count_match", "name": "diff", "reference": "s.people"},
        {"metric": "row_count_match", "name": "diff_b", "where": "g = 'b'",
         "reference": "s.people", "reference_where": "is_kol"},
        {"metric": "aggregate", "name": "sum_error", "expression": "abs(fsum(x) - 126)",
         "examples_sql": "select 'sum = ' || sum(x) from {table}"},
        {"metric": "referential_share", "name": "kol_share", "column": "g",
         "parent": "s.people", "parent_column": "id", "parent_where": "is_kol"},
    ], {"limit": 21})
    assert out.values["big_x"] == 2 and out.values["none"] == 0
    assert out.examples["big_x"] == ["g=b, x=22", "g=c, x=30"]
    assert out.values["diff"] == 4 and out.values["diff_b"] == 1
    assert out.examples["diff"] == ["s.ranks: 7 rows, s.people: 3 rows"]
    assert out.values["sum_error"] == 0 and out.examples["sum_error"] == ["sum = 126"]
    assert out.values["kol_share"] == pytest.approx(4 / 7)
    assert out.values["kol_share_orphans"] == 3
    assert out.examples["kol_share"] == ["g=b not in s.people where is_kol"]
