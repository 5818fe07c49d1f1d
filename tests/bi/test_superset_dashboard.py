"""The Superset dashboard, end to end: real pipeline runs, real Superset, real browser.

1. Two days of synthetic exports (day 2 with three quarantined rows) go through the real DAG
   (``airflow dags test``), which publishes the served warehouse.
2. ``make superset-env`` installs Superset 6.1 into its own pinned environment (once).
3. ``superset/dashboard.py setup`` creates SQLite metadata, the admin user and roles, and
   imports the bundle built against the served file (read-only DuckDB URI).
4. Superset runs on 127.0.0.1 (``superset run``); every chart's data is fetched through the
   REST API and must return rows that match the warehouse; headless Chromium screenshots the
   dashboard into ``test-artifacts/superset_dashboard.png``; Superset is stopped by PID.

Timings of each step are printed and written to ``test-artifacts/superset_timings.json``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"))
                 if p), None)

# the shared daily_world is requested lazily (not when reusing a data dir); the file is in
# tests/conftest.py's WORLD_FILES, so it runs on the worker that holds the world
pytestmark = [pytest.mark.e2e]

_spec = importlib.util.spec_from_file_location("sw_superset_dashboard",
                                               REPO / "superset" / "dashboard.py")
dashboard = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = dashboard  # dataclasses look their module up while executing it
_spec.loader.exec_module(dashboard)

TIMINGS: dict[str, float] = {}


def _timed(name: str, started: float) -> None:
    TIMINGS[name] = round(time.perf_counter() - started, 1)
    print(f"[superset test] {name}: {TIMINGS[name]} s", flush=True)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "superset_timings.json").write_text(json.dumps(TIMINGS, indent=2))


@pytest.fixture(scope="module")
def served(request):
    """A served warehouse published by two real DAG runs (day 2 quarantines 3 rows): the
    suite's shared ``daily_world`` (tests/conftest.py) as it was after day 2."""
    from tests.conftest import pipeline_settings

    reuse = os.environ.get("SW_SUPERSET_TEST_DATA_DIR")
    if reuse:  # a data dir published by an earlier run (for reruns of this module only)
        settings = pipeline_settings(Path(reuse))
        assert settings.warehouse_path.is_file(), settings.warehouse_path
        return settings
    t0 = time.perf_counter()
    settings = request.getfixturevalue("daily_world").frozen
    assert settings.warehouse_path.is_file()
    _timed("pipeline_two_days", t0)
    return settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, base: str, password: str) -> None:
        self.base = base
        self.token = self.call("/api/v1/security/login", {
            "username": "admin", "password": password, "provider": "db",
            "refresh": False})["access_token"]

    def call(self, path: str, data: dict | None = None) -> dict:
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if getattr(self, "token", None):
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, headers=headers,
                                     data=None if data is None else json.dumps(data).encode())
        try:
            with urllib.request.urlopen(req, timeout=180) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{path}: HTTP {exc.code}: {exc.read()[:2000]!r}") from exc


