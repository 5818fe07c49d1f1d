"""Faults around real `social-warehouse run` processes: a second run on the same data dir,
SIGTERM to the CLI mid-run, and BI readers across a publish.

Every run goes through the real CLI in a subprocess, which starts its own Airflow
(scheduler, dag-processor, api-server; LocalExecutor, a process per task).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from social_warehouse.synthetic import generate

from tests.conftest import REPO_ROOT, VENV_BIN

pytestmark = pytest.mark.e2e
DAYS = ["2026-04-01", "2026-04-02", "2026-04-03"]
RUN_TIMEOUT = 1800  # one small day takes 3-8 min on a loaded 2-core machine


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SW_"))}
    env.update(SW_HOME=str(REPO_ROOT), SW_DATA_DIR=str(data_dir), SW_TASK_RETRIES="0")
    return env


def start_cli(data_dir: Path, *args: str, log: Path) -> subprocess.Popen:
    fh = open(log, "w", encoding="utf-8")  # noqa: SIM115 - closed by the caller via wait
    return subprocess.Popen([str(VENV_BIN / "social-warehouse"), *args], env=cli_env(data_dir),
                            stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None,
             log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"process ended (rc {proc.returncode}) before {what}:\n"
                        f"{log.read_text()[-4000:] if log else ''}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}:\n"
                        f"{log.read_text()[-4000:] if log else ''}")
        time.sleep(0.5)


def stop_tree(proc: subprocess.Popen) -> None:
    """Clean-up for a failed test: the CLI and everything below it, by PID."""
    if proc.poll() is not None:
        return
    try:
        tree = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        tree = []
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
    for child in tree:
        if child.is_running():
            child.kill()


@pytest.fixture(scope="module")
def warehouse():
    """A data dir with 3 landing days whose first day is published.

    Day 1 is published by the pipeline's own steps in this process (tests/bi/conftest.py,
    ``run_day``: no Airflow, no gates); the runs under test (days 2 and 3) go through the
    real CLI and its Airflow."""
    from tests.bi.conftest import run_day
    from tests.conftest import pipeline_settings

    # a world-readable folder: the reader and Airflow processes all run as this user
    root = Path(tempfile.mkdtemp(prefix="sw_faults_"))
    data = root / "data"
    generate(profile="small", days=3, seed=7, out=data, start_date=DAYS[0], fmt="mixed")
    run_day(pipeline_settings(data), DAYS[0], run_id=f"faults_setup__{DAYS[0]}")
    assert (data / "warehouse.duckdb").is_file()
    yield data, root


READER = textwrap.dedent("""
    import json, sys, duckdb
    path, n = sys.argv[1], int(sys.argv[2])
    seen, errors = [], []
    for _ in range(n):
        try:
            con = duckdb.connect(path, read_only=True)
            try:
                seen.append(str(con.execute(
                    "select max(ds) from meta.publications").fetchone()[0]))
                con.execute("select count(*) from core.dim_users").fetchone()
            finally:
                con.close()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"seen": sorted(set(seen)), "reads": len(seen), "errors": errors}))
""")


def read_in_fresh_process(served: Path, n: int = 10) -> dict:
    proc = subprocess.run([sys.executable, "-c", READER, str(served), str(n)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_second_run_is_refused_first_publishes_and_readers_never_fail(warehouse):
    data, root = warehouse
    served = data / "warehouse.duckdb"
    log_a = root / "run_a.log"
    first = start_cli(data, "run", "--ds", DAYS[1], log=log_a)
    try:
        from social_warehouse.locking import current_holder

        wait_for(lambda: current_holder(data) is not None, 120, "the first run's lock",
                 first, log_a)
        t0 = time.monotonic()
        second = subprocess.run([str(VENV_BIN / "social-warehouse"), "run", "--ds", DAYS[2]],
                                env=cli_env(data), capture_output=True, text=True, timeout=120)
        refused_in = time.monotonic() - t0
        out = second.stdout + second.stderr
        assert second.returncode == 3, out
        assert "in use by another run" in out and f"pid {first.pid}" in out, out
        assert DAYS[1] in out  # names the running one's logical date
        print(f"second run refused in {refused_in:.1f}s: {out.strip()}")

        # BI readers: fresh read-only connections in new processes while the run works
        results = []
        while first.poll() is None:
            results.append(read_in_fresh_process(served))
            time.sleep(1)
        rc = first.wait(timeout=RUN_TIMEOUT)
    finally:
        stop_tree(first)
    assert rc == 0, log_a.read_text()[-6000:]
    after = read_in_fresh_process(served)
    reads = sum(r["reads"] for r in results) + after["reads"]
    errors = [e for r in results for e in r["errors"]] + after["errors"]
    print(f"reader processes: {len(results) + 1}, reads: {reads}, errors: {len(errors)}")
    assert errors == []
    assert results and DAYS[0] in results[0]["seen"]
    assert after["seen"] == [DAYS[1]]  # a fresh connection sees the new logical date
    assert json.loads((data / "published.json").read_text())["ds"] == DAYS[1]
    log = log_a.read_text()
    for line in ("prepare_build", "started", "success in", "task logs:"):
        assert line in log, log[-3000:]


def _airflow_pids(cli_pid: int, home: Path) -> set[int]:
    pids = set()
    try:
        pids |= {p.pid for p in psutil.Process(cli_pid).children(recursive=True)}
    except psutil.Error:
        pass
    state = home / "processes.json"
    if state.exists():
        pids |= set(json.loads(state.read_text())["processes"].values())
    return pids


def _processes_using(home: Path) -> list[psutil.Process]:
    """Every live process whose environment points at this AIRFLOW_HOME or data dir."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            env = proc.environ()
        except psutil.Error:
            continue
        if env.get("AIRFLOW_HOME") == str(home) or env.get("SW_DATA_DIR") == str(home.parent):
            found.append(proc)
    return found


def test_sigterm_to_the_cli_stops_every_airflow_process_and_fails_the_run(warehouse):
    data, root = warehouse
    served = data / "warehouse.duckdb"
    home = data / "airflow"
    digest = sha256(served)
    log = root / "run_killed.log"
    proc = start_cli(data, "run", "--ds", DAYS[2], log=log)
    pids: set[int] = set()
    try:
        # mid-run: a writer task is running in its own process
        wait_for(lambda: re.search(r"ingest\s+started", log.read_text()) is not None, 600,
                 "the ingest task to start", proc, log)
        time.sleep(2)
        pids = _airflow_pids(proc.pid, home)
        assert len(pids) >= 4, pids  # scheduler, dag-processor, api-server, task process(es)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=180)
    finally:
        stop_tree(proc)
    text = log.read_text()
    assert rc == 128 + signal.SIGTERM, text[-3000:]
    assert "interrupted by SIGTERM" in text
    alive = [p for p in pids if psutil.pid_exists(p)
             and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"Airflow processes survived the CLI: {alive}"
    assert _processes_using(home) == []
    assert sha256(served) == digest
    # the run is closed failed in the audit store, and the lock is free again
    runs = [json.loads(p.read_text())
            for p in sorted((data / "audit" / "runs").glob("*/attempt-*/run.json"))]
    mine = [r for r in runs if r.get("ds") == DAYS[2]]
    assert mine and all(r["status"] == "failed" for r in mine), mine
    assert "interrupted" in mine[-1]["error"]
    from social_warehouse.locking import current_holder

    assert current_holder(data) is None
    print(f"SIGTERM: {len(pids)} Airflow processes stopped; audit: {mine[-1]['error']}")
