"""Campaign performance/lift (analytics.campaigns) and campaign seeding (analytics.seeding)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from social_warehouse.analytics.campaigns import CampaignConfig, campaign_performance
from social_warehouse.analytics.seeding import CascadeSimulator, SeedingConfig, select_seed_kols

# --------------------------------------------------------------------------------------
# hand-computed metrics
# --------------------------------------------------------------------------------------


def _events(rows, when="2024-03-05"):
    df = pd.DataFrame(rows, columns=["user_id", "post_id", "event_type", "value"])
    df["occurred_at"] = pd.Timestamp(when)
    df["event_id"] = [f"e{i}" for i in range(len(df))]
    return df


def tiny():
    items = pd.DataFrame(
        {
            "post_id": ["p1", "p2", "p3", "p4"],
            "author_id": ["a", "a", "b", "a"],
            "campaign_id": ["c1", None, "c2", "c1"],
        }
    )
    campaigns = pd.DataFrame(
        {
            "campaign_id": ["c1", "c2"],
            "brand": ["Acme", "Bolt"],
            "name": ["spring", "launch"],
            "starts_at": ["2024-03-01T00:00:00Z", "2024-03-01"],
            "ends_at": ["2024-03-10T00:00:00Z", "2024-03-10"],
            "budget": [100.0, None],
        }
    )
    rows = (
        [(f"v{i}", "p1", "view", None) for i in range(10)]
        + [("v0", "p1", "click", None), ("v1", "p1", "click", None)]
        + [("v0", "p1", "conversion", 50.0)]
        + [("v2", "p1", "like", None), ("v3", "p1", "comment", None), ("x9", "p1", "share", None)]
        # p4: a second campaign post of a, 10 views and nothing else
        + [(f"w{i}", "p4", "view", None) for i in range(10)]
        # baseline post p2: 200 views, 10 likes, 4 clicks
        + [(f"b{i}", "p2", "view", None) for i in range(200)]
        + [(f"b{i}", "p2", "like", None) for i in range(10)]
        + [(f"b{i}", "p2", "click", None) for i in range(4)]
        # c2: views only, no clicks
        + [(f"z{i}", "p3", "view", None) for i in range(5)]
    )
    inter = _events(rows)
    # a late conversion after ends_at + attribution must not count
    late = _events([("v5", "p1", "conversion", 999.0)], when="2024-03-30")
    return items, pd.concat([inter, late], ignore_index=True), campaigns


def test_campaign_metrics_hand_computed():
    items, inter, campaigns = tiny()
    per_c, per_ck = campaign_performance(items, inter, campaigns)
    c1 = per_c.set_index("campaign_id").loc["c1"]
    assert c1["n_posts"] == 2 and c1["n_kols"] == 1
    assert c1["views"] == 20
    assert c1["clicks"] == 2 and c1["conversions"] == 1 and c1["conversion_value"] == 50.0
    assert c1["engagements"] == 3
    assert c1["reach"] == 21  # 10 + 10 viewers + x9 who shared without a view
    assert c1["unique_viewers"] == 20
    assert c1["ctr"] == pytest.approx(2 / 20)
    assert c1["conversion_rate_click"] == pytest.approx(1 / 2)
    assert c1["conversion_rate_view"] == pytest.approx(1 / 20)
    assert c1["engagement_rate"] == pytest.approx(3 / 20)
    assert c1["cost_per_engagement"] == pytest.approx(100 / 3)
    assert c1["cost_per_conversion"] == pytest.approx(100.0)
    assert c1["cost_per_click"] == pytest.approx(50.0)
    assert c1["cpm"] == pytest.approx(100 / 20 * 1000)
    assert c1["roas"] == pytest.approx(0.5)
    # lift vs a's non-campaign post: engagement 10/200 = 0.05 -> 0.15 / 0.05 - 1 = 2
    assert c1["engagement_rate_lift"] == pytest.approx(2.0)
    assert c1["ctr_lift"] == pytest.approx((2 / 20) / (4 / 200) - 1)
    # baseline has no conversions -> conversion lift undefined (null, not inf)
    assert np.isnan(c1["conversion_rate_view_lift"])

    c2 = per_c.set_index("campaign_id").loc["c2"]
    assert c2["views"] == 5 and c2["clicks"] == 0
    assert c2["ctr"] == 0.0
    assert np.isnan(c2["conversion_rate_click"])  # no clicks: null
    assert np.isnan(c2["budget"]) and np.isnan(c2["cost_per_engagement"])
    assert np.isnan(c2["engagement_rate_lift"]) and c2["n_kols_with_baseline"] == 0

    ka = per_ck.set_index(["campaign_id", "kol_id"]).loc[("c1", "a")]
    assert ka["baseline_views"] == 200 and ka["baseline_ok"]
    assert ka["allocated_budget"] == pytest.approx(100.0)
    assert ka["views_per_post"] == pytest.approx(10.0)
    assert ka["views_per_post_lift"] == pytest.approx(10 / 200 - 1)
    kb = per_ck.set_index(["campaign_id", "kol_id"]).loc[("c2", "b")]
    assert not kb["baseline_ok"]


def test_min_baseline_views_config():
    items, inter, campaigns = tiny()
    per_c, per_ck = campaign_performance(
        items, inter, campaigns, config=CampaignConfig.from_dict({"min_baseline_views": 500})
    )
    assert not per_ck["baseline_ok"].any()
    assert per_c["engagement_rate_lift"].isna().all()
    with pytest.raises(ValueError):
        CampaignConfig(budget_allocation="magic")


# --------------------------------------------------------------------------------------
# planted lift
# --------------------------------------------------------------------------------------


def make_campaign_world(seed: int = 0, n_kols: int = 20, lift: float = 0.5, ctr_lift: float = 1.0):
    """KOLs with their own baseline engagement rate; campaign posts get ``rate * (1 + lift)``."""
    rng = np.random.default_rng(seed)
    start, end = pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-14")
    posts, ev = [], []
    for k in range(n_kols):
        base_rate = rng.uniform(0.03, 0.08)
        base_ctr = rng.uniform(0.01, 0.03)
        for p in range(10):
            is_camp = p < 4
            pid = f"k{k}_p{p}"
            posts.append((pid, f"kol{k}", "spring" if is_camp else None))
            n = int(rng.poisson(4000))
            rate = base_rate * (1 + lift) if is_camp else base_rate
            ctr = base_ctr * (1 + ctr_lift) if is_camp else base_ctr
            lo = start if is_camp else start - pd.Timedelta(days=25)
            span_h = int(
                ((end if is_camp else end + pd.Timedelta(days=5)) - lo) / pd.Timedelta(hours=1)
            )
            users = rng.integers(0, 200_000, n)
            n_eng = rng.binomial(n, rate)
            n_clk = rng.binomial(n, ctr)
            types = np.concatenate(
                [
                    np.full(n, "view"),
                    rng.choice(["like", "comment", "share", "save"], n_eng),
                    np.full(n_clk, "click"),
                ]
            )
            u = np.concatenate([users, users[:n_eng], users[n_eng : n_eng + n_clk]])
            t = lo + pd.to_timedelta(rng.integers(0, span_h, len(u)), "h")
            ev.append(
                pd.DataFrame({"user_id": u, "post_id": pid, "event_type": types, "occurred_at": t})
            )
    items = pd.DataFrame(posts, columns=["post_id", "author_id", "campaign_id"])
    campaigns = pd.DataFrame(
        {"campaign_id": ["spring"], "starts_at": [start], "ends_at": [end], "budget": [50_000.0]}
    )
    return items, pd.concat(ev, ignore_index=True), campaigns


def test_planted_lift_recovered_within_10_percent():
    items, inter, campaigns = make_campaign_world()
    per_c, per_ck = campaign_performance(items, inter, campaigns)
    row = per_c.iloc[0]
    assert row["n_kols"] == 20 and row["n_kols_with_baseline"] == 20
    assert abs(row["engagement_rate_lift"] - 0.5) <= 0.05, row["engagement_rate_lift"]
    assert abs(row["ctr_lift"] - 1.0) <= 0.10, row["ctr_lift"]
    # per KOL the estimate is noisier but centred on the truth
    assert abs(per_ck["engagement_rate_lift"].median() - 0.5) <= 0.1
    assert per_ck["allocated_budget"].sum() == pytest.approx(50_000.0)
    assert row["cost_per_engagement"] == pytest.approx(50_000.0 / row["engagements"])


def test_no_lift_when_none_planted():
    items, inter, campaigns = make_campaign_world(seed=3, n_kols=10, lift=0.0, ctr_lift=0.0)
    per_c, _ = campaign_performance(items, inter, campaigns)
    assert abs(per_c.iloc[0]["engagement_rate_lift"]) < 0.05


# --------------------------------------------------------------------------------------
# seeding: CELF vs top-k under independent cascade
# --------------------------------------------------------------------------------------


def _redundant_graph():
    """Hubs h0-h2 (top scores) share one audience; d0-d2 have disjoint audiences."""
    rows = []
    shared = [f"s{i}" for i in range(60)]
    for h in ("h0", "h1", "h2"):
        rows += [(f, h) for f in shared]
    for j, d in enumerate(("d0", "d1", "d2")):
        rows += [(f"d{j}_{i}", d) for i in range(45)]
    # second level: every first-level follower has two followers of its own
    firsts = sorted({f for f, _ in rows})
    rows += [(f"{f}_x{i}", f) for f in firsts for i in range(2)]
    follows = pd.DataFrame(rows, columns=["follower_id", "followee_id"])
    cands = pd.DataFrame(
        {
            "user_id": ["h0", "h1", "h2", "d0", "d1", "d2"],
            "score": [0.99, 0.98, 0.97, 0.9, 0.89, 0.88],
        }
    )
    return follows, cands


def test_celf_beats_top_k_when_top_k_is_redundant():
    follows, cands = _redundant_graph()
    out = select_seed_kols(
        follows,
        cands,
        3,
        config=SeedingConfig(edge_probability=0.5, n_simulations=100, eval_simulations=300, seed=4),
    )
    by = out.set_index("method")
    assert by.loc["top_k", "seed_set"] == ("h0", "h1", "h2")
    celf = by.loc["celf"]
    assert sum(s.startswith("h") for s in celf["seed_set"]) == 1
    assert celf["expected_spread"] > by.loc["top_k", "expected_spread"] + 5 * (
        celf["spread_std_error"] + by.loc["top_k", "spread_std_error"]
    )
    assert celf["gain_vs_top_k"] > 0
    gains = celf["marginal_gains"]
    assert all(a >= b for a, b in zip(gains, gains[1:], strict=False))  # submodular: gains decrease


def test_celf_matches_plain_greedy():
    rng = np.random.default_rng(1)
    n = 120
    src = rng.integers(0, n, 700)
    dst = (src + rng.integers(1, n, 700)) % n
    follows = pd.DataFrame(
        {"follower_id": [f"n{x}" for x in src], "followee_id": [f"n{x}" for x in dst]}
    )
    cands = pd.DataFrame({"user_id": [f"n{i}" for i in range(40)], "score": rng.random(40)})
    cfg = SeedingConfig(
        edge_probability=0.15,
        n_simulations=60,
        eval_simulations=60,
        seed=9,
        methods=("celf", "greedy", "top_k"),
    )
    out = select_seed_kols(follows, cands, 6, config=cfg).set_index("method")
    assert out.loc["celf", "seed_set"] == out.loc["greedy", "seed_set"]
    assert out.loc["celf", "marginal_gains"] == pytest.approx(out.loc["greedy", "marginal_gains"])
    assert out.loc["celf", "evaluations"] < out.loc["greedy", "evaluations"]
    assert out.loc["celf", "selection_spread"] >= out.loc["top_k", "selection_spread"]
    again = select_seed_kols(follows, cands, 6, config=cfg).set_index("method")
    assert again.loc["celf", "expected_spread"] == out.loc["celf", "expected_spread"]
    # seed= overrides the configuration's seed
    other = select_seed_kols(follows, cands, 6, cfg, seed=10).set_index("method")
    assert other["seed"].eq(10).all()
    assert other.loc["top_k", "expected_spread"] != out.loc["top_k", "expected_spread"]


def test_cascade_monte_carlo_matches_closed_form():
    star = pd.DataFrame({"follower_id": [f"f{i}" for i in range(200)], "followee_id": "hub"})
    sim = CascadeSimulator(star, 0.2, n_worlds=2000, seed=5)
    mean, se = sim.spread(sim.node_codes(["hub"]))
    assert abs(mean - (1 + 0.2 * 200)) < 4 * se
    # p = 1: deterministic reachability along a chain a <- b <- c (b follows a, c follows b)
    chain = pd.DataFrame({"follower_id": ["b", "c", "z"], "followee_id": ["a", "b", "y"]})
    sim1 = CascadeSimulator(chain, 1.0, n_worlds=3)
    assert sim1.spread(sim1.node_codes(["a"])) == (3.0, 0.0)
    sim0 = CascadeSimulator(chain, 0.0, n_worlds=3)
    assert sim0.spread(sim0.node_codes(["a", "y"]))[0] == 2.0


def test_weighted_cascade_and_probability_column():
    follows, cands = _redundant_graph()
    wc = select_seed_kols(
        follows,
        cands,
        2,
        config=SeedingConfig(
            edge_probability="weighted_cascade", n_simulations=30, eval_simulations=30
        ),
    )
    assert (wc["expected_spread"] >= 2).all()
    follows = follows.assign(p=0.0)
    none = select_seed_kols(
        follows,
        cands["user_id"],
        2,
        config=SeedingConfig(edge_probability="p", n_simulations=10, eval_simulations=10),
    )
    assert (none["expected_spread"] == 2.0).all()
    with pytest.raises(ValueError):
        SeedingConfig(methods=("magic",))
