with

scores as (select * exclude (ds) from {{ source('analytics', 'kol_scores') }} where is_kol),

quality as (
    select * exclude (ds, platform, reported_to_graph_ratio)
    from {{ source('analytics', 'kol_audience_quality') }}
),

final as (
    select
        row_number() over (order by scores.score desc, scores.user_id) as leaderboard_rank,
        scores.user_id as kol_id,
        scores.*  exclude (user_id),
        quality.* exclude (kol_id),
    from scores
    left join quality on quality.kol_id = scores.user_id
)

select * from final
