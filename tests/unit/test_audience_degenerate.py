"""The topics and audience stages on degenerate real-export shapes (issue 14, item 3).

Each scenario's rows go into a real DuckDB build file typed like the ``core`` models (the
DDL of :mod:`tests.unit.test_kol_degenerate`, plus ``fct_user_item_scores`` and
``staging.stg_event_types``), and the stages themselves run on it: texts whose only
terms are pruned ("genre 3", one repeated token), one user, no posts, no follows, all
events on one day, events 20 years old. Every stage must finish, write every output the
marts read, record why it skipped a step, and never recommend a seen item.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from social_warehouse.analytics.evaluation import EVAL_COLUMNS, preference_scores
from social_warehouse.analytics.topics import TopicsSkipped, fit_topics
from social_warehouse.db import connect, quote_ident
from social_warehouse.pipeline import analytics_dir
from social_warehouse.stages import (
    _EMPTY_OUTPUTS,
    run_audience_stage,
    run_topics_stage,
    score_params,
)

from tests.conftest import pipeline_settings
from tests.unit.test_kol_degenerate import CORE_DDL

pytestmark = [
    pytest.mark.filterwarnings("ignore:Could not serialize pd.DataFrame.attrs:UserWarning"),
]

DS = "2026-01-10"
EXTRA_DDL = {
    ("core", "fct_user_item_scores"): """
        user_id VARCHAR, post_id VARCHAR, score DOUBLE, n_events BIGINT, n_views BIGINT,
        n_engagements BIGINT, max_watch_ratio DOUBLE, first_at TIMESTAMP, last_at TIMESTAMP
    """,
    ("staging", "stg_event_types"): """
        event_type VARCHAR, weight DOUBLE, scale_by_value BOOLEAN, declared_by VARCHAR
    """,
}
EVENT_TYPES = pd.DataFrame({
    "event_type": ["view", "like", "comment", "share", "save", "click", "conversion"],
    "weight": [1.0, 3.0, 4.0, 5.0, 4.0, 2.0, 8.0], "scale_by_value": False,
    "declared_by": "contract"})
VOCAB = ("coffee latte espresso beans roast barista mountain hiking trail summit "
         "camping tent guitar chords concert band drums vinyl").split()


def scenario(n_users=40, n_posts=60, days=("2026-01-08", "2026-01-09", "2026-01-10"),
             text="topical", follows=True, seed=0, events_per_user=12):
    rng = np.random.default_rng(seed)
    users = [f"u{i:03d}" for i in range(n_users)]
    creators = [f"c{i}" for i in range(4)]
    posts = [f"p{i:03d}" for i in range(n_posts)]
    if text == "topical":
        texts = [" ".join(rng.choice(VOCAB[(i % 3) * 6:(i % 3) * 6 + 6], 6)) for i in
                 range(n_posts)]
    else:
        texts = [text] * n_posts
    first = pd.Timestamp(days[0])
    items = pd.DataFrame({
        "post_id": posts, "author_id": [creators[i % 4] for i in range(n_posts)],
        "created_at": first - pd.Timedelta(days=2), "text": texts,
        "media_type": "video", "duration_s": 60.0,
        "hashtags": [[] for _ in range(n_posts)], "campaign_id": None})
    rows = []
    for u in users:
        for _ in range(events_per_user if n_posts else 0):
            p = posts[int(rng.integers(0, n_posts))]
            day = pd.Timestamp(days[int(rng.integers(0, len(days)))])
            ts = day + pd.Timedelta(seconds=int(rng.integers(0, 86_000)))
            rows.append((u, p, "view", ts))
            if rng.random() < 0.4:
                rows.append((u, p, "like", ts + pd.Timedelta(seconds=5)))
    inter = pd.DataFrame(rows, columns=["user_id", "post_id", "event_type", "occurred_at"])
    inter["occurred_at"] = pd.to_datetime(inter["occurred_at"])
    inter["event_id"] = [f"e{i}" for i in range(len(inter))]
    inter["author_id"] = inter["post_id"].map(items.set_index("post_id")["author_id"])
    inter["event_date"] = inter["occurred_at"].dt.normalize()
    inter["watch_time_s"] = np.where(inter["event_type"] == "view", 30.0, np.nan)
    inter["watch_ratio"] = inter["watch_time_s"] / 60.0
    inter["value"] = np.nan
    all_users = pd.DataFrame({"user_id": users + creators, "handle": users + creators,
                              "followers_count": 0, "following_count": 0})
    fol = pd.DataFrame({"follower_id": [u for u in users for c in creators[:2]],
                        "followee_id": [c for _ in users for c in creators[:2]],
                        "followed_at": first - pd.Timedelta(days=5)})
    return {"users": all_users, "items": items, "interactions": inter,
            "follows": fol if follows else fol.iloc[:0]}


def shift_years(data, years):
    d = pd.Timedelta(days=365 * years)
    out = dict(data)
    out["interactions"] = data["interactions"].assign(
        occurred_at=data["interactions"]["occurred_at"] - d,
        event_date=data["interactions"]["event_date"] - d)
    out["items"] = data["items"].assign(created_at=data["items"]["created_at"] - d)
    out["follows"] = data["follows"].assign(followed_at=data["follows"]["followed_at"] - d)
    return out


def build(tmp_path, data):
    """A build file with the scenario in ``core``/``staging`` and its settings."""
    settings = pipeline_settings(tmp_path / "data")
    settings.build_path.parent.mkdir(parents=True, exist_ok=True)
    as_of = pd.Timestamp(DS) + pd.Timedelta(days=1)
    scores = preference_scores(data["interactions"], EVENT_TYPES, as_of_end=as_of,
                               params=score_params(settings))
    inter = data["interactions"]
    first = inter.groupby(["user_id", "post_id"])["occurred_at"].min().rename("first_at")
    scores = scores.merge(first.reset_index(), on=["user_id", "post_id"], how="left")
    tables = {("core", "dim_users"): data["users"], ("core", "dim_items"): data["items"],
              ("core", "fct_interactions"): inter, ("core", "fct_follow_edges"): data["follows"],
              ("core", "fct_user_item_scores"): scores,
              ("staging", "stg_event_types"): EVENT_TYPES,
              ("core", "dim_campaigns"): pd.DataFrame({"campaign_id": pd.Series(dtype=str)})}
    ddl = {("core", k): v for k, v in CORE_DDL.items()} | EXTRA_DDL
    with connect(settings.build_path) as con:
        for (schema, name), cols in ddl.items():
            con.execute(f"create schema if not exists {quote_ident(schema)}")
            con.execute(f"create table {quote_ident(schema)}.{quote_ident(name)} ({cols})")
            frame = tables.get((schema, name))
            if frame is not None and len(frame):
                con.register("frame", frame)
                con.execute(f"insert into {quote_ident(schema)}.{quote_ident(name)} by name "
                            "select * from frame")
                con.unregister("frame")
    return settings


def run_stages(tmp_path, data, run_id="r1"):
    settings = build(tmp_path, data)
    topics = run_topics_stage(run_id, DS, settings)
    audience = run_audience_stage(run_id, DS, settings)
    folder = analytics_dir(run_id, settings)
    outputs = {p.stem: pd.read_parquet(p) for p in folder.glob("*.parquet")}
    for name in _EMPTY_OUTPUTS:
        assert name in outputs, name
        assert set(_EMPTY_OUTPUTS[name]) <= set(outputs[name].columns), name
    info = json.loads((folder / "audience_info.json").read_text())
    tinfo = json.loads((folder / "topics_info.json").read_text())
    recs = outputs["user_recommendations"]
    seen = set(zip(data["interactions"]["user_id"], data["interactions"]["post_id"],
                   strict=True))
    assert not set(zip(recs["user_id"], recs["post_id"], strict=True)) & seen
    return topics, audience, outputs, info, tinfo


# --------------------------------------------------------------------------------------
# topics: no terms survive
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["genre 3", "lol lol lol lol", "", "3 4 5"])
def test_fit_topics_skips_with_a_reason(text):
    items = pd.DataFrame({"post_id": [f"p{i}" for i in range(40)], "text": [text] * 40,
                          "hashtags": [[] for _ in range(40)]})
    with pytest.raises(TopicsSkipped, match="term|documents"):
        fit_topics(items)


@pytest.mark.parametrize("text", ["genre 3", "lol lol lol lol"])
def test_stages_with_text_without_usable_terms(tmp_path, text):
    topics, _, outputs, info, tinfo = run_stages(tmp_path, scenario(text=text))
    assert "vocabulary pruning" in topics["skipped"]
    assert tinfo["skipped"] == topics["skipped"]
    assert outputs["topics"].empty and outputs["item_topics"].empty
    assert len(outputs["user_recommendations"]) > 0  # recommendations without topics


# --------------------------------------------------------------------------------------
# audience on degenerate shapes
# --------------------------------------------------------------------------------------
def test_one_user(tmp_path):
    data = scenario(n_users=1, events_per_user=20)
    _, audience, outputs, info, _ = run_stages(tmp_path, data)
    ev = outputs["recommender_eval"]
    assert list(ev.columns[1:]) == EVAL_COLUMNS or set(EVAL_COLUMNS) <= set(ev.columns)
    assert ev["eval_warning"].str.contains("fewer than min_eval_users").all()
    assert "fewer than min_eval_users" in info["eval_warning"]
    assert outputs["user_segments"].empty  # one profile cannot be segmented
    assert outputs["user_recommendations"]["user_id"].unique().tolist() == ["u000"]


def test_no_posts(tmp_path):
    data = scenario(n_posts=0)
    topics, _, outputs, info, _ = run_stages(tmp_path, data)
    assert "items with text" in topics["skipped"]
    assert info["skipped"].startswith("no interactions")
    assert all(outputs[n].empty for n in ("user_recommendations", "recommender_eval"))


def test_no_follows(tmp_path):
    _, _, outputs, info, _ = run_stages(tmp_path, scenario(follows=False))
    assert len(outputs["user_recommendations"]) > 0
    assert not outputs["propensity_eval"].empty or "propensity_skipped" in info


def test_all_events_on_one_day(tmp_path):
    _, _, outputs, info, _ = run_stages(tmp_path, scenario(days=("2026-01-10",)))
    assert "two days" in info["propensity_skipped"]
    assert info["eval_split"] == "leave_last_out"
    assert "fallback from the time split" in info["eval_split_reason"]
    assert outputs["propensity_eval"].empty
    assert outputs["recommender_eval"]["split"].eq("leave_last_out:n=1").all()


def test_events_twenty_years_old(tmp_path):
    data = shift_years(scenario(n_users=60), 20)
    _, _, outputs, info, _ = run_stages(tmp_path, data)
    recs = outputs["user_recommendations"]
    # every user with events gets recommendations (seen items excluded in run_stages)
    assert set(recs["user_id"]) == set(data["interactions"]["user_id"])
    assert (recs["score"] > 0).all()
    ev = outputs["recommender_eval"]
    assert info["eval_split"] == "time" and ev["split"].str.startswith("time:test=2006").all()
    assert ev["n_users_evaluated"].max() > 0
