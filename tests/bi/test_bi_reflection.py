"""The served warehouse as a BI tool sees it: SQLAlchemy + duckdb-engine, read-only.

Superset and Metabase reflect a database with SQLAlchemy's inspector (schemas, tables,
columns with types and comments, table comments) and then run SQL. This module does the
same on a warehouse built by the real pipeline steps (dbt included) and published, and
runs the example queries of the README's "Connecting BI tools" section.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import REPO_ROOT

#: Builds a whole warehouse (every dbt layer, the gates, a publish): in `make test`, left
#: out of `make test-fast`.
pytestmark = pytest.mark.integration

MARTS_DIR = REPO_ROOT / "dbt_project" / "models" / "marts"
CORE_DIR = REPO_ROOT / "dbt_project" / "models" / "core"


def contracts(folder: Path) -> dict[str, dict[str, str]]:
    """``{model: {column: declared data_type}}`` from the dbt YAML files of ``folder``."""
    out = {}
    for path in sorted(folder.glob("*.yml")):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", []):
            out[model["name"]] = {c["name"]: c["data_type"] for c in model.get("columns", [])}
    return out


def readme_queries() -> list[str]:
    """The SQL blocks of the README section "Connecting BI tools"."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Connecting BI tools", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def engine(served_warehouse):
    # read-only, no pool: one connection per use, as README tells BI tools to connect
    eng = sa.create_engine(f"duckdb:///{served_warehouse}", connect_args={"read_only": True},
                           poolclass=sa.pool.NullPool)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def reflected(engine):
    """What Superset's dataset editor reads: per mart, its comment and its columns."""
    inspector = sa.inspect(engine)
    schemas = inspector.get_schema_names()
    marts_schema = next(s for s in schemas if s.split(".")[-1] == "marts")
    tables = inspector.get_table_names(schema=marts_schema)
    out = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for table in tables:
            out[table] = {
                "comment": inspector.get_table_comment(table, schema=marts_schema)["text"],
                "columns": inspector.get_columns(table, schema=marts_schema),
            }
    return {"schemas": schemas, "marts_schema": marts_schema, "tables": out,
            "warnings": [str(w.message) for w in caught]}


def test_reflection_lists_every_layer_and_every_mart(reflected):
    names = {s.split(".")[-1] for s in reflected["schemas"]}
    assert {"raw", "staging", "core", "analytics", "marts", "audit", "meta"} <= names
    assert set(reflected["tables"]) == set(contracts(MARTS_DIR))


def test_every_mart_table_and_column_has_a_comment(reflected):
    missing = []
    for table, info in reflected["tables"].items():
        if not (info["comment"] or "").strip():
            missing.append(table)
        missing += [f"{table}.{c['name']}" for c in info["columns"]
                    if not (c.get("comment") or "").strip()]
    assert not missing, f"no comment on: {missing}"


def test_reflected_columns_match_the_contracts_with_no_nulltype(reflected):
    """Column names and order are the contract's, and every type is one SQLAlchemy knows.

    duckdb-engine 0.17 has no SQLAlchemy type for DuckDB LIST/STRUCT (it reflects them as
    ``NullType``, with a "Did not recognize type" warning), so the marts carry their lists
    as JSON (reflected as a string type), each with a ``<name>_text`` plain-text twin.
    """
    declared = contracts(MARTS_DIR)
    problems = []
    for table, info in reflected["tables"].items():
        cols = {c["name"]: c["type"] for c in info["columns"]}
        if list(cols) != list(declared[table]):
            problems.append(f"{table}: columns {list(cols)} != contract {list(declared[table])}")
            continue
        for name, typ in cols.items():
            if isinstance(typ, sa.types.NullType):
                problems.append(f"{table}.{name}: NullType ({declared[table][name]})")
            if declared[table][name] == "BIGINT" and not isinstance(typ, sa.types.BigInteger):
                problems.append(f"{table}.{name}: reflected {typ!r}, declared BIGINT")
            if declared[table][name] == "JSON":
                if not isinstance(typ, sa.types.String):
                    problems.append(f"{table}.{name}: JSON reflected as {typ!r}")
                if not isinstance(cols.get(f"{name}_text"), sa.types.String):
                    problems.append(f"{table}.{name}: no plain-text twin")
    unrecognised = [w for w in reflected["warnings"] if "Did not recognize type" in w]
    assert not problems, "\n".join(problems)
    assert not unrecognised, unrecognised


def test_json_list_columns_hold_the_analytics_lists(served_warehouse):
    """The marts' JSON arrays cast back to the typed lists of the analytics outputs."""
    from tests.helpers import query

    mismatched = query(served_warehouse, """
        select count(*) from marts.mart_topics m
        join (select topic_id::BIGINT as topic_id, list(term order by rank) as terms,
                     list(weight::DOUBLE order by rank) as weights
              from analytics.topics group by all) a using (topic_id)
        where m.top_terms::VARCHAR[] <> a.terms or m.top_term_weights::DOUBLE[] <> a.weights
           or m.top_terms_text <> array_to_string(a.terms, ', ')""")
    assert query(served_warehouse, "select count(*) from marts.mart_topics")[0][0] > 0
    assert mismatched == [(0,)]
    seeds = query(served_warehouse, """
        select count(*) from marts.mart_campaign_seeding m
        join analytics.campaign_seeding a using (method)
        where m.seed_set::VARCHAR[] <> a.seed_set
           or m.seed_set_text <> array_to_string(a.seed_set, ', ')""")
    assert seeds == [(0,)]
    interests = query(served_warehouse, """
        select count(*) from (
            select user_id, unnest(interests::STRUCT(topic_id BIGINT, topic_label VARCHAR,
                                                     weight DOUBLE)[]) as i
            from marts.mart_user_interests) m
        anti join analytics.user_interests a
          on a.user_id = m.user_id and a.topic_id::BIGINT = m.i.topic_id
         and a.weight::DOUBLE = m.i.weight""")
    assert interests == [(0,)]


