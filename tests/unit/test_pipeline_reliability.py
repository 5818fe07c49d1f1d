"""One run at a time, per-run build files, abandoned runs, atomic publish under SIGKILL.

Everything runs for real: OS file locks held by other processes, real DuckDB files, the
real ingest of synthetic exports, and subprocesses killed (SIGKILL) at each named step of
``publish`` by the fault-injection hook ``SW_FAULT``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from social_warehouse import audit
from social_warehouse.db import DatabaseMissingError, connect
from social_warehouse.locking import DataDirLock, RunLockedError, current_holder
from social_warehouse.pipeline import (
    PUBLISH_STEPS,
    PipelineError,
    build_path,
    export_analytics_inputs,
    load_outputs,
    prepare_build,
    publish,
    run_dbt,
    run_ingest,
    run_quality_gate,
    table_checksums,
    write_outputs,
)

from tests.conftest import REPO_ROOT, pipeline_settings

DAY1, DAY2 = "2026-03-01", "2026-03-02"
WAIT_SECONDS = 60


# --------------------------------------------------------------------------- helpers


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SW_")}
    return {**env, "SW_HOME": str(REPO_ROOT), "SW_DATA_DIR": str(data_dir), **extra}


def _python(code: str, env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def _wait_line(proc: subprocess.Popen, expected: str) -> None:
    """Wait (bounded) until the child prints ``expected``."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == expected:
            return
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"child did not print {expected!r}: {proc.stderr.read()[-3000:]}")


HOLD_LOCK = """
    import sys, time
    from social_warehouse.locking import DataDirLock
    lock = DataDirLock(sys.argv[1] if len(sys.argv) > 1 else {data_dir!r})
    lock.acquire({{"ds": {ds!r}, "command": "test holder"}})
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def lock_holder(tmp_path):
    """Start a process holding the data dir's lock; stop it by PID at the end."""
    procs: list[subprocess.Popen] = []

    def start(data_dir: Path, ds: str = DAY1) -> subprocess.Popen:
        proc = _python(HOLD_LOCK.format(data_dir=str(data_dir), ds=ds), _env(data_dir))
        procs.append(proc)
        _wait_line(proc, "locked")
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=WAIT_SECONDS)
        proc.stdout.close()
        proc.stderr.close()


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    """Two days of small synthetic exports (mixed formats), generated once."""
    from social_warehouse.synthetic import generate

    root = tmp_path_factory.mktemp("landing_src")
    generate(profile="small", days=2, seed=7, out=root, start_date=DAY1, fmt="mixed")
    return root / "landing"


def _settings_with_landing(tmp_path: Path, landing: Path):
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    shutil.copytree(landing, data / "landing")
    return pipeline_settings(data)


def _run_status(store: Path, run_id: str) -> dict:
    refs = audit.list_attempts(run_id, store_dir=store)
    assert refs, f"no attempt of {run_id}"
    return json.loads((refs[-1].path / audit.RUN_FILE).read_text())


# --------------------------------------------------------------------------- the lock


def test_second_lock_is_refused_naming_the_running_holder(tmp_path, lock_holder):
    data = tmp_path / "data"
    proc = lock_holder(data, ds=DAY2)
    holder = current_holder(data)
    assert holder is not None and holder["pid"] == proc.pid and holder["ds"] == DAY2
    assert holder["command"] == "test holder" and holder["host"] and holder["started_at"]
    with pytest.raises(RunLockedError) as err:
        DataDirLock(data).acquire({"ds": DAY1})
    message = str(err.value)
    assert f"pid {proc.pid}" in message and f"ds {DAY2}" in message and str(data) in message
    assert err.value.holder["pid"] == proc.pid


