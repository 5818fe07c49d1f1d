"""KOL analytics on degenerate real-world inputs (email, Last.fm, Instagram, tiny, empty).

The inputs are built the way :func:`social_warehouse.stages.run_kol_stage` gets them: the
scenario's rows go into DuckDB tables typed like the ``core`` models, and are read back
with the stage's own queries through Arrow (``.to_arrow_table().to_pandas()``), so string
columns are Arrow-backed ``str``, timestamps ``datetime64[us]`` and empty tables keep
those dtypes. Every KOL function must return the same columns as on a rich "normal"
world, never crash, and keep its invariants (scores in [0, 1], rates null on a zero
denominator, no null ids). One test also runs ``run_kol_stage`` itself end to end.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from social_warehouse.analytics.campaigns import CampaignConfig, campaign_performance
from social_warehouse.analytics.collaboration import CollaborationConfig, recommend_collaborations
from social_warehouse.analytics.influence import (
    AudienceQualityConfig,
    InfluenceConfig,
    audience_quality,
    score_influence,
)
from social_warehouse.analytics.seeding import SeedingConfig, select_seed_kols
from social_warehouse.db import quote_ident

pytestmark = [
    # the stage reads through DuckDB's DB-API cursor (``con.execute(...).to_arrow_table()``)
    pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning"),
    # score attrs hold Timestamps, which pyarrow cannot put in the Parquet metadata
    pytest.mark.filterwarnings("ignore:Could not serialize pd.DataFrame.attrs:UserWarning"),
]

DS = "2026-01-10"
AS_OF = pd.Timestamp(DS) + pd.Timedelta(days=1)  # what stages._as_of(ds) returns
LOAD_TS = pd.Timestamp(DS)  # "every followed_at / occurred_at is the load date"

# the core tables with the column types of the dbt models (only what the stage reads, plus
# a few columns the stage selects with ``select *``)
CORE_DDL = {
    "dim_users": """
        user_id VARCHAR, handle VARCHAR, display_name VARCHAR, bio VARCHAR, platform VARCHAR,
        country VARCHAR, category VARCHAR, is_verified BOOLEAN, created_at TIMESTAMP,
        reported_followers_count BIGINT, reported_following_count BIGINT,
        followers_count BIGINT, following_count BIGINT, first_seen_ds DATE, last_seen_ds DATE
    """,
    "dim_items": """
        post_id VARCHAR, author_id VARCHAR, created_at TIMESTAMP, created_date DATE,
        text VARCHAR, media_type VARCHAR, duration_s DOUBLE, hashtags VARCHAR[],
        campaign_id VARCHAR, is_campaign_post BOOLEAN, has_known_author BOOLEAN
    """,
    "fct_interactions": """
        event_id VARCHAR, user_id VARCHAR, post_id VARCHAR, author_id VARCHAR,
        event_type VARCHAR, occurred_at TIMESTAMP, event_date DATE, watch_time_s DOUBLE,
        value DOUBLE, watch_ratio DOUBLE, has_known_user BOOLEAN, has_known_item BOOLEAN,
        ds DATE
    """,
    "fct_follow_edges": """
        follower_id VARCHAR, followee_id VARCHAR, followed_at TIMESTAMP, first_seen_ds DATE,
        has_known_users BOOLEAN
    """,
    "dim_campaigns": """
        campaign_id VARCHAR, brand VARCHAR, campaign_name VARCHAR, starts_at TIMESTAMP,
        ends_at TIMESTAMP, budget DOUBLE, n_kols BIGINT, kol_ids VARCHAR[], n_posts BIGINT,
        is_co_promotion BOOLEAN
    """,
}

# the queries of run_kol_stage
STAGE_SQL = {
    "users": "select * from core.dim_users",
    "items": "select post_id, author_id, created_at, text, campaign_id from core.dim_items",
    "interactions": (
        "select user_id, post_id, author_id, event_type, occurred_at, event_date, watch_time_s, "
        "value from core.fct_interactions where occurred_at >= ? and occurred_at < ?"
    ),
    "follows": "select follower_id, followee_id, followed_at from core.fct_follow_edges",
    "campaigns": (
        "select campaign_id, brand, campaign_name as name, starts_at, ends_at, budget "
        "from core.dim_campaigns"
    ),
}


# --------------------------------------------------------------------------------------
# scenarios (rows only; types come from the DDL above)
# --------------------------------------------------------------------------------------


def _ids(prefix: str, n: int) -> np.ndarray:
    return np.array([f"{prefix}{i:05d}" for i in range(n)], dtype=object)


def _edges(src: np.ndarray, dst: np.ndarray, when) -> pd.DataFrame:
    e = pd.DataFrame({"follower_id": src, "followee_id": dst})
    e = e[e["follower_id"] != e["followee_id"]].drop_duplicates(ignore_index=True)
    e["followed_at"] = when if not callable(when) else when(len(e))
    return e


def scenario_normal(seed: int = 3) -> dict:
    """A rich world: views, engagement, clicks, conversions, campaigns, dated follows."""
    rng = np.random.default_rng(seed)
    n = 400
    uid = _ids("u", n)
    pop = rng.lognormal(0, 1.0, n)
    pop /= pop.sum()
    src = np.repeat(np.arange(n), rng.poisson(10, n) + 1)
    dst = rng.choice(n, len(src), p=pop)
    follows = _edges(
        uid[src], uid[dst], lambda m: AS_OF - pd.to_timedelta(rng.integers(1, 90, m), "D")
    )
    users = pd.DataFrame(
        {
            "user_id": uid,
            "handle": ["@" + u for u in uid],
            "platform": np.where(np.arange(n) % 3 == 0, "tiktok", "instagram"),
            "category": rng.choice(["beauty", "food", "tech"], n),
            "reported_followers_count": rng.integers(0, 200_000, n),
            "reported_following_count": rng.integers(0, 3_000, n),
            "created_at": pd.Timestamp("2024-01-01"),
        }
    )
    authors = rng.choice(n, 600, p=pop)
    items = pd.DataFrame(
        {
            "post_id": _ids("p", 600),
            "author_id": uid[authors],
            "created_at": AS_OF - pd.to_timedelta(rng.integers(1, 40, 600), "D"),
            "text": "hello #tag",
        }
    )
    items["campaign_id"] = None
    camp_posts = rng.choice(600, 60, replace=False)
    items.loc[camp_posts, "campaign_id"] = rng.choice(["c1", "c2", "c3"], 60)
    campaigns = pd.DataFrame(
        {
            "campaign_id": ["c1", "c2", "c3"],
            "brand": ["A", "B", "C"],
            "campaign_name": ["a", "b", "c"],
            "starts_at": AS_OF - pd.to_timedelta([20, 15, 10], "D"),
            "ends_at": AS_OF - pd.to_timedelta([5, 3, 1], "D"),
            "budget": [1000.0, None, 500.0],
        }
    )
    m = 30_000
    types = rng.choice(
        ["view", "like", "comment", "share", "save", "click", "conversion"],
        m,
        p=[0.7, 0.12, 0.04, 0.03, 0.04, 0.06, 0.01],
    )
    post = rng.integers(0, 600, m)
    inter = pd.DataFrame(
        {
            "event_id": _ids("e", m),
            "user_id": uid[rng.integers(0, n, m)],
            "post_id": items["post_id"].to_numpy()[post],
            "author_id": items["author_id"].to_numpy()[post],
            "event_type": types,
            "occurred_at": AS_OF - pd.to_timedelta(rng.integers(60, 30 * 86_400, m), "s"),
            "value": np.where(types == "conversion", 25.0, np.nan),
        }
    )
    return {
        "users": users,
        "items": items,
        "interactions": inter,
        "follows": follows,
        "campaigns": campaigns,
    }


def scenario_email(seed: int = 1) -> dict:
    """email-Eu-core: 1,005 users, ~25k follows all on one date; nothing else."""
    rng = np.random.default_rng(seed)
    n = 1005
    uid = _ids("e", n)
    pop = rng.pareto(1.5, n) + 1
    pop /= pop.sum()
    src = rng.integers(0, n, 27_000)
    dst = rng.choice(n, len(src), p=pop)
    follows = _edges(uid[src], uid[dst], pd.Timestamp("2024-06-01"))
    users = pd.DataFrame(
        {
            "user_id": uid,
            "handle": uid,
            "platform": "email",
            "category": None,
            "reported_followers_count": None,
        }
    )
    return {"users": users, "follows": follows}


def scenario_lastfm(seed: int = 2) -> dict:
    """hetrec Last.fm: listeners + artist accounts, plays and tags, nothing recent."""
    rng = np.random.default_rng(seed)
    n_l, n_a = 1892, 17_632
    lid, aid = _ids("l", n_l), _ids("a", n_a)
    # friendships, both ways
    a = rng.integers(0, n_l, 12_717)
    b = rng.integers(0, n_l, 12_717)
    friends = _edges(np.concatenate([lid[a], lid[b]]), np.concatenate([lid[b], lid[a]]), LOAD_TS)
    # listeners follow their top artists (Zipf popularity)
    pop = 1.0 / np.arange(1, n_a + 1) ** 1.1
    pop /= pop.sum()
    la_src = np.repeat(np.arange(n_l), 49)
    la_dst = rng.choice(n_a, len(la_src), p=pop)
    la = _edges(lid[la_src], aid[la_dst], LOAD_TS)
    follows = pd.concat([friends, la], ignore_index=True)
    users = pd.DataFrame(
        {
            "user_id": np.concatenate([lid, aid]),
            "handle": np.concatenate([lid, aid]),
            "platform": "lastfm",
            "category": np.array([None] * n_l + ["artist"] * n_a, object),
        }
    )
    items = pd.DataFrame(
        {
            "post_id": "post_" + pd.Series(aid),
            "author_id": aid,
            "created_at": pd.Timestamp("2005-08-01"),
            "text": None,
            "campaign_id": None,
        }
    )
    plays = la.rename(columns={"follower_id": "user_id"})
    plays = plays.assign(
        post_id="post_" + plays["followee_id"],
        author_id=plays["followee_id"],
        event_type="play",
        occurred_at=LOAD_TS,
        value=rng.integers(1, 5_000, len(plays)).astype(float),
    )
    t = 20_000
    tag_pick = rng.integers(0, len(la), t)
    tags = pd.DataFrame(
        {
            "user_id": la["follower_id"].to_numpy()[tag_pick],
            "author_id": la["followee_id"].to_numpy()[tag_pick],
            "event_type": "tag",
            "occurred_at": pd.Timestamp("2005-01-01")
            + pd.to_timedelta(rng.integers(0, 6 * 365, t), "D"),
            "value": np.nan,
        }
    )
    tags["post_id"] = "post_" + tags["author_id"]
    inter = pd.concat([plays.drop(columns=["followee_id", "followed_at"]), tags], ignore_index=True)
    inter["event_id"] = _ids("ev", len(inter))
    return {"users": users, "items": items, "interactions": inter, "follows": follows}


def scenario_instagram(seed: int = 4) -> dict:
    """Instagram top 200: only self-reported follower counts in the hundreds of millions."""
    rng = np.random.default_rng(seed)
    uid = _ids("ig", 200)
    users = pd.DataFrame(
        {
            "user_id": uid,
            "handle": uid,
            "platform": "instagram",
            "category": None,
            "country": rng.choice(["US", "IN", None], 200),
            "reported_followers_count": np.sort(rng.integers(30_000_000, 480_000_000, 200))[::-1],
            "reported_following_count": None,
        }
    )
    return {"users": users}


def scenario_single() -> dict:
    """One user who follows only itself (the self-follow is dropped everywhere)."""
    users = pd.DataFrame({"user_id": ["solo"], "platform": "x", "reported_followers_count": [42]})
    follows = pd.DataFrame(
        {"follower_id": ["solo"], "followee_id": ["solo"], "followed_at": [LOAD_TS]}
    )
    return {"users": users, "follows": follows}


def scenario_empty() -> dict:
    return {}


SCENARIOS = {
    "email": scenario_email,
    "lastfm": scenario_lastfm,
    "instagram": scenario_instagram,
    "single": scenario_single,
    "empty": scenario_empty,
}


# --------------------------------------------------------------------------------------
# DuckDB round trip
# --------------------------------------------------------------------------------------

_TABLE_OF = {
    "users": "dim_users",
    "items": "dim_items",
    "interactions": "fct_interactions",
    "follows": "fct_follow_edges",
    "campaigns": "dim_campaigns",
}


def build_core(path, frames: dict) -> None:
    """Create the core tables at ``path`` and insert the scenario's rows (by name)."""
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("create schema if not exists core")
        for table, ddl in CORE_DDL.items():
            con.execute(f"create or replace table core.{quote_ident(table)} ({ddl})")
        for key, table in _TABLE_OF.items():
            df = frames.get(key)
            if df is None or not len(df):
                continue
            df = df.rename(columns={"name": "campaign_name"})
            if table == "fct_interactions" and "event_date" not in df.columns:
                df = df.assign(event_date=pd.to_datetime(df["occurred_at"]).dt.normalize())
            obj = df.astype({c: object for c in df.columns if df[c].dtype != "float64"})
            obj = obj.where(obj.notna(), None)
            con.register("_src", obj)
            cols = ", ".join(quote_ident(c) for c in df.columns)
            con.execute(f"insert into core.{quote_ident(table)} ({cols}) select {cols} from _src")
            con.unregister("_src")
    finally:
        con.close()


