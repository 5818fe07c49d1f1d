{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='ds',
          on_schema_change='append_new_columns') }}
{#- History of the engagement-propensity model's metrics per run (trained on earlier days,
    evaluated on the latest day, against a base-rate predictor). -#}
with

evaluation as (select * from {{ ref('propensity_eval') }}),

final as (
    select
        cast(ds as date) as ds,
        model::VARCHAR as model,
        metric::VARCHAR as metric,
        value::DOUBLE as value,
        split::VARCHAR as split,
        cast(date as date) as evaluated_date,
        n_pairs::BIGINT as n_pairs,
        positive_rate::DOUBLE as positive_rate,
        chosen::BOOLEAN as is_chosen_model,
    from evaluation
)

select * from final
