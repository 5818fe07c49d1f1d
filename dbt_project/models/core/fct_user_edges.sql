{#- Weighted user -> user edges for the graph stage: a follow counts
    var('follow_edge_weight'); every interaction of the source user with a post of the
    target user adds its event weight (stg_event_types). Self-edges are dropped. -#}
with

follows as (select follower_id, followee_id from {{ ref('stg_follows') }}),

interactions as (select * from {{ ref('fct_interactions') }}),

event_types as (select * from {{ ref('stg_event_types') }}),

engaged as (
    select
        interactions.user_id as source_id,
        interactions.author_id as target_id,
        count(*) as n_interactions,
        sum(event_types.weight) as interaction_weight,
    from interactions
    inner join event_types using (event_type)
    where interactions.author_id is not null
      and interactions.user_id <> interactions.author_id
    group by all
),

followed as (
    select follower_id as source_id, followee_id as target_id, true as is_follow
    from follows
),

final as (
    select
        source_id,
        target_id,
        coalesce(followed.is_follow, false) as is_follow,
        coalesce(engaged.n_interactions, 0) as n_interactions,
        coalesce(engaged.interaction_weight, 0.0) as interaction_weight,
        {{ var('follow_edge_weight') | float }} * coalesce(followed.is_follow, false)::int
            + coalesce(engaged.interaction_weight, 0.0) as weight,
    from followed
    full outer join engaged using (source_id, target_id)
)

select * from final
