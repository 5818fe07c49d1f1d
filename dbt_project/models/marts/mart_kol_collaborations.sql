with

collaborations as (select * from {{ ref('kol_collaborations') }}),

users as (select user_id, handle from {{ ref('dim_users') }}),

final as (
    select
        {{ as_of_date() }} as ds,
        collaborations.kol_id,
        kol.handle as kol_handle,
        collaborations.partner_id,
        partner.handle as partner_handle,
        collaborations.rank::BIGINT as rank,
        collaborations.score::DOUBLE as score,
        collaborations.jaccard::DOUBLE as jaccard,
        collaborations.overlap_coefficient::DOUBLE as overlap_coefficient,
        -- counts of followers; estimates (MinHash) are rounded to whole followers
        round(collaborations.intersection)::BIGINT as intersection,
        round(collaborations.complementary_reach)::BIGINT as complementary_reach,
        collaborations.complementary_share::DOUBLE as complementary_share,
        collaborations.topic_fit::DOUBLE as topic_fit,
        collaborations.influence_balance::DOUBLE as influence_balance,
        collaborations.same_community::BOOLEAN as same_community,
        collaborations.kol_audience::BIGINT as kol_audience,
        collaborations.partner_audience::BIGINT as partner_audience,
        collaborations.overlap_method::VARCHAR as overlap_method,
        collaborations.overlap_error::DOUBLE as overlap_error,
        collaborations.reasons::VARCHAR as reasons,
    from collaborations
    left join users as kol on kol.user_id = collaborations.kol_id
    left join users as partner on partner.user_id = collaborations.partner_id
)

select * from final
