with

users as (select user_id, handle, category, country, followers_count from {{ ref('dim_users') }}),

metrics as (select * exclude (ds) from {{ source('analytics', 'graph_user_metrics') }}),

final as (
    select
        users.user_id,
        users.handle,
        users.category,
        users.country,
        users.followers_count,
        metrics.* exclude (user_id),
    from users
    inner join metrics using (user_id)
)

select * from final
