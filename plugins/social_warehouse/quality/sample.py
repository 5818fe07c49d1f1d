"""A small, internally consistent warehouse in the layout the gates validate.

Used by the unit tests (each kind of bad data is one SQL mutation of this good warehouse)
and by the gate benchmark (``python -m social_warehouse.quality.benchmark``). It mimics the
tables the ingest and dbt build: ``raw.*`` with the audit columns, rejects, ``input_files``
and ``event_types`` for ``history_days`` partitions before ``ds`` and ``ds`` itself; views
``staging.stg_*`` (latest record per key); tables ``core.*``. It is not the dbt project.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

__all__ = ["build_sample_warehouse"]

_EVENTS = ("view", "view", "view", "like", "comment", "share", "save", "click", "view", "like")


def build_sample_warehouse(
    path: Path | str,
    *,
    ds: date = date(2026, 1, 8),
    history_days: int = 7,
    n_users: int = 400,
    n_posts: int = 800,
    events_per_day: int = 2000,
    rejects_per_day: int = 2,
) -> Path:
    """Write the sample warehouse to ``path`` (replaced if it exists) and return it."""
    import duckdb

    path = Path(path)
    path.unlink(missing_ok=True)
    days = history_days + 1
    first = ds - timedelta(days=history_days)
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        q = con.execute
        q("create schema raw; create schema staging; create schema core")
        q("create table _days as select (?::DATE + d::INTEGER) as ds, d::BIGINT as d "
          "from range(?) t(d)", [first, days])
        audit = ("ds, 'landing/' || strftime(ds, '%Y-%m-%d') || '/{e}.csv' as _source_file, "
                 "{row} as _source_row, sha256(strftime(ds, '%Y-%m-%d') || '{e}') as _file_sha256, "
                 "ds::TIMESTAMP + interval 1 hour as _loaded_at")
        q(f"""
            create table raw.users as
            select 'u' || i as user_id, 'handle_' || i as handle, 'User ' || i as display_name,
                   'bio ' || i as bio, 0::BIGINT as followers_count, 3::BIGINT as following_count,
                   i % 10 = 0 as verified,
                   timestamp '2020-01-01' + to_minutes(i::BIGINT) as created_at,
                   ['VN', 'TH', 'ID', 'PH'][1 + i % 4] as country,
                   ['beauty', 'food', 'tech', 'travel'][1 + i % 4] as category,
                   'tiktok' as platform, {audit.format(e='users', row='i')}
            from range({n_users}) t(i) join _days on _days.d = i % {days}
        """)
        q(f"""
            create table raw.follows as
            select 'u' || i as follower_id, 'u' || ((i * 7 + k) % {n_users}) as followee_id,
                   ds::TIMESTAMP + to_minutes((i % 600)::BIGINT) as followed_at,
                   {audit.format(e='follows', row='i * 3 + k')}
            from range({n_users}) t(i), range(1, 4) s(k)
            join _days on _days.d = i % {days}
            where (i * 7 + k) % {n_users} <> i
        """)
        # Self-reported counts agree with the edges (as an honest export would).
        q("""
            update raw.users u set followers_count = e.n, following_count = f.n
            from (select followee_id, count(*) n from raw.follows group by 1) e,
                 (select follower_id, count(*) n from raw.follows group by 1) f
            where e.followee_id = u.user_id and f.follower_id = u.user_id
        """)
        q(f"""
            create table raw.posts as
            select 'p' || j as post_id, 'u' || (j % {n_users}) as author_id,
                   ds::TIMESTAMP + to_minutes((j % 1200)::BIGINT) as created_at,
                   'caption ' || j as text, ['video', 'image', 'text'][1 + j % 3] as media_type,
                   (10 + j % 50)::DOUBLE as duration_s, '#tag' || (j % 7) as hashtags,
                   case when j % 5 = 0 then 'c' || (j % {days}) end as campaign_id,
                   {audit.format(e='posts', row='j')}
            from range({n_posts}) t(j) join _days on _days.d = j % {days}
        """)
        events = "[" + ", ".join(f"'{e}'" for e in _EVENTS) + "]"
        q(f"""
            create table raw.interactions as
            select 'e' || d || '_' || k as event_id, 'u' || (k % {n_users}) as user_id,
                   'p' || ((k * 13) % {n_posts}) as post_id,
                   {events}[1 + k % {len(_EVENTS)}] as event_type,
                   ds::TIMESTAMP + to_seconds((k * 37) % 86400) as occurred_at,
                   (k % 60)::DOUBLE as watch_time_s,
                   case when k % 50 = 0 then 1.0 end::DOUBLE as value,
                   {audit.format(e='interactions', row='k')}
            from _days, range({events_per_day}) t(k)
        """)
        q(f"""
            create table raw.campaigns as
            select 'c' || d as campaign_id, 'Brand ' || d as brand, 'Campaign ' || d as name,
                   ds::TIMESTAMP as starts_at, ds::TIMESTAMP + interval 30 day as ends_at,
                   (1000.0 * (d + 1))::DOUBLE as budget, {audit.format(e='campaigns', row='0')}
            from _days
        """)
        reject_cols = ("ds DATE, _source_file VARCHAR, _source_row BIGINT, _file_sha256 VARCHAR, "
                       "_loaded_at TIMESTAMP, raw_record VARCHAR, reason VARCHAR")
        for entity in ("users", "posts", "interactions", "follows", "campaigns"):
            q(f"create table raw.{entity}_rejects ({reject_cols})")
        q(f"""
            insert into raw.interactions_rejects
            select ds, 'landing/' || strftime(ds, '%Y-%m-%d') || '/interactions.csv',
                   {events_per_day} + r, sha256(strftime(ds, '%Y-%m-%d') || 'interactions'),
                   ds::TIMESTAMP + interval 1 hour,
                   'e_bad_' || r || ',u1,p1,view,not-a-time,,', 'bad_timestamp:occurred_at'
            from _days, range({rejects_per_day}) t(r)
        """)
        q("""
            create table raw.input_files (
                ds DATE, entity VARCHAR, path VARCHAR, sha256 VARCHAR, size_bytes BIGINT,
                format VARCHAR, gzipped BOOLEAN, rows_read BIGINT, rows_loaded BIGINT,
                rows_rejected BIGINT, ignored_columns VARCHAR[], loaded_at TIMESTAMP)
        """)
        for entity in ("users", "posts", "interactions", "follows", "campaigns"):
            q(f"""
                insert into raw.input_files
                select d.ds, '{entity}', any_value(_source_file), any_value(_file_sha256),
                       100 * count(*), 'csv', false,
                       count(*) + coalesce(max(r.n), 0), count(*), coalesce(max(r.n), 0),
                       []::VARCHAR[], any_value(_loaded_at)
                from raw.{entity} x join _days d on d.ds = x.ds
                left join (select ds, count(*) n from raw.{entity}_rejects group by 1) r
                  on r.ds = d.ds
                group by d.ds
            """)
        q("create table raw.event_types (ds DATE, event_type VARCHAR, weight DOUBLE, "
          "declared_by VARCHAR)")
        q("""
            insert into raw.event_types
            select ds, e, w, 'contract' from _days,
            (values ('view', 1.0), ('like', 3.0), ('comment', 4.0), ('share', 5.0),
                    ('save', 4.0), ('click', 2.0), ('conversion', 8.0)) v(e, w)
        """)
        keys = {
            "users": "user_id", "posts": "post_id", "interactions": "event_id",
            "follows": "follower_id, followee_id", "campaigns": "campaign_id",
        }
        renames = {  # as the dbt staging model names them
            "users": ", followers_count as reported_followers_count, "
                     "following_count as reported_following_count",
        }
        for entity, key in keys.items():
            extra = renames.get(entity, "")
            drop = ", followers_count, following_count" if extra else ""
            q(f"""
                create view staging.stg_{entity} as
                select * exclude (_rn{drop}){extra} from (
                    select *, row_number() over (
                        partition by {key} order by ds desc, _source_row desc) as _rn
                    from raw.{entity}
                ) where _rn = 1
            """)
        q("""
            create view staging.stg_event_types as
            select event_type, weight, false as scale_by_value, declared_by
            from raw.event_types
            qualify row_number() over (partition by event_type order by ds desc) = 1
        """)
        q("""
            create table core.fct_follow_edges as
            select follower_id, followee_id, followed_at from staging.stg_follows
        """)
        q("""
            create table core.dim_users as
            select u.user_id, u.handle, u.display_name, u.bio, u.platform, u.country,
                   u.category, u.verified, u.created_at,
                   u.reported_followers_count,
                   u.reported_following_count,
                   coalesce(i.n, 0) as followers_count, coalesce(o.n, 0) as following_count,
                   s.first_ds as first_seen_ds, s.last_ds as last_seen_ds
            from staging.stg_users u
            left join (select followee_id k, count(*) n from core.fct_follow_edges group by 1) i
              on i.k = u.user_id
            left join (select follower_id k, count(*) n from core.fct_follow_edges group by 1) o
              on o.k = u.user_id
            left join (select user_id, min(ds) first_ds, max(ds) last_ds from raw.users
                       group by 1) s on s.user_id = u.user_id
        """)
        q("""
            create table core.dim_items as
            select post_id, author_id, created_at, text, media_type, duration_s,
                   string_split(replace(hashtags, '#', ''), ' ') as hashtags, campaign_id
            from staging.stg_posts
        """)
        q("""
            create table core.fct_interactions as
            select i.event_id, i.user_id, i.post_id, p.author_id, i.event_type, i.occurred_at,
                   i.occurred_at::DATE as event_date, i.watch_time_s, i.value,
                   i.watch_time_s / nullif(p.duration_s, 0) as watch_ratio, i.ds
            from staging.stg_interactions i left join staging.stg_posts p using (post_id)
        """)
        q("""
            create table core.fct_user_edges as
            select source_id, target_id, sum(w) as weight, bool_or(f) as is_follow,
                   sum(n)::BIGINT as n_interactions
            from (
                select follower_id as source_id, followee_id as target_id, 1.0 as w, true as f,
                       0 as n from core.fct_follow_edges
                union all
                select user_id, author_id, 0.1, false, 1 from core.fct_interactions
                where user_id <> author_id
            ) group by 1, 2
        """)
        q("""
            create table core.fct_user_item_scores as
            select i.user_id, i.post_id, sum(e.weight) as score, count(*) as n_events,
                   max(i.occurred_at) as last_at
            from core.fct_interactions i
            join (select distinct event_type, weight from raw.event_types) e using (event_type)
            group by 1, 2
        """)
        q("create table core.dim_campaigns as select * exclude (ds, _source_file, _source_row, "
          "_file_sha256, _loaded_at) from staging.stg_campaigns")
        q("drop table _days")
    finally:
        con.close()
    return path
