{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='ds') }}
{#- History of every run's offline evaluation: a rerun of a day replaces that day's rows,
    other days stay, so BI can show the trend. -#}
with

evaluation as (select * from {{ source('analytics', 'recommender_eval') }}),

final as (
    select
        cast(ds as date) as ds,
        model,
        metric,
        value,
        k,
        n_users_evaluated,
        split,
        users as user_group,
    from evaluation
)

select * from final
