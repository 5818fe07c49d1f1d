with

performance as (select * from {{ ref('campaign_performance') }}),

campaigns as (select campaign_id, is_co_promotion, kol_ids from {{ ref('dim_campaigns') }}),

final as (
    select
        {{ as_of_date() }} as ds,
        performance.campaign_id,
        performance.brand,
        performance.name,
        performance.starts_at::TIMESTAMP as starts_at,
        performance.ends_at::TIMESTAMP as ends_at,
        performance.budget::DOUBLE as budget,
        performance.views::BIGINT as views,
        performance.likes::BIGINT as likes,
        performance.comments::BIGINT as comments,
        performance.shares::BIGINT as shares,
        performance.saves::BIGINT as saves,
        performance.engagements::BIGINT as engagements,
        performance.clicks::BIGINT as clicks,
        performance.conversions::BIGINT as conversions,
        performance.conversion_value::DOUBLE as conversion_value,
        performance.reach::BIGINT as reach,
        performance.unique_viewers::BIGINT as unique_viewers,
        performance.posts_with_events::BIGINT as posts_with_events,
        performance.n_posts::BIGINT as n_posts,
        performance.n_kols::BIGINT as n_kols,
        performance.ctr::DOUBLE as ctr,
        performance.conversion_rate_click::DOUBLE as conversion_rate_click,
        performance.conversion_rate_view::DOUBLE as conversion_rate_view,
        performance.engagement_rate::DOUBLE as engagement_rate,
        performance.views_per_post::DOUBLE as views_per_post,
        performance.cost_per_engagement::DOUBLE as cost_per_engagement,
        performance.cost_per_click::DOUBLE as cost_per_click,
        performance.cost_per_conversion::DOUBLE as cost_per_conversion,
        performance.cpm::DOUBLE as cpm,
        performance.roas::DOUBLE as roas,
        performance.n_kols_with_baseline::BIGINT as n_kols_with_baseline,
        performance.engagement_rate_expected::DOUBLE as engagement_rate_expected,
        performance.engagement_rate_lift::DOUBLE as engagement_rate_lift,
        performance.ctr_expected::DOUBLE as ctr_expected,
        performance.ctr_lift::DOUBLE as ctr_lift,
        performance.conversion_rate_view_expected::DOUBLE as conversion_rate_view_expected,
        performance.conversion_rate_view_lift::DOUBLE as conversion_rate_view_lift,
        campaigns.is_co_promotion,
        to_json(campaigns.kol_ids) as kol_ids,
        array_to_string(campaigns.kol_ids, ', ') as kol_ids_text,
    from performance
    left join campaigns using (campaign_id)
)

select * from final
