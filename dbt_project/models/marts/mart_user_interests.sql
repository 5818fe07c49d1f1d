{#- Behavioural features of analytics.user_profiles with explicit types (counts BIGINT). The
    profiles' per-topic share columns (topic_<id>, one per topic of the run, so their number
    changes between runs) are not part of the contract: the same shares are in `interests`
    (and `interests_text`), one entry per topic. -#}
{%- set counts = ['n_events', 'n_view', 'n_like', 'n_comment', 'n_share', 'n_save', 'n_click',
                  'n_conversion', 'n_other', 'active_days', 'n_posts', 'n_authors'] -%}
{%- set ratios = ['share_view', 'share_like', 'share_comment', 'share_share', 'share_save',
                  'share_click', 'share_conversion', 'share_other', 'engaged_share',
                  'watch_ratio_mean', 'watch_time_s_total', 'events_per_active_day',
                  'days_since_last', 'conversion_value', 'kol_share'] -%}
{%- set columns = [] -%}
{%- for c in counts -%}{%- do columns.append((c, 'BIGINT')) -%}{%- endfor -%}
{%- for c in ratios -%}{%- do columns.append((c, 'DOUBLE')) -%}{%- endfor -%}
with

profiles as (select * from {{ ref('user_profiles') }}),

interests as (select * from {{ ref('user_interests') }}),

labels as (select distinct topic_id::BIGINT as topic_id, label from {{ ref('topics') }}),

users as (select user_id, handle from {{ ref('dim_users') }}),

interest_lists as (
    select
        interests.user_id,
        list(struct_pack(topic_id := interests.topic_id::BIGINT, topic_label := labels.label,
                         weight := interests.weight::DOUBLE)
             order by interests.rank) as interests,
        string_agg(coalesce(labels.label, 'topic ' || interests.topic_id) || ' ('
                   || round(interests.weight, 3) || ')', '; ' order by interests.rank)
            as interests_text,
        arg_max(interests.topic_id::BIGINT, interests.weight) as top_topic_id,
        arg_max(labels.label, interests.weight) as top_topic_label,
    from interests
    left join labels on labels.topic_id = interests.topic_id::BIGINT
    group by interests.user_id
),

final as (
    select
        {{ as_of_date() }} as ds,
        profiles.user_id::VARCHAR as user_id,
        users.handle,
        interest_lists.top_topic_id,
        interest_lists.top_topic_label,
        to_json(coalesce(interest_lists.interests, [])
            ::STRUCT(topic_id BIGINT, topic_label VARCHAR, weight DOUBLE)[]) as interests,
        coalesce(interest_lists.interests_text, '') as interests_text,
        {{ typed_columns(ref('user_profiles'), 'profiles', columns) }}
    from profiles
    left join users using (user_id)
    left join interest_lists using (user_id)
)

select * from final
