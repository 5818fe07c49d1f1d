"""User interests, behavioural features, segments and engagement propensity.

The fixture is a small planted world built here (no dependence on the project's
synthetic generator): users belong to taste groups that prefer two of six topics and
differ in behaviour; items are English, Chinese or mixed posts about one topic each;
views are drawn mostly from preferred topics, and engagement beyond a view is far more
likely for a preferred topic or a followed author.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from social_warehouse.analytics.audience import (
    build_user_features,
    build_user_interests,
    build_user_profiles,
)
from social_warehouse.analytics.propensity import (
    FEATURES,
    build_propensity_pairs,
    propensity_features,
    train_propensity,
)
from social_warehouse.analytics.segments import segment_users

TOPIC_VOCAB = {
    "fitness": ("workout gym muscle cardio protein squat training deadlift yoga stretch".split(),
                "健身 跑步 瑜伽 肌肉 锻炼 减脂".split(), ["fitness", "gym"], ["💪", "🏋"]),
    "food": ("recipe delicious dinner noodles spicy baking dessert chef restaurant flavor".split(),
             "美食 好吃 火锅 甜点 厨房 面条".split(), ["foodie", "recipe"], ["🍜", "🍰"]),
    "travel": ("beach mountain flight hotel adventure island passport sunset hiking explore"
               .split(), "旅行 风景 海边 酒店 机票 出发".split(), ["travel", "wanderlust"],
               ["✈️", "🏝"]),
    "tech": ("smartphone laptop gadget review coding software chip battery camera launch".split(),
             "科技 手机 电脑 编程 芯片 评测".split(), ["tech", "gadgets"], ["💻", "📱"]),
    "beauty": ("makeup skincare lipstick foundation serum moisturizer palette glow mascara"
               " tutorial".split(), "美妆 护肤 口红 面膜 彩妆 粉底".split(), ["beauty", "makeup"],
               ["💄", "✨"]),
    "gaming": ("gameplay console controller esports stream level boss multiplayer ranked quest"
               .split(), "游戏 电竞 主机 直播 通关 手柄".split(), ["gaming", "esports"],
               ["🎮", "🕹"]),
}
FILLER_EN = "today new love check video best amazing share happy weekend really great".split()
FILLER_ZH = "今天 分享 大家 喜欢 视频 真的".split()
#: preferred (primary, secondary) topic per taste group
GROUP_TOPICS = [(0, 1), (2, 4), (3, 5), (1, 2)]


def make_post_text(rng: np.random.Generator, topic: int) -> tuple[str, list[str]]:
    """One post about ``topic``: English, Chinese or mixed, hashtags and emoji."""
    en, zh, tags, emoji = list(TOPIC_VOCAB.values())[topic]
    lang = rng.choice(["en", "zh", "mix"], p=[0.55, 0.25, 0.2])
    words: list[str] = []
    if lang in ("en", "mix"):
        words += list(rng.choice(en, rng.integers(3, 6), replace=False))
        words += list(rng.choice(FILLER_EN, 2, replace=False))
    if lang in ("zh", "mix"):
        words += list(rng.choice(zh, rng.integers(2, 4), replace=False))
        words += list(rng.choice(FILLER_ZH, 1))
    if rng.random() < 0.15:  # off-topic noise word
        other = list(TOPIC_VOCAB.values())[rng.integers(0, len(TOPIC_VOCAB))]
        words.append(str(rng.choice(other[0])))
    rng.shuffle(words)
    sep = "" if lang == "zh" else " "
    hashtags = list(rng.choice(tags, rng.integers(1, 3), replace=False))
    text = sep.join(words) + " " + " ".join("#" + t for t in hashtags)
    if rng.random() < 0.6:
        text += " " + str(rng.choice(emoji))
    return text, hashtags


def planted_world(
    n_users: int = 600,
    n_items: int = 900,
    n_days: int = 8,
    views_per_user: int = 40,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Users in taste groups, topical posts, follows, and a week of events."""
    rng = np.random.default_rng(seed)
    n_topics = len(TOPIC_VOCAB)
    n_groups = len(GROUP_TOPICS)
    start = pd.Timestamp("2026-03-01")
    group = rng.integers(0, n_groups, n_users)
    user_ids = np.array([f"u{i:05d}" for i in range(n_users)], dtype=object)
    # creators: 8 per topic, the first two are KOLs with many followers
    n_creators = 8 * n_topics
    creator_topic = np.repeat(np.arange(n_topics), 8)
    creator_ids = user_ids[:n_creators]
    followers = np.where(np.arange(n_creators) % 8 < 2, rng.integers(50_000, 500_000, n_creators),
                         rng.integers(100, 5_000, n_creators))
    item_topic = rng.integers(0, n_topics, n_items)
    item_creator = np.array([rng.choice(np.flatnonzero(creator_topic == t)) for t in item_topic])
    created_day = rng.integers(0, n_days, n_items)
    texts, tags = zip(*(make_post_text(rng, int(t)) for t in item_topic), strict=True)
    media = rng.choice(["video", "image", "text"], n_items, p=[0.6, 0.3, 0.1])
    duration = np.where(media == "video", rng.uniform(10, 120, n_items), np.nan)
    items = pd.DataFrame({
        "post_id": [f"p{i:05d}" for i in range(n_items)],
        "author_id": creator_ids[item_creator],
        "created_at": start + pd.to_timedelta(created_day, "D")
        + pd.to_timedelta(rng.integers(0, 3600 * 6, n_items), "s"),
        "text": texts,
        "media_type": media,
        "duration_s": duration,
        "hashtags": list(tags),
        "campaign_id": np.where(rng.random(n_items) < 0.1, "c1", None),
        "topic": item_topic,
    })
    users = pd.DataFrame({
        "user_id": user_ids,
        "handle": [f"@{u}" for u in user_ids],
        "category": np.array(list(TOPIC_VOCAB))[
            [GROUP_TOPICS[g][0] for g in group]],
        "country": rng.choice(["CN", "US", "SG"], n_users),
        "followers_count": np.r_[followers, rng.integers(0, 800, n_users - n_creators)],
        "following_count": rng.integers(10, 500, n_users),
        "group": group,
    })
    # follows: users follow creators of their preferred topics (KOLs most)
    fol = []
    for i in range(n_creators, n_users):
        prefs = GROUP_TOPICS[group[i]]
        for c in range(n_creators):
            p = 0.35 if creator_topic[c] in prefs else 0.02
            if c % 8 < 2:
                p = min(1.0, p * 2)
            if rng.random() < p:
                fol.append((user_ids[i], creator_ids[c]))
    follows = pd.DataFrame(fol, columns=["follower_id", "followee_id"])
    fset = set(fol)
    kol = pd.DataFrame({"user_id": creator_ids, "is_kol": np.arange(n_creators) % 8 < 2})
    communities = pd.DataFrame({
        "user_id": user_ids,
        "community_id": np.r_[[next((g for g, tp in enumerate(GROUP_TOPICS) if tp[0] == t),
                                    n_groups) for t in creator_topic], group[n_creators:]],
    })
    # topic preference per user: group pattern + a little individual noise
    pref = np.full((n_users, n_topics), 0.04)
    for g, (a, b) in enumerate(GROUP_TOPICS):
        pref[group == g, a] = 0.55
        pref[group == g, b] = 0.33
    pref = pref * rng.gamma(20, 1 / 20, pref.shape)
    pref /= pref.sum(axis=1, keepdims=True)
    # behaviour by group: engagement propensity, share and watch tendencies
    eng_base = np.array([0.55, 0.35, 0.45, 0.25])[group]
    share_bias = np.array([0.05, 0.35, 0.05, 0.15])[group]
    watch_a = np.array([2.0, 4.0, 8.0, 3.0])[group]
    pop = rng.lognormal(0.0, 1.0, n_items)
    rows = []
    ev = 0
    for u in range(n_creators, n_users):
        for day in range(n_days):
            avail = np.flatnonzero(created_day <= day)
            if avail.size == 0:
                continue
            n_v = rng.poisson(views_per_user / n_days)
            for _ in range(n_v):
                if rng.random() < 0.75:
                    t = rng.choice(n_topics, p=pref[u])
                    cand = avail[item_topic[avail] == t]
                else:
                    cand = avail
                if cand.size == 0:
                    continue
                w = pop[cand] * np.exp(-(day - created_day[cand]) / 3.0)
                i = int(rng.choice(cand, p=w / w.sum()))
                ts = start + pd.Timedelta(days=day) + pd.Timedelta(seconds=int(rng.integers(
                    6 * 3600, 86_000)))
                dur = duration[i]
                wr = float(rng.beta(watch_a[u], 2.0)) if np.isfinite(dur) else np.nan
                rows.append((f"e{ev}", user_ids[u], items.post_id[i], "view", ts,
                             wr * dur if np.isfinite(dur) else np.nan, np.nan))
                ev += 1
                match = pref[u, item_topic[i]] > 0.2
                follows_a = (user_ids[u], items.author_id[i]) in fset
                p_eng = eng_base[u] * (1.0 if match else 0.12) + (0.25 if follows_a else 0.0)
                if rng.random() < min(p_eng, 0.95):
                    et = rng.choice(["like", "comment", "save", "click", "share"],
                                    p=np.array([0.5, 0.12, 0.12, 0.11, 0.15 + share_bias[u]])
                                    / (1 + share_bias[u]))
                    rows.append((f"e{ev}", user_ids[u], items.post_id[i], str(et),
                                 ts + pd.Timedelta(seconds=30), np.nan, np.nan))
                    ev += 1
                    if et == "click" and rng.random() < 0.3:
                        rows.append((f"e{ev}", user_ids[u], items.post_id[i], "conversion",
                                     ts + pd.Timedelta(seconds=90), np.nan,
                                     float(rng.uniform(5, 80))))
                        ev += 1
    inter = pd.DataFrame(rows, columns=["event_id", "user_id", "post_id", "event_type",
                                        "occurred_at", "watch_time_s", "value"])
    inter["author_id"] = inter["post_id"].map(items.set_index("post_id")["author_id"])
    inter["event_date"] = inter["occurred_at"].dt.normalize()
    dmap = items.set_index("post_id")["duration_s"]
    d = inter["post_id"].map(dmap)
    inter["watch_ratio"] = np.where(d > 0, np.minimum(inter["watch_time_s"] / d, 1.0), np.nan)
    w = {"view": 1.0, "like": 3.0, "comment": 4.0, "share": 5.0, "save": 4.0, "click": 2.0,
         "conversion": 8.0}
    sc = inter.assign(score=inter["event_type"].map(w)).groupby(
        ["user_id", "post_id"], as_index=False).agg(score=("score", "sum"),
                                                     n_events=("score", "size"),
                                                     last_at=("occurred_at", "max"))
    return {"items": items, "users": users, "interactions": inter, "scores": sc,
            "follows": follows, "kol": kol, "communities": communities}


