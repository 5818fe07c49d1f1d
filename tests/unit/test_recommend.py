"""Recommenders and their offline evaluation.

Hand-computed metric cases, cosine neighbours against scikit-learn, exact scoring on a
tiny matrix, the never-recommend-seen rule, cold start, the planted world (CF must beat
popularity by at least 30 % NDCG@10) and the real Last.fm HetRec 2011 plays.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.metrics.pairwise import cosine_similarity
from social_warehouse.analytics.evaluation import (
    METRICS,
    evaluate_lastfm,
    evaluate_recommenders,
    random_split,
    ranking_metrics,
    time_split,
)
from social_warehouse.analytics.recommend import (
    HybridRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    UserKNNRecommender,
    _extract_topn_dense,
    cosine_topk_neighbors,
    recommend,
    topk_per_row,
)

from tests.unit.test_audience import planted_item_topics, planted_world

MODELS = ("item_knn", "user_knn", "content", "popularity", "hybrid")


@pytest.fixture(scope="module")
def world():
    return planted_world(seed=1)


@pytest.fixture(scope="module")
def topics(world):
    return planted_item_topics(world["items"])


# --------------------------------------------------------------------------------------
# metrics on hand-computed cases
# --------------------------------------------------------------------------------------
def test_ranking_metrics_hand_case():
    recs = pd.DataFrame({
        "user_id": ["a"] * 4 + ["b"] * 2,
        "rank": [1, 2, 3, 4, 1, 2],
        "post_id": ["x", "y", "z", "w", "p", "q"],
    })
    rel = pd.DataFrame({"user_id": ["a", "a", "a", "b", "c"],
                        "post_id": ["y", "w", "q", "p", "m"]})
    m = ranking_metrics(recs, rel, k=3).set_index("user_id")
    # a: top-3 = x, y, z; one hit (y) at rank 2; 3 relevant items
    assert m.loc["a", "hits"] == 1
    assert m.loc["a", "precision"] == pytest.approx(1 / 3)
    assert m.loc["a", "recall"] == pytest.approx(1 / 3)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m.loc["a", "ndcg"] == pytest.approx((1 / math.log2(3)) / idcg)
    assert m.loc["a", "ap"] == pytest.approx((1 / 2) / 3)
    # b: hit at rank 1, one relevant item
    assert m.loc["b", "precision"] == pytest.approx(1 / 3)
    assert m.loc["b", "recall"] == 1 and m.loc["b", "ndcg"] == 1 and m.loc["b", "ap"] == 1
    # c: evaluated (has a relevant item) but got nothing
    assert m.loc["c", ["precision", "recall", "ndcg", "ap"]].tolist() == [0, 0, 0, 0]
    # AP with two hits: ranks 1 and 3 of 2 relevant -> (1/1 + 2/3) / 2
    m2 = ranking_metrics(
        pd.DataFrame({"user_id": ["u"] * 3, "rank": [1, 2, 3], "post_id": ["a", "b", "c"]}),
        pd.DataFrame({"user_id": ["u", "u"], "post_id": ["a", "c"]}), k=10)
    assert m2["ap"].iloc[0] == pytest.approx((1 + 2 / 3) / 2)
    assert m2["ndcg"].iloc[0] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))


def test_splits():
    df = pd.DataFrame({
        "user_id": ["a", "a", "a", "b", "b", "c"],
        "post_id": ["x", "y", "x", "y", "z", "z"],
        "event_type": ["view", "like", "like", "view", "view", "view"],
        "event_date": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-01-02", "2026-01-01",
                                      "2026-01-02", "2026-01-02"]),
    })
    train, test, info = time_split(df)
    # a's repeat on x is not a test item (seen); b's z and new user c's z are
    assert set(zip(test["user_id"], test["post_id"], strict=True)) == {("b", "z"), ("c", "z")}
    tr = train.set_index(["user_id", "post_id"])["score"]
    assert tr[("a", "x")] == 1.0 and tr[("a", "y")] == 3.0  # view 1 + like 3 weights
    assert "2026-01-02" in info["split"]
    sc = pd.DataFrame({"user_id": np.repeat(["a", "b", "c"], [10, 5, 1]),
                       "post_id": [f"i{i}" for i in range(16)], "score": 1.0})
    tr, te, _ = random_split(sc, test_size=0.2, random_state=1)
    assert te.groupby("user_id").size().to_dict() == {"a": 2, "b": 1}  # c keeps its only item
    assert len(tr) + len(te) == len(sc)
    tr2, te2, _ = random_split(sc, test_size=0.2, random_state=1)
    pd.testing.assert_frame_equal(te, te2)


# --------------------------------------------------------------------------------------
# neighbours and scoring against dense references
# --------------------------------------------------------------------------------------
def _random_sparse(n_users=40, n_items=25, density=0.15, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n_users, n_items, density=density, format="csr", random_state=seed,
                  data_rvs=lambda n: rng.integers(1, 20, n).astype(float))
    X = X.tolil()
    X[:, 3] = 0  # an item nobody touched
    return X.tocsr()


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("budget", [1e9, 50.0])
def test_cosine_neighbours_match_sklearn(axis, budget):
    X = _random_sparse()
    ref = cosine_similarity(X.T if axis == 0 else X)
    np.fill_diagonal(ref, 0.0)
    # all neighbours: the stored matrix equals the dense similarity
    W = cosine_topk_neighbors(X, n_neighbors=10_000, axis=axis, block_budget=budget, n_jobs=2)
    np.testing.assert_allclose(W.toarray(), ref, atol=1e-5)
    # top-5: each row keeps the five largest similarities
    W5 = cosine_topk_neighbors(X, n_neighbors=5, axis=axis, block_budget=budget)
    for r in range(ref.shape[0]):
        row = W5.getrow(r)
        expect = np.sort(ref[r][ref[r] > 0])[::-1][:5]
        np.testing.assert_allclose(np.sort(row.data)[::-1], expect, atol=1e-5)
        np.testing.assert_allclose(row.data, ref[r, row.indices], atol=1e-5)


def test_shrinkage_uses_common_counts_on_binary_data():
    X = _random_sparse(seed=2)
    X.data[:] = 1.0
    Xd = X.toarray()
    co = Xd.T @ Xd
    cos = cosine_similarity(Xd.T)
    expect = cos * co / (co + 5.0)
    np.fill_diagonal(expect, 0.0)
    W = cosine_topk_neighbors(X, n_neighbors=10_000, shrinkage=5.0)
    np.testing.assert_allclose(W.toarray(), expect, atol=1e-5)


def test_topk_per_row_against_sort():
    rng = np.random.default_rng(3)
    M = sp.random(50, 80, density=0.3, format="csr", random_state=3)
    M.data = rng.normal(size=M.nnz).astype(np.float32)  # negatives too
    T = topk_per_row(M, 4)
    D = M.toarray()
    for r in range(50):
        nz = D[r][D[r] != 0]
        expect = np.sort(nz)[::-1][:4]
        row = T.getrow(r)
        assert list(row.data) == sorted(row.data, reverse=True)  # best first
        np.testing.assert_allclose(row.data, expect)


def _scores_frame(X: sp.csr_matrix) -> pd.DataFrame:
    r, c = X.nonzero()
    return pd.DataFrame({"user_id": [f"u{i:02d}" for i in r], "post_id": [f"i{j:02d}" for j in c],
                         "score": np.asarray(X[r, c]).ravel()})


def _expected_top(S: np.ndarray, Xw: np.ndarray, n: int) -> dict[int, dict[int, float]]:
    S = S.copy()
    S[Xw > 0] = -np.inf
    out = {}
    for u in range(S.shape[0]):
        cand = [(v, j) for j, v in enumerate(S[u]) if v > 1e-9]
        cand.sort(reverse=True)
        out[u] = {j: v for v, j in cand[:n]}
    return out


@pytest.mark.parametrize("kind", ["item", "user"])
def test_knn_scores_equal_dense_formula(kind):
    X = _random_sparse(seed=5)
    df = _scores_frame(X)
    Xw = np.log1p(X.toarray())
    if kind == "item":
        sim = cosine_similarity(Xw.T)
        np.fill_diagonal(sim, 0)
        S = Xw @ sim
        rec = ItemKNNRecommender(n_neighbors=1000, shrinkage=0, block_budget=30).fit(df)
    else:
        sim = cosine_similarity(Xw)
        np.fill_diagonal(sim, 0)
        S = sim @ Xw
        rec = UserKNNRecommender(n_neighbors=1000, shrinkage=0, block_budget=30).fit(df)
    out = rec.recommend(n=4)
    exp = _expected_top(S, Xw, 4)
    assert out["user_id"].nunique() > 30
    for uname, sub in out.groupby("user_id"):
        u = int(uname[1:])
        got = {int(p[1:]): s for p, s in zip(sub["post_id"], sub["score"], strict=True)}
        # same scores (ties may swap equal-scored items)
        np.testing.assert_allclose(sorted(got.values()), sorted(exp[u].values()), rtol=1e-4)
        for j, s in got.items():
            assert s == pytest.approx(S[u, j], rel=1e-4)
        assert sub["rank"].tolist() == list(range(1, len(sub) + 1))
        assert sub["score"].is_monotonic_decreasing


def test_dense_topn_equals_plain_sort():
    """The partition-based top-n of a dense block against sorting each row: best first,
    ties by lower column, only positive finite values (NaN and -inf never kept)."""
    rng = np.random.default_rng(2)
    for t in range(400):
        r, m, n = (int(x) for x in (rng.integers(1, 25), rng.integers(1, 30),
                                    rng.integers(1, 12)))
        S = rng.integers(-2, 4, (r, m)).astype(np.float32 if t % 2 else np.float64)
        S = S + (rng.random((r, m)) < 0.3) * rng.random((r, m)).astype(S.dtype)
        S[rng.random((r, m)) < 0.1] = -np.inf
        S[rng.random((r, m)) < 0.05] = np.nan
        cols = np.sort(rng.choice(500, m, replace=False)) if t % 3 else None
        got = _extract_topn_dense(S.copy(), n, cols)
        want: list[list[float]] = [[], [], []]
        for i in range(r):
            order = sorted(range(m), key=lambda j, i=i: (-np.nan_to_num(S[i, j], nan=-np.inf),
                                                        j))[:n]
            for j in order:
                if np.isfinite(S[i, j]) and S[i, j] > 0:
                    want[0].append(i)
                    want[1].append(j if cols is None else cols[j])
                    want[2].append(float(S[i, j]))
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, np.asarray(w, dtype=g.dtype))


def _hybrid_world(seed: int = 11):
    """Random scores with every branch of the hybrid: warm users, thin users (content),
    cold catalogue items (fresh-post slots), items without topics."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 90, 60
    per_user = rng.choice([1, 2, 3, 5, 8, 12], n_users)
    rows = [(f"u{u:03d}", f"i{j:03d}", float(rng.integers(1, 6)))
            for u in range(n_users)
            for j in rng.choice(n_items, per_user[u], replace=False)]
    sc = pd.DataFrame(rows, columns=["user_id", "post_id", "score"])
    items = pd.DataFrame({"post_id": [f"i{j:03d}" for j in range(n_items + 15)]})
    it = pd.DataFrame([(f"i{j:03d}", t, float(rng.random()))
                       for j in range(n_items + 15) if j % 9 for t in rng.choice(4, 2,
                                                                              replace=False)],
                      columns=["post_id", "topic_id", "weight"])
    return sc, items, it


