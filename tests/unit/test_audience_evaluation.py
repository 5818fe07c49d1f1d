"""The recommender evaluation on real-export shapes (issue 14 items 1, 2 and 4).

Old events keep their scores and never come back as recommendations; the time split tests
on the last days of the loaded data and falls back to leave-last-out (with its reason)
when that leaves too few users; the catalogue excludes items created in the test window;
the training signal is the served score; the hybrid's popularity blend is tuned on a
validation split carved from training; identical inputs in any row order give identical
metrics; propensity features cannot see the test day.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from social_warehouse.analytics.evaluation import (
    EVAL_COLUMNS,
    evaluate_recommenders,
    holdout_split,
    leave_last_out_split,
    preference_scores,
    sample_users,
    time_split,
    tune_popularity_blend,
)
from social_warehouse.analytics.propensity import train_propensity
from social_warehouse.analytics.recommend import (
    HybridRecommender,
    InteractionData,
    PopularityRecommender,
    recommend,
)

from tests.unit.test_audience import planted_item_topics, planted_world

TYPES = pd.DataFrame({"event_type": ["view", "like", "play"], "weight": [1.0, 3.0, 1.5],
                      "scale_by_value": [False, False, True]})
PARAMS = {"score_half_life_days": 14.0, "watch_ratio_weight": 2.0, "score_decay_floor": 0.05}


@pytest.fixture(scope="module")
def world():
    return planted_world(seed=3)


@pytest.fixture(scope="module")
def topics(world):
    return planted_item_topics(world["items"])


def events(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["user_id", "post_id", "event_type", "occurred_at"])
    df["occurred_at"] = pd.to_datetime(df["occurred_at"], format="ISO8601")
    df["event_date"] = df["occurred_at"].dt.normalize()
    return df


# --------------------------------------------------------------------------------------
# the score: hand-computed values, old events
# --------------------------------------------------------------------------------------
def test_preference_scores_hand_case():
    ev = pd.DataFrame({
        "user_id": ["u1", "u1", "u1", "u2", "u2"],
        "post_id": ["p1", "p1", "p2", "p1", "p3"],
        "event_type": ["like", "view", "view", "play", "unknown"],
        "occurred_at": pd.to_datetime(["2026-01-15 12:00", "2026-01-01 12:00",
                                       "2020-01-01", "2026-01-20", "2026-01-20"],
                                      format="ISO8601"),
        "value": [None, None, None, 7.0, None],
        "watch_ratio": [None, 0.5, None, None, None],
    })
    s = preference_scores(ev, TYPES, as_of_end="2026-01-16", params=PARAMS)
    s = s.set_index(["user_id", "post_id"])["score"]
    # u1's newest event (the like) is the anchor: like 3 * 1; view 14 days older: 1 * 0.5;
    # watch ratio 2 * 0.5
    assert s[("u1", "p1")] == pytest.approx(3 + 0.5 + 1.0, rel=1e-12)
    # six years older than the anchor: the floor keeps 5 % of the weight
    assert s[("u1", "p2")] == pytest.approx(0.05, rel=1e-12)
    # u2's play is after as_of_end: the anchor is capped there, age 0; 1.5 * log2(8)
    assert s[("u2", "p1")] == pytest.approx(4.5, rel=1e-12)
    # undeclared event types are dropped, like the dbt model's inner join
    assert ("u2", "p3") not in s.index


def test_twenty_year_old_events_recommend_unseen_items_only(topics, world):
    """Every user with events gets recommendations, and none of them is a seen item."""
    inter = world["interactions"].copy()
    shift = pd.Timedelta(days=365 * 20)
    inter["occurred_at"] = pd.to_datetime(inter["occurred_at"]) - shift
    inter["event_date"] = pd.to_datetime(inter["event_date"]) - shift
    items = world["items"].assign(created_at=pd.to_datetime(world["items"]["created_at"]) - shift)
    scores = preference_scores(inter, as_of_end=pd.Timestamp("2026-12-04"), params=PARAMS)
    assert (scores["score"] > 0).all() and np.isfinite(scores["score"]).all()
    assert scores["score"].min() >= 0.05 * 0.99  # the floor, not 1e-145
    seen = set(zip(scores["user_id"], scores["post_id"], strict=True))
    users = set(scores["user_id"])
    for model in ("hybrid", "item_knn", "user_knn", "popularity", "content"):
        recs = recommend(scores, items=items, item_topics=topics, model=model, n=10)
        got = set(zip(recs["user_id"], recs["post_id"], strict=True))
        assert not got & seen, model
        assert set(recs["user_id"]) == users, (model, len(users - set(recs["user_id"])))


def test_tiny_scores_stay_positive_and_seen():
    """Scores of 1e-300 (what a decay from the load day gives) are kept in float64, and
    the lists are those of the same scores at a normal scale (cosine is scale-free)."""
    rng = np.random.default_rng(0)
    n = 400
    sc = pd.DataFrame({"user_id": [f"u{i}" for i in rng.integers(0, 40, n)],
                       "post_id": [f"p{i}" for i in rng.integers(0, 60, n)],
                       "score": rng.uniform(1, 5, n)}).drop_duplicates(["user_id", "post_id"])
    tiny = sc.assign(score=sc["score"] * 1e-300)
    data = InteractionData(tiny, weighting="none")
    assert data.X.dtype == np.float64 and data.X.nnz == len(sc) and data.X.data.min() > 0
    seen = set(zip(sc["user_id"], sc["post_id"], strict=True))
    for model in ("item_knn", "user_knn", "popularity", "hybrid"):
        a = recommend(tiny, model=model, n=5, weighting="none")
        b = recommend(sc, model=model, n=5, weighting="none")
        assert not set(zip(a["user_id"], a["post_id"], strict=True)) & seen, model
        assert set(a["user_id"]) == set(sc["user_id"]), model
        pd.testing.assert_frame_equal(a[["user_id", "rank", "post_id"]],
                                      b[["user_id", "rank", "post_id"]], obj=model)


# --------------------------------------------------------------------------------------
# splits
# --------------------------------------------------------------------------------------
def test_time_split_holdout_days_and_training_signal():
    ev = events([
        ("a", "x", "view", "2026-01-01 10:00"), ("a", "y", "like", "2026-01-02 10:00"),
        ("a", "z", "view", "2026-01-04 10:00"), ("b", "x", "like", "2026-01-01 09:00"),
        ("b", "z", "view", "2026-01-03 09:00"), ("b", "x", "view", "2026-01-04 09:00"),
    ])
    train, test, info = time_split(ev, holdout_days=2, event_types=TYPES, score_params=PARAMS)
    # the last two event days (01-03 and 01-04) are the window; a gap day would not count
    assert info["split"] == "time:test=2026-01-03..2026-01-04"
    assert set(zip(test["user_id"], test["post_id"], strict=True)) == {("a", "z"), ("b", "z")}
    # training = the served score of the training events only, as of the window start:
    # a's anchor is its like on 01-02; the view one day earlier decays by 0.5^(1/14)
    tr = train.set_index(["user_id", "post_id"])["score"]
    assert tr[("a", "y")] == pytest.approx(3.0)
    assert tr[("a", "x")] == pytest.approx(0.5 ** (1 / 14))
    assert tr[("b", "x")] == pytest.approx(3.0)  # its 01-04 view is a test-window event


def test_fallback_to_leave_last_out_with_reason_and_warning():
    rows = []
    for u in range(30):
        for d in range(1, 6):
            rows.append((f"u{u:02d}", f"p{(u + d) % 17}", "view", f"2026-02-0{d} 12:00"))
    rows.append(("u00", "p9", "view", "2026-02-06 08:00"))  # one user on the last day
    ev = events(rows)
    train, test, info = holdout_split(ev, min_eval_users=10, event_types=TYPES,
                                      score_params=PARAMS)
    assert info["kind"] == "leave_last_out" and info["split"] == "leave_last_out:n=1"
    assert "1 test user(s) with training history, fewer than min_eval_users=10" in info["reason"]
    assert info["n_test_users"] == 30 and info["warning"] == ""
    # each user's last item by first event time is held out, and none of its events trains
    last = ev.sort_values("occurred_at").groupby("user_id").tail(1)
    assert set(zip(test["user_id"], test["post_id"], strict=True)) == set(
        zip(last["user_id"], last["post_id"], strict=True))
    assert not set(zip(test["user_id"], test["post_id"], strict=True)) & set(
        zip(train["user_id"], train["post_id"], strict=True))
    # too few users even then: the output says so in every row
    m = evaluate_recommenders(ev, min_eval_users=100, models=("popularity",))
    assert list(m.columns) == EVAL_COLUMNS
    assert m["eval_warning"].str.contains("fewer than min_eval_users=100").all()
    assert (m["n_test_users"] == 30).all() and (m["min_eval_users"] == 100).all()
    assert m["split"].eq("leave_last_out:n=1").all()


def test_time_split_kept_when_enough_users(world):
    train, test, info = holdout_split(world["interactions"], min_eval_users=50,
                                      items=world["items"])
    last = pd.Timestamp(world["interactions"]["event_date"].max())
    assert info["kind"] == "time" and info["split"] == f"time:test={last.date()}"
    assert info["n_test_users"] >= 50 and info["warning"] == ""


def test_catalogue_excludes_items_created_in_the_test_window(world):
    inter, items = world["interactions"], world["items"]
    _, test, info = holdout_split(inter, items=items, min_eval_users=1)
    created = pd.to_datetime(items["created_at"])
    new = set(items.loc[created >= info["test_start"], "post_id"])
    assert new  # the planted world posts every day
    assert not set(info["catalogue_extra"]) & new
    assert not set(test["post_id"]) & new  # not recommendable, so not relevant either
    m, recs = evaluate_recommenders(inter, items=items, min_eval_users=1,
                                    models=("hybrid", "popularity"),
                                    item_topics=planted_item_topics(items),
                                    return_recommendations=True)
    assert not set(recs["post_id"]) & new


def test_warm_and_all_users_reported(world):
    m = evaluate_recommenders(world["interactions"], items=world["items"],
                              models=("item_knn",), warm_min_events=40, min_eval_users=1)
    n = m[m["metric"] == "ndcg"].set_index("users")["n_users_evaluated"]
    assert n["all"] > n["warm"] > 0
    m2 = evaluate_recommenders(world["interactions"], items=world["items"],
                               models=("item_knn",), warm_min_events=1, min_eval_users=1)
    n2 = m2[m2["metric"] == "ndcg"].set_index("users")["n_users_evaluated"]
    assert n2["warm"] == n2["all"] - n2.get("cold", 0)


def test_same_input_in_any_order_gives_identical_metrics(world, topics):
    inter = world["interactions"]
    kw = dict(items=world["items"], item_topics=topics, k=10, max_users=200, random_state=7)
    a = evaluate_recommenders(inter, **kw)
    b = evaluate_recommenders(inter.sample(frac=1.0, random_state=11).reset_index(drop=True),
                              **kw)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert (a["n_users_evaluated"] <= 200).all()
    assert {"user_knn", "item_knn", "hybrid"} <= set(a["model"])


# --------------------------------------------------------------------------------------
# hybrid blend towards popularity
# --------------------------------------------------------------------------------------
def test_blend_extremes_equal_cf_and_popularity(world):
    sc = preference_scores(world["interactions"])
    users = np.sort(sc["user_id"].unique())[:50]
    pop = PopularityRecommender().fit(sc).recommend(users, n=10)
    full = HybridRecommender(popularity_blend=1.0, cold_item_slots=0).fit(sc)
    got = full.recommend(users, n=10)
    pd.testing.assert_frame_equal(
        got[["user_id", "rank", "post_id"]].reset_index(drop=True),
        pop[["user_id", "rank", "post_id"]].reset_index(drop=True))
    assert set(got["model"]) == {"popularity"}
    zero = HybridRecommender(popularity_blend=0.0, cold_item_slots=0).fit(sc).recommend(users)
    cf = HybridRecommender(cold_item_slots=0).fit(sc).recommend(users)
    pd.testing.assert_frame_equal(zero, cf)
    with pytest.raises(ValueError, match="popularity_blend"):
        HybridRecommender(popularity_blend=1.5)


def popularity_world(seed=0, n_users=500, n_items=1000, n_days=5, per_day=2):
    """Users pick items by global popularity only: no taste for CF to find."""
    rng = np.random.default_rng(seed)
    p = rng.zipf(1.6, n_items).astype(float)
    p /= p.sum()
    rows = []
    for u in range(n_users):
        for d in range(n_days):
            for i in rng.choice(n_items, per_day, replace=False, p=p):
                rows.append((f"u{u:03d}", f"p{i:03d}", "view",
                             pd.Timestamp("2026-05-01") + pd.Timedelta(days=d, hours=int(i % 20))))
    return events(rows)


def test_blend_tuned_on_validation_where_popularity_wins():
    ev = popularity_world()
    m = evaluate_recommenders(ev, models=("item_knn", "popularity", "hybrid"), k=10,
                              min_eval_users=20)
    v = m[m["users"] == "all"].set_index(["model", "metric"])["value"]
    blend = m.loc[m["model"] == "hybrid", "popularity_blend"].iloc[0]
    table = m.attrs["blend_table"]
    # tuned on the day before the test window, never on the test day itself
    test_day = pd.Timestamp(ev["event_date"].max()).date()
    assert table["split"].iloc[0] == f"time:test={test_day - pd.Timedelta(days=1)}"
    assert blend == table.sort_values(["ndcg", "blend"], ascending=[False, True])["blend"].iloc[0]
    assert blend > 0
    assert v[("popularity", "ndcg")] > v[("item_knn", "ndcg")]  # the premise
    assert v[("hybrid", "ndcg")] >= 0.95 * v[("popularity", "ndcg")]
    assert m.loc[m["model"] != "hybrid", "popularity_blend"].isna().all()


def test_tuning_never_reads_the_test_window():
    ev = popularity_world(seed=1)
    train, _, info = time_split(ev)
    blend_a, table_a = tune_popularity_blend(info["train_events"], min_eval_users=20)
    # changing every test-window event does not change the tuned blend
    test_rows = ev["event_date"] >= info["test_start"]
    ev2 = ev.copy()
    ev2.loc[test_rows, "post_id"] = "p000"
    _, _, info2 = time_split(ev2)
    blend_b, table_b = tune_popularity_blend(info2["train_events"], min_eval_users=20)
    assert blend_a == blend_b
    pd.testing.assert_frame_equal(table_a, table_b)


def test_leave_last_out_split_ties_by_post_id():
    ev = events([("a", "p2", "view", "2026-01-01"), ("a", "p1", "view", "2026-01-01"),
                 ("a", "p3", "view", "2026-01-01"), ("b", "p1", "view", "2026-01-01")])
    _, test, info = leave_last_out_split(ev, holdout_items=1)
    assert test.values.tolist() == [["a", "p3"]]  # b has one item: stays in training
    _, test2, _ = leave_last_out_split(ev.iloc[::-1], holdout_items=1)
    assert test2.values.tolist() == [["a", "p3"]]


# --------------------------------------------------------------------------------------
# propensity: no information from the test day
# --------------------------------------------------------------------------------------
def _auc(world, follows):
    _, metrics = train_propensity(
        world["interactions"], items=world["items"], users=world["users"], follows=follows,
        n_train_days=4, candidates=("logistic",), random_state=0)
    t = metrics[(metrics["split"] == "test") & (metrics["model"] == "logistic")]
    return float(t.set_index("metric")["value"]["roc_auc"])


def test_propensity_feature_leaking_the_label_on_the_test_day_does_not_help(world):
    inter = world["interactions"]
    test_day = pd.Timestamp(inter["event_date"].max())
    eng = inter[(inter["event_date"] == test_day) & (inter["event_type"] != "view")]
    authors = world["items"].set_index("post_id")["author_id"]
    leak = pd.DataFrame({"follower_id": eng["user_id"].to_numpy(),
                         "followee_id": eng["post_id"].map(authors).to_numpy()})
    base = world["follows"].assign(followed_at=pd.Timestamp("2026-01-01"))
    # the planted follows happen on the test day itself (the engagement made them)
    on_day = pd.concat([base, leak.assign(followed_at=test_day + pd.Timedelta(hours=12))])
    # control: the same follows dated before the test day are legitimate information
    before = pd.concat([base, leak.assign(followed_at=test_day - pd.Timedelta(days=1))])
    auc_base, auc_on_day, auc_before = _auc(world, base), _auc(world, on_day), _auc(world, before)
    print(f"AUC base {auc_base:.4f}, leak on the test day {auc_on_day:.4f}, "
          f"same follows a day earlier {auc_before:.4f}")
    assert abs(auc_on_day - auc_base) < 0.01
    assert auc_before > auc_base + 0.03  # the feature is used when it is really known


def test_propensity_follower_counts_as_of_the_day():
    from social_warehouse.analytics.propensity import propensity_features

    ev = events([("u1", "p1", "view", "2026-01-01 10:00"), ("u1", "p1", "like", "2026-01-03")])
    items = pd.DataFrame({"post_id": ["p1"], "author_id": ["a1"],
                          "created_at": pd.to_datetime(["2025-12-01"])})
    follows = pd.DataFrame({"follower_id": ["u1", "u2", "u3"], "followee_id": ["a1"] * 3,
                            "followed_at": pd.to_datetime(["2026-01-01", "2026-01-02",
                                                           "2026-01-03 01:00"],
                                                          format="ISO8601")})
    users = pd.DataFrame({"user_id": ["a1", "u1"], "followers_count": [10**6, 0],
                          "following_count": [0, 500]})
    pairs = pd.DataFrame({"user_id": ["u1"], "post_id": ["p1"]})
    f = propensity_features(pairs, ev, "2026-01-03", items=items, users=users, follows=follows)
    # two follows before 2026-01-03, not the profile's million nor the follow made that day
    assert f["a_log_followers"].iloc[0] == pytest.approx(math.log1p(2), rel=1e-6)
    assert f["u_log_following"].iloc[0] == pytest.approx(math.log1p(1), rel=1e-6)
    assert f["r_follows_author"].iloc[0] == 1.0
    f0 = propensity_features(pairs, ev, "2026-01-01", items=items, users=users, follows=follows)
    assert f0["r_follows_author"].iloc[0] == 0.0 and f0["a_log_followers"].iloc[0] == 0.0


# --------------------------------------------------------------------------------------
# bounded evaluation: a seeded sample of at most max_users test users, reported
# --------------------------------------------------------------------------------------
def test_sample_users_seeded_order_free_and_bounded():
    users = np.array([f"u{i:03d}" for i in range(200)])
    a, info = sample_users(users, 50, random_state=4)
    b, _ = sample_users(users[::-1].copy(), 50, random_state=4)
    c, _ = sample_users(np.r_[users, users], 50, random_state=4)  # duplicates
    assert len(a) == 50 and a.is_monotonic_increasing and a.is_unique
    assert a.equals(b) and a.equals(c)
    assert not a.equals(sample_users(users, 50, random_state=5)[0])
    assert info == {"sampled": True, "n_users_before": 200, "n_users_after": 50,
                    "max_users": 50, "seed": 4}
    full, info = sample_users(users, 500, random_state=4)
    assert len(full) == 200 and not info["sampled"] and info["n_users_after"] == 200
    assert not sample_users(users, None)[1]["sampled"]


def test_evaluation_samples_at_most_max_users_and_says_so(world, topics):
    inter = world["interactions"]
    kw = dict(items=world["items"], item_topics=topics, k=10, max_users=60,
              models=("popularity", "hybrid"), return_recommendations=True)
    m1, r1 = evaluate_recommenders(inter, random_state=3, **kw)
    m2, r2 = evaluate_recommenders(inter.sample(frac=1.0, random_state=1), random_state=3,
                                   **kw)
    pd.testing.assert_frame_equal(m1, m2)  # same seed: same users, same metrics
    pd.testing.assert_frame_equal(r1, r2)
    info = m1.attrs["info"]
    n_total = int(m1["n_test_users"].iloc[0])
    assert n_total > 60
    assert info["sample"] == {"sampled": True, "n_users_before": n_total,
                              "n_users_after": 60, "max_users": 60, "seed": 3}
    assert info["n_users_sampled"] == 60
    for model in ("popularity", "hybrid"):
        assert r1.loc[r1["evaluated_model"] == model, "user_id"].nunique() == 60
    assert (m1["n_users_evaluated"] <= 60).all()
    assert (m1.loc[m1["users"] == "all", "n_users_evaluated"] == 60).all()
    assert m1["split_reason"].str.contains(
        f"seeded random sample of 60 of {n_total} test users").all()
    table = m1.attrs["blend_table"]
    assert (table["n_users"] <= 60).all() and table["sampled"].all()
    assert (table["n_users_total"] > 60).all()
    # another seed: other users
    _, r3 = evaluate_recommenders(inter, random_state=4, **kw)
    assert set(r3["user_id"]) != set(r1["user_id"])
    # no bound: every test user, nothing claimed
    m4 = evaluate_recommenders(inter, items=world["items"], item_topics=topics, k=10,
                               models=("popularity",), random_state=3)
    assert not m4.attrs["info"]["sample"]["sampled"]
    assert (m4.loc[m4["users"] == "all", "n_users_evaluated"] == n_total).all()
    assert not m4["split_reason"].str.contains("sample").any()
