{{ config(meta={'produced_by_task': 'analytics_graph', 'produced_by': 'social_warehouse.stages.run_graph_stage'}) }}
{#- Written by the DAG task `analytics_graph` (social_warehouse.stages.run_graph_stage) as Parquet, loaded into
    analytics.graph_user_metrics by `load_analytics`; this model only registers it (see
    macros/analytics_output.sql). What the task reads: -#}
-- depends_on: {{ ref('dim_users') }}
-- depends_on: {{ ref('fct_follow_edges') }}
-- depends_on: {{ ref('fct_user_edges') }}