@pytest.mark.parametrize("blend", [0.0, 0.6])
def test_hybrid_user_blocks_equal_per_user_reference(blend):
    """The hybrid builds its lists in blocks of users: any block size, and the plain
    one-user-at-a-time loop, give the same lists, scores and model labels."""
    sc, items, it = _hybrid_world()
    users = [*sorted(sc["user_id"].unique()), "nobody"]

    def fit(block):
        return HybridRecommender(popularity_blend=blend, user_block=block).fit(
            sc, items=items, item_topics=it)

    def same(got: pd.DataFrame, want: pd.DataFrame) -> None:
        keys = ["user_id", "rank", "post_id", "model"]
        pd.testing.assert_frame_equal(got[keys], want[keys], check_exact=True)
        # the content model's float32 matrix product may round the last bit differently
        # for a different number of rows (BLAS kernels); the lists are the same
        np.testing.assert_allclose(got["score"], want["score"], rtol=1e-6, atol=0)

    one = fit(10_000).recommend(users, n=6)
    assert set(one["model"]) == {"item_knn", "content", "popularity"}
    for block in (1, 7, 32):
        same(fit(block).recommend(users, n=6), one)
    rec = fit(10_000)
    same(pd.concat([rec.recommend([u], n=6) for u in users], ignore_index=True), one)
    exact = one["model"] != "content"
    pd.testing.assert_frame_equal(fit(7).recommend(users, n=6)[exact], one[exact],
                                  check_exact=True)
    assert not one.duplicated(["user_id", "post_id"]).any()
    assert (one.groupby("user_id")["rank"].max() == 6).all()


