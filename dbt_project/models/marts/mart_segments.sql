with

segments as (select * exclude (ds) from {{ source('analytics', 'segment_profiles') }}),

final as (select * from segments)

select * from final
