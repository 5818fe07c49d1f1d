{%- set features = ['n_events', 'n_view', 'n_like', 'n_comment', 'n_share', 'n_save', 'n_click',
                    'n_conversion', 'n_other', 'share_view', 'share_like', 'share_comment',
                    'share_share', 'share_save', 'share_click', 'share_conversion',
                    'share_other', 'engaged_share', 'watch_ratio_mean', 'watch_time_s_total',
                    'active_days', 'events_per_active_day', 'n_posts', 'n_authors',
                    'days_since_last', 'conversion_value', 'kol_share'] -%}
{%- set columns = [] -%}
{%- for f in features -%}{%- do columns.append(('mean_' ~ f, 'DOUBLE')) -%}{%- endfor -%}
with

segments as (select * from {{ ref('segment_profiles') }}),

final as (
    select
        {{ as_of_date() }} as ds,
        segments.segment_id::BIGINT as segment_id,
        segments.n_users::BIGINT as n_users,
        segments.share::DOUBLE as share,
        {{ typed_columns(ref('segment_profiles'), 'segments',
                         columns + [('top_topics', 'BIGINT[]'), ('top_topic_labels', 'VARCHAR'),
                                    ('top_kols', 'VARCHAR[]'),
                                    ('top_kol_follow_share', 'DOUBLE[]')]) }}
    from segments
),

with_text as (
    select
        * replace (to_json(top_topics) as top_topics, to_json(top_kols) as top_kols,
                   to_json(top_kol_follow_share) as top_kol_follow_share),
        array_to_string(top_topics, ', ') as top_topics_text,
        array_to_string(top_kols, ', ') as top_kols_text,
        array_to_string(list_transform(top_kol_follow_share, lambda s: round(s, 3)), ', ')
            as top_kol_follow_share_text,
    from final
)

select * from with_text