# --------------------------------------------------------------------------------------
# behaviour on the planted world
# --------------------------------------------------------------------------------------
def test_never_recommends_seen_items(world, topics):
    sc = world["scores"]
    seen = set(zip(sc["user_id"], sc["post_id"], strict=True))
    for model in MODELS:
        out = recommend(sc, items=world["items"], item_topics=topics, model=model, n=10)
        assert len(out), model
        pairs = set(zip(out["user_id"], out["post_id"], strict=True))
        assert not pairs & seen, model
        assert not out.duplicated(["user_id", "post_id"]).any()
        assert list(out.columns) == ["user_id", "rank", "post_id", "score", "model"]
        assert out.groupby("user_id")["rank"].max().max() <= 10
        assert (out["score"] > 0).all()


def test_unknown_users():
    sc = pd.DataFrame({"user_id": ["a", "a", "b", "c"], "post_id": ["x", "y", "y", "z"],
                       "score": [1.0, 1.0, 2.0, 1.0]})
    assert ItemKNNRecommender().fit(sc).recommend(["nobody"]).empty
    pop = PopularityRecommender().fit(sc).recommend(["nobody", "a"], n=2)
    assert pop[pop["user_id"] == "nobody"]["post_id"].tolist()[0] == "y"  # 2 users
    assert pop[pop["user_id"] == "a"]["post_id"].tolist() == ["z"]  # x, y seen
    hy = HybridRecommender().fit(sc).recommend(["nobody"], n=3)
    assert set(hy["model"]) == {"popularity"} and len(hy) == 3