@pytest.fixture(scope="module")
def superset(served, tmp_path_factory):
    t0 = time.perf_counter()
    proc = subprocess.run(["make", "--no-print-directory", "superset-env"], cwd=REPO,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    _timed("make_superset_env", t0)

    home = tmp_path_factory.mktemp("superset_home")
    password = secrets.token_urlsafe(12)
    t0 = time.perf_counter()
    dashboard.setup(home, served.warehouse_path, password=password)
    _timed("superset_setup_and_import", t0)

    port = _free_port()
    log = open(home / "server.log", "w", encoding="utf-8")  # noqa: SIM115 - closed below
    t0 = time.perf_counter()
    server = subprocess.Popen(dashboard.serve_command(port), env=dashboard.superset_env(home),
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, (home / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(base + "/health", timeout=5) as resp:
                    if resp.read() == b"OK":
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Superset did not answer /health in 240 s"
            time.sleep(1)
        _timed("superset_start", t0)
        yield base, password, served, home
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its reloader, by PID
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()


def _query(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_every_chart_returns_rows_that_match_the_warehouse(superset):
    base, password, settings, home = superset
    t0 = time.perf_counter()
    api = Api(base, password)
    charts = api.call("/api/v1/chart/?q=(page_size:100)")["result"]
    assert sorted(c["slice_name"] for c in charts) == sorted(c.name for c in dashboard.CHARTS)
    data = {}
    for chart in charts:
        result = api.call(f"/api/v1/chart/{chart['id']}/data/")["result"]
        assert result[0]["rowcount"] > 0, (chart["slice_name"], result)
        data[chart["slice_name"]] = result[0]["data"]
    wh = settings.warehouse_path
    # the leaderboard is the mart's top 50 by rank
    ranks = [r["leaderboard_rank"] for r in data["KOL leaderboard"]]
    n_kols = _query(wh, "select count(*) from marts.mart_kol_leaderboard")[0][0]
    assert ranks == sorted(ranks) and len(ranks) == min(50, n_kols)
    # community sizes add up to the mart
    assert sum(r["members"] for r in data["Community sizes"]) == \
        _query(wh, "select sum(size) from marts.mart_communities")[0][0]
    # collaboration pairs carry their reasons
    assert all(r["reasons"] for r in data["KOL collaboration pairs"])
    # recommender evaluation and data quality span both runs
    ndcg_days = {r["ds"] for r in data["Recommender evaluation over runs (NDCG@k, all users)"]}
    assert len(ndcg_days) == 2
    rates = [r["reject rate %"] for r in data["Reject rate per run (%)"]]
    assert len(rates) == 2 and min(rates) == 0 and 0 < max(rates) < 0.5
    rejected = _query(wh, "select sum(rows_rejected) from audit.input_files")[0][0]
    assert rejected == 3
    loaded = {(r["ds"], r["entity"]): r["rows"] for r in data["Rows loaded per run and entity"]}
    assert sum(loaded.values()) == _query(
        wh, "select sum(rows_loaded) from audit.input_files f join audit.runs r "
            "using (run_id, attempt) where r.status <> 'failed'")[0][0]
    # the connection Superset uses is the served file, read-only
    dbs = api.call("/api/v1/database/?q=(page_size:10)")["result"]
    assert len(dbs) == 1
    import sqlite3

    meta = sqlite3.connect(home / "superset.db")
    try:
        uris = meta.execute("select sqlalchemy_uri from dbs").fetchall()
    finally:
        meta.close()
    assert uris == [(dashboard.duckdb_uri(wh),)]
    assert uris[0][0].endswith("?access_mode=read_only")
    _timed("chart_data_api", t0)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_dashboard_renders_filled_charts_in_chromium(superset, tmp_path):
    base, _, _, _ = superset
    t0 = time.perf_counter()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "superset_dashboard.png"
    shot.unlink(missing_ok=True)
    url = f"{base}/superset/dashboard/{dashboard.DASHBOARD_SLUG}/?standalone=1"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1600,3600",
           "--hide-scrollbars", "--virtual-time-budget=90000",
           "--run-all-compositor-stages-before-draw"]
    proc = subprocess.run([*cmd, f"--screenshot={shot}", url], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 100_000
    dom = subprocess.run([*cmd, "--dump-dom", url], capture_output=True, text=True,
                         timeout=300).stdout
    # anonymous viewers see the dashboard (no login page), every chart rendered, none empty
    assert "Social Warehouse" in dom and 'name="password"' not in dom
    for chart in dashboard.CHARTS:
        assert chart.name in dom, chart.name
    assert "No results were returned" not in dom
    assert not re.search(r"Unexpected error|Error: ", dom)
    assert dom.count("<svg") + dom.count("<canvas") >= 6  # the echarts charts drew
    _timed("chromium_screenshot", t0)
