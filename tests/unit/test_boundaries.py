"""Values pinned at their boundaries, so that off-by-one and swapped-constant bugs fail.

Each test here exists because a deliberate mutation of the code survived the rest of the
suite (issue 15): AP@k with more relevant items than ``k``, PageRank with dangling nodes
against networkx (and ``alpha`` vs ``1 - alpha``), the KOL window's first and last
instant, the volume metric at exactly its history and trailing-day limits (and the raw
gate at exactly its minimum ratio), and the mapping's quarantine ranges at exactly
``min`` and ``max``. Expected values are computed by hand in the comments or by networkx.

``make mutation`` runs these (with the module's own tests) against mutmut's mutants.
"""

from __future__ import annotations

import math
import shutil
from datetime import date
from pathlib import Path

import duckdb
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from social_warehouse.analytics._common import window_bounds, window_mask
from social_warehouse.analytics.evaluation import evaluate_recommendations, ranking_metrics
from social_warehouse.analytics.graph import compute_pagerank
from social_warehouse.analytics.influence import InfluenceConfig, influence_components, pagerank
from social_warehouse.mapping.rules import make_field
from social_warehouse.quality.metrics import build_metrics

REPO = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------- AP@k, NDCG@k


def _recs(rows: list[tuple[str, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "rank", "post_id"])


def _rel(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "post_id"])


def test_ap_and_ndcg_divide_by_min_of_relevant_and_k():
    k = 3
    # u1: 5 relevant items (more than k); hits at ranks 1 and 3, a relevant item at rank 4
    # (beyond k) must not count.
    # u2: 2 relevant items (fewer than k); hits at ranks 2 and 3.
    # u3: 1 relevant item, never recommended: every metric 0.
    recs = _recs([
        ("u1", 1, "a"), ("u1", 2, "x"), ("u1", 3, "b"), ("u1", 4, "c"),
        ("u2", 1, "y"), ("u2", 2, "p"), ("u2", 3, "q"),
        ("u3", 1, "z"),
    ])
    rel = _rel([("u1", i) for i in "abcde"] + [("u2", "p"), ("u2", "q"), ("u2", "p"),
                                               ("u3", "w")])
    m = ranking_metrics(recs, rel, k=k).set_index("user_id")
    assert list(m.index) == ["u1", "u2", "u3"]
    assert m["n_relevant"].tolist() == [5, 2, 1]  # the duplicate (u2, p) counts once
    assert m["hits"].tolist() == [2, 2, 0]
    # AP@3 of u1 = (1/1 + 2/3) / min(5, 3) = 5/9 (not / 5)
    assert m.loc["u1", "ap"] == pytest.approx(5 / 9, abs=1e-12)
    # AP@3 of u2 = (1/2 + 2/3) / min(2, 3) = 7/12
    assert m.loc["u2", "ap"] == pytest.approx(7 / 12, abs=1e-12)
    assert m.loc["u3", "ap"] == 0.0
    assert m["precision"].tolist() == pytest.approx([2 / 3, 2 / 3, 0.0], abs=1e-12)
    assert m["recall"].tolist() == pytest.approx([2 / 5, 1.0, 0.0], abs=1e-12)
    # NDCG@3: DCG / IDCG with IDCG over min(n_relevant, k) hits at the top
    g = [1 / math.log2(r + 1) for r in (1, 2, 3)]
    assert m.loc["u1", "ndcg"] == pytest.approx((g[0] + g[2]) / sum(g), abs=1e-12)
    assert m.loc["u2", "ndcg"] == pytest.approx((g[1] + g[2]) / (g[0] + g[1]), abs=1e-12)
    assert m.loc["u3", "ndcg"] == 0.0


def test_perfect_list_scores_one_when_relevant_items_outnumber_k():
    k = 2
    recs = _recs([("u", 1, "a"), ("u", 2, "b")])
    rel = _rel([("u", i) for i in "abcd"])
    m = ranking_metrics(recs, rel, k=k).iloc[0]
    assert m["ap"] == pytest.approx(1.0, abs=1e-12)
    assert m["ndcg"] == pytest.approx(1.0, abs=1e-12)
    assert m["precision"] == 1.0
    assert m["recall"] == 0.5


