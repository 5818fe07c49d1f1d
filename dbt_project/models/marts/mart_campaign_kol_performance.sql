with

performance as (select * exclude (ds) from {{ source('analytics', 'campaign_kol_performance') }}),

final as (select * from performance)

select * from final
