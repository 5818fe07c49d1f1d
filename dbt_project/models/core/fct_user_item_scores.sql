{#- Implicit preference of a user for an item, as of the logical date:

      score = sum over the user's events on the item of
                  weight(event_type) * value_factor
                  * max(0.5 ^ (age_days / half_life), decay_floor)
              + watch_ratio_weight * max(watch_ratio)

    weight from stg_event_types; value_factor = log2(1 + value) for event types declared
    scale_by_value (play counts), else 1.

    age_days counts from the user's newest event (capped at the end of the logical date),
    not from the logical date: recency ranks a user's own history, so an export whose
    events are years old keeps its scores (a 14-day half-life counted from the load day
    gave 1e-234 for 20-year-old events), and decay_floor keeps every event at least that
    share of its weight however old it is. The Python mirror used by the offline
    evaluation is social_warehouse.analytics.evaluation.preference_scores (pinned to this
    model by tests/e2e/test_real_datasets.py). The sum is ordered by value, so reruns give
    bit-identical scores. Parameters are dbt vars (dbt_project.yml). -#}
with

interactions as (select * from {{ ref('fct_interactions') }}),

event_types as (select * from {{ ref('stg_event_types') }}),

user_anchor as (
    select
        user_id,
        least(max(occurred_at), {{ as_of_end() }}) as anchor_at,
    from interactions
    group by user_id
),

weighted as (
    select
        interactions.user_id,
        interactions.post_id,
        interactions.event_type,
        interactions.occurred_at,
        interactions.watch_ratio,
        event_types.weight
            * case
                when event_types.scale_by_value then log2(1 + greatest(coalesce(interactions.value, 1), 0))
                else 1.0
              end
            * greatest(
                pow(0.5, greatest(date_diff('second', interactions.occurred_at, user_anchor.anchor_at), 0)
                         / 86400.0 / {{ var('score_half_life_days') | float }}),
                {{ var('score_decay_floor', 0.05) | float }}
              )
            as event_score,
    from interactions
    inner join event_types using (event_type)
    inner join user_anchor using (user_id)
),

final as (
    select
        user_id,
        post_id,
        sum(event_score order by event_score)
            + {{ var('watch_ratio_weight') | float }} * coalesce(max(watch_ratio), 0) as score,
        count(*) as n_events,
        count(*) filter (where event_type = 'view') as n_views,
        count(*) filter (where event_type not in ('view')) as n_engagements,
        max(watch_ratio) as max_watch_ratio,
        min(occurred_at) as first_at,
        max(occurred_at) as last_at,
    from weighted
    group by user_id, post_id
)

select * from final