def test_marts_types_are_bi_ready(served_warehouse):
    """ds is a DATE everywhere, counts are BIGINT, an id has one type in every mart."""
    from tests.helpers import query

    rows = query(served_warehouse, "select table_name, column_name, data_type "
                 "from information_schema.columns where table_schema = 'marts'")
    types: dict[str, set[str]] = {}
    for _, column, data_type in rows:
        types.setdefault(column, set()).add(data_type)
    per_table = {}
    for table, column, data_type in rows:
        per_table.setdefault(table, {})[column] = data_type
    assert all(cols.get("ds") == "DATE" for cols in per_table.values()), per_table
    for column in ("topic_id", "top_topic_id", "segment_id", "community_id", "user_id",
                   "kol_id", "post_id", "campaign_id"):
        assert len(types.get(column, {"?"})) == 1, (column, types.get(column))
    assert types["topic_id"] == types["top_topic_id"] == {"BIGINT"}
    counts = [c for c in types if re.fullmatch(r"(n|mean_n)_.*|.*_window|views|likes|clicks"
                                                 r"|followers_graph|size", c)]
    for column in counts:
        wanted = {"DOUBLE"} if column.startswith("mean_") else {"BIGINT"}
        assert types[column] == wanted, (column, types[column])


def test_readme_example_queries_return_rows(engine):
    queries = readme_queries()
    assert len(queries) >= 5
    with engine.connect() as con:
        for sql in queries:
            rows = con.execute(sa.text(sql)).fetchall()
            assert rows, f"no rows from README query:\n{sql}"
    # the recommender history has one set of rows per published run
    with engine.connect() as con:
        runs = con.execute(sa.text(
            "select count(distinct ds) from marts.mart_recommender_eval")).scalar_one()
    assert runs >= 2


def test_comments_are_in_duckdb_catalog_for_core_too(served_warehouse):
    from tests.helpers import query

    declared = contracts(CORE_DIR)
    rows = query(served_warehouse, "select table_name, column_name, comment from duckdb_columns() "
                 "where schema_name = 'core'")
    got = {(t, c): comment for t, c, comment in rows}
    assert {t for t, _ in got} == set(declared)
    assert all((comment or "").strip() for comment in got.values()), [
        k for k, v in got.items() if not (v or "").strip()]
    tables = dict(query(served_warehouse, "select table_name, comment from duckdb_tables() "
                        "where schema_name in ('core', 'marts', 'analytics')"))
    assert all((c or "").strip() for c in tables.values()), tables


# --------------------------------------------------------------------------- schema drift


def _marts_build(served_warehouse, tmp_path, *statements: str):
    """Rebuild the marts on a copy of the served file after ``statements`` changed it."""
    import shutil

    import duckdb
    from social_warehouse.pipeline import run_dbt

    from tests.conftest import pipeline_settings

    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(served_warehouse, copy)
    con = duckdb.connect(str(copy))
    try:
        for sql in statements:
            con.execute(sql)
        ds = str(con.execute("select max(ds) from meta.publications").fetchone()[0])
    finally:
        con.close()
    settings = pipeline_settings(tmp_path / "data")
    return copy, lambda: run_dbt(["tag:marts"], ds, settings=settings, db_path=copy)


def test_a_renamed_analytics_column_fails_the_marts_build(served_warehouse, tmp_path):
    from social_warehouse.pipeline import DbtBuildError

    _, build = _marts_build(served_warehouse, tmp_path, "alter table analytics.kol_scores "
                            "rename column views_window to views_in_window")
    with pytest.raises(DbtBuildError, match="views_window"):
        build()


def test_a_topic_id_that_is_not_a_number_fails_the_marts_build(served_warehouse, tmp_path):
    """The marts cast every id to its one contract type; text ids cannot slip through."""
    from social_warehouse.pipeline import DbtBuildError

    _, build = _marts_build(served_warehouse, tmp_path,
                            "alter table analytics.topics alter column topic_id type VARCHAR",
                            "update analytics.topics set topic_id = 'topic ' || topic_id")
    with pytest.raises(DbtBuildError, match="mart_topics"):
        build()


def test_an_empty_output_with_only_key_columns_builds_typed_nulls(served_warehouse, tmp_path):
    """Stages write an output they could not compute as an empty frame of its key columns."""
    from tests.helpers import query

    copy, build = _marts_build(
        served_warehouse, tmp_path,
        "create or replace table analytics.segment_profiles as select ds, segment_id, n_users, "
        "share, top_topic_labels, top_kols from analytics.segment_profiles limit 0",
        "delete from analytics.user_segments")
    build()
    assert query(copy, "select count(*) from marts.mart_segments") == [(0,)]
    assert query(copy, "select data_type from information_schema.columns where "
                 "table_name = 'mart_segments' and column_name = 'mean_n_events'") == [("DOUBLE",)]


def test_a_missing_column_in_an_output_with_rows_names_it(served_warehouse, tmp_path):
    from social_warehouse.pipeline import DbtBuildError

    _, build = _marts_build(served_warehouse, tmp_path,
                            "alter table analytics.segment_profiles drop column mean_kol_share")
    with pytest.raises(DbtBuildError, match="segment_profiles.*mean_kol_share"):
        build()
