"""DAG hardening: timeouts per task class, queues, failure notifications, no pointless retries."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest
from social_warehouse.notify import RunFailureNotifier, build_notification, is_permanent
from social_warehouse.pipeline import PipelineError

from tests.conftest import REPO_ROOT

WRITERS = {"prepare_build", "ingest", "dbt_staging", "dbt_core", "load_analytics",
           "dbt_marts", "publish"}
GATES = {"gate_raw", "gate_staging", "gate_core", "gate_analytics", "gate_marts"}
ANALYTICS = {"analytics_graph", "analytics_topics", "analytics_kol", "analytics_audience"}


@pytest.fixture(scope="module")
def dag():
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags["social_warehouse_daily"]


def test_dag_has_a_description_and_a_run_timeout(dag):
    assert dag.description and "warehouse" in dag.description
    assert timedelta(hours=1) <= dag.dagrun_timeout <= timedelta(hours=12)


def test_every_task_has_an_execution_timeout_by_class(dag):
    timeouts = {t.task_id: t.execution_timeout for t in dag.tasks}
    assert all(v is not None for v in timeouts.values()), timeouts
    writer = {timeouts[t] for t in WRITERS}
    gate = {timeouts[t] for t in GATES}
    analytics = {timeouts[t] for t in ANALYTICS}
    assert len(writer) == len(gate) == len(analytics) == 1, (writer, gate, analytics)
    # larger than the slowest task measured at `large` (407 s), smaller than the run timeout
    for value in writer | gate | analytics:
        assert timedelta(minutes=10) <= value < dag.dagrun_timeout


def test_writers_run_on_the_writer_queue_and_analytics_on_the_default_queue(dag):
    for task_id in WRITERS | GATES | {"export_analytics_inputs", "import_export", "finalize"}:
        assert dag.get_task(task_id).queue == "duckdb_writer", task_id
    for task_id in ANALYTICS:
        assert dag.get_task(task_id).queue == "default", task_id
        assert dag.get_task(task_id).pool != "duckdb_writer"


def test_every_task_but_finalize_notifies_on_failure(dag):
    for task in dag.tasks:
        callbacks = task.on_failure_callback or []
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        if task.task_id == "finalize":
            assert callbacks == []
        else:
            assert any(isinstance(c, RunFailureNotifier) for c in callbacks), task.task_id


@pytest.mark.parametrize("exc, permanent", [
    (PipelineError("gate failed"), True),
    (ValueError("top_kol_quantile must be >= kol_quantile"), True),
    (KeyError("kol_quantile"), True),
    (TypeError("bad config type"), True),
    (RecursionError("deep json"), True),
    (OSError("disk hiccup"), False),
    (TimeoutError("slow"), False),
    (ConnectionError("lost"), False),
    (RuntimeError("something else"), False),
])
def test_deterministic_errors_are_permanent_and_transient_ones_retry(exc, permanent):
    assert is_permanent(exc) is permanent


def test_duckdb_errors_are_classified_by_kind(tmp_path):
    import duckdb

    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    with pytest.raises(duckdb.CatalogException) as missing:
        con.execute("select * from no_such_table")
    assert is_permanent(missing.value)
    assert not is_permanent(duckdb.IOException("Could not set lock on file"))


def _context(tmp_path, error: BaseException) -> dict:
    ti = SimpleNamespace(task_id="gate_core", dag_id="social_warehouse_daily",
                         run_id="manual__2026-03-01", try_number=3, hostname="worker-1",
                         log_url="http://127.0.0.1:8080/log")
    return {"ti": ti, "run_id": ti.run_id, "ds": "2026-03-01", "exception": error,
            "dag": SimpleNamespace(dag_id="social_warehouse_daily")}


GATE_MESSAGE = ("quality gate 'core' FAILED (run manual__2026-03-01, ds 2026-03-01): 63 of 65 "
                "expectations passed, 1 failed\n"
                "  FAIL [core] table dim_users, column user_id, expect_column_values_to_be_unique:"
                " observed 2 duplicates\n  Data Docs: /x/index.html")


def test_file_notifier_writes_one_notification_with_task_gate_message_and_report(
        tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SW_DATA_DIR", str(tmp_path / "data"))
    notifier = RunFailureNotifier()
    notifier.notify(_context(tmp_path, PipelineError(GATE_MESSAGE)))
    path = tmp_path / "data" / "notifications" / "failures.jsonl"
    notes = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(notes) == 1
    note = notes[0]
    assert note["task_id"] == "gate_core" and note["run_id"] == "manual__2026-03-01"
    assert note["fail_lines"] == [GATE_MESSAGE.splitlines()[1].strip()]
    assert note["report"].endswith(".html") and str(tmp_path / "data" / "reports") in \
        note["report"]
    assert "FAIL [core] table dim_users" in caplog.text


def test_webhook_channel_posts_the_notification(tmp_path, monkeypatch):
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {"SW_DATA_DIR": str(tmp_path / "data"),
               "SW_NOTIFY_WEBHOOK_URL": f"http://127.0.0.1:{server.server_port}/hook"}
        monkeypatch.setenv("SW_DATA_DIR", env["SW_DATA_DIR"])
        RunFailureNotifier(env=env).notify(_context(tmp_path, PipelineError(GATE_MESSAGE)))
    finally:
        server.shutdown()
        server.server_close()
    assert len(received) == 1
    assert received[0]["task_id"] == "gate_core"
    assert "FAIL [core]" in received[0]["text"] and "run report:" in received[0]["text"]


def test_a_channel_without_its_provider_is_logged_and_the_file_still_written(
        tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SW_DATA_DIR", str(tmp_path / "data"))
    env = {"SW_DATA_DIR": str(tmp_path / "data"), "SW_NOTIFY_SLACK_CONN_ID": "slack_default"}
    try:
        import airflow.providers.slack  # noqa: F401
        pytest.skip("the Slack provider is installed here")
    except ImportError:
        pass
    RunFailureNotifier(env=env).notify(_context(tmp_path, ValueError("bad config")))
    assert "apache-airflow-providers-slack is not installed" in caplog.text
    assert (tmp_path / "data" / "notifications" / "failures.jsonl").exists()


def test_notification_names_the_cause_of_a_wrapped_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SW_DATA_DIR", str(tmp_path / "data"))
    try:
        try:
            raise ValueError("kol_quantile must be in (0, 1)")
        except ValueError as inner:
            raise RuntimeError("analytics config invalid") from inner
    except RuntimeError as outer:
        note = build_notification(_context(tmp_path, outer))
    assert "kol_quantile must be in (0, 1)" in note["error"]