def planted_item_topics(items: pd.DataFrame) -> pd.DataFrame:
    """The planted topics as an ``item_topics`` frame (weight 1 on the true topic)."""
    return pd.DataFrame({"post_id": items["post_id"], "topic_id": items["topic"].astype(int),
                         "weight": 1.0})


@pytest.fixture(scope="module")
def world():
    return planted_world()


# --------------------------------------------------------------------------------------
# interests and features
# --------------------------------------------------------------------------------------
def test_interests_follow_planted_preferences(world):
    it = planted_item_topics(world["items"])
    interests = build_user_interests(world["scores"], it)
    sums = interests.groupby("user_id")["weight"].sum()
    assert np.allclose(sums, 1.0, atol=1e-5)
    top = interests[interests["rank"] == 1].set_index("user_id")["topic_id"]
    grp = world["users"].set_index("user_id")["group"]
    primary = grp.loc[top.index].map(lambda g: GROUP_TOPICS[g][0])
    secondary = grp.loc[top.index].map(lambda g: GROUP_TOPICS[g][1])
    hit = ((top == primary) | (top == secondary)).mean()
    assert hit > 0.9, hit


def test_interest_weighting_by_score_hand_case():
    scores = pd.DataFrame({"user_id": ["a", "a", "b"], "post_id": ["x", "y", "y"],
                           "score": [3.0, 1.0, 2.0]})
    it = pd.DataFrame({"post_id": ["x", "y", "y"], "topic_id": [0, 0, 1],
                       "weight": [1.0, 0.5, 0.5]})
    out = build_user_interests(scores, it).set_index(["user_id", "topic_id"])["weight"]
    # a: 3*[1,0] + 1*[.5,.5] = [3.5, .5] -> [.875, .125]
    assert out[("a", 0)] == pytest.approx(0.875)
    assert out[("a", 1)] == pytest.approx(0.125)
    assert out[("b", 0)] == pytest.approx(0.5)


