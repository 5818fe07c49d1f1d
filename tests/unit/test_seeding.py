"""CELF seeding (social_warehouse.analytics.seeding): the vectorised all-worlds cascade
against networkx reachability per world, CELF against plain greedy, the candidate cap, the
time budget and empty inputs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from social_warehouse.analytics.seeding import (
    OUTPUT_DTYPES,
    CascadeSimulator,
    SeedingConfig,
    select_seed_kols,
)


def random_follows(n: int, m: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    # a few popular accounts, as on a follow graph
    pop = 1.0 / np.arange(1, n + 1) ** 0.8
    dst = rng.choice(n, m, p=pop / pop.sum())
    src = rng.integers(0, n, m)
    return pd.DataFrame({"follower_id": [f"u{i}" for i in src],
                         "followee_id": [f"u{i}" for i in dst]})


def world_graph(sim: CascadeSimulator, r: int) -> nx.DiGraph:
    """The live edges of world ``r`` as a networkx graph (followee -> follower)."""
    word, bit = divmod(r, 64)
    live = ((sim.live[:, word] >> np.uint64(bit)) & np.uint64(1)).astype(bool)
    src = np.repeat(np.arange(sim.n), sim.degree)
    g = nx.DiGraph()
    g.add_nodes_from(range(sim.n))
    g.add_edges_from(zip(src[live].tolist(), sim.targets[live].tolist(), strict=True))
    return g


@pytest.mark.parametrize("p", [0.1, "weighted_cascade"])
def test_cascade_equals_reachability_in_every_world(p):
    follows = random_follows(300, 2_000, seed=1)
    sim = CascadeSimulator(follows, p, n_worlds=70, seed=3)  # 70 worlds: two 64-bit words
    seeds = sim.node_codes(["u0", "u5", "u17"])
    state = sim.new_state()
    changes = sim.propagate(seeds, state)
    per_world = sim.per_world(state)
    for r in range(70):
        g = world_graph(sim, r)
        reach = set(seeds.tolist())
        for s in seeds:
            reach |= nx.descendants(g, int(s))
        assert per_world[r] == len(reach), r
    assert sim.count(changes) == per_world.sum()
    # gain does not mutate; revert restores the empty state
    before = state.copy()
    assert sim.gain(int(sim.node_codes(["u40"])[0]), state) >= 0
    assert (state == before).all()
    sim.revert(changes, state)
    assert not state.any()


def test_live_edge_share_matches_probability():
    follows = random_follows(500, 5_000, seed=2)
    sim = CascadeSimulator(follows, 0.2, n_worlds=256, seed=0)
    share = np.bitwise_count(sim.live).sum() / (sim.live.shape[0] * 256)
    assert abs(share - 0.2) < 0.005
    # p = 1: every edge live in every world, and no bit beyond the worlds
    one = CascadeSimulator(follows, 1.0, n_worlds=70, seed=0)
    assert np.bitwise_count(one.live).sum() == one.live.shape[0] * 70


def test_certain_edges_spread_to_everything_reachable():
    follows = pd.DataFrame(
        {"follower_id": ["b", "c", "d", "x"], "followee_id": ["a", "b", "b", "y"]}
    )
    sim = CascadeSimulator(follows, 1.0, n_worlds=5)
    mean, se = sim.spread(sim.node_codes(["a"]))
    assert mean == 4.0 and se == 0.0  # a -> b -> c, d


def test_celf_equals_greedy_and_beats_top_k_on_selection_worlds():
    follows = random_follows(400, 3_000, seed=4)
    indeg = follows.groupby("followee_id").size()
    cands = pd.DataFrame({"user_id": indeg.index, "score": indeg.to_numpy(dtype=float)})
    cfg = SeedingConfig(methods=("celf", "greedy", "top_k"), edge_probability=0.08,
                        n_simulations=100, eval_simulations=200, max_candidates=40,
                        time_budget_s=None)
    out = select_seed_kols(follows, cands, 5, cfg).set_index("method")
    assert out.loc["celf", "seed_set"] == out.loc["greedy", "seed_set"]
    assert out.loc["celf", "evaluations"] < out.loc["greedy", "evaluations"]
    assert out.loc["celf", "selection_spread"] >= out.loc["top_k", "selection_spread"]
    gains = out.loc["celf", "marginal_gains"]
    assert all(a >= b for a, b in zip(gains, gains[1:], strict=False))  # submodular
    assert sum(gains) == pytest.approx(out.loc["celf", "selection_spread"])
    assert not out["partial"].any() and (out["stop_reason"] == "complete").all()
    assert (out["n_candidates"] == 40).all()


def test_candidate_cap_keeps_the_best_scores():
    follows = random_follows(300, 2_000, seed=5)
    ids = [f"u{i}" for i in range(300)]
    cands = pd.DataFrame({"user_id": ids, "score": np.linspace(1.0, 0.0, 300)})
    out = select_seed_kols(follows, cands, 3, SeedingConfig(max_candidates=10))
    for seed_set in out["seed_set"]:
        assert set(seed_set) <= set(ids[:10])
    assert out.set_index("method").loc["top_k", "seed_set"] == tuple(ids[:3])


def test_time_budget_records_partial_selection():
    follows = random_follows(300, 2_000, seed=6)
    cands = [f"u{i}" for i in range(50)]
    out = select_seed_kols(follows, cands, 4, SeedingConfig(time_budget_s=1e-9))
    celf = out.set_index("method").loc["celf"]
    assert celf["partial"] and celf["stop_reason"] == "time_budget"
    assert len(celf["seed_set"]) == 4 and len(set(celf["seed_set"])) == 4
    assert celf["evaluations"] < 50
    assert np.isnan(celf["marginal_gains"][-1])


@pytest.mark.parametrize("case", ["k0", "no_candidates", "no_edges_no_candidates"])
def test_empty_inputs_give_empty_outputs(case):
    follows = random_follows(50, 200, seed=7)
    if case == "k0":
        out = select_seed_kols(follows, ["u1", "u2"], 0)
    elif case == "no_candidates":
        out = select_seed_kols(follows, pd.DataFrame({"user_id": ["u1"], "is_kol": [False]}), 5)
    else:
        out = select_seed_kols(follows.iloc[:0], [], 5)
    assert out.empty and list(out.columns) == list(OUTPUT_DTYPES)
    assert {c: str(t) for c, t in out.dtypes.items()} == {
        c: str(pd.Series(dtype=t).dtype) for c, t in OUTPUT_DTYPES.items()
    }
    with pytest.raises(ValueError, match="k must be >= 0"):
        select_seed_kols(follows, ["u1"], -1)


def test_candidates_without_edges_spread_to_themselves():
    follows = random_follows(50, 200, seed=8)
    out = select_seed_kols(follows, ["ghost1", "ghost2"], 2).set_index("method")
    assert out.loc["celf", "expected_spread"] == 2.0
    assert out.loc["celf", "k"] == 2


def test_config_from_section():
    cfg = SeedingConfig.from_dict({"k": 7, "max_candidates": 50, "time_budget_s": None,
                                   "methods": ["celf"]})
    assert cfg.k == 7 and cfg.methods == ("celf",) and cfg.time_budget_s is None
    with pytest.raises(ValueError, match="'annealing'.*allowed: celf, greedy, top_k"):
        SeedingConfig(methods=("annealing",))
    with pytest.raises(ValueError, match="max_candidates"):
        SeedingConfig(max_candidates=0)
    with pytest.raises(ValueError, match="no such column"):
        CascadeSimulator(random_follows(10, 20, 0), "prob")
