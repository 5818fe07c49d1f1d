with

performance as (select * exclude (ds) from {{ source('analytics', 'campaign_performance') }}),

campaigns as (select campaign_id, is_co_promotion, kol_ids from {{ ref('dim_campaigns') }}),

final as (
    select
        performance.*,
        campaigns.is_co_promotion,
        campaigns.kol_ids,
    from performance
    left join campaigns using (campaign_id)
)

select * from final