def test_behavioural_features_hand_case():
    inter = pd.DataFrame({
        "user_id": ["a", "a", "a", "b", "a"],
        "post_id": ["x", "x", "y", "x", "z"],
        "author_id": ["k", "k", "m", "k", "m"],
        "event_type": ["view", "like", "view", "share", "conversion"],
        "event_date": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-01-03", "2026-01-03",
                                      "2026-01-03"]),
        "watch_ratio": [0.5, np.nan, 1.0, np.nan, np.nan],
        "value": [np.nan, np.nan, np.nan, np.nan, 20.0],
    })
    f = build_user_features(inter, kol=["k"]).set_index("user_id")
    a = f.loc["a"]
    assert a["n_events"] == 4 and a["n_view"] == 2 and a["n_like"] == 1
    assert a["share_view"] == pytest.approx(0.5)
    assert a["engaged_share"] == pytest.approx(0.5)
    assert a["watch_ratio_mean"] == pytest.approx(0.75)
    assert a["active_days"] == 2 and a["n_posts"] == 3 and a["n_authors"] == 2
    assert a["conversion_value"] == pytest.approx(20.0)
    assert a["kol_share"] == pytest.approx(0.5)  # like on k's post, conversion on m's
    assert f.loc["b", "days_since_last"] == 0 and a["days_since_last"] == 0
    assert np.isnan(f.loc["b", "watch_ratio_mean"])


