with

assignments as (select user_id, segment_id from {{ ref('user_segments') }}),

segments as (select * from {{ ref('mart_segments') }}),

users as (select user_id, handle, category, country from {{ ref('dim_users') }}),

final as (
    select
        {{ as_of_date() }} as ds,
        assignments.user_id::VARCHAR as user_id,
        users.handle,
        users.category,
        users.country,
        assignments.segment_id::BIGINT as segment_id,
        segments.n_users as segment_size,
        segments.share as segment_share,
        segments.top_topic_labels as segment_top_topics,
        segments.top_kols as segment_top_kols,
        segments.top_kols_text as segment_top_kols_text,
    from assignments
    left join users using (user_id)
    left join segments on segments.segment_id = assignments.segment_id::BIGINT
)

select * from final