def test_lock_is_released_when_its_process_is_killed(tmp_path, lock_holder):
    data = tmp_path / "data"
    proc = lock_holder(data)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=WAIT_SECONDS)
    # the killed holder's side file is still there, but the kernel released the lock
    assert (data / ".run.lock.json").exists()
    assert current_holder(data) is None
    lock = DataDirLock(data)
    lock.acquire({"ds": DAY2})
    try:
        assert current_holder(data)["pid"] == os.getpid()
        assert current_holder(data)["ds"] == DAY2
    finally:
        lock.release()
    assert current_holder(data) is None and not (data / ".run.lock.json").exists()


def test_lock_conflicts_inside_one_process_and_works_as_context_manager(tmp_path):
    data = tmp_path / "data"
    assert current_holder(data) is None
    with DataDirLock(data) as lock:
        assert lock.held
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            DataDirLock(data).acquire({})
    assert current_holder(data) is None
    DataDirLock(data).acquire({})  # free again (released when the object goes away)


# --------------------------------------------------------------------------- build files


def test_connect_never_creates_a_file_that_must_exist(tmp_path):
    missing = tmp_path / "nope.duckdb"
    for kwargs in ({"create": False}, {"read_only": True}):
        with pytest.raises(DatabaseMissingError, match="nope.duckdb"):
            with connect(missing, **kwargs):
                pass
        assert not missing.exists()
    with connect(missing, create=True) as con:
        con.execute("create table t as select 1 as x")
    with connect(missing, create=False) as con:
        assert con.execute("select x from t").fetchone() == (1,)


def test_prepare_build_returns_only_logical_paths_and_a_per_run_build_file(tmp_path):
    s = pipeline_settings(tmp_path / "data")
    info = prepare_build("manual__2026-03-01T00:00:00+00:00", DAY1, settings=s)
    assert info["run_id"] == "manual__2026-03-01T00:00:00+00:00" and info["ds"] == DAY1
    for key, value in info.items():
        assert not (isinstance(value, str) and value.startswith("/")), (key, value)
    assert info["build"] == "build/manual__2026-03-01T00_00_00+00_00.duckdb"
    build = build_path(info["run_id"], s)
    assert build == s.data_dir / info["build"] and build.is_file()
    json.dumps(info)  # XCom-safe


def test_every_task_after_prepare_build_fails_when_its_build_file_is_missing(tmp_path):
    s = pipeline_settings(tmp_path / "data")
    run = "gone_run"
    prepare_build(run, DAY1, settings=s)
    build = build_path(run, s)
    build.unlink()  # published by someone else, or prepare_build ran on another host
    steps = {
        "ingest": lambda: run_ingest(DAY1, s, run_id=run),
        "gate": lambda: run_quality_gate("raw", run, DAY1, s),
        "dbt": lambda: run_dbt(["tag:staging"], DAY1, s, run_id=run),
        "export": lambda: export_analytics_inputs(run, s),
        "load_analytics": lambda: load_outputs(run, s),
        "publish": lambda: publish(run, DAY1, s),
    }
    for name, step in steps.items():
        with pytest.raises(PipelineError, match="build file .*gone_run.duckdb.* does not exist"):
            step()
        assert not build.exists(), f"{name} created an empty build file"
    assert not s.warehouse_path.exists()


def test_runs_under_one_live_holder_keep_their_build_files(tmp_path, lock_holder):
    """Two runs prepared under the same live lock holder do not touch each other."""
    s = pipeline_settings(tmp_path / "data")
    lock_holder(s.data_dir)
    prepare_build("run_a", DAY1, settings=s)
    prepare_build("run_b", DAY2, settings=s)
    assert build_path("run_a", s).is_file() and build_path("run_b", s).is_file()
    assert _run_status(s.data_dir / "audit", "run_a")["status"] == "running"


