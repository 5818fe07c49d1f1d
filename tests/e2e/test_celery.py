"""A real CeleryExecutor deployment on 127.0.0.1: Redis broker, Postgres, scheduler,
dag-processor, api-server and two Celery workers with different hostnames (one of them also
serving the `duckdb_writer` queue). Two logical dates run through it, one after the other;
every task of both must succeed and the analytics tasks must have run on both workers. After
the first date, the served core and mart tables must equal, table by table (row counts and
checksums), those of a LocalExecutor run (`social-warehouse run`, the default path) of the
same date on the same landing files; after the second, both dates are published. (The
LocalExecutor reference runs one date only: the second would cost a whole run in CI and the
comparison of the first already covers every table.)

Postgres is the Celery result backend; it is also the Airflow metadata DB when Airflow's
async Postgres driver (asyncpg) is installed, else the metadata DB is SQLite.
Every process is started by this test and stopped by PID in a `finally`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb
import pytest
from social_warehouse import airflow_setup as af
from social_warehouse.config import get_settings
from social_warehouse.pipeline import table_checksums
from social_warehouse.synthetic import generate
from social_warehouse.taskmetrics import read_metrics

from tests.conftest import REPO_ROOT, VENV_BIN

pytestmark = pytest.mark.e2e
DAYS = ["2026-05-01", "2026-05-02"]
ANALYTICS = {"analytics_graph", "analytics_topics", "analytics_kol", "analytics_audience"}
WRITER_TASKS = {"prepare_build", "ingest", "dbt_core", "publish", "load_analytics"}
VOLATILE = ("selection_seconds",)  # timing columns measure the machine, not the data
RUN_TIMEOUT = 1800
EVIDENCE_FILE = REPO_ROOT / "test-artifacts" / "celery_evidence.json"


def _base_env(data_dir: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SW_"))}
    env.update(SW_HOME=str(REPO_ROOT), SW_DATA_DIR=str(data_dir), SW_TASK_RETRIES="0",
               AIRFLOW_HOME=str(home))
    return af.project_env(get_settings(env), env)


def _need(binary: str) -> None:
    if shutil.which(binary) is None and not Path(f"/usr/bin/{binary}").exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Celery test, but {binary} is not installed")
        pytest.skip(f"{binary} not installed (Debian package; .ci/run installs it)")


@pytest.fixture(scope="module")
def landing():
    root = Path(tempfile.mkdtemp(prefix="sw_celery_"))
    os.chmod(root, 0o755)  # the postgres user must reach its cluster folder below
    src = root / "source"
    generate(profile="small", days=2, seed=5, out=src, start_date=DAYS[0], fmt="mixed")
    yield root, src / "landing"
    shutil.rmtree(root, ignore_errors=True)  # every process in it was stopped by the test


def _copy_landing(landing: Path, data: Path) -> None:
    shutil.copytree(landing, data / "landing")


def _celery_importable() -> None:
    """The Celery provider must import with the installed celery (3.26.0 fails on 5.7)."""
    code = "import airflow.providers.celery.executors.celery_executor_utils"
    proc = subprocess.run([str(VENV_BIN / "python"), "-c", code], capture_output=True,
                          text=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail("the Celery executor cannot load in this environment, so no worker can "
                    f"start:\n{proc.stderr.strip().splitlines()[-1]}\n(celery 5.7 removed "
                    "celery.backends.database.retry, which apache-airflow-providers-celery "
                    "3.26.0 imports: pin celery<5.7)")


def test_celery_workers_run_the_dag_like_the_local_executor(landing, capsys, record_property):
    _need("redis-server")
    if af._pg_bindir() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the Celery test, but the PostgreSQL server binaries are "
                        "not installed")
        pytest.skip("PostgreSQL server binaries not installed")
    _celery_importable()
    root, landing_dir = landing
    t_start = time.monotonic()
    data = root / "celery" / "data"
    _copy_landing(landing_dir, data)
    home = data / "airflow"
    env = _base_env(data, home)
    redis = af.RedisServer(root / "redis", af.free_port())
    pg = af.LocalPostgres(root / "pg", port=af.free_port())
    procs = af.AirflowProcesses(env)
    evidence: dict = {}
    # the LocalExecutor reference runs at the same time, through the CLI, in its own data dir
    # and AIRFLOW_HOME (the two share the machine: durations are under mutual load)
    local = root / "local" / "data"
    _copy_landing(landing_dir, local)
    cli_env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SW_"))}
    cli_env.update(SW_HOME=str(REPO_ROOT), SW_DATA_DIR=str(local), SW_TASK_RETRIES="0")
    local_log = root / "local_executor.log"
    with open(local_log, "w", encoding="utf-8") as fh:
        reference = subprocess.Popen(
            [str(VENV_BIN / "social-warehouse"), "run", "--ds", DAYS[0]],
            env=cli_env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    local_done: float | None = None
    try:
        redis.start()
        pg.start()
        metadata_on_pg = importlib.util.find_spec("asyncpg") is not None
        api_port = af.free_port()
        conn = pg.url() if metadata_on_pg else f"sqlite:///{home / 'airflow.db'}"
        af.write_airflow_cfg(
            get_settings(env), env, executor="CeleryExecutor", sql_alchemy_conn=conn,
            api_port=api_port, parallelism=2,
            celery={"broker_url": redis.url(),
                    "result_backend": "db+" + pg.url("postgresql"),
                    "worker_concurrency": "1", "worker_prefetch_multiplier": "1"},
        )
        env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"
        af.ensure_metadata(env)
        api = procs.start("api-server")
        procs.start("scheduler")
        procs.start("dag-processor")
        workers = {"sw-worker-writer": "default,duckdb_writer", "sw-worker-2": "default"}
        for i, (name, queues) in enumerate(workers.items()):
            procs.start(f"celery-worker-{i}",
                        ["celery", "worker", "--celery-hostname", f"{name}@%h",
                         "--queues", queues, "--concurrency", "1"],
                        env={"SW_WORKER_HOSTNAME": name,
                             "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(af.free_port())})
        af.wait_for_http(f"http://127.0.0.1:{api_port}/api/v2/version", 240, api)
        client = af.AirflowAPI(f"http://127.0.0.1:{api_port}")
        af.wait_for_dag(client, 240)
        client.set_paused(False)
        tis: dict[str, list[dict]] = {}
        celery_sums: dict[str, dict] = {}
        for ds in DAYS:
            run_id = f"celery__{ds}"
            client.trigger(run_id, f"{ds}T00:00:00Z")
            deadline = time.monotonic() + RUN_TIMEOUT
            while client.run(run_id).get("state") not in ("success", "failed"):
                if local_done is None and reference.poll() is not None:
                    local_done = time.monotonic()
                assert procs.exited() == {}, f"a component exited: {procs.exited()}"
                assert time.monotonic() < deadline, f"{run_id} did not finish in time"
                procs.track()
                time.sleep(3)
            tis[ds] = client.task_instances(run_id)
            if ds == DAYS[0]:  # the served file as of the first date (nothing writes it now)
                celery_sums = table_checksums(data / "warehouse.duckdb", ("core", "marts"),
                                              exclude=VOLATILE)
        celery_seconds = time.monotonic() - t_start
        local_rc = reference.wait(timeout=2 * RUN_TIMEOUT)
        local_seconds = (local_done or time.monotonic()) - t_start
    finally:
        if reference.poll() is None:  # a failure above: stop the CLI (it stops its Airflow)
            reference.terminate()
            reference.wait(timeout=180)
        hard = procs.stop()
        pg.stop()
        redis.stop()
    # the evidence first (printed whatever the outcome), the assertions after
    hosts: dict[str, set[str]] = {}
    for rows in tis.values():
        for t in rows:
            hosts.setdefault(t["task_id"], set()).add(t["hostname"])
    evidence["states"] = {ds: sorted({t["state"] for t in rows}) for ds, rows in tis.items()}
    evidence["hosts_per_task"] = {k: sorted(v) for k, v in sorted(hosts.items())}
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        published = [r[0].isoformat() for r in
                     con.execute("select ds from meta.publications order by ds").fetchall()]
    evidence["published"] = published
    # per-task figures the DAG records (social_warehouse.taskmetrics), first date
    metrics = read_metrics(f"celery__{DAYS[0]}", get_settings(env))
    evidence["peak_rss_mb_per_task"] = {m["task"]: m["peak_rss_mb"] for m in metrics}
    # the first date under LocalExecutor (the CLI run started above), same landing files
    local_sums = (table_checksums(local / "warehouse.duckdb", ("core", "marts"),
                                  exclude=VOLATILE) if local_rc == 0 else {})
    evidence["tables_compared"] = len(local_sums)
    evidence["checksums"] = {name: {"celery": celery_sums.get(name), "local": local_sums[name]}
                             for name in sorted(local_sums)}
    evidence["celery_seconds"] = round(celery_seconds, 1)
    evidence["local_executor_seconds"] = round(local_seconds, 1)
    evidence["metadata_db"] = "postgres" if metadata_on_pg else "sqlite"
    evidence["processes_killed_hard"] = hard
    record_property("celery_evidence", json.dumps(evidence, default=str))
    with capsys.disabled():  # shown in the test output whether it passes or fails
        print("\nCELERY EVIDENCE " + json.dumps(evidence, indent=1, default=str), flush=True)
    # under pytest-xdist a worker's output is not shown: the controller prints this file in
    # the terminal summary (tests/conftest.py, pytest_terminal_summary)
    EVIDENCE_FILE.parent.mkdir(exist_ok=True)
    EVIDENCE_FILE.write_text(json.dumps(evidence, indent=1, default=str))

    assert local_rc == 0, local_log.read_text()[-6000:]
    assert pg.pid() is None and redis.proc is not None and redis.proc.poll() is not None
    assert all(p.poll() is not None for p in procs.procs.values())
    # every task of both dates succeeded
    for ds, rows in tis.items():
        states = {t["task_id"]: t["state"] for t in rows}
        assert set(states.values()) == {"success"}, f"{ds}: {states}"
    # analytics spread over both workers; writers pinned to the writer host
    analytics_hosts = set().union(*(hosts[t] for t in ANALYTICS))
    assert analytics_hosts == set(workers), analytics_hosts
    for task in WRITER_TASKS:
        assert hosts[task] == {"sw-worker-writer"}, (task, hosts[task])
    assert published == DAYS
    assert {m["task"] for m in metrics if m["ok"]} == {t["task_id"] for t in tis[DAYS[0]]}
    # the served tables as of the first date equal the LocalExecutor's, table by table
    assert len(local_sums) > 10
    assert set(celery_sums) == set(local_sums)
    differing = [n for n in local_sums if celery_sums[n] != local_sums[n]]
    assert differing == [], differing
