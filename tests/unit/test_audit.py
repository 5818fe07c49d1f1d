"""The audit store keeps every run (failed ones included) and materializes audit.* tables."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest
from social_warehouse import audit
from social_warehouse.quality import GateFailed, run_gate
from social_warehouse.quality.sample import build_sample_warehouse

REPO = Path(__file__).resolve().parents[2]
DS = date(2026, 1, 8)
RUN = "scheduled__2026-01-08T00:00:00+00:00"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    return build_sample_warehouse(tmp_path_factory.mktemp("audit") / "wh.duckdb", ds=DS)


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "data" / "audit"


def test_start_run_records_versions_and_is_idempotent_while_running(store):
    ref = audit.start_run(RUN, logical_date=datetime(2026, 1, 8), store_dir=store)
    assert ref.attempt == 1
    assert ref.path == store / "runs" / "scheduled__2026-01-08T00_00_00+00_00" / "attempt-1"
    run = json.loads((ref.path / "run.json").read_text())
    assert run["run_id"] == RUN and run["status"] == "running" and run["ds"] == "2026-01-08"
    assert run["gx_version"].startswith("1.") and run["package_version"]
    assert run["duckdb_version"].startswith("2.")
    # a retried start task does not open a second attempt
    assert audit.start_run(RUN, logical_date=DS, store_dir=store) == ref


def test_a_rerun_adds_an_attempt_and_never_erases(store):
    first = audit.start_run(RUN, logical_date=DS, store_dir=store)
    audit.finish_run(RUN, "failed", error=RuntimeError("boom"), store_dir=store,
                     build_reports=False)
    second = audit.start_run(RUN, logical_date=DS, store_dir=store)
    assert second.attempt == 2
    audit.finish_run(RUN, "success", store_dir=store, build_reports=False)
    refs = audit.list_attempts(RUN, store_dir=store)
    assert [r.attempt for r in refs] == [1, 2]
    statuses = [json.loads((r.path / "run.json").read_text())["status"] for r in refs]
    assert statuses == ["failed", "success"]
    assert json.loads((first.path / "run.json").read_text())["error"] == "RuntimeError: boom"
    with pytest.raises(ValueError):
        audit.finish_run(RUN, "done", store_dir=store, build_reports=False)


def test_record_inputs_copies_files_hashes_counts_and_rejects(store, sample_db):
    audit.start_run(RUN, logical_date=DS, store_dir=store)
    totals = audit.record_inputs(RUN, sample_db, DS, store_dir=store)
    assert totals == {"files": 5, "rows_loaded": 2000 + 50 + 100 + 150 + 1, "rows_rejected": 2}
    data = audit.load_attempt(audit.current_run(RUN, store_dir=store))
    files = {f["entity"]: f for f in data["input_files"]}
    assert set(files) == {"users", "posts", "interactions", "follows", "campaigns"}
    assert len(files["interactions"]["sha256"]) == 64
    assert files["interactions"]["rows_read"] == 2002
    assert data["rejects_summary"] == [{
        "run_id": RUN, "attempt": 1, "ds": DS, "entity": "interactions",
        "reason": "bad_timestamp:occurred_at", "count": 2}]
    assert len(data["rejects_examples"]) == 2
    assert "not-a-time" in data["rejects_examples"][0]["raw_record"]
    duckdb.connect(str(sample_db)).close()  # the read-only connection was closed


def test_gate_results_are_recorded_before_the_gate_fails(tmp_path, sample_db):
    import shutil

    data_dir = tmp_path / "data"
    db = tmp_path / "broken.duckdb"
    shutil.copy(sample_db, db)
    con = duckdb.connect(str(db))
    con.execute("update core.fct_interactions set watch_time_s = -3 where event_id = 'e1_1'")
    con.close()
    audit.start_run(RUN, logical_date=DS, store_dir=data_dir / "audit")
    kwargs = dict(ds=DS, run_id=RUN, data_dir=data_dir, expectations_dir=REPO / "expectations")
    run_gate("staging", db, **kwargs)
    with pytest.raises(GateFailed):
        run_gate("core", db, **kwargs)
    with pytest.raises(GateFailed):  # a retried task replaces its stage's rows
        run_gate("core", db, **kwargs)
    ref = audit.current_run(RUN, store_dir=data_dir / "audit")
    rows = audit.load_attempt(ref)["gate_results"]
    by_stage = {s: [r for r in rows if r["stage"] == s] for s in ("staging", "core")}
    assert len(by_stage["core"]) == len({(r["suite"], r["expectation"], r["column"], r["kwargs"])
                                        for r in by_stage["core"]})
    failed = [r for r in by_stage["core"] if r["status"] == "failed"]
    assert [(r["suite"], r["column"]) for r in failed] == [
        ("core.fct_interactions", "watch_time_s")]
    assert json.loads(failed[0]["unexpected_examples"]) == [-3.0]
    assert all(r["status"] == "passed" for r in by_stage["staging"])
    # the run's Data Docs and its GX project copy (suites + validation results) are kept
    docs = data_dir / "reports" / "scheduled__2026-01-08T00_00_00+00_00" / "attempt-1" / "data_docs"
    assert (docs / "index.html").is_file()
    assert list((ref.path / "gx" / "gx" / "uncommitted" / "validations").rglob("*.json"))
    assert (ref.path / "gx" / "thresholds.core.yml").is_file()


def test_materialize_audit_holds_every_run_including_failed_ones(store, sample_db, tmp_path):
    # run 1: failed during the core gate (gate rows recorded by hand here)
    audit.start_run("run_a", logical_date=DS, store_dir=store)
    audit.record_inputs("run_a", sample_db, DS, store_dir=store)
    audit.record_gate("run_a", [{
        "run_id": "run_a", "ds": DS, "stage": "core", "suite": "core.dim_users",
        "table_name": "core.dim_users", "expectation": "expect_column_values_to_be_unique",
        "column": "user_id", "kwargs": "", "success": False, "severity": "critical",
        "status": "failed", "observed_value": "2 unexpected of 10 rows (20%)",
        "unexpected_count": 2, "unexpected_percent": 20.0,
        "unexpected_examples": '["u1"]', "exception": None}], store_dir=store)
    audit.finish_run("run_a", "failed", error="GateFailed: core", store_dir=store,
                     build_reports=False)
    # run 2: success and published
    audit.start_run("run_b", logical_date=DS, store_dir=store)
    audit.record_inputs("run_b", sample_db, DS, store_dir=store)
    audit.record_publish("run_b", target="/srv/warehouse.duckdb", db_path=sample_db,
                         store_dir=store)
    audit.finish_run("run_b", "success", store_dir=store, build_reports=False)

    con = duckdb.connect(str(tmp_path / "served.duckdb"))
    counts = audit.materialize_audit(store, con)
    assert counts["runs"] == 2 and counts["input_files"] == 10 and counts["gate_results"] == 1
    runs = con.execute("select run_id, attempt, status, logical_date, gx_version is not null "
                       "from audit.runs order by run_id").fetchall()
    assert runs == [("run_a", 1, "failed", datetime(2026, 1, 8), True),
                    ("run_b", 1, "success", datetime(2026, 1, 8), True)]
    cols = [r[0] for r in con.execute("describe audit.runs").fetchall()]
    for col in ("run_id", "logical_date", "started_at", "ended_at", "status", "package_version",
                "dbt_version", "gx_version", "airflow_version"):
        assert col in cols
    gate_cols = [r[0] for r in con.execute("describe audit.gate_results").fetchall()]
    for col in ("run_id", "stage", "suite", "expectation", "column", "success", "severity",
                "observed_value", "unexpected_count", "unexpected_percent",
                "unexpected_examples"):
        assert col in gate_cols
    assert con.execute("select sum(count) from audit.rejects_summary").fetchone() == (4,)
    assert con.execute("select count(*) from audit.input_files where sha256 is null"
                       ).fetchone() == (0,)
    published = dict(con.execute("select table_name, row_count from audit.published").fetchall())
    assert published["core.dim_users"] == 400
    # re-materializing replaces, it does not duplicate; a later run is added, and the run
    # being published is shown as the success it will be once served
    audit.start_run("run_c", logical_date=date(2026, 1, 9), store_dir=store)
    assert audit.materialize_audit(store, con, status_overrides={"run_c": "success"})[
        "runs"] == 3
    assert con.execute("select status from audit.runs where run_id = 'run_c'").fetchone() == (
        "success",)
    assert con.execute("select count(*) from audit.input_files").fetchone() == (10,)
    con.close()


def test_materialize_an_empty_store_creates_empty_typed_tables(tmp_path):
    con = duckdb.connect()
    counts = audit.materialize_audit(tmp_path / "nothing", con)
    assert set(counts) == set(audit.TABLES) and not any(counts.values())
    assert con.execute("select count(*) from audit.gate_results").fetchone() == (0,)
    types = dict(con.execute("select column_name, data_type from information_schema.columns "
                             "where table_schema = 'audit' and table_name = 'runs'").fetchall())
    assert types["started_at"] == "TIMESTAMP" and types["attempt"] == "BIGINT"


def test_a_run_that_failed_before_starting_is_still_recorded(store):
    audit.finish_run("crashed", "failed", error="ingest crashed", store_dir=store,
                     build_reports=False)
    con = duckdb.connect()
    audit.materialize_audit(store, con)
    assert con.execute("select run_id, status, ds, error from audit.runs").fetchall() == [
        ("crashed", "failed", None, "ingest crashed")]


def test_abandon_stale_runs_closes_only_attempts_whose_process_is_gone(store, tmp_path):
    live = {"pid": 4242, "host": "writer-1", "started_at": "2026-01-08T01:00:00+00:00",
            "command": "social-warehouse run", "ds": "2026-01-08"}
    dead = {**live, "pid": 4141, "started_at": "2026-01-07T01:00:00+00:00"}
    audit.start_run("no_holder", logical_date=DS, store_dir=store)
    audit.start_run("dead_holder", logical_date=DS, store_dir=store, lock_holder=dead)
    audit.start_run("live_holder", logical_date=DS, store_dir=store, lock_holder=live)
    audit.finish_run(audit.start_run("ended", logical_date=DS, store_dir=store).run_id,
                     "success", store_dir=store, build_reports=False)
    audit.start_run("current", logical_date=DS, store_dir=store)
    recorded = json.loads((audit.current_run("live_holder", store_dir=store).path
                           / "run.json").read_text())["lock_holder"]
    assert recorded == {"pid": 4242, "host": "writer-1",
                        "started_at": "2026-01-08T01:00:00+00:00"}

    closed = audit.abandon_stale_runs("current", live, store_dir=store,
                                      reports_dir=tmp_path / "reports")
    assert sorted(ref.run_id for ref in closed) == ["dead_holder", "no_holder"]

    def status(run_id: str) -> dict:
        return json.loads((audit.current_run(run_id, store_dir=store).path
                           / "run.json").read_text())

    for run_id, who in [("dead_holder", "pid 4141 on writer-1"),
                        ("no_holder", "no run-lock holder recorded")]:
        record = status(run_id)
        assert record["status"] == "failed" and record["ended_at"]
        assert record["error"].startswith(audit.ABANDONED_PREFIX)
        assert who in record["error"] and "closed by run current" in record["error"]
        assert (tmp_path / "reports" / run_id / "attempt-1" / "report.html").is_file()
    assert status("live_holder")["status"] == "running"
    assert status("ended")["status"] == "success" and status("ended")["error"] is None
    assert status("current")["status"] == "running"
    # no live holder at all: every other running attempt is gone
    closed = audit.abandon_stale_runs("current", None, store_dir=store)
    assert [ref.run_id for ref in closed] == ["live_holder"]
    assert status("current")["status"] == "running"
    con = duckdb.connect()
    audit.materialize_audit(store, con)
    assert dict(con.execute("select run_id, status from audit.runs").fetchall()) == {
        "no_holder": "failed", "dead_holder": "failed", "live_holder": "failed",
        "ended": "success", "current": "running"}
