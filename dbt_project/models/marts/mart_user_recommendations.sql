with

recommendations as (select * from {{ ref('user_recommendations') }}),

items as (select post_id, author_id, text, media_type from {{ ref('dim_items') }}),

users as (select user_id, handle from {{ ref('dim_users') }}),

final as (
    select
        {{ as_of_date() }} as ds,
        recommendations.user_id::VARCHAR as user_id,
        recommendations.rank::BIGINT as rank,
        recommendations.post_id::VARCHAR as post_id,
        recommendations.score::DOUBLE as score,
        recommendations.model::VARCHAR as model,
        items.author_id,
        authors.handle as author_handle,
        items.media_type,
        left(items.text, 120) as text_preview,
    from recommendations
    left join items using (post_id)
    left join users as authors on authors.user_id = items.author_id
)

select * from final
