{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='ds',
          on_schema_change='append_new_columns') }}
{#- History of every run's offline evaluation: a rerun of a day replaces that day's rows,
    other days stay, so BI can show the trend. -#}
with

evaluation as (select * from {{ ref('recommender_eval') }}),

final as (
    select
        cast(ds as date) as ds,
        model::VARCHAR as model,
        metric::VARCHAR as metric,
        value::DOUBLE as value,
        k::BIGINT as k,
        n_users_evaluated::BIGINT as n_users_evaluated,
        split::VARCHAR as split,
        users::VARCHAR as user_group,
        split_reason::VARCHAR as split_reason,
        n_test_users::BIGINT as n_test_users,
        min_eval_users::BIGINT as min_eval_users,
        nullif(eval_warning::VARCHAR, '') as eval_warning,
        popularity_blend::DOUBLE as popularity_blend,
    from evaluation
)

select * from final
