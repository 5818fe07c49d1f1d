with

users as (select * from {{ ref('stg_users') }}),

follows as (select * from {{ ref('stg_follows') }}),

followers as (
    select followee_id as user_id, count(*) as followers_count
    from follows
    group by all
),

following as (
    select follower_id as user_id, count(*) as following_count
    from follows
    group by all
),

final as (
    select
        users.user_id,
        users.handle,
        users.display_name,
        users.bio,
        users.platform,
        users.country,
        users.category,
        users.is_verified,
        users.created_at,
        users.reported_followers_count,
        users.reported_following_count,
        coalesce(followers.followers_count, 0) as followers_count,
        coalesce(following.following_count, 0) as following_count,
        users.first_seen_ds,
        users.last_seen_ds,
    from users
    left join followers using (user_id)
    left join following using (user_id)
)

select * from final
