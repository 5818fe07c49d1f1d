"""The analytics of the real DAG recover the synthetic generator's planted ground truth.

Two days of the ``small`` profile (seed 11: the suite's shared ``daily_world`` of
tests/conftest.py) go through ``airflow dags test`` exactly as in production; the truth
files the generator writes next to the landing files (never loaded by the pipeline) are
then compared with the served warehouse:

* planted SBM communities vs ``analytics.graph_user_metrics.community_id`` (NMI >= 0.9);
* planted KOLs vs the top ``K`` of ``analytics.kol_scores.score`` (precision@K >= 0.9);
* planted CTR lift per campaign vs ``analytics.campaign_performance.ctr_lift`` (within 10%);
* item/user kNN vs popularity on NDCG@10 of the time split (>= 30% better);
* KOL pairs recommended for complementary reach vs random KOL pairs (lower overlap).

Two days is the minimum: the recommender evaluation needs a time split (train on day 1,
test on day 2); the world is shared, so this module costs no DAG run of its own. Seeds 42
(the generator's default), 7 and 11 all pass; what varies between seeds is precision@20 of
the planted KOLs (1.00 / 0.95 / 0.90 for seeds 42 / 7 / 11): on two days a planted KOL with
a weak draw (few followers, few views) can rank just below a busy ordinary account. The
bars below are the issues' targets; each test prints what it measured.
"""

from __future__ import annotations

import itertools
import json

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import normalized_mutual_info_score

from tests.conftest import WORLD_DAYS

pytestmark = pytest.mark.e2e

DAYS = WORLD_DAYS


@pytest.fixture(scope="module")
def world(daily_world):
    """The suite's shared two-day world, as served after its day 2, and the truth."""
    gen = daily_world.gen
    assert gen.dates == DAYS
    t = gen.truth_dir
    truth = {
        "json": json.loads((t / "truth.json").read_text(encoding="utf-8")),
        "users": pq.read_table(t / "users.parquet").to_pandas(),
        "posts": pq.read_table(t / "posts.parquet").to_pandas(),
        "campaigns": pq.read_table(t / "campaigns.parquet").to_pandas(),
    }
    return daily_world.frozen, gen, truth


def frame(world, sql: str) -> pd.DataFrame:
    settings, *_ = world
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def landing_follows(gen) -> pd.DataFrame:
    """Follow edges read from the landing files (not the warehouse), deduplicated."""
    frames = []
    for ds in gen.dates:
        (path,) = [p for p in (gen.landing_dir / ds).iterdir() if p.name.startswith("follows.")]
        name = path.name
        gz = "gzip" if name.endswith(".gz") else None
        if ".parquet" in name:
            df = pq.read_table(path).to_pandas()
        elif ".jsonl" in name:
            df = pd.read_json(path, lines=True, dtype=False, compression=gz)
        else:
            df = pd.read_csv(path, dtype=str, compression=gz)
        frames.append(df[["follower_id", "followee_id"]].astype(str))
    f = pd.concat(frames, ignore_index=True)
    return f[f.follower_id != f.followee_id].drop_duplicates()


def test_analytics_describe_the_last_day(world):
    for table in ("graph_user_metrics", "kol_scores", "campaign_performance",
                  "recommender_eval", "kol_collaborations"):
        assert frame(world, f"select distinct ds from analytics.{table}").ds.tolist() == \
            [DAYS[-1]], table


def test_communities_recover_planted_blocks(world):
    _, _, truth = world
    users = truth["users"]
    found = frame(world, "select user_id, community_id from analytics.graph_user_metrics")
    assert found.user_id.is_unique and set(found.user_id) == set(users.user_id)
    joined = users.merge(found, on="user_id", how="left")
    nmi = normalized_mutual_info_score(joined.community, joined.community_id)
    print(f"community NMI vs planted blocks = {nmi:.4f}")
    assert nmi >= 0.9, nmi
    n_blocks = truth["json"]["sbm"]["n_blocks"]
    assert frame(world, "select count(*) as n from analytics.graph_communities").n[0] == n_blocks


def test_planted_kols_rank_on_top(world):
    _, _, truth = world
    planted = set(truth["json"]["kol_user_ids"])
    k = len(planted)
    scores = frame(world, "select user_id, score, is_kol from analytics.kol_scores "
                          "order by score desc, user_id")
    assert scores.user_id.is_unique
    precision = len(set(scores.user_id.head(k)) & planted) / k
    print(f"planted KOL precision@{k} = {precision:.2f}")
    assert precision >= 0.9, (precision, k)
    # and every planted KOL is flagged a KOL by the configured quantile
    assert planted <= set(scores.user_id[scores.is_kol])
    # the KOL set is capped (max_kols, default 2,000) and every KOL has a tier: the demo's
    # accounts are below the absolute bands, so tiers are follower percentiles among KOLs
    kols = frame(world, "select user_id, tier, tier_basis, kol_rank from analytics.kol_scores "
                        "where is_kol order by kol_rank")
    print(f"{len(kols)} KOLs; tiers {kols.tier.value_counts().to_dict()}; "
          f"basis {kols.tier_basis.value_counts().to_dict()}")
    assert 0 < len(kols) <= 2_000
    assert kols.tier.notna().all()
    assert set(kols.tier) <= {"nano", "micro", "macro", "mega"}
    assert kols.kol_rank.tolist() == list(range(1, len(kols) + 1))