def test_cf_beats_popularity_on_planted_world(world, topics):
    m, recs = evaluate_recommenders(world["interactions"], items=world["items"],
                                    item_topics=topics, k=10, random_state=0,
                                    return_recommendations=True)
    assert set(m.columns) >= {"model", "metric", "value", "k", "n_users_evaluated", "split"}
    v = m[m["users"] == "all"].set_index(["model", "metric"])["value"]
    assert set(m["model"]) == set(MODELS) and set(m["metric"]) == set(METRICS)
    pop = v[("popularity", "ndcg")]
    for cf in ("item_knn", "user_knn", "hybrid"):
        assert v[(cf, "ndcg")] >= 1.3 * pop, (cf, v[(cf, "ndcg")], pop)
    assert v[("content", "ndcg")] > pop
    # posts created on the test day did not exist when the model would have served: no
    # model may recommend them (they are not in the catalogue), and they are not relevant
    train, test, info = time_split(world["interactions"])
    created = pd.to_datetime(world["items"]["created_at"])
    fresh = set(world["items"].loc[created >= info["test_start"], "post_id"])
    assert fresh and not set(recs["post_id"]) & fresh
    # posts created before the test day without training feedback are the hybrid's cold
    # items: only it (through content) can place them, and some are hits
    cold = set(world["items"].loc[created < info["test_start"], "post_id"]) - set(
        train["post_id"])
    hits = recs.merge(test, on=["user_id", "post_id"])
    assert not set(recs.loc[recs["evaluated_model"] == "item_knn", "post_id"]) & cold
    assert len(hits[(hits["evaluated_model"] == "hybrid") & hits["post_id"].isin(cold)]) >= 1
    assert v[("item_knn", "coverage")] > v[("popularity", "coverage")]
    assert v[("item_knn", "novelty")] > v[("popularity", "novelty")]
    assert (m["n_users_evaluated"] > 400).all()
    assert m["split"].str.startswith("time:").all()