def test_prepare_build_closes_abandoned_runs_and_removes_their_build_files(tmp_path, lock_holder):
    s = pipeline_settings(tmp_path / "data")
    store = s.data_dir / "audit"
    holder = lock_holder(s.data_dir)
    prepare_build("killed_run", DAY1, settings=s)
    with connect(build_path("killed_run", s), create=False) as con:
        con.execute("create table half_done as select 1 as x")
    holder.send_signal(signal.SIGKILL)  # the run's process dies; its lock with it
    holder.wait(timeout=WAIT_SECONDS)
    assert _run_status(store, "killed_run")["status"] == "running"

    info = prepare_build("next_run", DAY1, settings=s)
    record = _run_status(store, "killed_run")
    assert record["status"] == "failed" and record["ended_at"]
    assert record["error"].startswith(audit.ABANDONED_PREFIX)
    assert f"pid {holder.pid}" in record["error"] and "next_run" in record["error"]
    assert info["abandoned_runs"] == ["killed_run"]
    assert not build_path("killed_run", s).exists()
    assert _run_status(store, "next_run")["status"] == "running"
    # the report of the abandoned attempt exists and says so
    report = s.data_dir / "reports" / "killed_run" / "attempt-1" / "report.html"
    assert report.is_file() and "abandoned" in report.read_text(encoding="utf-8")
    # a run without any lock holder is abandoned by the next one too
    prepare_build("third_run", DAY2, settings=s)
    assert _run_status(store, "next_run")["error"].startswith(audit.ABANDONED_PREFIX)


# --------------------------------------------------------------------------- analytics I/O


def test_load_outputs_fails_naming_a_missing_output_and_loads_nothing(tmp_path):
    import pandas as pd

    s = pipeline_settings(tmp_path / "data")
    run = "outputs_run"
    prepare_build(run, DAY1, settings=s)
    frame = pd.DataFrame({"user_id": ["u1", "u2"], "value": [1.0, 2.0]})
    write_outputs(run, {"a_out": frame, "b_out": frame}, s)
    with pytest.raises(PipelineError) as err:
        load_outputs(run, s, expected=["a_out", "b_out", "c_out"])
    assert "c_out" in str(err.value) and "a_out, b_out" in str(err.value)
    with connect(build_path(run, s), read_only=True) as con:
        assert con.execute("select count(*) from information_schema.tables "
                           "where table_schema = 'analytics'").fetchone() == (0,)
    assert load_outputs(run, s, expected=["a_out", "b_out"]) == {"a_out": 2, "b_out": 2}
    # the default expectation is the dbt project's list of analytics outputs
    with pytest.raises(PipelineError, match="kol_scores"):
        load_outputs(run, s)


# --------------------------------------------------------------------------- publish faults

DRIVE_DAY = """
    import sys
    from social_warehouse.config import get_settings
    from social_warehouse.pipeline import prepare_build, run_ingest, publish, finalize_run
    ds, run_id = sys.argv[1], sys.argv[2]
    s = get_settings()
    prepare_build(run_id, ds, settings=s)
    run_ingest(ds, s, run_id=run_id)
    publish(run_id, ds, settings=s)
    finalize_run(run_id, ds, settings=s)
    print("published", flush=True)
"""


def _drive(data_dir: Path, ds: str, run_id: str, fault: str | None = None) -> int:
    """One day (prepare_build, ingest, publish, finalize) in a real subprocess."""
    extra = {"SW_FAULT": fault} if fault else {}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(DRIVE_DAY), ds, run_id],
                          env=_env(data_dir, **extra), cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    if fault is None:
        assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.returncode


def _served_state(data_dir: Path) -> tuple[dict, dict, list]:
    """(pointer, checksums of raw/core, publications) of the served warehouse; it opens."""
    served = data_dir / "warehouse.duckdb"
    pointer = json.loads((data_dir / "published.json").read_text(encoding="utf-8"))
    con = duckdb.connect(str(served), read_only=True)
    try:
        pubs = con.execute("select run_id, ds::VARCHAR from meta.publications "
                           "order by published_at").fetchall()
    finally:
        con.close()
    # load times and the absolute landing paths differ between data dirs by design
    volatile = ("_loaded_at", "loaded_at", "_source_file", "path")
    return pointer, table_checksums(served, ("raw", "core"), exclude=volatile), pubs


