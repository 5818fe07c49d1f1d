with

users as (select user_id, handle, category, country, followers_count from {{ ref('dim_users') }}),

metrics as (select * from {{ ref('graph_user_metrics') }}),

final as (
    select
        {{ as_of_date() }} as ds,
        users.user_id,
        users.handle,
        users.category,
        users.country,
        users.followers_count,
        metrics.in_degree::BIGINT as in_degree,
        metrics.out_degree::BIGINT as out_degree,
        metrics.weighted_in_degree::DOUBLE as weighted_in_degree,
        metrics.weighted_out_degree::DOUBLE as weighted_out_degree,
        metrics.degree_centrality::DOUBLE as degree_centrality,
        metrics.in_degree_centrality::DOUBLE as in_degree_centrality,
        metrics.out_degree_centrality::DOUBLE as out_degree_centrality,
        metrics.pagerank::DOUBLE as pagerank,
        metrics.betweenness::DOUBLE as betweenness,
        metrics.closeness::DOUBLE as closeness,
        metrics.harmonic::DOUBLE as harmonic,
        metrics.wcc_id::BIGINT as wcc_id,
        metrics.wcc_size::BIGINT as wcc_size,
        metrics.scc_id::BIGINT as scc_id,
        metrics.scc_size::BIGINT as scc_size,
        metrics.core_number::BIGINT as core_number,
        metrics.community_id::BIGINT as community_id,
        metrics.betweenness_method::VARCHAR as betweenness_method,
        metrics.betweenness_k::BIGINT as betweenness_k,
        metrics.closeness_method::VARCHAR as closeness_method,
        metrics.closeness_k::BIGINT as closeness_k,
        metrics.seed::BIGINT as seed,
        metrics.engine::VARCHAR as engine,
    from users
    inner join metrics using (user_id)
)

select * from final
