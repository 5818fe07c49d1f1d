"""Every metric kind of ``quality/metrics.py`` at its boundaries, fast (no GX, no Airflow).

The gate tests (``test_quality*.py``) exercise these metrics through Great Expectations,
which takes tens of seconds per mutant, so mutation testing (``make mutation``, issue 15)
runs these instead: each kind is built by :func:`build_metrics` on a small in-memory DuckDB
and compared with a value computed independently (by hand in the comments, or by a plain
pandas reference), at the exact thresholds, on empty tables and with nulls, and with the
example messages that name the table, column and rule.
"""

from __future__ import annotations

import math
from datetime import date

import duckdb
import pandas as pd
import pytest
from social_warehouse.quality.metrics import CONTRACT_SQL_TYPES, _resolve, build_metrics

DS = date(2026, 1, 20)


@pytest.fixture
def con():
    c = duckdb.connect()
    for schema in ("raw", "core", "analytics"):
        c.execute(f"create schema {schema}")
    yield c
    c.close()


def _metrics(con, table: str, *specs: dict, **params):
    return build_metrics(con, table, list(specs), {"ds": DS, **params})


def _frame(con, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


# --------------------------------------------------------------------------- frame, options


def test_metrics_frame_is_one_row_of_every_metric_of_the_suite(con):
    con.execute("create table core.t as select range as x from range(4)")
    out = _metrics(con, "core.t", {"metric": "row_count"},
                   {"metric": "aggregate", "name": "total", "expression": "sum(x)"})
    frame = out.to_pandas()
    assert list(frame.columns) == ["row_count", "total"]
    assert len(frame) == 1
    assert frame.iloc[0].tolist() == [4, 0 + 1 + 2 + 3]


def test_resolve_only_replaces_a_dict_that_is_exactly_a_parameter():
    params = {"p": 3}
    assert _resolve({"$PARAMETER": "p"}, params) == 3
    other = {"$PARAMETER": "p", "default": 1}
    assert _resolve(other, params) is other
    assert _resolve("p", params) == "p"
    with pytest.raises(KeyError, match="parameter 'q' not provided"):
        _resolve({"$PARAMETER": "q"}, params)


# --------------------------------------------------------------------------- schema


def test_schema_counts_missing_required_columns_and_type_mismatches(con):
    con.execute("create table raw.events (a BIGINT, b VARCHAR, c DOUBLE)")
    spec = {"metric": "schema",
            "columns": {"a": "bigint", "b": "bigint", "c": "double", "d": "varchar"}}
    out = _metrics(con, "raw.events", spec)
    # required defaults to every declared column: d is missing; b is VARCHAR, not BIGINT
    assert out.values == {"missing_required_columns": 1, "type_mismatches": 1}
    assert out.examples == {"missing_required_columns": ["d"],
                            "type_mismatches": ["b: VARCHAR (expected BIGINT)"]}
    # an explicit required list: only those may be missing (d is optional now)
    spec = {**spec, "required": ["a", "zz"]}
    out = _metrics(con, "raw.events", spec)
    assert out.values == {"missing_required_columns": 1, "type_mismatches": 1}
    assert out.examples["missing_required_columns"] == ["zz"]
    # nothing declared: nothing to miss
    out = _metrics(con, "raw.events", {"metric": "schema"})
    assert out.values == {"missing_required_columns": 0, "type_mismatches": 0}


def test_schema_examples_are_the_first_five(con):
    con.execute("create table raw.events (a VARCHAR, b VARCHAR, c VARCHAR, d VARCHAR, "
                "e VARCHAR, f VARCHAR, g VARCHAR)")
    cols = "abcdefg"
    spec = {"metric": "schema", "columns": {c: "bigint" for c in cols},
            "required": [c + "_x" for c in cols]}
    out = _metrics(con, "raw.events", spec)
    assert out.values == {"missing_required_columns": 7, "type_mismatches": 7}
    assert out.examples["missing_required_columns"] == ["a_x", "b_x", "c_x", "d_x", "e_x"]
    assert out.examples["type_mismatches"] == [
        f"{c}: VARCHAR (expected BIGINT)" for c in "abcde"]


def test_schema_against_a_contract_entity(con):
    from social_warehouse.contract import ENTITIES

    users = ENTITIES["users"]
    # every contract column typed as declared, except: handle (required) and bio
    # (optional) dropped, followers_count stored as text
    cols = []
    for c in users.columns:
        if c.name in ("handle", "bio"):
            continue
        sql_type = "VARCHAR" if c.name == "followers_count" else CONTRACT_SQL_TYPES[c.type]
        cols.append(f"{c.name} {sql_type}")
    con.execute(f"create table raw.users ({', '.join(cols)})")
    out = _metrics(con, "raw.users", {"metric": "schema", "contract": "users"})
    assert out.values == {"missing_required_columns": 1, "type_mismatches": 1}
    assert out.examples == {"missing_required_columns": ["handle"],
                            "type_mismatches": ["followers_count: VARCHAR (expected BIGINT)"]}


def test_schema_of_a_table_whose_name_has_a_dot(con):
    con.execute('create table raw."ev.ents" (a BIGINT)')
    spec = {"metric": "schema", "columns": {"a": "bigint", "b": "varchar"}}
    out = _metrics(con, "raw.ev.ents", spec)
    assert out.values == {"missing_required_columns": 1, "type_mismatches": 0}


def test_contract_sql_types_are_the_raw_layer_types():
    assert CONTRACT_SQL_TYPES == {"id": "VARCHAR", "text": "VARCHAR", "int": "BIGINT",
                                  "float": "DOUBLE", "timestamp": "TIMESTAMP",
                                  "bool": "BOOLEAN"}


# --------------------------------------------------------------------------- reject rate


def _raw_events(con, loaded_today: int, loaded_other: int = 2, name: str = "events") -> None:
    con.execute(f'create or replace table raw."{name}" (ds DATE, i INTEGER)')
    con.execute(f'insert into raw."{name}" select ?::DATE, range from range(?)',
                [DS, loaded_today])
    con.execute(f'insert into raw."{name}" select ?::DATE - 1, range from range(?)',
                [DS, loaded_other])


def _rejects(con, reasons: dict[str, int], name: str = "events_rejects") -> None:
    con.execute(f'create or replace table raw."{name}" (ds DATE, reason VARCHAR)')
    for reason, n in reasons.items():
        con.execute(f'insert into raw."{name}" select ?::DATE, ? from range(?)',
                    [DS, reason, n])
    # another day's rejects never count
    con.execute(f"insert into raw.\"{name}\" values (?::DATE - 1, 'bad_ts')", [DS])


def test_reject_rate_without_rejects_table_or_input_files(con):
    _raw_events(con, 6)
    out = _metrics(con, "raw.events", {"metric": "reject_rate"})
    assert out.values == {"rows_loaded": 6, "rows_rejected": 0, "reject_rate": 0.0,
                          "unaccounted_rows": 0}
    assert out.examples == {"reject_rate": [], "rows_rejected": []}
    assert isinstance(out.values["rows_loaded"], int)


def test_reject_rate_top_reasons_and_unaccounted_rows(con):
    _raw_events(con, 6)
    reasons = {"neg": 1, "missing_id": 3, "bad_ts": 3, "z3": 1, "z2": 1, "z1": 1}
    _rejects(con, reasons)
    out = _metrics(con, "raw.events", {"metric": "reject_rate"})
    rejected = sum(reasons.values())  # 10 of 16 rows
    assert out.values == {"rows_loaded": 6, "rows_rejected": rejected,
                          "reject_rate": rejected / (6 + rejected), "unaccounted_rows": 0}
    assert out.values["reject_rate"] == 0.625
    # most frequent first, ties by reason, five at most
    top = ["bad_ts: 3", "missing_id: 3", "neg: 1", "z1: 1", "z2: 1"]
    assert out.examples == {"reject_rate": top, "rows_rejected": top}
    # the ingest's accounting: rows read of this entity and day minus loaded and rejected
    con.execute("create table raw.input_files (ds DATE, entity VARCHAR, rows_read BIGINT)")
    con.execute("insert into raw.input_files values (?::DATE, 'events', 12), "
                "(?::DATE, 'events', 8), (?::DATE, 'posts', 100), "
                "(?::DATE - 1, 'events', 100)", [DS] * 4)
    out = _metrics(con, "raw.events", {"metric": "reject_rate"})
    assert out.values["unaccounted_rows"] == 12 + 8 - 6 - rejected


def test_reject_rate_of_an_empty_partition_is_zero(con):
    _raw_events(con, 0)
    _rejects(con, {})
    con.execute("create table raw.input_files (ds DATE, entity VARCHAR, rows_read BIGINT)")
    out = _metrics(con, "raw.events", {"metric": "reject_rate"})
    assert out.values == {"rows_loaded": 0, "rows_rejected": 0, "reject_rate": 0.0,
                          "unaccounted_rows": 0}
    # every row rejected: the rate is exactly 1
    _rejects(con, {"bad": 4})
    con.execute("insert into raw.input_files values (?::DATE, 'events', 3)", [DS])
    out = _metrics(con, "raw.events", {"metric": "reject_rate"})
    assert out.values == {"rows_loaded": 0, "rows_rejected": 4, "reject_rate": 1.0,
                          "unaccounted_rows": 3 - 0 - 4}


def test_reject_rate_entity_option_and_dotted_table_names(con):
    _raw_events(con, 3)
    _rejects(con, {"x": 1})
    out = _metrics(con, "analytics.anything", {"metric": "reject_rate", "entity": "events"})
    assert out.values["rows_loaded"] == 3 and out.values["reject_rate"] == 0.25
    # the entity is the table name after the schema, dots included
    _raw_events(con, 1, name="ev.ents")
    _rejects(con, {"y": 3}, name="ev.ents_rejects")
    con.execute("create table raw.input_files (ds DATE, entity VARCHAR, rows_read BIGINT)")
    con.execute("insert into raw.input_files values (?::DATE, 'ev.ents', 9), "
                "(?::DATE, 'ents', 100)", [DS] * 2)
    out = _metrics(con, "raw.ev.ents", {"metric": "reject_rate"})
    assert out.values == {"rows_loaded": 1, "rows_rejected": 3, "reject_rate": 0.75,
                          "unaccounted_rows": 9 - 1 - 3}


def test_volume_of_a_dotted_table_reads_its_own_input_files(con):
    con.execute("create table raw.input_files (ds DATE, entity VARCHAR, rows_read BIGINT)")
    con.execute("insert into raw.input_files values (?::DATE, 'ev.ents', 30), "
                "(?::DATE - 1, 'ev.ents', 10), (?::DATE, 'ents', 1000), "
                "(?::DATE - 1, 'ents', 5)", [DS] * 4)
    _raw_events(con, 0, 0, name="ev.ents")
    out = _metrics(con, "raw.ev.ents", {"metric": "volume", "min_history_days": 1})
    assert out.values == {"row_count": 30, "trailing_median_rows": 10.0, "history_days": 1,
                          "volume_ratio": 3.0}


def test_volume_without_input_files_counts_a_dotted_tables_rows(con):
    _raw_events(con, 6, 3, name="ev.ents")
    out = _metrics(con, "raw.ev.ents", {"metric": "volume", "min_history_days": 1})
    assert out.values == {"row_count": 6, "trailing_median_rows": 3.0, "history_days": 1,
                          "volume_ratio": 2.0}


# --------------------------------------------------------------------------- referential share


def _users_and_follows(con) -> None:
    con.execute("create table core.users (user_id VARCHAR, uid VARCHAR, is_kol BOOLEAN)")
    con.execute("insert into core.users values ('a', 'a', true), ('b', 'b', false), "
                "('c', 'c', true), ('c', 'c', true), ('d', NULL, false)")
    con.execute("create table core.follows (src VARCHAR, dst VARCHAR, w INTEGER)")
    con.execute("insert into core.follows values ('a', 'b', 1), ('a', 'c', 1), "
                "('b', 'x1', 1), ('b', 'x2', 2), ('c', 'x1', 1), ('c', NULL, 1), "
                "('d', 'x3', 2), ('e', 'x4', 1), ('f', 'x5', 1), ('g', 'x6', 1), "
                "('h', 'x7', 2), ('i', 'd', 1)")


def _share_reference(child: pd.DataFrame, col: str, parent_keys) -> tuple[float, int, list]:
    keys = child[col].dropna()
    orphan = ~keys.isin(set(parent_keys))
    share = 1.0 - orphan.sum() / len(keys) if len(keys) else 1.0
    return share, int(orphan.sum()), sorted(set(keys[orphan]))


def test_referential_share_against_a_pandas_reference(con):
    _users_and_follows(con)
    follows = _frame(con, "select * from core.follows")
    users = _frame(con, "select * from core.users")
    spec = {"metric": "referential_share", "name": "dst", "column": "dst",
            "parent": "core.users", "parent_column": "user_id"}
    out = _metrics(con, "core.follows", spec)
    share, orphans, ids = _share_reference(follows, "dst", users["user_id"])
    assert (orphans, len(follows["dst"].dropna())) == (8, 11)  # by hand: x1 x2 x1 x3..x7
    assert out.values == {"dst": pytest.approx(share, abs=1e-15), "dst_orphans": orphans}
    assert math.isclose(out.values["dst"], 3 / 11, abs_tol=1e-15)
    expected = [f"dst={k} not in core.users" for k in ids[:5]]
    assert expected[0] == "dst=x1 not in core.users"
    assert out.examples == {"dst": expected, "dst_orphans": expected}


def test_referential_share_parent_column_defaults_to_the_column(con):
    _users_and_follows(con)
    con.execute("create table core.dst_ok as select user_id as dst from core.users")
    spec = {"metric": "referential_share", "name": "s", "column": "dst",
            "parent": "core.dst_ok"}
    out = _metrics(con, "core.follows", spec)
    assert out.values == {"s": pytest.approx(3 / 11, abs=1e-15), "s_orphans": 8}


def test_referential_share_with_where_parent_where_and_child(con):
    _users_and_follows(con)
    follows = _frame(con, "select * from core.follows")
    users = _frame(con, "select * from core.users")
    kols = users.loc[users["is_kol"], "user_id"]
    spec = {"metric": "referential_share", "name": "kol", "column": "dst",
            "parent": "core.users", "parent_column": "user_id", "parent_where": "is_kol",
            "where": "w = 1", "child": "core.follows"}
    # the suite's table is another one: child names the table checked
    out = _metrics(con, "analytics.partners", spec)
    share, orphans, ids = _share_reference(follows[follows["w"] == 1], "dst", kols)
    # by hand: w = 1 rows with a dst: b c x1 x1 x4 x5 x6 d; KOLs a, c: 7 orphans of 8
    assert (orphans, share) == (7, 1 / 8)
    assert out.values == {"kol": pytest.approx(share, abs=1e-15), "kol_orphans": orphans}
    assert ids[:5] == ["b", "d", "x1", "x4", "x5"]
    assert out.examples["kol"] == [
        f"dst={k} not in core.users where is_kol" for k in ids[:5]]


def test_referential_share_over_no_rows_is_one(con):
    _users_and_follows(con)
    spec = {"metric": "referential_share", "name": "s", "column": "dst",
            "parent": "core.users", "parent_column": "user_id", "where": "w > 5"}
    out = _metrics(con, "core.follows", spec)
    assert out.values == {"s": 1.0, "s_orphans": 0}
    assert out.examples == {"s": [], "s_orphans": []}
    # every key present: share exactly 1, no orphans
    spec = {**spec, "where": "dst in ('b', 'c')"}
    out = _metrics(con, "core.follows", spec)
    assert out.values == {"s": 1.0, "s_orphans": 0}
    assert out.examples["s"] == []


# --------------------------------------------------------------------------- count consistency


def _counts(con, counts: dict[str, int | None], edges: dict[str, int]) -> None:
    con.execute("create or replace table core.users (user_id VARCHAR, followers INTEGER, "
                "platform VARCHAR)")
    for u, c in counts.items():
        con.execute("insert into core.users values (?, ?, ?)",
                    [u, c, "tt" if u < "m" else "yt"])
    con.execute("create or replace table core.follows (src VARCHAR, dst VARCHAR)")
    for dst, n in edges.items():
        con.execute("insert into core.follows select 's' || range, ? from range(?)", [dst, n])


def _consistency_reference(con, tol_abs: float, tol_rel: float, where=None):
    users = _frame(con, "select * from core.users")
    n = _frame(con, "select dst from core.follows")["dst"].value_counts()
    users = users[users["followers"].notna()]
    if where is not None:
        users = users[where(users)]
    edges = users["user_id"].map(n).fillna(0)
    diff = (users["followers"] - edges).abs()
    ok = diff <= (edges * tol_rel).clip(lower=tol_abs)
    return (ok.sum() / len(users)) if len(users) else 1.0, users.assign(n=edges, d=diff)[~ok]


def test_count_consistency_exact_without_tolerance(con):
    # a: 3 = 3; b: 2 vs 3 (off by one); c: 0 without edges; d: null count (not checked)
    _counts(con, {"a": 3, "b": 2, "c": 0, "d": None, "e": 1}, {"a": 3, "b": 3, "zz": 4})
    spec = {"metric": "count_consistency", "name": "ok", "key": "user_id",
            "count_column": "followers", "edges": "core.follows", "edge_column": "dst"}
    out = _metrics(con, "core.users", spec)
    share, _ = _consistency_reference(con, 0, 0)
    assert share == 2 / 4  # a and c of a, b, c, e
    assert out.values == {"ok": share}
    assert out.examples == {"ok": [
        "user_id=b: followers=2 vs 3 edge(s) in core.follows",
        "user_id=e: followers=1 vs 0 edge(s) in core.follows",
    ]}


def test_count_consistency_at_exactly_the_absolute_tolerance(con):
    # differences 2 (a), 3 (b), 2 (c), 0 (d): tolerance_abs 2 passes a, c, d but not b
    _counts(con, {"a": 12, "b": 7, "c": 0, "d": 4}, {"a": 10, "b": 10, "c": 2, "d": 4})
    spec = {"metric": "count_consistency", "name": "ok", "key": "user_id",
            "count_column": "followers", "edges": "core.follows", "edge_column": "dst",
            "tolerance_abs": 2}
    out = _metrics(con, "core.users", spec)
    share, bad = _consistency_reference(con, 2, 0)
    assert share == 3 / 4 and list(bad["user_id"]) == ["b"]
    assert out.values["ok"] == share
    assert out.examples["ok"] == ["user_id=b: followers=7 vs 10 edge(s) in core.follows"]
    out = _metrics(con, "core.users", {**spec, "tolerance_abs": 1})
    assert out.values["ok"] == _consistency_reference(con, 1, 0)[0] == 1 / 4


def test_count_consistency_at_exactly_the_relative_tolerance(con):
    # 20 % of the edges: a (10 edges) may be off by 2, b (20 edges) by 4, c (0 edges) by 0
    _counts(con, {"a": 12, "b": 15, "c": 1, "d": 16}, {"a": 10, "b": 20, "d": 20})
    spec = {"metric": "count_consistency", "name": "ok", "key": "user_id",
            "count_column": "followers", "edges": "core.follows", "edge_column": "dst",
            "tolerance_rel": 0.2}
    out = _metrics(con, "core.users", spec)
    share, bad = _consistency_reference(con, 0, 0.2)
    assert list(bad["user_id"]) == ["b", "c"] and share == 2 / 4
    assert out.values["ok"] == share
    # worst first
    assert out.examples["ok"] == ["user_id=b: followers=15 vs 20 edge(s) in core.follows",
                                  "user_id=c: followers=1 vs 0 edge(s) in core.follows"]
    # the larger of the two tolerances applies: abs 1 lets c (0 edges) pass, not b
    out = _metrics(con, "core.users", {**spec, "tolerance_abs": 1})
    assert out.values["ok"] == _consistency_reference(con, 1, 0.2)[0] == 3 / 4


def test_count_consistency_where_label_order_and_five_examples(con):
    counts = {k: 0 for k in "abcdefgh"} | {"z": 0}
    edges = {k: i + 1 for i, k in enumerate("abcdefgh")}  # a 1 edge ... h 8 edges
    _counts(con, counts, edges)
    spec = {"metric": "count_consistency", "name": "sizes", "key": "user_id",
            "count_column": "followers", "edges": "core.follows", "edge_column": "dst",
            "count_label": "member(s)", "where": "platform = 'tt'"}
    out = _metrics(con, "core.users", spec)
    share, bad = _consistency_reference(con, 0, 0, where=lambda u: u["platform"] == "tt")
    assert share == 0.0 and len(bad) == 8  # z (consistent) is on "yt": not checked
    assert out.values["sizes"] == 0.0
    unfiltered = {**spec, "where": None}
    assert _metrics(con, "core.users", unfiltered).values["sizes"] == (
        _consistency_reference(con, 0, 0)[0]) == 1 / 9
    worst = bad.sort_values(["d", "user_id"], ascending=[False, True]).head(5)
    assert out.examples["sizes"] == [
        f"user_id={k}: followers=0 vs {int(n)} member(s) in core.follows"
        for k, n in zip(worst["user_id"], worst["n"], strict=True)]
    assert out.examples["sizes"][0] == "user_id=h: followers=0 vs 8 member(s) in core.follows"


def test_count_consistency_over_no_parents_is_one(con):
    _counts(con, {"a": None}, {"a": 2})
    spec = {"metric": "count_consistency", "name": "ok", "key": "user_id",
            "count_column": "followers", "edges": "core.follows", "edge_column": "dst"}
    out = _metrics(con, "core.users", spec)
    assert out.values == {"ok": 1.0} and out.examples == {"ok": []}


# --------------------------------------------------------------------------- row counts


def test_row_count_name_where_and_dotted_table(con):
    con.execute('create table core."t.x" as select range as x from range(7)')
    out = _metrics(con, "core.t.x", {"metric": "row_count"},
                   {"metric": "row_count", "name": "big", "where": "x >= 5"})
    assert out.values == {"row_count": 7, "big": 2}
    assert out.examples == {}


def test_row_count_match_is_signed_and_names_both_sides(con):
    con.execute("create table core.dim_users as select range as i from range(5)")
    con.execute("create table analytics.kol as select range as i from range(7)")
    out = _metrics(con, "analytics.kol", {"metric": "row_count_match",
                                          "reference": "core.dim_users"})
    assert out.values == {"row_count_diff": 7 - 5}
    assert out.examples == {"row_count_diff": [
        "analytics.kol: 7 rows, core.dim_users: 5 rows"]}
    spec = {"metric": "row_count_match", "name": "d", "reference": "core.dim_users",
            "where": "i < 2", "reference_where": "i < 4"}
    out = _metrics(con, "analytics.kol", spec)
    assert out.values == {"d": 2 - 4}
    assert out.examples == {"d": ["analytics.kol: 2 rows, core.dim_users where i < 4: 4 rows"]}


# --------------------------------------------------------------------------- aggregate, sql


def test_aggregate_expression_where_and_examples(con):
    con.execute("create table analytics.pr (u VARCHAR, pagerank DOUBLE)")
    con.execute("insert into analytics.pr values ('a', 0.5), ('b', 0.25), ('c', 0.125), "
                "('d', 0.0625), ('e', 0.03125), ('f', 0.015625), ('g', 0.0078125)")
    spec = {"metric": "aggregate", "name": "err", "expression": "abs(fsum(pagerank) - 1)",
            "examples_sql": "select u, pagerank from {table} order by pagerank desc"}
    out = _metrics(con, "analytics.pr", spec)
    assert out.values["err"] == pytest.approx(2 ** -7, abs=1e-15)  # 1 - (1 - 2^-7)
    assert out.examples["err"] == ["a, 0.5", "b, 0.25", "c, 0.125", "d, 0.0625",
                                   "e, 0.03125"]
    # the expression may name the table (no alias is added to it)
    out = _metrics(con, "analytics.pr", {"metric": "aggregate", "name": "top",
                                         "expression": "max(pr.pagerank)"})
    assert out.values == {"top": 0.5}
    out = _metrics(con, "analytics.pr", {"metric": "aggregate", "name": "n",
                                         "expression": "count(*)", "where": "pagerank < 0.1"})
    assert out.values == {"n": 4} and out.examples == {}


def test_aggregate_and_sql_of_no_row_are_null(con):
    con.execute("create table analytics.empty (x DOUBLE)")
    out = _metrics(con, "analytics.empty", {"metric": "aggregate", "name": "x",
                                            "expression": "x"})
    assert out.values == {"x": None}
    out = _metrics(con, "analytics.empty", {"metric": "sql", "name": "s",
                                            "sql": "select x from analytics.empty"})
    assert out.values == {"s": None} and out.examples == {}


def test_sql_metric_with_parameters_and_examples(con):
    con.execute("create table raw.t (ds DATE, v INTEGER)")
    con.execute("insert into raw.t select ?::DATE - (range % 2)::INTEGER, range from range(10)",
                [DS])
    spec = {"metric": "sql", "name": "today",
            "sql": "select count(*) from raw.t where ds = $ds",
            "examples_sql": "select v, ds from raw.t where ds = $ds order by v"}
    out = _metrics(con, "raw.t", spec)
    assert out.values == {"today": 5}  # the even v of range(10)
    assert out.examples == {"today": [f"{v}, {DS}" for v in (0, 2, 4, 6, 8)]}
    spec = {**spec, "examples_sql": "select v from raw.t order by v"}
    assert _metrics(con, "raw.t", spec).examples["today"] == ["0", "1", "2", "3", "4"]


# --------------------------------------------------------------------------- violations


def _seeds(con) -> None:
    con.execute("create table analytics.seeds (ds DATE, k INTEGER, n_seeds INTEGER, "
                "note VARCHAR)")
    con.execute("insert into analytics.seeds values "
                "(?::DATE, 3, 3, 'ok'), (?::DATE, 3, 2, 'short'), (?::DATE, 3, 4, 'long'), "
                "(?::DATE, 3, NULL, 'null'), (?::DATE - 1, 3, 9, 'old'), "
                "(?::DATE - 1, 3, 9, 'old'), (?::DATE - 1, 3, 9, 'old')", [DS] * 7)


def test_violations_count_and_examples_in_order(con):
    _seeds(con)
    frame = _frame(con, "select * from analytics.seeds")
    bad = frame[frame["n_seeds"].notna() & (frame["n_seeds"] != frame["k"])]
    spec = {"metric": "violations", "name": "seed_size", "condition": "n_seeds <> k",
            "columns": ["note", "n_seeds"], "order_by": "n_seeds"}
    out = _metrics(con, "analytics.seeds", spec)
    # a null condition is not a violation: short, long and the three old rows
    assert len(bad) == 5
    assert out.values == {"seed_size": len(bad)}
    # the examples are distinct (three identical old rows print once), in order_by order
    assert out.examples == {"seed_size": ["note=short, n_seeds=2", "note=long, n_seeds=4",
                                          "note=old, n_seeds=9"]}
    # where (with a parameter) limits the rows; a single column may be a string
    spec = {**spec, "where": "ds = $ds", "columns": "note", "order_by": "n_seeds desc"}
    out = _metrics(con, "analytics.seeds", spec)
    assert out.values == {"seed_size": 2}
    assert out.examples == {"seed_size": ["note=long", "note=short"]}


def test_violations_default_columns_and_no_violation(con):
    _seeds(con)
    spec = {"metric": "violations", "name": "v", "condition": "n_seeds = 2"}
    out = _metrics(con, "analytics.seeds", spec)
    assert out.values == {"v": 1}
    assert out.examples == {"v": [f"ds={DS}, k=3, n_seeds=2, note=short"]}
    # zero violations (also on an empty selection): the count 0 and no examples at all
    out = _metrics(con, "analytics.seeds", {**spec, "condition": "n_seeds > 100",
                                            "hint": "never shown"})
    assert out.values == {"v": 0} and out.examples == {}


def test_violations_hint_filled_from_hint_sql(con):
    _seeds(con)
    spec = {"metric": "violations", "name": "v", "condition": "n_seeds = 2",
            "columns": "note",
            "hint_sql": "select 0.123456 :: DOUBLE as p50, 'x' as tag, null as nothing, "
                        "count(*) as n from analytics.seeds where ds = $ds",
            "hint": "median {p50} of {n} rows ({tag}, {nothing})"}
    out = _metrics(con, "analytics.seeds", spec)
    # format_value with 3 significant digits; the prefix is added once
    assert out.examples["v"] == ["note=short", "likely cause: median 0.123 of 4 rows (x, null)"]
    spec["hint"] = "likely cause: {n} rows"
    assert _metrics(con, "analytics.seeds", spec).examples["v"][-1] == "likely cause: 4 rows"


def test_violations_hint_without_or_with_an_empty_hint_sql(con):
    _seeds(con)
    spec = {"metric": "violations", "name": "v", "condition": "n_seeds = 2",
            "columns": "note", "hint": "scores decayed"}
    out = _metrics(con, "analytics.seeds", spec)
    assert out.examples["v"] == ["note=short", "likely cause: scores decayed"]
    spec["hint_sql"] = "select note from analytics.seeds where false"
    out = _metrics(con, "analytics.seeds", spec)
    assert out.examples["v"] == ["note=short", "likely cause: scores decayed"]


# --------------------------------------------------------------------------- finite


def _scores(con) -> None:
    con.execute('create table analytics.s (user_id VARCHAR, platform VARCHAR, '
                '"KOL_Score" DOUBLE, edge_weight FLOAT, score_rank BIGINT, ratio DOUBLE)')
    con.execute("insert into analytics.s values "
                "('u1', 'tt', 'nan', 1.0, 1, 'nan'), ('u2', 'tt', 0.5, 'inf', 2, 1.0), "
                "('u3', 'yt', '-inf', '-inf', 3, 1.0), ('u4', 'yt', NULL, NULL, 4, 'inf'), "
                "('u5', 'tt', 0.0, 2.0, 5, 1.0)")


def _finite_reference(con, table: str, columns: list[str]) -> int:
    """NaN/inf values by Python's math on the fetched rows (pandas would merge NULL and NaN)."""
    cols = ", ".join(f'"{c}"' for c in columns)
    rows = con.execute(f"select {cols} from {table}").fetchall()
    return sum(v is not None and not math.isfinite(v) for row in rows for v in row)


def test_finite_defaults_to_float_score_and_weight_columns(con):
    _scores(con)
    out = _metrics(con, "analytics.s", {"metric": "finite"})
    # KOL_Score (any case) and edge_weight; not score_rank (integer) nor ratio (no name)
    expected = _finite_reference(con, "analytics.s", ["KOL_Score", "edge_weight"])
    assert expected == 2 + 2
    assert out.values == {"non_finite_values": expected}
    assert out.examples == {"non_finite_values": [
        "KOL_Score=nan", "KOL_Score=-inf", "edge_weight=inf", "edge_weight=-inf"]}


def test_finite_named_columns_keys_where_and_five_examples(con):
    _scores(con)
    spec = {"metric": "finite", "name": "nf", "columns": ["ratio", "KOL_Score", "edge_weight"],
            "key": ["platform", "user_id"]}
    out = _metrics(con, "analytics.s", spec)
    expected = _finite_reference(con, "analytics.s", spec["columns"])
    assert expected == 2 + 2 + 2
    assert out.values == {"nf": expected}
    # five examples at most, per column ordered by the keys
    assert out.examples == {"nf": [
        "ratio=nan at platform=tt, user_id=u1", "ratio=inf at platform=yt, user_id=u4",
        "KOL_Score=nan at platform=tt, user_id=u1", "KOL_Score=-inf at platform=yt, user_id=u3",
        "edge_weight=inf at platform=tt, user_id=u2"]}
    spec = {"metric": "finite", "columns": "KOL_Score", "key": "user_id",
            "where": "platform = 'yt'"}
    out = _metrics(con, "analytics.s", spec)
    assert out.values == {"non_finite_values": 1}
    assert out.examples == {"non_finite_values": ["KOL_Score=-inf at user_id=u3"]}


def test_finite_without_columns_or_with_an_absent_one(con):
    con.execute("create table analytics.n (user_id VARCHAR, score BIGINT)")
    out = _metrics(con, "analytics.n", {"metric": "finite"})
    assert out.values == {"non_finite_values": 0}
    assert out.examples == {"non_finite_values": []}
    with pytest.raises(KeyError, match=r"finite: column\(s\) \['w'\] not in analytics.n"):
        _metrics(con, "analytics.n", {"metric": "finite", "columns": ["score", "w"]})


def test_finite_of_a_dotted_table(con):
    con.execute('create table analytics."s.x" (score DOUBLE)')
    con.execute("insert into analytics.\"s.x\" values ('inf'), (1.0), ('nan')")
    out = _metrics(con, "analytics.s.x", {"metric": "finite"})
    assert out.values == {"non_finite_values": 2}


# --------------------------------------------------------------------------- consecutive rank


def _ranks(con, rows: list[tuple[str, int | None]]) -> None:
    con.execute("create or replace table analytics.lb (grp VARCHAR, rnk INTEGER, "
                "keep BOOLEAN)")
    for g, r in rows:
        con.execute("insert into analytics.lb values (?, ?, ?)", [g, r, g != "z"])


def _rank_reference(con, parts: list[str], where=None) -> list[tuple]:
    frame = _frame(con, "select * from analytics.lb")
    if where is not None:
        frame = frame[where(frame)]
    groups = frame.groupby(parts) if parts else [((), frame)]
    bad = []
    for key, g in groups:
        r = g["rnk"]
        n, n_ranked, n_distinct = len(g), int(r.notna().sum()), r.nunique()
        if not (n_ranked == n and n_distinct == n and r.min() == 1 and r.max() == n):
            bad.append((key, n, n_ranked, n_distinct, r.min(), r.max()))
    return bad


def test_consecutive_rank_per_partition(con):
    rows = [("a", 1), ("a", 2), ("a", 3),            # fine
            ("b", 1), ("b", 1),                      # duplicate
            ("c", 2), ("c", 3),                      # does not start at 1
            ("d", 1), ("d", 2), ("d", None),         # null
            ("e", 1), ("e", 3),                      # gap: hi 3 <> n 2
            ("f", 1), ("z", 5)]                      # fine; z only fails unfiltered
    _ranks(con, rows)
    spec = {"metric": "consecutive_rank", "name": "broken", "column": "rnk",
            "partition_by": "grp", "where": "keep"}
    out = _metrics(con, "analytics.lb", spec)
    bad = _rank_reference(con, ["grp"], where=lambda f: f["keep"])
    assert [b[0] for b in bad] == [("b",), ("c",), ("d",), ("e",)]
    assert out.values == {"broken": len(bad)}
    assert out.examples == {"broken": [
        "grp=b: rnk 1..1 with 1 distinct value(s) over 2 row(s) (0 null), expected 1..2",
        "grp=c: rnk 2..3 with 2 distinct value(s) over 2 row(s) (0 null), expected 1..2",
        "grp=d: rnk 1..2 with 2 distinct value(s) over 3 row(s) (1 null), expected 1..3",
        "grp=e: rnk 1..3 with 2 distinct value(s) over 2 row(s) (0 null), expected 1..2",
    ]}
    out = _metrics(con, "analytics.lb", {**spec, "where": None, "partition_by": ["grp"]})
    bad = _rank_reference(con, ["grp"])
    assert len(bad) == 5
    assert out.values == {"broken": len(bad)}
    assert out.examples["broken"][-1] == (
        "grp=z: rnk 5..5 with 1 distinct value(s) over 1 row(s) (0 null), expected 1..1")


def test_consecutive_rank_of_the_whole_table(con):
    _ranks(con, [("a", 2), ("a", 1), ("b", 3)])
    spec = {"metric": "consecutive_rank", "name": "broken", "column": "rnk"}
    out = _metrics(con, "analytics.lb", spec)
    assert out.values == {"broken": 0} and out.examples == {}
    _ranks(con, [("a", 2), ("a", 1), ("b", 4)])
    out = _metrics(con, "analytics.lb", spec)
    bad = _rank_reference(con, [])
    assert len(bad) == 1
    assert out.values == {"broken": len(bad)}
    assert out.examples == {"broken": [
        "rnk 1..4 with 3 distinct value(s) over 3 row(s) (0 null), expected 1..3"]}


def test_consecutive_rank_multi_column_partition(con):
    con.execute("create table analytics.lb2 (p VARCHAR, q INTEGER, rnk INTEGER)")
    con.execute("insert into analytics.lb2 values ('x', 1, 1), ('x', 1, 2), ('x', 2, 2), "
                "('y', 1, 1)")
    spec = {"metric": "consecutive_rank", "name": "b", "column": "rnk",
            "partition_by": ["p", "q"]}
    out = _metrics(con, "analytics.lb2", spec)
    assert out.values == {"b": 1}
    assert out.examples == {"b": [
        "p=x, q=2: rnk 2..2 with 1 distinct value(s) over 1 row(s) (0 null), expected 1..1"]}


def test_consecutive_rank_of_the_whole_filtered_table(con):
    _ranks(con, [("a", 1), ("a", 2), ("z", 2), ("z", 7)])
    spec = {"metric": "consecutive_rank", "name": "broken", "column": "rnk", "where": "keep"}
    out = _metrics(con, "analytics.lb", spec)
    assert out.values == {"broken": len(_rank_reference(con, [], lambda f: f["keep"]))} == {
        "broken": 0}
    out = _metrics(con, "analytics.lb", {**spec, "where": "not keep"})
    assert out.values == {"broken": 1}
    assert out.examples == {"broken": [
        "rnk 2..7 with 2 distinct value(s) over 2 row(s) (0 null), expected 1..2"]}


def test_consecutive_rank_examples_ordered_by_every_partition_column(con):
    con.execute("create table analytics.lb3 (p VARCHAR, q INTEGER, rnk INTEGER)")
    # inserted against the key order: (x, 3), (x, 2), (x, 1), all broken (rank 2 alone)
    con.execute("insert into analytics.lb3 select 'x', 4 - range, 2 from range(1, 4)")
    spec = {"metric": "consecutive_rank", "name": "b", "column": "rnk",
            "partition_by": ["p", "q"]}
    out = _metrics(con, "analytics.lb3", spec)
    assert out.values == {"b": 3}
    assert [t.split(":")[0] for t in out.examples["b"]] == ["p=x, q=1", "p=x, q=2", "p=x, q=3"]


def test_finite_examples_ordered_by_the_keys(con):
    con.execute("create table analytics.f (user_id VARCHAR, score DOUBLE)")
    # inserted against the key order
    con.execute("insert into analytics.f values ('u3', 'nan'), ('u2', 1.0), ('u1', 'inf')")
    out = _metrics(con, "analytics.f", {"metric": "finite", "key": "user_id"})
    assert out.values == {"non_finite_values": 2}
    assert out.examples == {"non_finite_values": ["score=inf at user_id=u1",
                                                  "score=nan at user_id=u3"]}
