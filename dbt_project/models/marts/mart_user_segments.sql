with

assignments as (select user_id, segment_id from {{ source('analytics', 'user_segments') }}),

segments as (select * exclude (ds) from {{ source('analytics', 'segment_profiles') }}),

users as (select user_id, handle, category, country from {{ ref('dim_users') }}),

final as (
    select
        assignments.user_id,
        users.handle,
        users.category,
        users.country,
        assignments.segment_id,
        segments.n_users as segment_size,
        segments.share as segment_share,
        segments.top_topic_labels as segment_top_topics,
        segments.top_kols as segment_top_kols,
    from assignments
    left join users using (user_id)
    left join segments using (segment_id)
)

select * from final