def read_stage_inputs(path, window_days: int = 28) -> dict:
    """The stage's five frames, read exactly like run_kol_stage does."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        start = AS_OF - pd.Timedelta(days=window_days + 1)
        out = {}
        for key, sql in STAGE_SQL.items():
            params = [start.to_pydatetime(), AS_OF.to_pydatetime()] if "?" in sql else []
            out[key] = con.execute(sql, params).to_arrow_table().to_pandas()
        # the whole history too (the functions must cope with years-old events)
        out["all_interactions"] = (
            con.execute(STAGE_SQL["interactions"].split(" where ")[0]).to_arrow_table().to_pandas()
        )
        return out
    finally:
        con.close()


# --------------------------------------------------------------------------------------
# running the KOL functions the way the stage does
# --------------------------------------------------------------------------------------

TIERS = {"nano", "micro", "macro", "mega"}
LIGHT_SEEDING = SeedingConfig(n_simulations=20, eval_simulations=20)


def run_kol_functions(
    d: dict,
    *,
    interactions_key: str = "interactions",
    graph_metrics=None,
    seeding: SeedingConfig = LIGHT_SEEDING,
    collaboration: CollaborationConfig | None = None,
) -> dict:
    """The calls of run_kol_stage, in its order and with its arguments."""
    inter = d[interactions_key]
    scores = score_influence(
        d["users"],
        d["items"],
        inter,
        d["follows"],
        graph_metrics=graph_metrics,
        item_topics=None,
        config=InfluenceConfig(),
        as_of=AS_OF,
    )
    kols = scores[scores["is_kol"]]
    quality = audience_quality(
        d["users"],
        d["follows"],
        inter,
        kols=kols,
        items=d["items"],
        as_of=AS_OF,
        config=AudienceQualityConfig(),
    )
    collabs = recommend_collaborations(
        kols,
        d["follows"],
        users=d["users"],
        graph_metrics=graph_metrics,
        items=d["items"],
        item_topics=None,
        quality=quality,
        config=collaboration or CollaborationConfig(),
    )
    per_campaign, per_kol = campaign_performance(
        d["items"], inter, d["campaigns"], config=CampaignConfig()
    )
    seeds = select_seed_kols(d["follows"], kols, k=5, config=seeding)
    return {
        "scores": scores,
        "kols": kols,
        "quality": quality,
        "collabs": collabs,
        "per_campaign": per_campaign,
        "per_kol": per_kol,
        "seeding": seeds,
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """``world(name)``: settings, stage inputs and function results of a scenario (cached)."""
    from social_warehouse.config import get_settings

    from tests.conftest import REPO_ROOT

    cache: dict = {}

    def get(name: str) -> dict:
        if name not in cache:
            make = scenario_normal if name == "normal" else SCENARIOS[name]
            data_dir = tmp_path_factory.mktemp(f"kol_{name}")
            settings = get_settings({"SW_HOME": str(REPO_ROOT), "SW_DATA_DIR": str(data_dir)})
            settings.build_path.parent.mkdir(parents=True, exist_ok=True)
            build_core(settings.build_path, make())
            inputs = read_stage_inputs(settings.build_path)
            cache[name] = {"settings": settings, "inputs": inputs, "out": run_kol_functions(inputs)}
        return cache[name]

    return get


def assert_same_schema(frame: pd.DataFrame, reference: pd.DataFrame, what: str) -> None:
    assert list(frame.columns) == list(reference.columns), what
    differ = {
        c: (str(reference[c].dtype), str(frame[c].dtype))
        for c in reference.columns
        if str(reference[c].dtype) != str(frame[c].dtype)
    }
    assert not differ, f"{what}: dtypes differ from the normal case {differ}"


def assert_share(s: pd.Series) -> None:
    """Null or within [0, 1]; never inf."""
    v = s.to_numpy(dtype="float64")
    assert not np.isinf(v).any()
    assert ((v[~np.isnan(v)] >= 0) & (v[~np.isnan(v)] <= 1)).all()


NAMES = list(SCENARIOS)


# --------------------------------------------------------------------------------------
# every function on every scenario: no crash, the normal schema, the invariants
# --------------------------------------------------------------------------------------


def test_inputs_have_the_pipeline_dtypes(world):
    d = world("empty")["inputs"]
    assert all(len(f) == 0 for f in d.values())
    assert d["users"]["user_id"].dtype == "str"
    assert d["follows"]["followed_at"].dtype == "datetime64[us]"
    assert d["campaigns"]["ends_at"].dtype == "datetime64[us]"
    e = world("email")["inputs"]
    assert e["users"]["reported_followers_count"].isna().all()
    assert e["follows"]["followed_at"].nunique() == 1


@pytest.mark.parametrize("name", NAMES)
def test_score_influence(world, name):
    ref = world("normal")["out"]["scores"]
    w = world(name)
    scores, users = w["out"]["scores"], w["inputs"]["users"]
    assert_same_schema(scores, ref, "score_influence")
    assert len(scores) == users["user_id"].nunique()
    assert scores["user_id"].notna().all() and scores["user_id"].is_unique
    assert scores["score"].notna().all() and scores["score"].between(0, 1).all()
    assert scores["is_kol"].dtype == bool and scores["is_top_kol"].dtype == bool
    assert not (scores["is_top_kol"] & ~scores["is_kol"]).any()
    assert (scores.loc[scores["is_kol"], "score"] > 0).all()
    assert set(scores["tier"].dropna()) <= TIERS
    used = scores.attrs["weights_used"]
    assert used == {} or sum(used.values()) == pytest.approx(1.0)
    if len(scores) >= 10:
        assert 0 < scores["is_kol"].sum() <= 0.2 * len(scores)


@pytest.mark.parametrize("name", NAMES)
def test_audience_quality(world, name):
    ref = world("normal")["out"]["quality"]
    out = world(name)["out"]
    q = out["quality"]
    assert_same_schema(q, ref, "audience_quality")
    assert set(q["kol_id"]) == set(out["kols"]["user_id"])
    assert q["kol_id"].notna().all()
    for col in (
        "inactive_follower_share",
        "mass_follower_share",
        "low_ratio_follower_share",
        "jump_gain_share",
        "quality_score",
    ):
        assert_share(q[col])
    assert q["passes_quality_floor"].dtype == bool
    # a share is null exactly when the KOL has no follower in the graph
    assert (q["inactive_follower_share"].isna() == (q["n_followers"] == 0)).all()


@pytest.mark.parametrize("name", NAMES)
def test_recommend_collaborations(world, name):
    ref = world("normal")["out"]["collabs"]
    c = world(name)["out"]["collabs"]
    assert_same_schema(c, ref, "recommend_collaborations")
    assert c["kol_id"].notna().all() and c["partner_id"].notna().all()
    assert not (c["kol_id"] == c["partner_id"]).any()
    assert not c.duplicated(["kol_id", "partner_id"]).any()
    assert not c.duplicated(["kol_id", "rank"]).any()
    assert_share(c["jaccard"])
    assert_share(c["overlap_coefficient"])


@pytest.mark.parametrize("name", NAMES)
def test_campaign_performance(world, name):
    ref = world("normal")["out"]
    out = world(name)["out"]
    for key in ("per_campaign", "per_kol"):
        assert_same_schema(out[key], ref[key], f"campaign_performance {key}")
        frame = out[key]
        assert frame["campaign_id"].notna().all()
        for col in ("ctr", "conversion_rate_click", "conversion_rate_view"):
            assert_share(frame[col])
    assert out["per_campaign"]["campaign_id"].is_unique


@pytest.mark.parametrize("name", NAMES)
def test_select_seed_kols(world, name):
    ref = world("normal")["out"]["seeding"]
    out = world(name)["out"]
    s = out["seeding"]
    assert_same_schema(s, ref, "select_seed_kols")
    assert s["method"].notna().all() and s["method"].is_unique
    kols = set(out["kols"]["user_id"])
    assert s.empty == (not kols)  # no KOL: no row, not a k = 0 row
    assert (s["k"] == min(5, len(kols))).all()
    for seed_set in s["seed_set"]:
        assert set(seed_set) <= kols and len(seed_set) == min(5, len(kols))
    assert (s["expected_spread"] >= s["k"]).all()


@pytest.mark.parametrize("name", NAMES)
def test_run_kol_stage_end_to_end(world, name, monkeypatch):
    """The stage itself: Parquet outputs load into DuckDB with typed, named columns."""
    import shutil

    from social_warehouse.pipeline import build_path, load_outputs
    from social_warehouse.stages import run_kol_stage

    monkeypatch.delenv("SW_ANALYTICS_CONFIG", raising=False)
    settings = world(name)["settings"]
    run_id = f"degenerate_{name}"
    res = run_kol_stage(run_id, DS, settings)
    n_users = world(name)["inputs"]["users"]["user_id"].nunique()
    assert res["outputs"]["kol_scores"]["rows"] == n_users
    # the run's own build file (what prepare_build makes from the served warehouse)
    build = build_path(run_id, settings)
    if build != settings.build_path:
        build.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(settings.build_path, build)
    load_outputs(run_id, settings, expected=sorted(res["outputs"]))
    con = duckdb.connect(str(build), read_only=True)
    try:
        types = {
            (t, c): ty
            for t, c, ty in con.execute(
                "select table_name, column_name, data_type from information_schema.columns "
                "where table_schema = 'analytics'"
            ).fetchall()
        }
    finally:
        con.close()
    # columns the dbt marts select or test by name
    for table, cols, kind in [
        ("kol_scores", ["user_id", "tier", "platform", "score_group"], "VARCHAR"),
        ("kol_scores", ["score", "reach_norm", "engagement_per_view_norm"], "DOUBLE"),
        ("kol_scores", ["is_kol", "is_top_kol"], "BOOLEAN"),
        ("kol_audience_quality", ["kol_id", "platform"], "VARCHAR"),
        (
            "kol_audience_quality",
            [
                "inactive_follower_share",
                "mass_follower_share",
                "reported_to_graph_ratio",
                "quality_score",
            ],
            "DOUBLE",
        ),
        ("kol_collaborations", ["kol_id", "partner_id", "overlap_method"], "VARCHAR"),
        ("kol_collaborations", ["jaccard", "overlap_coefficient", "score"], "DOUBLE"),
        ("kol_collaborations", ["rank"], "BIGINT"),
        ("campaign_performance", ["campaign_id"], "VARCHAR"),
        (
            "campaign_performance",
            ["ctr", "conversion_rate_click", "conversion_rate_view"],
            "DOUBLE",
        ),
        ("campaign_kol_performance", ["campaign_id", "kol_id"], "VARCHAR"),
        ("campaign_kol_performance", ["ctr"], "DOUBLE"),
        ("campaign_seeding", ["method"], "VARCHAR"),
    ]:
        for col in cols:
            assert types.get((table, col)) == kind, (table, col, types.get((table, col)))


# --------------------------------------------------------------------------------------
# what each degenerate input should produce
# --------------------------------------------------------------------------------------


def test_instagram_reach_falls_back_to_reported(world):
    d = world("instagram")["inputs"]
    scores = world("instagram")["out"]["scores"]
    assert scores["followers_graph"].isna().all()  # no graph at all: unknown, not 0
    assert np.array_equal(scores["reach_followers"], scores["followers_reported"])
    assert scores.attrs["weights_used"] == {"reach": 1.0}
    # the score ranks users by their reported followers; the top 10% are KOLs
    by_score = scores.sort_values("score", ascending=False, kind="stable")["user_id"]
    top20 = d["users"].nlargest(20, "reported_followers_count")["user_id"]
    assert set(scores.loc[scores["is_kol"], "user_id"]) == set(top20)
    assert scores["score"].iloc[0] == 1.0 and scores["score"].min() == 0.0
    assert scores["followers_reported"].is_monotonic_decreasing or set(by_score.head(20)) == set(
        top20
    )
    assert (scores["tier"] == "mega").all()
    # a graph stage run on a graph without edges gives everyone the same PageRank:
    # no information, so the authority component is dropped as well
    gm = pd.DataFrame(
        {
            "user_id": d["users"]["user_id"],
            "pagerank": 1 / len(d["users"]),
            "community_id": np.arange(len(d["users"])),
        }
    )
    with_graph = run_kol_functions(d, graph_metrics=gm)["scores"]
    assert with_graph.attrs["weights_used"] == {"reach": 1.0}
    assert with_graph["is_kol"].sum() == 20


def test_instagram_collaborations_without_audiences(world):
    """No follows: overlaps are unknown (null), not 0, and partners are still ranked."""
    d = world("instagram")["inputs"]
    ref = world("normal")["out"]["collabs"]
    # by default KOLs without any known follower do not pass the quality floor
    assert world("instagram")["out"]["collabs"].empty
    out = run_kol_functions(d, collaboration=CollaborationConfig(exclude_below_quality_floor=False))
    c = out["collabs"]
    assert_same_schema(c, ref, "recommend_collaborations")
    assert len(c) == 20 * 10
    assert c["jaccard"].isna().all() and c["overlap_coefficient"].isna().all()
    assert c["influence_balance"].between(0, 1).all()
    assert c["reasons"].str.contains("audience unknown").all()


def test_email_graph_only(world):
    out = world("email")["out"]
    scores, q = out["scores"], out["quality"]
    assert set(scores.attrs["weights_used"]) == {"reach", "authority"}
    assert scores["engagement_rate_per_view_smoothed"].isna().all()
    assert scores["topic_authority"].isna().all()
    # no interactions and no posts: every follower is inactive in the window
    assert (q["inactive_follower_share"] == 1.0).all()
    # all follows on one day: that day is the baseline, never a jump
    assert (q["jump_source"] == "followed_at").all()
    assert (q["n_jump_days"] == 0).all() and q["max_daily_gain"].isna().all()
    assert q["quality_score"].notna().all()


def test_lastfm_plays_and_tags_only(world):
    d = world("lastfm")["inputs"]
    scores = world("lastfm")["out"]["scores"]
    # plays and tags are not engagement: both engagement components are unavailable
    assert set(scores.attrs["weights_used"]) == {"reach", "authority"}
    assert scores["engagement_rate_per_follower_smoothed"].isna().all()
    assert scores["engagements_window"].eq(0).all()
    active = scores["n_posts_window"] > 0
    assert active.sum() > 1000  # the plays put artist posts in the window
    assert (
        scores.loc[active & (scores["reach_followers"] > 0), "engagement_rate_per_follower"]
        .eq(0)
        .all()
    )
    top = scores.nlargest(20, "score")["user_id"]
    assert top.str.startswith("a").all()  # the most-followed artists lead
    # only the tags, dated 2005-2011, years before as_of: nothing falls in the window
    hist = d["all_interactions"]
    old = run_kol_functions({**d, "interactions": hist[hist["event_type"] == "tag"]})
    assert old["scores"]["n_posts_window"].eq(0).all()
    assert set(old["scores"].attrs["weights_used"]) == {"reach", "authority"}
    assert old["per_campaign"].empty and old["per_kol"].empty
    assert list(old["quality"].columns) == list(world("normal")["out"]["quality"].columns)


def test_single_user(world):
    out = world("single")["out"]
    scores = out["scores"]
    assert len(scores) == 1
    row = scores.iloc[0]
    assert row["followers_graph"] != row["followers_graph"]  # NaN: self-follow only
    assert row["reach_followers"] == 42.0  # falls back to the reported count
    assert row["score"] == 0.0 and not row["is_kol"]
    assert scores.attrs["weights_used"] == {}
    assert out["quality"].empty and out["collabs"].empty
    # no KOL: no seeding rows (not k = 0 rows that the analytics gate rejects)
    assert out["seeding"].empty


def _explicit_empty_frames() -> dict:
    s, ts, f = "str", "datetime64[us]", "float64"
    frame = lambda **cols: pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})  # noqa: E731
    return {
        "users": frame(
            user_id=s,
            handle=s,
            platform=s,
            category=s,
            country=s,
            reported_followers_count="int64",
            reported_following_count="int64",
            followers_count="int64",
            following_count="int64",
        ),
        "items": frame(post_id=s, author_id=s, created_at=ts, text=s, campaign_id=s),
        "interactions": frame(
            user_id=s,
            post_id=s,
            author_id=s,
            event_type=s,
            occurred_at=ts,
            event_date="object",
            watch_time_s=f,
            value=f,
        ),
        "follows": frame(follower_id=s, followee_id=s, followed_at=ts),
        "campaigns": frame(campaign_id=s, brand=s, name=s, starts_at=ts, ends_at=ts, budget=f),
    }


def test_explicitly_typed_empty_frames(world):
    ref = world("normal")["out"]
    out = run_kol_functions(_explicit_empty_frames())
    for key in ("scores", "quality", "collabs", "per_campaign", "per_kol", "seeding"):
        assert_same_schema(out[key], ref[key], key)
    assert out["scores"].empty and out["scores"].attrs["weights_used"] == {}
    assert out["seeding"].empty


def test_campaigns_without_posts_or_events(world):
    """Campaigns exist but nothing was posted or seen: counts 0, every rate null."""
    ref = world("normal")["out"]
    d = _explicit_empty_frames()
    d["campaigns"] = pd.DataFrame(
        {
            "campaign_id": pd.Series(["c1", "c2"], dtype="str"),
            "brand": pd.Series(["A", None], dtype="str"),
            "name": pd.Series(["x", "y"], dtype="str"),
            "starts_at": pd.Series([AS_OF - pd.Timedelta(days=9)] * 2, dtype="datetime64[us]"),
            "ends_at": pd.Series([AS_OF - pd.Timedelta(days=2), pd.NaT], dtype="datetime64[us]"),
            "budget": [1000.0, np.nan],
        }
    )
    per_c, per_k = campaign_performance(d["items"], d["interactions"], d["campaigns"])
    assert_same_schema(per_c, ref["per_campaign"], "per_campaign")
    assert_same_schema(per_k, ref["per_kol"], "per_kol")
    assert per_c["campaign_id"].tolist() == ["c1", "c2"] and per_k.empty
    assert (per_c[["views", "clicks", "conversions", "n_posts", "n_kols"]] == 0).all().all()
    for col in (
        "ctr",
        "conversion_rate_click",
        "conversion_rate_view",
        "engagement_rate",
        "cost_per_click",
        "cpm",
        "ctr_lift",
    ):
        assert per_c[col].isna().all(), col
    # roas = conversion value / budget: 0 with a budget, null without one
    assert per_c["roas"].iloc[0] == 0.0 and np.isnan(per_c["roas"].iloc[1])