@pytest.fixture(scope="module")
def clean_two_days(tmp_path_factory, landing) -> tuple[Path, dict]:
    """Day 1 published (the baseline every fault run starts from), and the state after a
    clean day 2 on top of it."""
    base = tmp_path_factory.mktemp("publish_base")
    s = _settings_with_landing(base, landing)
    _drive(s.data_dir, DAY1, "day1")
    clean = tmp_path_factory.mktemp("publish_clean") / "data"
    shutil.copytree(s.data_dir, clean)
    _drive(clean, DAY2, "day2_clean")
    return s.data_dir, _served_state(clean)[1]


@pytest.mark.integration
@pytest.mark.parametrize("step", PUBLISH_STEPS)
def test_sigkill_at_each_publish_step_then_rerun_serves_a_clean_runs_warehouse(
        step, clean_two_days, tmp_path):
    baseline, clean_checksums = clean_two_days
    data = tmp_path / "data"
    shutil.copytree(baseline, data)
    served_before = (data / "warehouse.duckdb").read_bytes()
    day1_checksums = _served_state(data)[1]

    rc = _drive(data, DAY2, "day2_killed", fault=f"publish:{step}")
    assert rc == -signal.SIGKILL, f"the process was not killed at publish:{step} (rc {rc})"

    # right after the kill: the served file is valid, and it is either the old or the new one
    pointer, checksums, pubs = _served_state(data)
    renamed = step in ("after_rename", "after_run_marker", "after_pointer")
    if renamed:
        assert pubs[-1] == ("day2_killed", DAY2)
        assert checksums == clean_checksums
    else:
        assert (data / "warehouse.duckdb").read_bytes() == served_before
        assert checksums == day1_checksums and pubs[-1] == ("day1", DAY1)
    # the pointer is a whole JSON document naming a published run (old until step 5)
    assert pointer["run_id"] == ("day2_killed" if step == "after_pointer" else "day1")
    assert not list(data.glob(".published.json.*.tmp")) or step == "after_run_marker"
    assert _run_status(data / "audit", "day2_killed")["status"] == "running"

    # rerun of the day, as a new run: the served warehouse equals a clean run's
    _drive(data, DAY2, "day2_rerun")
    pointer, checksums, pubs = _served_state(data)
    assert checksums == clean_checksums
    assert pubs[-1] == ("day2_rerun", DAY2)
    assert pointer["run_id"] == "day2_rerun" and pointer["ds"] == DAY2
    killed = _run_status(data / "audit", "day2_killed")
    assert killed["status"] == "failed" and killed["error"].startswith(audit.ABANDONED_PREFIX)
    assert _run_status(data / "audit", "day2_rerun")["status"] == "success"
    assert sorted(p.name for p in (data / "build").iterdir()) == []


@pytest.mark.integration
def test_publish_retried_after_a_kill_past_the_rename_completes_the_same_run(
        clean_two_days, tmp_path):
    """Airflow retries a killed publish task: it finishes the marker and the pointer."""
    from social_warehouse.pipeline import finalize_run

    baseline, clean_checksums = clean_two_days
    data = tmp_path / "data"
    shutil.copytree(baseline, data)
    assert _drive(data, DAY2, "day2_retry", fault="publish:after_rename") == -signal.SIGKILL
    served = (data / "warehouse.duckdb").read_bytes()
    s = pipeline_settings(data)
    assert not (s.run_dir("day2_retry") / "published.json").exists()
    result = publish("day2_retry", DAY2, settings=s)
    assert result["run_id"] == "day2_retry" and result["ds"] == DAY2
    assert (data / "warehouse.duckdb").read_bytes() == served  # nothing republished
    pointer, checksums, pubs = _served_state(data)
    assert pointer == result and checksums == clean_checksums
    assert [p for p in pubs if p[0] == "day2_retry"] == [("day2_retry", DAY2)]
    assert finalize_run("day2_retry", DAY2, settings=s)["status"] == "success"
    # a different run cannot claim the served file: its build file is missing
    with pytest.raises(PipelineError, match="build file .*other_run.duckdb"):
        publish("other_run", DAY2, settings=s)