def test_planted_behaviour_differs_by_group(world):
    f = build_user_features(world["interactions"], kol=world["kol"]).merge(
        world["users"][["user_id", "group"]], on="user_id")
    by = f.groupby("group")[["share_share", "watch_ratio_mean", "engaged_share"]].mean()
    assert by["share_share"].idxmax() == 1
    assert by["watch_ratio_mean"].idxmax() == 2


# --------------------------------------------------------------------------------------
# segments
# --------------------------------------------------------------------------------------
def test_segments_recover_planted_groups(world):
    it = planted_item_topics(world["items"])
    prof = build_user_profiles(world["interactions"], it, kol=world["kol"])
    lab = dict(enumerate(TOPIC_VOCAB))
    assign, segs, info = segment_users(prof, k_range=(2, 8), follows=world["follows"],
                                       kol=world["kol"], topic_labels=lab, random_state=0)
    truth = world["users"].set_index("user_id").loc[assign["user_id"], "group"]
    ari = adjusted_rand_score(truth, assign["segment_id"])
    assert info["k"] == 4, info["selection"]
    assert ari > 0.8, ari
    assert segs["n_users"].sum() == len(prof)
    assert segs["share"].sum() == pytest.approx(1.0)
    # each segment's top topics are its planted pair; its top KOLs are creators of them
    creators = world["items"].drop_duplicates("author_id").set_index("author_id")["topic"]
    for _, s in segs.iterrows():
        members = assign.loc[assign["segment_id"] == s["segment_id"], "user_id"]
        g = world["users"].set_index("user_id").loc[members, "group"].mode()[0]
        assert set(s["top_topics"][:2]) == set(GROUP_TOPICS[g])
        assert s["top_kols"], "a segment without KOLs"
        assert creators.loc[s["top_kols"][0]] in GROUP_TOPICS[g]
    assert {"mean_engaged_share", "mean_kol_share", "top_topic_labels"} <= set(segs.columns)


def test_segments_minibatch_path_runs(world):
    it = planted_item_topics(world["items"])
    prof = build_user_profiles(world["interactions"], it)
    assign, segs, info = segment_users(prof, k_range=(3, 5), minibatch_threshold=100,
                                       sample_size=300, random_state=1)
    assert info["algorithm"] == "MiniBatchKMeans"
    truth = world["users"].set_index("user_id").loc[assign["user_id"], "group"]
    assert adjusted_rand_score(truth, assign["segment_id"]) > 0.6


