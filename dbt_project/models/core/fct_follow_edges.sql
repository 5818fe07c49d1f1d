with

follows as (select * from {{ ref('stg_follows') }}),

users as (select user_id from {{ ref('stg_users') }}),

final as (
    select
        follows.follower_id,
        follows.followee_id,
        follows.followed_at,
        follows.first_seen_ds,
        follower.user_id is not null and followee.user_id is not null as has_known_users,
    from follows
    left join users as follower on follower.user_id = follows.follower_id
    left join users as followee on followee.user_id = follows.followee_id
)

select * from final
