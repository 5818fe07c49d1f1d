"""Text topics on English, Chinese and mixed posts with hashtags and emoji."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from social_warehouse.analytics.topics import (
    MixedTextAnalyzer,
    TopicModel,
    fit_topics,
    item_topic_matrix,
    topic_coherence_npmi,
    topic_stability,
)

from tests.unit.test_audience import TOPIC_VOCAB, make_post_text


def planted_items(n_items: int = 900, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, len(TOPIC_VOCAB), n_items)
    texts, tags = zip(*(make_post_text(rng, int(t)) for t in topic), strict=True)
    return pd.DataFrame({"post_id": [f"p{i}" for i in range(n_items)], "text": texts,
                         "hashtags": list(tags), "topic": topic})


@pytest.fixture(scope="module")
def items():
    return planted_items()


@pytest.fixture(scope="module")
def fitted(items):
    return fit_topics(items, random_state=0)


def test_analyzer_handles_chinese_english_hashtags_emoji():
    a = MixedTextAnalyzer()
    toks = a("Leg day at the gym健身房 💪🏽 #Fitness #健身 https://t.co/x @coach ５km 2024")
    assert "gym" in toks and "健身" in toks and "身房" in toks  # no glue across scripts
    assert "#fitness" in toks and "fitness" in toks and "#健身" in toks
    assert "💪" in toks  # emoji kept, skin tone dropped
    assert "5km" in toks  # full-width normalised
    assert "2024" not in toks and "the" not in toks and "at" not in toks
    assert not any("t.co" in t or "coach" in t for t in toks)  # URL and mention gone
    zh = a("今天的晚餐真好吃")
    assert "晚餐" in zh and "好吃" in zh and "的" not in zh  # stop char not a unigram
    assert a(None) == [] and a("") == []


def test_planted_topics_recovered(items, fitted):
    topics, item_topics, info = fitted
    assert info["n_topics"] == len(TOPIC_VOCAB), info["selection"]
    sel = info["selection"]
    assert sel.loc[sel["chosen"], "k"].item() == info["n_topics"]
    assert {"stability", "coherence_npmi", "diversity", "reconstruction_err"} <= set(sel)
    top = item_topics[item_topics["rank"] == 1].set_index("post_id")["topic_id"]
    truth = items.set_index("post_id").loc[top.index, "topic"]
    assert len(top) == len(items)
    assert normalized_mutual_info_score(truth, top) > 0.9
    assert adjusted_rand_score(truth, top) > 0.9
    # Chinese-only posts: their Chinese words alone (hashtags and emoji stripped, since
    # the planted tags are English) must place them, i.e. CJK tokenisation carries topics
    body = items["text"].str.replace(r"#\w+", "", regex=True)
    zh_only = items[~body.str.contains("[a-z]", regex=True)]
    assert len(zh_only) > 100
    stripped = body[zh_only.index].str.replace(r"[^\u4e00-\u9fff]", "", regex=True)
    W = info["model"].transform(stripped.tolist())
    assert (W.sum(axis=1) > 0).all()
    assert normalized_mutual_info_score(zh_only["topic"], W.argmax(axis=1)) > 0.85


def test_topic_terms_are_planted_vocabulary(fitted):
    topics, _, info = fitted
    vocab = [set(en) | set(zh) | {"#" + t for t in tags} | set(tags) | set(emo)
             for en, zh, tags, emo in TOPIC_VOCAB.values()]
    matched = set()
    for _, sub in topics.groupby("topic_id"):
        terms = sub.sort_values("rank")["term"].head(8).tolist()
        share = [sum(term in v for term in terms) / len(terms) for v in vocab]
        assert max(share) >= 0.75, terms
        matched.add(int(np.argmax(share)))
    assert matched == set(range(len(TOPIC_VOCAB)))  # one topic per planted topic
    assert list(topics.columns) == ["topic_id", "rank", "term", "weight", "label",
                                    "coherence_npmi"]
    assert (topics["coherence_npmi"] > 0).all()


def test_item_topics_shape_and_weights(items, fitted):
    _, it, _ = fitted
    assert list(it.columns) == ["post_id", "topic_id", "weight", "rank"]
    assert np.allclose(it.groupby("post_id")["weight"].sum(), 1.0, atol=1e-5)
    assert (it["weight"] >= 0.05 - 1e-6).all()
    idx, M = item_topic_matrix(it, items["post_id"])
    assert M.shape == (len(items), len(TOPIC_VOCAB))
    assert np.allclose(M.sum(axis=1), 1.0, atol=1e-5)


def test_seeded_and_deterministic(items):
    a = fit_topics(items.head(400), n_topics=(4, 6, 8), random_state=3)
    b = fit_topics(items.head(400), n_topics=(4, 6, 8), random_state=3)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])


def test_new_posts_transform_to_their_topic(items, fitted):
    _, it, info = fitted
    tm: TopicModel = info["model"]
    top = it[it["rank"] == 1].set_index("post_id")["topic_id"]
    # map planted topic -> fitted topic by majority
    mapping = pd.crosstab(items.set_index("post_id").loc[top.index, "topic"], top).idxmax(1)
    W = tm.transform(["今天去健身房锻炼肌肉 跑步 #健身", "new laptop review: chip and battery",
                      "", "🍜 火锅 面条 好吃"])
    assert W.shape == (4, len(TOPIC_VOCAB))
    assert W[2].sum() == 0  # nothing to say about an empty post
    assert W[0].argmax() == mapping[0]  # fitness
    assert W[1].argmax() == mapping[3]  # tech
    assert W[3].argmax() == mapping[1]  # food


def test_other_criteria_and_lda_run(items):
    small = items.head(300)
    for crit in ("coherence", "reconstruction"):
        _, it, info = fit_topics(small, n_topics=(3, 6, 9), criterion=crit)
        assert info["n_topics"] in (3, 6, 9) and info["criterion"] == crit
    topics, it, info = fit_topics(small, n_topics=6, method="lda")
    assert info["n_topics"] == 6 and len(it)
    with pytest.raises(ValueError):
        fit_topics(small, n_topics=(3, 6), method="lda", criterion="reconstruction")


def test_coherence_and_stability_hand_cases():
    import scipy.sparse as sp

    # terms 0,1 always together, term 2 never with them
    X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 1]]))
    assert topic_coherence_npmi(X, [[0, 1]])[0] == pytest.approx(1.0)
    assert topic_coherence_npmi(X, [[0, 2]])[0] == pytest.approx(-1.0)
    assert topic_stability([[1, 2, 3], [4, 5, 6]], [[[4, 5, 6], [1, 2, 3]]]) == pytest.approx(1.0)
    # second ranking shares only the last term: AJ = (0 + 0 + 1/5) / 3
    assert topic_stability([[1, 2, 3]], [[[7, 8, 3]]]) == pytest.approx((1 / 5) / 3)
