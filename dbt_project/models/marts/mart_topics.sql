with

topics as (select * from {{ source('analytics', 'topics') }}),

item_counts as (
    select topic_id, count(*) as n_items
    from {{ source('analytics', 'item_topics') }}
    where rank = 1
    group by topic_id
),

final as (
    select
        topics.topic_id,
        any_value(topics.label) as topic_label,
        list(topics.term order by topics.rank) as top_terms,
        list(topics.weight order by topics.rank) as top_term_weights,
        any_value(topics.coherence_npmi) as coherence_npmi,
        coalesce(any_value(item_counts.n_items), 0) as n_items_main_topic,
    from topics
    left join item_counts using (topic_id)
    group by topics.topic_id
)

select * from final