# --------------------------------------------------------------------------------------
# propensity
# --------------------------------------------------------------------------------------
def test_pairs_sampling_rules(world):
    inter = world["interactions"]
    day = inter["event_date"].max()
    pairs = build_propensity_pairs(inter, day, items=world["items"], neg_ratio=3,
                                   random_state=0)
    assert not pairs.duplicated(["user_id", "post_id"]).any()
    on_day = inter[inter["event_date"] == day]
    eng = on_day[on_day["event_type"] != "view"]
    engaged = set(zip(eng["user_id"], eng["post_id"], strict=True))
    pos = pairs[pairs["label"] == 1]
    assert set(zip(pos["user_id"], pos["post_id"], strict=True)) == engaged
    neg = pairs[pairs["label"] == 0]
    assert not (set(zip(neg["user_id"], neg["post_id"], strict=True)) & engaged)
    assert len(neg) <= 3 * len(pos)
    # exposed negatives are real views without engagement
    ex = neg[neg["source"] == "exposed"]
    viewed = set(zip(on_day["user_id"], on_day["post_id"], strict=True))
    assert set(zip(ex["user_id"], ex["post_id"], strict=True)) <= viewed


def test_features_use_only_the_past(world):
    inter = world["interactions"]
    days = sorted(inter["event_date"].unique())
    pairs = pd.DataFrame({"user_id": [inter["user_id"].iloc[0]],
                          "post_id": [inter["post_id"].iloc[0]]})
    f0 = propensity_features(pairs, inter, days[0], items=world["items"])
    assert f0["u_log_events"].iloc[0] == 0 and f0["i_log_users"].iloc[0] == 0
    # adding events on or after the day must not change the features
    d = days[3]
    f1 = propensity_features(pairs, inter[inter["event_date"] < d], d, items=world["items"])
    f2 = propensity_features(pairs, inter, d, items=world["items"])
    pd.testing.assert_frame_equal(f1, f2)


def test_propensity_beats_base_rate(world):
    it = planted_item_topics(world["items"])
    model, metrics = train_propensity(
        world["interactions"], items=world["items"], users=world["users"],
        follows=world["follows"], communities=world["communities"], kol=world["kol"],
        item_topics=it, n_train_days=5, random_state=0)
    test = metrics[metrics["split"] == "test"].set_index(["model", "metric"])["value"]
    chosen = model.chosen_
    assert test[(chosen, "roc_auc")] > 0.75
    assert test[(chosen, "log_loss")] < 0.9 * test[("base_rate", "log_loss")]
    assert test[("base_rate", "roc_auc")] == pytest.approx(0.5)
    assert set(metrics["model"]) >= {"logistic", "hgb", "base_rate"}
    coef = model.coefficients()
    # planted: topic match and following the author drive engagement
    assert coef["r_topic_match"] > 0 and coef["r_follows_author"] > 0
    assert len(model.feature_names_) == len(FEATURES)


def test_time_split_needs_the_last_days_behaviour_earlier():
    from social_warehouse.stages import _time_split_ok

    def frame(rows):
        return pd.DataFrame(rows, columns=["event_date", "event_type"])

    ok, _ = _time_split_ok(frame([("2026-01-01", "view"), ("2026-01-02", "view")]))
    assert ok
    # Last.fm: dated tag assignments years back, undated plays all on the load day
    ok, why = _time_split_ok(frame([("2009-03-01", "tag"), ("2011-06-01", "play"),
                                    ("2011-06-01", "tag")]))
    assert not ok and "['play']" in why
    ok, why = _time_split_ok(frame([("2026-01-01", "view")]))
    assert not ok and "two days" in why


@pytest.mark.parametrize("size,high", [(0, 1), (1, 5), (1000, 40), (100_000, 10**15)])
def test_distinct_equals_numpy_unique(size, high):
    from social_warehouse.analytics._arrays import distinct

    a = np.random.default_rng(size).integers(-high, high, size)
    assert np.array_equal(distinct(a), np.unique(a))


def test_single_class_day_has_log_loss_and_no_nan_auc():
    """A day whose pairs are all one class (a sparse last day of a real export) has no
    ROC AUC: the metric rows leave it out instead of writing NaN, and model choice
    still works on log loss."""
    from social_warehouse.analytics.propensity import _scores

    one_class = _scores(np.zeros(6), np.linspace(0.1, 0.6, 6))
    assert set(one_class) == {"log_loss"} and np.isfinite(one_class["log_loss"])
    both = _scores(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.2, 0.8]))
    assert both["roc_auc"] == pytest.approx(1.0)
