with

posts as (select * from {{ ref('stg_posts') }}),

users as (select user_id from {{ ref('stg_users') }}),

final as (
    select
        posts.post_id,
        posts.author_id,
        posts.created_at,
        cast(posts.created_at as date) as created_date,
        posts.text,
        posts.media_type,
        posts.duration_s,
        posts.hashtags,
        array_to_string(posts.hashtags, ' ') as hashtags_text,
        posts.campaign_id,
        posts.campaign_id is not null as is_campaign_post,
        users.user_id is not null as has_known_author,
    from posts
    left join users on users.user_id = posts.author_id
)

select * from final
