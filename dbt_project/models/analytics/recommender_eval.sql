{{ config(meta={'produced_by_task': 'analytics_audience', 'produced_by': 'social_warehouse.stages.run_audience_stage'}) }}
{#- Written by the DAG task `analytics_audience` (social_warehouse.stages.run_audience_stage) as Parquet, loaded into
    analytics.recommender_eval by `load_analytics`; this model only registers it (see
    macros/analytics_output.sql). What the task reads: -#}
-- depends_on: {{ ref('fct_user_item_scores') }}
-- depends_on: {{ ref('fct_interactions') }}
-- depends_on: {{ ref('dim_items') }}
-- depends_on: {{ ref('dim_users') }}
-- depends_on: {{ ref('fct_follow_edges') }}
-- depends_on: {{ ref('item_topics') }}
-- depends_on: {{ ref('topics') }}
-- depends_on: {{ ref('kol_scores') }}
-- depends_on: {{ ref('graph_user_metrics') }}
