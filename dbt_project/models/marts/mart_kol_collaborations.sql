with

collaborations as (select * exclude (ds) from {{ source('analytics', 'kol_collaborations') }}),

users as (select user_id, handle from {{ ref('dim_users') }}),

final as (
    select
        collaborations.kol_id,
        kol.handle as kol_handle,
        collaborations.partner_id,
        partner.handle as partner_handle,
        collaborations.* exclude (kol_id, partner_id),
    from collaborations
    left join users as kol on kol.user_id = collaborations.kol_id
    left join users as partner on partner.user_id = collaborations.partner_id
)

select * from final
