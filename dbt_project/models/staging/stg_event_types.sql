with

source as (
    select * from {{ source('raw', 'event_types') }}
    where ds <= {{ as_of_date() }}
),

final as (
    select
        event_type,
        weight,
        scale_by_value,
        declared_by,
    from source
    qualify row_number() over (partition by event_type order by ds desc) = 1
)

select * from final
