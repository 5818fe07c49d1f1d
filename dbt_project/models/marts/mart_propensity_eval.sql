{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='ds') }}
{#- History of the engagement-propensity model's metrics per run (trained on earlier days,
    evaluated on the latest day, against a base-rate predictor). -#}
with

evaluation as (select * from {{ source('analytics', 'propensity_eval') }}),

final as (
    select
        cast(ds as date) as ds,
        model,
        metric,
        value,
        split,
        cast(date as date) as evaluated_date,
        n_pairs,
        positive_rate,
        chosen as is_chosen_model,
    from evaluation
)

select * from final
