with

campaigns as (select * from {{ ref('stg_campaigns') }}),

posts as (select * from {{ ref('stg_posts') }}),

participants as (
    select
        campaign_id,
        count(distinct author_id) as n_kols,
        list_sort(list(distinct author_id)) as kol_ids,
        count(*) as n_posts,
    from posts
    where campaign_id is not null
    group by all
),

final as (
    select
        campaigns.campaign_id,
        campaigns.brand,
        campaigns.campaign_name,
        campaigns.starts_at,
        campaigns.ends_at,
        campaigns.budget,
        coalesce(participants.n_kols, 0) as n_kols,
        coalesce(participants.kol_ids, []) as kol_ids,
        array_to_string(coalesce(participants.kol_ids, []), ', ') as kol_ids_text,
        coalesce(participants.n_posts, 0) as n_posts,
        coalesce(participants.n_kols, 0) >= 2 as is_co_promotion,
    from campaigns
    left join participants using (campaign_id)
)

select * from final
