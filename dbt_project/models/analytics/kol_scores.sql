{{ config(meta={'produced_by_task': 'analytics_kol', 'produced_by': 'social_warehouse.stages.run_kol_stage'}) }}
{#- Written by the DAG task `analytics_kol` (social_warehouse.stages.run_kol_stage) as Parquet, loaded into
    analytics.kol_scores by `load_analytics`; this model only registers it (see
    macros/analytics_output.sql). What the task reads: -#}
-- depends_on: {{ ref('dim_users') }}
-- depends_on: {{ ref('dim_items') }}
-- depends_on: {{ ref('fct_interactions') }}
-- depends_on: {{ ref('fct_follow_edges') }}
-- depends_on: {{ ref('dim_campaigns') }}
-- depends_on: {{ ref('graph_user_metrics') }}
-- depends_on: {{ ref('item_topics') }}