def test_evaluate_recommendations_averages_the_boundary_cases():
    recs = _recs([("u1", 1, "a"), ("u1", 2, "x"), ("u1", 3, "b"), ("u1", 4, "c"),
                  ("u2", 1, "y"), ("u2", 2, "p"), ("u2", 3, "q"),
                  ("u9", 1, "a")])  # u9 has no relevant items: not evaluated
    rel = _rel([("u1", i) for i in "abcde"] + [("u2", "p"), ("u2", "q")])
    counts = pd.Series({"a": 3, "b": 1, "p": 0, "q": 7, "x": 1, "y": 2})
    out = evaluate_recommendations(recs, rel, k=3, catalogue_size=12,
                                   item_user_counts=counts, n_train_users=7)
    assert out["n_users_evaluated"] == 2
    assert out["map"] == pytest.approx((5 / 9 + 7 / 12) / 2, abs=1e-12)
    assert out["precision"] == pytest.approx(2 / 3, abs=1e-12)
    assert out["recall"] == pytest.approx((2 / 5 + 1.0) / 2, abs=1e-12)
    # ranks <= 3 of evaluated users: a, x, b, y, p, q (c is rank 4, u9 is not evaluated)
    assert out["coverage"] == pytest.approx(6 / 12, abs=1e-12)
    n = np.array([3, 1, 1, 2, 0, 7], dtype=float)
    assert out["novelty"] == pytest.approx(float(np.mean(-np.log2((n + 1) / 8))), abs=1e-12)


# --------------------------------------------------------------------------- PageRank


def _edges_with_dangling() -> tuple[pd.DataFrame, list[str]]:
    # 'd' only receives (dangling), 'e' and 'f' are isolated (dangling, given via nodes=),
    # a repeated row sums its weight, and there is a self-loop.
    edges = pd.DataFrame(
        [("a", "b", 1.0), ("b", "c", 2.0), ("c", "a", 1.0), ("a", "d", 3.0),
         ("b", "d", 1.0), ("a", "b", 2.0), ("c", "c", 0.5), ("g", "a", 1.0)],
        columns=["source", "target", "weight"],
    )
    return edges, ["e", "f"]


def _nx_reference(edges: pd.DataFrame, nodes: list[str], alpha: float,
                  weighted: bool = True) -> dict[str, float]:
    G = nx.DiGraph()
    G.add_nodes_from(nodes)
    for s, t, w in edges[["source", "target", "weight"]].itertuples(index=False):
        if G.has_edge(s, t):
            G[s][t]["weight"] += w if weighted else 0.0
        else:
            G.add_edge(s, t, weight=w if weighted else 1.0)
    return nx.pagerank(G, alpha=alpha, tol=1e-15, max_iter=10_000, weight="weight")


@pytest.mark.parametrize("alpha", [0.85, 0.6])
@pytest.mark.parametrize("engine", ["scipy", "networkx"])
def test_graph_pagerank_with_dangling_nodes_matches_networkx(alpha, engine):
    edges, isolated = _edges_with_dangling()
    ref = _nx_reference(edges, isolated, alpha)
    got = compute_pagerank(edges, nodes=isolated, alpha=alpha, engine=engine)
    got = dict(zip(got["user_id"], got["pagerank"], strict=True))
    assert set(got) == set(ref) == set("abcdefg")
    for node, value in ref.items():
        assert got[node] == pytest.approx(value, abs=1e-9), node
    assert sum(got.values()) == pytest.approx(1.0, abs=1e-12)
    # the isolated nodes get exactly the teleport + dangling share, and it is not the
    # share of alpha swapped with 1 - alpha
    swapped = _nx_reference(edges, isolated, 1.0 - alpha)
    assert abs(got["e"] - swapped["e"]) > 1e-3