def test_hybrid_cold_start(world, topics):
    inter = world["interactions"]
    last = inter["event_date"].max()
    users = np.sort(inter["user_id"].unique())
    new_users, thin_users = users[:40], users[40:70]
    train_mask = inter["event_date"] < last
    drop = train_mask & inter["user_id"].isin(new_users)
    # thin users keep a single training item
    thin = inter[train_mask & inter["user_id"].isin(thin_users)]
    keep_one = thin.groupby("user_id")["post_id"].transform("first") == thin["post_id"]
    drop |= inter.index.isin(thin.index[~keep_one.to_numpy()])
    data = inter[~drop]
    m = evaluate_recommenders(data, items=world["items"], item_topics=topics, k=10,
                              return_recommendations=True)
    metrics, recs = m
    v = metrics.set_index(["users", "model", "metric"])["value"]
    assert v[("cold", "item_knn", "ndcg")] == 0  # CF has nothing for new users
    assert v[("cold", "hybrid", "ndcg")] == pytest.approx(v[("cold", "popularity", "ndcg")])
    assert v[("cold", "hybrid", "ndcg")] > 0
    hy = recs[recs["evaluated_model"] == "hybrid"]
    assert set(hy.loc[hy["user_id"].isin(new_users), "model"]) == {"popularity"}
    thin_rows = hy[hy["user_id"].isin(thin_users)]
    assert (thin_rows.loc[thin_rows["rank"] == 1, "model"] == "content").mean() > 0.9
    warm = hy[~hy["user_id"].isin(np.r_[new_users, thin_users])]
    assert set(warm["model"]) >= {"item_knn", "content"}
    # content rows of warm users are fresh posts without training feedback
    tr, _, _ = time_split(data)
    had_feedback = set(tr["post_id"])
    warm_content = warm[warm["model"] == "content"]
    assert not set(warm_content["post_id"]) & had_feedback


# --------------------------------------------------------------------------------------
# real data
# --------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_lastfm_all_models(shared_datasets):
    path = shared_datasets / "lastfm_hetrec2011"
    metrics, info = evaluate_lastfm(path, k=10, random_state=0)
    assert info["n_users"] == 1892 and info["n_plays"] == 92834
    v = metrics.set_index(["model", "metric"])["value"]
    assert set(metrics["model"]) == set(MODELS)
    assert len(metrics) == len(MODELS) * len(METRICS)
    for (model, metric), val in v.items():
        assert np.isfinite(val), (model, metric)
        if metric != "novelty":
            assert 0 <= val <= 1, (model, metric, val)
    assert (metrics["n_users_evaluated"] >= 1850).all()
    assert metrics["split"].str.startswith("random:80/20").all()
    pop = v[("popularity", "ndcg")]
    assert v[("item_knn", "ndcg")] >= 1.3 * pop
    assert v[("user_knn", "ndcg")] >= 1.3 * pop
    assert v[("hybrid", "ndcg")] >= 1.3 * pop
    assert v[("content", "ndcg")] > pop
    assert v[("popularity", "coverage")] < v[("item_knn", "coverage")]


def test_hybrid_reuses_fitted_sub_models_only_when_identical():
    """The evaluation offers its fitted item_knn/content/popularity to the hybrid: used
    only for the same data object, topics object and parameters; same lists either way."""
    from social_warehouse.analytics.recommend import ContentRecommender, InteractionData

    sc, items, it = _hybrid_world(seed=4)
    data = InteractionData(sc, items["post_id"].to_numpy())
    knn = ItemKNNRecommender().fit(data, item_topics=it)
    content = ContentRecommender().fit(data, item_topics=it)
    pop = PopularityRecommender().fit(data)
    offered = {"item_knn": knn, "content": content, "popularity": pop}
    fresh = HybridRecommender(popularity_blend=0.3).fit(data, item_topics=it)
    reused = HybridRecommender(popularity_blend=0.3).reuse_fitted(offered).fit(
        data, item_topics=it)
    assert reused.cf_ is knn and reused.content_ is content and reused.popularity_ is pop
    pd.testing.assert_frame_equal(reused.recommend(n=5), fresh.recommend(n=5),
                                  check_exact=True)
    other = HybridRecommender(cf_params={"n_neighbors": 5}).reuse_fitted(offered).fit(
        data, item_topics=it.copy())
    assert other.cf_ is not knn and other.content_ is not content
    assert other.popularity_ is pop
    elsewhere = HybridRecommender().reuse_fitted(offered).fit(
        InteractionData(sc, items["post_id"].to_numpy()), item_topics=it)
    assert elsewhere.cf_ is not knn and elsewhere.popularity_ is not pop
