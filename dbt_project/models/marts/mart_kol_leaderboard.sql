with

scores as (select * from {{ ref('kol_scores') }} where is_kol),

quality as (select * from {{ ref('kol_audience_quality') }}),

topic_labels as (select distinct topic_id::BIGINT as topic_id, label from {{ ref('topics') }}),

scored as (
    select
        scores.*,
        -- the stage's top_topic is a text topic id, or the audience's main category
        -- when there are no post texts to learn topics from
        try_cast(try_cast(scores.top_topic as DOUBLE) as BIGINT) as top_topic_id,
    from scores
),

final as (
    select
        {{ as_of_date() }} as ds,
        row_number() over (order by scored.score desc, scored.user_id) as leaderboard_rank,
        scored.user_id as kol_id,
        scored.handle,
        scored.platform,
        scored.category,
        scored.country,
        scored.tier::VARCHAR as tier,
        scored.score::DOUBLE as score,
        scored.score_pct::DOUBLE as score_pct,
        scored.score_group::VARCHAR as score_group,
        scored.is_kol::BOOLEAN as is_kol,
        scored.is_top_kol::BOOLEAN as is_top_kol,
        round(scored.followers_graph)::BIGINT as followers_graph,
        round(scored.followers_reported)::BIGINT as followers_reported,
        round(scored.following_graph)::BIGINT as following_graph,
        round(scored.following_reported)::BIGINT as following_reported,
        round(scored.reach_followers)::BIGINT as reach_followers,
        scored.reported_to_graph_ratio::DOUBLE as reported_to_graph_ratio,
        round(scored.n_posts_window)::BIGINT as n_posts_window,
        round(scored.views_window)::BIGINT as views_window,
        round(scored.likes_window)::BIGINT as likes_window,
        round(scored.comments_window)::BIGINT as comments_window,
        round(scored.shares_window)::BIGINT as shares_window,
        round(scored.saves_window)::BIGINT as saves_window,
        round(scored.engagements_window)::BIGINT as engagements_window,
        scored.engagement_rate_per_view::DOUBLE as engagement_rate_per_view,
        scored.engagement_rate_per_follower::DOUBLE as engagement_rate_per_follower,
        scored.engagement_rate_per_view_smoothed::DOUBLE as engagement_rate_per_view_smoothed,
        scored.engagement_rate_per_follower_smoothed::DOUBLE
            as engagement_rate_per_follower_smoothed,
        scored.community_id::BIGINT as community_id,
        scored.pagerank::DOUBLE as pagerank,
        scored.top_topic_id,
        coalesce(topic_labels.label,
                 case when scored.top_topic_id is null then scored.top_topic::VARCHAR end)
            as top_topic_label,
        scored.top_topic_share::DOUBLE as top_topic_share,
        scored.top_topic_market_share::DOUBLE as top_topic_market_share,
        scored.topic_focus::DOUBLE as topic_focus,
        scored.topic_authority::DOUBLE as topic_authority,
        scored.reach_norm::DOUBLE as reach_norm,
        scored.authority_norm::DOUBLE as authority_norm,
        scored.engagement_per_view_norm::DOUBLE as engagement_per_view_norm,
        scored.engagement_per_follower_norm::DOUBLE as engagement_per_follower_norm,
        scored.topic_authority_norm::DOUBLE as topic_authority_norm,
        quality.n_followers::BIGINT as n_followers,
        quality.n_inactive_followers::BIGINT as n_inactive_followers,
        quality.inactive_follower_share::DOUBLE as inactive_follower_share,
        quality.mass_follower_share::DOUBLE as mass_follower_share,
        quality.low_ratio_follower_share::DOUBLE as low_ratio_follower_share,
        round(quality.kol_followers)::BIGINT as kol_followers,
        round(quality.kol_following)::BIGINT as kol_following,
        quality.log_ff_ratio::DOUBLE as log_ff_ratio,
        quality.ff_ratio_z::DOUBLE as ff_ratio_z,
        quality.ff_ratio_anomaly::BOOLEAN as ff_ratio_anomaly,
        quality.jump_source::VARCHAR as jump_source,
        round(quality.max_daily_gain)::BIGINT as max_daily_gain,
        quality.n_jump_days::BIGINT as n_jump_days,
        quality.jump_gain_share::DOUBLE as jump_gain_share,
        quality.quality_score::DOUBLE as quality_score,
        quality.passes_quality_floor::BOOLEAN as passes_quality_floor,
    from scored
    left join quality on quality.kol_id = scored.user_id
    left join topic_labels on topic_labels.topic_id = scored.top_topic_id
)

select * from final
