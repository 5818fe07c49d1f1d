with

source as (
    select * from {{ source('raw', 'users') }}
    where ds <= {{ as_of_date() }}
),

ranked as (
    select
        *,
        row_number() over (partition by user_id order by ds desc, _source_row desc) as record_rank,
        min(ds) over (partition by user_id) as first_seen_ds,
        max(ds) over (partition by user_id) as last_seen_ds,
    from source
),

final as (
    select
        user_id,
        lower(regexp_replace(trim(handle), '^@+', '')) as handle,
        nullif(trim(display_name), '') as display_name,
        nullif(trim(bio), '') as bio,
        coalesce(nullif(lower(trim(platform)), ''), 'unknown') as platform,
        case
            when length(trim(country)) = 2 then upper(trim(country))
            else nullif(trim(country), '')
        end as country,
        nullif(lower(trim(category)), '') as category,
        coalesce(verified, false) as is_verified,
        created_at,
        followers_count as reported_followers_count,
        following_count as reported_following_count,
        first_seen_ds,
        last_seen_ds,
        ds as record_ds,
        _source_file as source_file,
    from ranked
    where record_rank = 1
)

select * from final
