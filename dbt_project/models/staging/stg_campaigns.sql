with

source as (
    select * from {{ source('raw', 'campaigns') }}
    where ds <= {{ as_of_date() }}
),

final as (
    select
        campaign_id,
        nullif(trim(brand), '') as brand,
        nullif(trim(name), '') as campaign_name,
        starts_at,
        ends_at,
        budget,
    from source
    qualify row_number() over (partition by campaign_id order by ds desc, _source_row desc) = 1
)

select * from final