def test_influence_pagerank_is_unweighted_distinct_follows_against_networkx():
    follows = pd.DataFrame(
        [("a", "b"), ("b", "c"), ("c", "a"), ("a", "d"), ("b", "d"), ("a", "b"),
         ("c", "c"), ("g", "a"), (None, "a")],
        columns=["follower_id", "followee_id"],
    )
    for damping in (0.85, 0.7):
        got = pagerank(follows, nodes=["e", "f", "a"], damping=damping)
        G = nx.DiGraph()
        G.add_nodes_from(["e", "f"])
        G.add_edges_from([("a", "b"), ("b", "c"), ("c", "a"), ("a", "d"), ("b", "d"),
                          ("g", "a")])  # duplicates once, self-follow and null dropped
        ref = nx.pagerank(G, alpha=damping, tol=1e-15, max_iter=10_000)
        assert sorted(got.index) == sorted(ref)
        for node, value in ref.items():
            assert got[node] == pytest.approx(value, abs=1e-9), node
        wrong = nx.pagerank(G, alpha=1.0 - damping, tol=1e-15, max_iter=10_000)
        assert abs(got["e"] - wrong["e"]) > 1e-3


def test_pagerank_defaults_are_networkx_defaults():
    edges, isolated = _edges_with_dangling()
    ref = _nx_reference(edges, isolated, 0.85)
    got = compute_pagerank(edges, nodes=isolated)
    assert dict(zip(got["user_id"], got["pagerank"], strict=True)) == pytest.approx(ref, abs=1e-9)
    follows = edges.rename(columns={"source": "follower_id", "target": "followee_id"})
    G = nx.DiGraph(list(zip(follows["follower_id"], follows["followee_id"], strict=True)))
    G.remove_edges_from(nx.selfloop_edges(G))
    got = pagerank(follows)
    assert got.to_dict() == pytest.approx(nx.pagerank(G, tol=1e-15), abs=1e-9)


def test_influence_pagerank_of_nothing_is_empty_and_of_isolated_users_uniform():
    none = pd.DataFrame({"follower_id": [], "followee_id": []}, dtype="object")
    assert pagerank(none).empty
    only = pagerank(none, nodes=["x", "y", "z", "w"])
    assert only.to_dict() == pytest.approx({u: 0.25 for u in "wxyz"}, abs=1e-15)


# --------------------------------------------------------------------------- KOL window


