with

source as (
    select * from {{ source('raw', 'follows') }}
    where ds <= {{ as_of_date() }}
),

final as (
    select
        follower_id,
        followee_id,
        min(followed_at) as followed_at,
        min(ds) as first_seen_ds,
        count(*) as n_records,
    from source
    where follower_id <> followee_id  -- self-follows are removed
    group by follower_id, followee_id  -- duplicate edges are removed
)

select * from final
