"""Audience overlap sketches and KOL collaboration recommendations."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from social_warehouse.analytics.collaboration import (
    CollaborationConfig,
    recommend_collaborations,
)
from social_warehouse.analytics.sketches import (
    MinHasher,
    build_audience_matrix,
    exact_overlap_work,
    jaccard,
    minhash_error_bound,
    minhash_std,
    overlap_coefficient,
    pairwise_overlap,
)

# --------------------------------------------------------------------------------------
# exact measures on hand-computed cases
# --------------------------------------------------------------------------------------

TINY = pd.DataFrame(
    {
        "follower_id": ["a", "b", "c", "d", "c", "d", "e", "x", "a"],
        "followee_id": ["k1", "k1", "k1", "k1", "k2", "k2", "k2", "k3", "k1"],  # a->k1 twice
    }
)


def test_exact_set_measures():
    assert jaccard("abcd", "cde") == pytest.approx(2 / 5)
    assert overlap_coefficient("abcd", "cde") == pytest.approx(2 / 3)
    assert jaccard("ab", "ab") == 1.0
    assert jaccard("ab", "cd") == 0.0
    assert np.isnan(jaccard([], []))
    assert np.isnan(overlap_coefficient("ab", []))


def test_pairwise_overlap_exact_tiny():
    audience = build_audience_matrix(TINY, ["k1", "k2", "k3", "k4"])
    assert audience.sizes.tolist() == [4, 3, 1, 0]  # duplicate edge counted once
    # follower degrees: a1 b1 c2 d2 e1 x1 -> 1+1+4+4+1+1
    assert exact_overlap_work(audience) == 12
    pairs = pairwise_overlap(audience, method="exact")
    assert len(pairs) == 1
    row = pairs.iloc[0]
    assert (row.kol_a, row.kol_b) == ("k1", "k2")
    assert row.intersection == 2 and row.union == 5
    assert row.jaccard == pytest.approx(0.4)
    assert row.overlap_coefficient == pytest.approx(2 / 3)
    assert row.overlap_method == "exact" and row.overlap_error == 0.0
    every = pairwise_overlap(audience, method="exact", min_intersection=0)
    assert len(every) == 6
    k4 = every[every.kol_b == "k4"]
    assert k4["jaccard"].eq(0).all()  # k4 is empty, the other one is not
    assert k4["overlap_coefficient"].isna().all()  # min size 0: undefined, not 0


# --------------------------------------------------------------------------------------
# MinHash
# --------------------------------------------------------------------------------------


def _random_audiences(seed: int, n_kols: int = 60, universe: int = 200_000) -> pd.DataFrame:
    """KOL audiences of 500-5,000 followers with a wide range of pairwise overlaps."""
    rng = np.random.default_rng(seed)
    base = rng.choice(universe, 20_000, replace=False)
    rows = []
    for k in range(n_kols):
        size = int(rng.integers(500, 5_000))
        shared = rng.uniform(0, 1)  # fraction drawn from the common pool
        n_sh = int(size * shared)
        fol = np.union1d(
            rng.choice(base[: 2_000 + 300 * (k % 7)], min(n_sh, 2_000), replace=False),
            rng.choice(universe, size - min(n_sh, 2_000), replace=False),
        )
        rows.append(pd.DataFrame({"follower_id": fol, "followee_id": f"k{k:03d}"}))
    return pd.concat(rows, ignore_index=True)


def test_minhash_error_within_stated_bound():
    follows = _random_audiences(3)
    exact = pairwise_overlap(follows, method="exact", min_intersection=0)
    approx = pairwise_overlap(follows, method="minhash", min_intersection=0, num_perm=128, seed=11)
    m = exact.merge(approx, on=["kol_a", "kol_b"], suffixes=("", "_mh"))
    assert len(m) == 60 * 59 // 2
    bound = minhash_error_bound(128, 0.95)
    assert bound == pytest.approx(0.12, abs=0.001)
    assert (m["overlap_error_mh"] == bound).all() and (m["overlap_method_mh"] == "minhash").all()
    err = (m["jaccard_mh"] - m["jaccard"]).abs()
    assert m["jaccard"].std() > 0.05  # the test covers a real range of overlaps
    assert (err <= bound).mean() >= 0.95
    # and the typical error matches the binomial standard deviation
    std = minhash_std(m["jaccard"].to_numpy(), 128)
    assert (err <= 2.5 * std + 1e-9).mean() >= 0.9
    assert abs((m["jaccard_mh"] - m["jaccard"]).mean()) < 0.01  # unbiased
    # intersections derived from the Jaccard estimate track the exact ones
    rel = (m["intersection_mh"] - m["intersection"]).abs() / (m["size_a"] + m["size_b"])
    assert rel.max() < bound


def test_minhash_identical_and_disjoint_and_empty():
    from scipy import sparse

    rows = [0] * 50 + [1] * 50 + [2] * 50
    cols = list(range(50)) * 2 + list(range(1000, 1050))
    m = sparse.csr_matrix((np.ones(150), (rows, cols)), shape=(4, 2000))
    h = MinHasher(64, seed=1)
    sig = h.signatures(m)
    j = h.jaccard(sig, sig)
    assert j[0, 1] == 1.0
    assert j[0, 2] < 0.1
    assert (j[3] == 0).all()  # empty row never matches (its sentinel would otherwise)
    # same seed, same signatures; other seed differs
    assert np.array_equal(sig, MinHasher(64, seed=1).signatures(m))
    assert not np.array_equal(sig, MinHasher(64, seed=2).signatures(m))


# --------------------------------------------------------------------------------------
# recommendations on a planted world
# --------------------------------------------------------------------------------------


def make_collab_world(seed: int = 5) -> dict:
    """6 audience groups x 4 KOLs; KOLs of a group share most followers, topic and community.

    Planted complementary pairs: (g0k0, g3k0) and (g1k0, g4k0) post about a topic nobody
    else covers, have similar sizes and audiences in different groups.
    """
    rng = np.random.default_rng(seed)
    n_groups, per_group, group_size = 6, 4, 400
    kols, rows, posts, topics = [], [], [], []
    planted = {"g0k0": "g3k0", "g3k0": "g0k0", "g1k0": "g4k0", "g4k0": "g1k0"}
    for g in range(n_groups):
        members = np.arange(g * group_size, (g + 1) * group_size)
        for k in range(per_group):
            kid = f"g{g}k{k}"
            fol = np.union1d(
                rng.choice(members, int(group_size * rng.uniform(0.5, 0.7)), replace=False),
                rng.choice(n_groups * group_size, 10, replace=False),
            )
            rows.append(pd.DataFrame({"follower_id": [f"u{x}" for x in fol], "followee_id": kid}))
            topic = (
                "special_a"
                if kid in ("g0k0", "g3k0")
                else ("special_b" if kid in ("g1k0", "g4k0") else f"topic{g}")
            )
            for p in range(5):
                pid = f"{kid}_p{p}"
                posts.append((pid, kid))
                topics.append((pid, topic, 0.8))
                topics.append((pid, f"topic{(g + 1) % n_groups}", 0.2))
            kols.append(
                {
                    "user_id": kid,
                    "platform": "ig",
                    "category": f"cat{g}",
                    "community_id": g,
                    "score": rng.uniform(0.8, 1.0),
                    "reach_followers": float(len(fol)),
                    "is_kol": True,
                }
            )
    # a non-KOL that must be ignored
    kols.append(
        {
            "user_id": "nobody",
            "platform": "ig",
            "category": "cat0",
            "community_id": 0,
            "score": 0.1,
            "reach_followers": 3.0,
            "is_kol": False,
        }
    )
    follows = pd.concat(rows, ignore_index=True)
    return {
        "kols": pd.DataFrame(kols),
        "follows": follows,
        "items": pd.DataFrame(posts, columns=["post_id", "author_id"]),
        "item_topics": pd.DataFrame(topics, columns=["post_id", "topic_id", "weight"]),
        "planted": planted,
    }


@pytest.fixture(scope="module")
def cw() -> dict:
    return make_collab_world()


@pytest.fixture(scope="module")
def recs(cw) -> pd.DataFrame:
    return recommend_collaborations(
        cw["kols"],
        cw["follows"],
        items=cw["items"],
        item_topics=cw["item_topics"],
        config=CollaborationConfig(top_n=5),
    )


def test_recommendation_shape_and_reasons(cw, recs):
    expected = {
        "kol_id",
        "partner_id",
        "rank",
        "score",
        "jaccard",
        "overlap_coefficient",
        "complementary_reach",
        "topic_fit",
        "influence_balance",
        "same_community",
        "overlap_method",
        "overlap_error",
        "reasons",
    }
    assert expected <= set(recs.columns)
    assert recs["kol_id"].nunique() == 24 and "nobody" not in set(recs["partner_id"])
    assert (recs.groupby("kol_id").size() == 5).all()
    assert (recs["kol_id"] != recs["partner_id"]).all()
    assert (
        recs.groupby("kol_id")["rank"].apply(list)
        == pd.Series([[1, 2, 3, 4, 5]] * 24, index=sorted(recs["kol_id"].unique()))
    ).all()
    # scores descend within a KOL and equal the documented weighted sum
    assert (recs.groupby("kol_id")["score"].diff().dropna() <= 1e-12).all()
    w = CollaborationConfig().weights
    diff_comm = (~recs["same_community"].astype(bool)).astype(float)
    recomputed = (
        w["overlap"] * recs["jaccard"]
        + w["complementary_reach"] * recs["complementary_share"]
        + w["topic_fit"] * recs["topic_fit"]
        + w["influence_balance"] * recs["influence_balance"]
        + w["community"] * diff_comm
    )
    np.testing.assert_allclose(recs["score"], recomputed, atol=1e-12)
    assert recs["overlap_method"].eq("exact").all() and recs["overlap_error"].eq(0).all()
    assert recs["reasons"].str.contains("new followers").all()


def test_reason_values_are_exact(cw, recs):
    fol = cw["follows"].groupby("followee_id")["follower_id"].apply(set)
    for r in recs.sample(20, random_state=0).itertuples():
        a, b = fol[r.kol_id], fol[r.partner_id]
        assert r.jaccard == pytest.approx(jaccard(a, b))
        assert r.overlap_coefficient == pytest.approx(overlap_coefficient(a, b))
        assert r.complementary_reach == len(b - a)
        assert r.complementary_share == pytest.approx(len(b - a) / len(a | b))
        assert r.influence_balance == pytest.approx(min(len(a), len(b)) / max(len(a), len(b)))


def test_planted_complementary_pairs_ranked_first(cw, recs):
    top1 = recs[recs["rank"] == 1].set_index("kol_id")["partner_id"]
    for kol, partner in cw["planted"].items():
        assert top1[kol] == partner


def test_reach_recommendations_have_lower_overlap_than_random_pairs(cw, recs):
    overlap = pairwise_overlap(cw["follows"], method="exact", min_intersection=0)
    rng = np.random.default_rng(0)
    random_pairs = overlap.iloc[rng.choice(len(overlap), 100, replace=False)]
    assert recs["jaccard"].mean() < 0.5 * random_pairs["jaccard"].mean()
    assert (
        recs["complementary_share"].mean()
        > random_pairs.eval("(size_b - intersection) / union").mean()
    )


def test_depth_goal_prefers_same_community_high_overlap(cw):
    deep = recommend_collaborations(
        cw["kols"],
        cw["follows"],
        items=cw["items"],
        item_topics=cw["item_topics"],
        config=CollaborationConfig.from_dict({"goal": "depth", "top_n": 3}),
    )
    regular = deep[~deep["kol_id"].isin(cw["planted"])]
    assert regular["same_community"].astype(bool).all()
    assert regular["overlap_coefficient"].min() > 0.3


def test_quality_floor_excludes_kols(cw):
    quality = pd.DataFrame({"kol_id": cw["kols"]["user_id"], "passes_quality_floor": True})
    quality.loc[quality["kol_id"] == "g3k0", "passes_quality_floor"] = False
    r = recommend_collaborations(
        cw["kols"], cw["follows"], quality=quality, config=CollaborationConfig(top_n=3)
    )
    assert "g3k0" not in set(r["kol_id"]) | set(r["partner_id"])
    assert r.attrs["excluded_low_quality"] == ["g3k0"]
    off = recommend_collaborations(
        cw["kols"],
        cw["follows"],
        quality=quality,
        config=CollaborationConfig(top_n=3, exclude_below_quality_floor=False),
    )
    assert "g3k0" in set(off["kol_id"])


def test_category_fallback_filters_and_platforms(cw):
    kols = cw["kols"].copy()
    kols.loc[kols["user_id"].str.startswith("g5"), "platform"] = "tt"
    r = recommend_collaborations(
        kols, cw["follows"], config=CollaborationConfig(top_n=30, max_jaccard=0.2)
    )
    assert r.attrs["topic_fit_source"] == "category"
    assert set(r["topic_fit"].unique()) <= {0.0, 1.0}
    tt = set(kols.loc[kols["platform"] == "tt", "user_id"])
    cross = r["kol_id"].isin(tt) != r["partner_id"].isin(tt)
    assert not cross.any()
    assert (r["jaccard"] <= 0.2).all()
    # the 4 "tt" KOLs share one audience group (Jaccard > 0.2): the filter leaves them none
    assert not r["kol_id"].isin(tt).any()
    r2 = recommend_collaborations(kols, cw["follows"], config=CollaborationConfig(top_n=30))
    assert (r2[r2["kol_id"].isin(tt)].groupby("kol_id").size() == 3).all()
    assert (r2[~r2["kol_id"].isin(tt)].groupby("kol_id").size() == 19).all()


def test_minhash_recommendations_state_their_error(cw, recs):
    mh = recommend_collaborations(
        cw["kols"],
        cw["follows"],
        items=cw["items"],
        item_topics=cw["item_topics"],
        config=CollaborationConfig(top_n=5, overlap_method="minhash", num_perm=256),
    )
    assert mh["overlap_method"].eq("minhash").all()
    assert mh["overlap_error"].eq(minhash_error_bound(256)).all()
    assert mh["reasons"].str.contains("~").all()
    top1 = mh[mh["rank"] == 1].set_index("kol_id")["partner_id"]
    for kol, partner in cw["planted"].items():
        assert top1[kol] == partner
    # auto picks exact under the work limit and MinHash above it
    auto = recommend_collaborations(
        cw["kols"], cw["follows"], config=CollaborationConfig(top_n=1, exact_max_work=10)
    )
    assert auto["overlap_method"].eq("minhash").all()


def test_config_validation():
    cfg = CollaborationConfig.from_dict({"goal": "reach", "weights": {"topic_fit": 0.5}})
    assert cfg.weights["topic_fit"] == 0.5 and cfg.weights["overlap"] == -0.30
    assert cfg.community_preference == "different"
    with pytest.raises(ValueError):
        CollaborationConfig(goal="viral")
    with pytest.raises(ValueError):
        CollaborationConfig.from_dict({"weights": {"vibes": 1.0}})
    with pytest.raises(ValueError, match="unknown key"):
        CollaborationConfig.from_dict({"topn": 3})


def test_all_pairs_consistent_with_itertools(cw):
    fol = cw["follows"].groupby("followee_id")["follower_id"].apply(set)
    pairs = pairwise_overlap(cw["follows"], method="exact", min_intersection=0, block_size=7)
    assert len(pairs) == len(list(itertools.combinations(fol.index, 2)))
    for r in pairs.sample(30, random_state=1).itertuples():
        assert r.intersection == len(fol[r.kol_a] & fol[r.kol_b])


# --------------------------------------------------------------------------------------
# bounded candidates against exact all pairs
# --------------------------------------------------------------------------------------


def make_recall_world(n_kols: int = 300, n_groups: int = 6, seed: int = 5) -> dict:
    """KOLs in groups sharing a follower pool (co-follows inside a group), random sizes,
    topics mostly the group's, one platform."""
    rng = np.random.default_rng(seed)
    rows, kols, posts, topics = [], [], [], []
    pool = 4_000
    for k in range(n_kols):
        g = k % n_groups
        kid = f"k{k:03d}"
        size = int(np.clip(rng.lognormal(4.5, 1.0), 5, 1_500))
        own = rng.choice(pool, size, replace=False) + g * pool
        other = rng.choice(pool * n_groups, max(1, size // 5), replace=False)
        fol = np.unique(np.r_[own, other])
        rows.append(pd.DataFrame({"follower_id": [f"f{x}" for x in fol], "followee_id": kid}))
        for p in range(3):
            pid = f"{kid}_p{p}"
            posts.append((pid, kid))
            t = g if rng.random() < 0.7 else int(rng.integers(n_groups))
            topics.append((pid, f"t{t}", 1.0))
        kols.append({"user_id": kid, "platform": "ig", "community_id": int(rng.integers(4)),
                     "score": float(rng.random()), "reach_followers": float(len(fol)),
                     "is_kol": True})
    return {
        "kols": pd.DataFrame(kols),
        "follows": pd.concat(rows, ignore_index=True),
        "items": pd.DataFrame(posts, columns=["post_id", "author_id"]),
        "item_topics": pd.DataFrame(topics, columns=["post_id", "topic_id", "weight"]),
    }


@pytest.fixture(scope="module")
def rw() -> dict:
    return make_recall_world()


@pytest.mark.parametrize("goal", ["reach", "depth"])
def test_bounded_candidates_recall_exact_top10(rw, goal):
    """Recall of the exact top-10 partners (all pairs) >= 0.9, scoring a fraction of
    the pairs; for the reach goal the certificate makes the lists identical."""
    def run(**kw):
        cfg = CollaborationConfig.from_dict({"goal": goal, "top_n": 10, **kw})
        return recommend_collaborations(rw["kols"], rw["follows"], items=rw["items"],
                                        item_topics=rw["item_topics"], config=cfg)

    exact = run(candidates="all_pairs", overlap_method="exact")
    bounded = run(candidate_pool=20, cofollow_neighbours=20, overlap_method="exact")
    n = len(rw["kols"])
    assert exact.attrs["candidate_pairs"] == n * (n - 1)
    assert bounded.attrs["candidate_pairs"] <= 40 * n < 0.2 * n * (n - 1)
    want = exact.groupby("kol_id")["partner_id"].apply(set)
    got = bounded.groupby("kol_id")["partner_id"].apply(set).reindex(want.index)
    recall = np.mean([len(w & g) / len(w) for w, g in zip(want, got, strict=True)])
    print(f"{goal}: recall of the exact top-10 = {recall:.3f}, certified "
          f"{bounded.attrs['certified_share']:.2f}, pairs {bounded.attrs['candidate_pairs']}")
    assert recall >= 0.9
    # the rows that are recommended carry the exact components of the pair
    m = bounded.merge(exact, on=["kol_id", "partner_id"], suffixes=("", "_x"))
    assert np.allclose(m["score"], m["score_x"]) and np.allclose(m["jaccard"], m["jaccard_x"])
    if goal == "reach":
        assert bounded.attrs["certified_share"] >= 0.9
        cert = bounded.attrs["certified_share"]
        same = (got == want).mean()
        assert same >= cert  # every certified KOL has exactly the all-pairs list


def test_cofollow_candidates_find_the_largest_intersections(rw):
    from social_warehouse.analytics.sketches import cofollow_candidates

    audience = build_audience_matrix(rw["follows"], rw["kols"]["user_id"])
    rows, cols, counts = cofollow_candidates(audience, 10, sample_size=128, seed=1)
    inter = (audience.matrix @ audience.matrix.T).toarray().astype(float)
    np.fill_diagonal(inter, -1)
    hits = []
    for i in range(audience.n_kols):
        true_top = set(np.argsort(-inter[i], kind="stable")[:5])
        hits.append(len(true_top & set(cols[rows == i])) / 5)
    assert np.mean(hits) >= 0.8
    assert (np.bincount(rows, minlength=audience.n_kols) <= 10).all()
    assert (rows != cols).all() and (counts > 0).all()


def test_pair_intersections_equal_the_sparse_product(rw):
    from social_warehouse.analytics.sketches import pair_intersections

    audience = build_audience_matrix(rw["follows"], [*rw["kols"]["user_id"], "nobody_follows"])
    full = (audience.matrix @ audience.matrix.T).toarray()
    rng = np.random.default_rng(0)
    n = audience.n_kols
    i = np.r_[rng.integers(0, n, 3_000), n - 1, 0]
    j = np.r_[rng.integers(0, n, 3_000), 0, n - 1]  # with an empty audience both ways
    got = pair_intersections(audience, i, j)
    assert (got == full[i, j]).all() and full[i, j].sum() > 0
