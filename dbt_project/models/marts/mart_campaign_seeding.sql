with

seeding as (select * from {{ source('analytics', 'campaign_seeding') }}),

final as (select * from seeding)

select * from final
