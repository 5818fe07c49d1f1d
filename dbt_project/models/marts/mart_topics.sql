with

topics as (select * from {{ ref('topics') }}),

item_counts as (
    select topic_id::BIGINT as topic_id, count(*) as n_items
    from {{ ref('item_topics') }}
    where rank = 1
    group by all
),

final as (
    select
        {{ as_of_date() }} as ds,
        topics.topic_id::BIGINT as topic_id,
        any_value(topics.label)::VARCHAR as topic_label,
        to_json(list(topics.term order by topics.rank)::VARCHAR[]) as top_terms,
        string_agg(topics.term, ', ' order by topics.rank) as top_terms_text,
        to_json(list(topics.weight order by topics.rank)::DOUBLE[]) as top_term_weights,
        string_agg(round(topics.weight, 4)::VARCHAR, ', ' order by topics.rank)
            as top_term_weights_text,
        any_value(topics.coherence_npmi)::DOUBLE as coherence_npmi,
        coalesce(any_value(item_counts.n_items), 0)::BIGINT as n_items_main_topic,
    from topics
    left join item_counts on item_counts.topic_id = topics.topic_id::BIGINT
    group by topics.topic_id
)

select * from final
