with

seeding as (select * from {{ ref('campaign_seeding') }}),

final as (
    select
        {{ as_of_date() }} as ds,
        seeding.method,
        seeding.k::BIGINT as k,
        to_json(seeding.seed_set::VARCHAR[]) as seed_set,
        array_to_string(seeding.seed_set, ', ') as seed_set_text,
        seeding.expected_spread::DOUBLE as expected_spread,
        seeding.spread_std_error::DOUBLE as spread_std_error,
        seeding.selection_spread::DOUBLE as selection_spread,
        to_json(seeding.marginal_gains::DOUBLE[]) as marginal_gains,
        array_to_string(list_transform(seeding.marginal_gains, lambda g: round(g, 3)), ', ')
            as marginal_gains_text,
        seeding.evaluations::BIGINT as evaluations,
        seeding.simulations::BIGINT as simulations,
        seeding.eval_simulations::BIGINT as eval_simulations,
        seeding.seed::BIGINT as seed,
        seeding.edge_probability::VARCHAR as edge_probability,
        seeding.gain_vs_top_k::DOUBLE as gain_vs_top_k,
    from seeding
)

select * from final
