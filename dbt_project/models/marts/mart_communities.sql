with

communities as (select * from {{ ref('graph_communities') }}),

members as (
    select metrics.community_id, users.user_id, users.handle, users.category
    from {{ ref('graph_user_metrics') }} as metrics
    inner join {{ ref('dim_users') }} as users using (user_id)
),

category_counts as (
    select community_id, category, count(*) as n_members
    from members
    where category is not null
    group by all
),

dominant_categories as (
    select
        community_id,
        list(category order by n_members desc, category)[1:3] as dominant_categories,
    from category_counts
    group by community_id
),

top_members as (
    select
        community_id,
        unnest(top_members) as user_id,
        generate_subscripts(top_members, 1) as position,
    from communities
),

top_handles as (
    select
        top_members.community_id,
        list(users.handle order by top_members.position) as top_member_handles,
    from top_members
    left join {{ ref('dim_users') }} as users using (user_id)
    group by top_members.community_id
),

final as (
    select
        {{ as_of_date() }} as ds,
        communities.community_id::BIGINT as community_id,
        communities.size::BIGINT as size,
        communities.modularity_contribution::DOUBLE as modularity_contribution,
        communities.modularity::DOUBLE as modularity,
        to_json(communities.top_members::VARCHAR[]) as top_members,
        array_to_string(communities.top_members, ', ') as top_members_text,
        to_json(coalesce(top_handles.top_member_handles, [])::VARCHAR[])
            as top_member_handles,
        array_to_string(coalesce(top_handles.top_member_handles, []), ', ')
            as top_member_handles_text,
        to_json(coalesce(dominant_categories.dominant_categories, [])::VARCHAR[])
            as dominant_categories,
        array_to_string(coalesce(dominant_categories.dominant_categories, []), ', ')
            as dominant_categories_text,
    from communities
    left join top_handles using (community_id)
    left join dominant_categories using (community_id)
)

select * from final
