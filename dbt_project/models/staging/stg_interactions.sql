with

source as (
    select * from {{ source('raw', 'interactions') }}
    where ds <= {{ as_of_date() }}
),

final as (
    select
        event_id,
        user_id,
        post_id,
        event_type,
        occurred_at,
        watch_time_s,
        value,
        ds,
    from source
    -- a re-delivered event keeps its latest record
    qualify row_number() over (partition by event_id order by ds desc, _source_row desc) = 1
)

select * from final