def test_campaign_ctr_lift_matches_the_planted_lift(world):
    """Per campaign: the generator plants CTR(k, c) = planted_ctr_lift * CTR(k, base) for
    every KOL k of c; ``ctr_lift`` is observed / expected-at-baseline clicks - 1, so
    ``1 + ctr_lift`` is the measured counterpart of the planted (multiplicative) lift."""
    _, _, truth = world
    camps = truth["campaigns"]
    measured = frame(world, "select campaign_id, ctr_lift, n_kols, n_kols_with_baseline, "
                            "clicks, conversions from analytics.campaign_performance")
    m = camps.merge(measured, on="campaign_id", suffixes=("_truth", ""), validate="1:1")
    assert len(m) == len(camps) == truth["json"]["parameters"]["n_campaigns"]
    assert (m.n_kols == m.n_kols_truth).all()
    assert (m.n_kols_with_baseline == m.n_kols).all()  # every KOL had a usable baseline
    ratio = 1.0 + m.ctr_lift
    rel_err = (ratio - m.planted_ctr_lift).abs() / m.planted_ctr_lift
    print("CTR lift (measured ratio / planted): " + ", ".join(
        f"{r.campaign_id} {1 + r.ctr_lift:.3f}/{r.planted_ctr_lift:.2f}"
        for r in m.itertuples()) + f"; max relative error {rel_err.max():.3f}")
    assert (rel_err <= 0.10).all(), m.assign(rel_err=rel_err)[
        ["campaign_id", "planted_ctr_lift", "ctr_lift", "rel_err"]]
    # Stronger: same definition as the generator's realised lift (per-KOL baselines over
    # all days, systematic click sampling), so the warehouse reproduces it exactly; the
    # remaining gap to the planted value is the generator's own sampling.
    np.testing.assert_allclose(ratio, m.realised_ctr_lift, rtol=1e-9)
    # Conversions after a campaign click are drawn systematically at the planted rate:
    # within one conversion of clicks * base_conversion_rate * planted_conversion_lift.
    expected_conv = m.clicks * m.base_conversion_rate * m.planted_conversion_lift
    assert ((m.conversions - expected_conv).abs() < 1.0 + 1e-9).all(), m[
        ["campaign_id", "clicks", "conversions"]].assign(expected=expected_conv)


def test_collaborative_filtering_beats_popularity(world):
    ev = frame(world, "select model, value, split from analytics.recommender_eval "
                      "where metric = 'ndcg' and k = 10 and users = 'all'")
    assert set(ev.split) == {f"time:test={DAYS[-1]}"}
    ndcg = ev.set_index("model").value
    best_cf = max(ndcg["item_knn"], ndcg["user_knn"])
    print("NDCG@10: " + ", ".join(f"{k} {v:.4f}" for k, v in ndcg.items())
          + f"; best CF / popularity = {best_cf / ndcg['popularity']:.2f}")
    assert ndcg["popularity"] > 0
    assert best_cf >= 1.3 * ndcg["popularity"], ndcg.to_dict()


def test_reach_partners_overlap_less_than_random_kol_pairs(world):
    """Audience overlap (Jaccard of follower sets, recomputed from the landing follows)
    of the recommended partners vs every pair of KOLs (the mean of a random pair)."""
    _, gen, truth = world
    kols = frame(world, "select user_id from analytics.kol_scores where is_kol "
                        "order by user_id").user_id.tolist()
    recs = frame(world, "select kol_id, partner_id, rank, jaccard "
                        "from analytics.kol_collaborations")
    assert len(recs) and set(recs.kol_id) | set(recs.partner_id) <= set(kols)
    audience = landing_follows(gen).groupby("followee_id").follower_id.agg(frozenset)
    empty = frozenset()

    def jaccard(a, b):
        fa, fb = audience.get(a, empty), audience.get(b, empty)
        union = len(fa | fb)
        return len(fa & fb) / union if union else 0.0

    recs["overlap"] = [jaccard(a, b) for a, b in zip(recs.kol_id, recs.partner_id,
                                                      strict=True)]
    np.testing.assert_allclose(recs.overlap, recs.jaccard, atol=1e-12)  # stated = recomputed
    pairs = pd.DataFrame(list(itertools.permutations(kols, 2)), columns=["a", "b"])
    pairs["overlap"] = [jaccard(a, b) for a, b in zip(pairs.a, pairs.b, strict=True)]
    print(f"mean Jaccard: recommended {recs.overlap.mean():.4f}, "
          f"random KOL pair {pairs.overlap.mean():.4f}")
    assert recs.overlap.mean() < pairs.overlap.mean()
    # per KOL: its recommended partners overlap less than its average fellow KOL
    per_kol = pd.DataFrame({"recommended": recs.groupby("kol_id").overlap.mean(),
                            "random": pairs.groupby("a").overlap.mean()}).dropna()
    assert (per_kol.recommended < per_kol.random).mean() >= 0.75
    # the planted KOLs (large, overlapping audiences by construction): the partners
    # recommended to them overlap less than a random pair of planted KOLs
    planted = set(truth["json"]["kol_user_ids"])
    to_planted = recs[recs.kol_id.isin(planted)]
    planted_pairs = pairs[pairs.a.isin(planted) & pairs.b.isin(planted)]
    assert len(to_planted) and to_planted.overlap.mean() < planted_pairs.overlap.mean()
