with

profiles as (select * exclude (ds) from {{ source('analytics', 'user_profiles') }}),

interests as (select * from {{ source('analytics', 'user_interests') }}),

labels as (select distinct topic_id, label from {{ source('analytics', 'topics') }}),

users as (select user_id, handle from {{ ref('dim_users') }}),

interest_lists as (
    select
        interests.user_id,
        list(struct_pack(topic_id := interests.topic_id, topic_label := labels.label,
                         weight := interests.weight)
             order by interests.rank) as interests,
        arg_max(labels.label, interests.weight) as top_topic_label,
    from interests
    left join labels using (topic_id)
    group by interests.user_id
),

final as (
    select
        profiles.user_id,
        users.handle,
        interest_lists.top_topic_label,
        coalesce(interest_lists.interests, []) as interests,
        profiles.* exclude (user_id),
    from profiles
    left join users using (user_id)
    left join interest_lists using (user_id)
)

select * from final