def test_window_bounds_are_as_of_minus_w_days_inclusive_to_as_of_exclusive():
    t = pd.Series(pd.to_datetime(format="ISO8601", arg=[
        "2024-03-03 23:59:59.999999",  # one microsecond before the first day: out
        "2024-03-04 00:00:00",         # first instant of the first day: in
        "2024-03-10 23:59:59.999999",  # last instant of the last day: in
        "2024-03-11 00:00:00",         # as_of itself belongs to the next day: out
    ]))
    mask, start, end = window_mask(t, "2024-03-11", 7)
    assert (start, end) == (pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-11"))
    assert mask.tolist() == [False, True, True, False]
    # tz-aware as_of is converted to UTC first
    s2, e2 = window_bounds(t, pd.Timestamp("2024-03-11 01:00", tz="Europe/Paris"), 1)
    assert (s2, e2) == (pd.Timestamp("2024-03-10"), pd.Timestamp("2024-03-11"))
    # without as_of: the end of the latest event's day
    s3, e3 = window_bounds(t, None, 2)
    assert (s3, e3) == (pd.Timestamp("2024-03-10"), pd.Timestamp("2024-03-12"))
    # no as_of and no event: no window, nothing in it
    empty = pd.Series(pd.to_datetime([]))
    m4, s4, e4 = window_mask(empty, None, 7)
    assert pd.isna(s4) and pd.isna(e4) and len(m4) == 0


def _window_interactions() -> pd.DataFrame:
    # one event type per instant, so each count says which instant was counted
    rows = [
        ("2024-03-03 23:59:59.999999", "share"),   # before the first day: out
        ("2024-03-04 00:00:00", "like"),           # first instant: in
        ("2024-03-10 23:59:59.999999", "comment"),  # last instant: in
        ("2024-03-11 00:00:00", "save"),           # = as_of: out
    ]
    return pd.DataFrame({
        "user_id": ["fan"] * len(rows),
        "post_id": [f"p{i}" for i in range(len(rows))],
        "author_id": ["kol"] * len(rows),
        "event_type": [e for _, e in rows],
        "occurred_at": pd.to_datetime([t for t, _ in rows], format="ISO8601"),
    })


def test_kol_window_counts_the_first_and_last_day_only():
    users = pd.DataFrame({"user_id": ["kol", "fan"], "platform": ["x", "x"]})
    comp = influence_components(users, None, _window_interactions(),
                                config=InfluenceConfig(window_days=7), as_of="2024-03-11")
    kol = comp.set_index("user_id").loc["kol"]
    assert (kol["likes_window"], kol["comments_window"]) == (1.0, 1.0)
    assert (kol["shares_window"], kol["saves_window"]) == (0.0, 0.0)
    assert kol["engagements_window"] == 2.0
    assert kol["n_posts_window"] == 2.0
    assert comp.attrs["window_start"] == pd.Timestamp("2024-03-04")
    assert comp.attrs["window_end"] == pd.Timestamp("2024-03-11")
    # a window one day longer takes in the event one microsecond before the first day
    longer = influence_components(users, None, _window_interactions(),
                                  config=InfluenceConfig(window_days=8), as_of="2024-03-11")
    assert longer.set_index("user_id").loc["kol", "shares_window"] == 1.0


# --------------------------------------------------------------------------- volume metric


VOLUME_DS = date(2026, 1, 20)


def _volume(con, daily: dict[int, int], **opts) -> dict:
    """``daily``: days before VOLUME_DS -> rows; the volume metric of ``raw.events``."""
    con.execute("create or replace table raw.events (ds DATE, i INTEGER)")
    for back, n in daily.items():
        con.execute("insert into raw.events select ?::DATE - ?::INTEGER, range from range(?)",
                    [VOLUME_DS, back, n])
    spec = {"metric": "volume", **opts}
    return build_metrics(con, "raw.events", [spec], {"ds": VOLUME_DS}).values


@pytest.fixture
def con():
    c = duckdb.connect()
    c.execute("create schema raw")
    yield c
    c.close()


def test_volume_baseline_needs_exactly_min_history_days(con):
    # exactly 3 earlier days with data (min_history_days=3): the baseline exists
    v = _volume(con, {0: 50, 1: 100, 2: 200, 3: 400}, trailing_days=7, min_history_days=3)
    assert v == {"row_count": 50, "trailing_median_rows": 200.0, "history_days": 3,
                 "volume_ratio": 0.25}
    # one day fewer: no baseline yet, the neutral ratio 1
    v = _volume(con, {0: 50, 1: 100, 2: 200}, trailing_days=7, min_history_days=3)
    assert v["history_days"] == 2 and v["volume_ratio"] == 1.0
    assert v["trailing_median_rows"] == 150.0


def test_volume_trailing_window_includes_exactly_trailing_days_back(con):
    # days 1..7 back are history (here 4 days with data), day 8 back is not, today is not
    v = _volume(con, {0: 10, 1: 10, 2: 10, 3: 10, 7: 1000, 8: 5},
                trailing_days=7, min_history_days=4)
    assert v["history_days"] == 4
    assert v["trailing_median_rows"] == 10.0
    assert v["volume_ratio"] == 1.0
    v = _volume(con, {0: 30, 1: 10, 2: 10, 3: 10, 7: 1000, 8: 5},
                trailing_days=6, min_history_days=3)
    assert v["history_days"] == 3 and v["volume_ratio"] == 3.0


def test_volume_defaults_come_from_the_thresholds_parameters(con):
    daily = {0: 60, 1: 20, 2: 20}
    params = {"ds": VOLUME_DS, "volume_trailing_days": 1, "volume_min_history_days": 1}
    con.execute("create or replace table raw.events (ds DATE, i INTEGER)")
    for back, n in daily.items():
        con.execute("insert into raw.events select ?::DATE - ?::INTEGER, range from range(?)",
                    [VOLUME_DS, back, n])
    v = build_metrics(con, "raw.events", [{"metric": "volume"}], params).values
    assert v["history_days"] == 1 and v["volume_ratio"] == 3.0
    # built-in defaults (7 trailing days, 3 history days) without parameters
    v = build_metrics(con, "raw.events", [{"metric": "volume"}], {"ds": VOLUME_DS}).values
    assert v["history_days"] == 2 and v["volume_ratio"] == 1.0


def test_volume_without_rows_today_and_without_history(con):
    v = _volume(con, {}, trailing_days=7, min_history_days=0)
    assert v == {"row_count": 0, "trailing_median_rows": None, "history_days": 0,
                 "volume_ratio": 1.0}
    v = _volume(con, {1: 8, 2: 8, 3: 8})
    assert v["row_count"] == 0 and v["volume_ratio"] == 0.0


def test_volume_counts_rows_read_from_input_files_when_recorded(con):
    con.execute("create table raw.input_files (ds DATE, entity VARCHAR, rows_read BIGINT)")
    con.execute("insert into raw.input_files values "
                "(?::DATE, 'events', 30), (?::DATE, 'events', 3), "
                "(?::DATE - 1, 'events', 11), (?::DATE - 2, 'events', 11), "
                "(?::DATE - 3, 'events', 11), (?::DATE - 1, 'other', 1000)",
                [VOLUME_DS] * 6)
    v = _volume(con, {0: 1}, trailing_days=7, min_history_days=3)
    assert v["row_count"] == 33 and v["history_days"] == 3
    assert v["volume_ratio"] == 3.0


def test_volume_options_parameters_and_message(con):
    daily = {0: 40, 1: 20, 2: 20, 3: 20, 4: 20, 8: 20}
    # min_history_days from the spec wins over the parameter and the default: 4 days < 5
    v = _volume(con, daily, min_history_days=5)
    assert v["history_days"] == 4 and v["volume_ratio"] == 1.0
    # built-in default: 7 trailing days (day 8 back is out), 3 history days
    v = _volume(con, daily)
    assert v["history_days"] == 4 and v["volume_ratio"] == 2.0
    # options may be parameters of the thresholds
    params = {"ds": VOLUME_DS, "h": 5}
    spec = {"metric": "volume", "min_history_days": {"$PARAMETER": "h"}}
    v = build_metrics(con, "raw.events", [spec], params)
    assert v.values["volume_ratio"] == 1.0
    assert v.examples["volume_ratio"] == [
        "40 rows on 2026-01-20 vs trailing median 20 over 4 day(s) of the last 7"
    ]
    with pytest.raises(KeyError, match="parameter 'missing' not provided"):
        build_metrics(con, "raw.events",
                      [{"metric": "volume", "trailing_days": {"$PARAMETER": "missing"}}], params)
    with pytest.raises(KeyError, match=r"unknown metric kind 'volum'; known: \[.*'volume'"):
        build_metrics(con, "raw.events", [{"metric": "volum"}], params)
    # no history at all: the message says n/a
    v = build_metrics(con, "raw.events", [{"metric": "volume"}],
                      {"ds": date(2030, 1, 1)})
    assert v.examples["volume_ratio"] == [
        "0 rows on 2030-01-01 vs trailing median n/a over 0 day(s) of the last 7"
    ]


def test_volume_entity_option_selects_the_input_files_rows(con):
    con.execute("create table raw.input_files (ds DATE, entity VARCHAR, rows_read BIGINT)")
    con.execute("insert into raw.input_files values (?::DATE, 'events', 10), "
                "(?::DATE, 'other', 7), (?::DATE - 1, 'other', 7)", [VOLUME_DS] * 3)
    assert _volume(con, {})["row_count"] == 10  # entity = the table name after the schema
    v = _volume(con, {}, entity="other", min_history_days=1)
    assert v["row_count"] == 7 and v["volume_ratio"] == 1.0 and v["history_days"] == 1


# The raw gate at exactly its minimum ratio (expectations/thresholds.yml volume_min_ratio
# 0.5): the sample warehouse has a trailing median of 2,002 rows read per day, so 1,001
# rows read today is a ratio of exactly 0.5 (passes) and 1,000 is just below (fails).
GATE_DS = date(2026, 1, 8)


@pytest.fixture(scope="module")
def sample_wh(tmp_path_factory) -> Path:
    from social_warehouse.quality.sample import build_sample_warehouse

    return build_sample_warehouse(tmp_path_factory.mktemp("wh") / "good.duckdb", ds=GATE_DS)


def _raw_gate_with_loaded_rows(sample_wh: Path, tmp_path: Path, loaded: int):
    from social_warehouse.quality import run_gate

    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(sample_wh, path)
    c = duckdb.connect(str(path))
    try:
        c.execute("SET TimeZone = 'UTC'")
        c.execute("delete from raw.interactions where ds = ? "
                  "and cast(split_part(event_id, '_', 2) as INTEGER) >= ?", [GATE_DS, loaded])
        c.execute("update raw.input_files set rows_loaded = ?, rows_read = ? + rows_rejected "
                  "where ds = ? and entity = 'interactions'", [loaded, loaded, GATE_DS])
    finally:
        c.close()
    return run_gate("raw", path, ds=GATE_DS, run_id="boundary", record=False,
                    expectations_dir=REPO / "expectations")


def test_raw_gate_volume_at_exactly_its_minimum_ratio(sample_wh, tmp_path):
    from social_warehouse.quality import GateFailed

    result = _raw_gate_with_loaded_rows(sample_wh, tmp_path / "at", 999)  # 1,001 read
    assert result.success, result.message()
    with pytest.raises(GateFailed) as info:
        _raw_gate_with_loaded_rows(sample_wh, tmp_path / "below", 998)  # 1,000 read
    assert "volume_ratio" in str(info.value) and "min_value=0.5" in str(info.value)


# --------------------------------------------------------------------------- quarantine


@pytest.mark.parametrize(
    ("spec", "raw", "value", "error"),
    [
        ({"rule": "int", "min": 0, "max": 10}, "0", 0, None),
        ({"rule": "int", "min": 0, "max": 10}, "10", 10, None),
        ({"rule": "int", "min": 0, "max": 10}, "-1", None, "-1 is below the minimum 0"),
        ({"rule": "int", "min": 0, "max": 10}, "11", None, "11 is above the maximum 10"),
        ({"rule": "float", "min": 0.0, "max": 1.0}, "1.0", 1.0, None),
        ({"rule": "float", "min": 0.0, "max": 1.0}, "0.0", 0.0, None),
        ({"rule": "float", "min": 0.0, "max": 1.0}, "1.000001", None,
         "1.000001 is above the maximum 1.0"),
        ({"rule": "float", "min": 0.5}, "0.499999", None, "0.499999 is below the minimum 0.5"),
        ({"rule": "percent", "max": 1}, "100%", 1.0, None),
        ({"rule": "int", "max": 5}, "-1000", -1000, None),  # no min: no lower bound
    ],
)
def test_quarantine_range_is_inclusive_at_min_and_max(spec, raw, value, error):
    got, err, _ = make_field("f", spec).parse((raw,))
    assert err == error
    assert got == value


def test_timestamp_range_is_inclusive_at_exactly_min_and_max():
    spec = {"rule": "timestamp", "min": "2020-01-01", "max": "2020-12-31T23:59:59Z"}
    f = make_field("when", spec)
    assert f.parse(("2020-01-01T00:00:00Z",))[1] is None
    assert f.parse(("2020-12-31T23:59:59Z",))[1] is None
    assert "below the minimum 2020-01-01T00:00:00Z" in f.parse(("2019-12-31T23:59:59Z",))[1]
    assert "above the maximum 2020-12-31T23:59:59Z" in f.parse(("2021-01-01T00:00:00Z",))[1]
