with

interactions as (select * from {{ ref('stg_interactions') }}),

items as (select post_id, author_id, duration_s from {{ ref('stg_posts') }}),

users as (select user_id from {{ ref('stg_users') }}),

final as (
    select
        interactions.event_id,
        interactions.user_id,
        interactions.post_id,
        items.author_id,
        interactions.event_type,
        interactions.occurred_at,
        cast(interactions.occurred_at as date) as event_date,
        interactions.watch_time_s,
        interactions.value,
        case
            when interactions.watch_time_s is not null and items.duration_s > 0
                then least(interactions.watch_time_s / items.duration_s, 1.0)
        end as watch_ratio,
        users.user_id is not null as has_known_user,
        items.post_id is not null as has_known_item,
        interactions.ds,
    from interactions
    left join items on items.post_id = interactions.post_id
    left join users on users.user_id = interactions.user_id
)

select * from final
