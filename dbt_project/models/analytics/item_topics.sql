{{ config(meta={'produced_by_task': 'analytics_topics', 'produced_by': 'social_warehouse.stages.run_topics_stage'}) }}
{#- Written by the DAG task `analytics_topics` (social_warehouse.stages.run_topics_stage) as Parquet, loaded into
    analytics.item_topics by `load_analytics`; this model only registers it (see
    macros/analytics_output.sql). What the task reads: -#}
-- depends_on: {{ ref('dim_items') }}
