with

recommendations as (select * exclude (ds) from {{ source('analytics', 'user_recommendations') }}),

items as (select post_id, author_id, text, media_type from {{ ref('dim_items') }}),

users as (select user_id, handle from {{ ref('dim_users') }}),

final as (
    select
        recommendations.user_id,
        recommendations.rank,
        recommendations.post_id,
        recommendations.score,
        recommendations.model,
        items.author_id,
        authors.handle as author_handle,
        items.media_type,
        left(items.text, 120) as text_preview,
    from recommendations
    left join items using (post_id)
    left join users as authors on authors.user_id = items.author_id
)

select * from final
