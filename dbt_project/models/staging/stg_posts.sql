with

source as (
    select * from {{ source('raw', 'posts') }}
    where ds <= {{ as_of_date() }}
),

latest as (
    select *
    from source
    qualify row_number() over (partition by post_id order by ds desc, _source_row desc) = 1
),

final as (
    select
        post_id,
        author_id,
        created_at,
        nullif(trim(text), '') as text,
        coalesce(nullif(lower(trim(media_type)), ''), 'unknown') as media_type,
        duration_s,
        -- hashtags: '#tag' tokens of the text (any script) plus the hashtags column,
        -- lower-cased without '#', de-duplicated, sorted
        list_sort(list_distinct(list_filter(
            list_concat(
                regexp_extract_all(coalesce(text, ''), '#([\p{L}\p{N}_]+)', 1),
                regexp_split_to_array(coalesce(regexp_replace(hashtags, '#', '', 'g'), ''), '[\s,;]+')
            ).list_transform(lambda tag: lower(tag)),
            lambda tag: tag <> ''
        ))) as hashtags,
        nullif(trim(campaign_id), '') as campaign_id,
        ds as record_ds,
    from latest
)

select * from final
