"""Failure handling of the daily DAG: which errors retry, and who is told when a task fails.

* :func:`is_permanent` decides whether an error is deterministic (bad input, bad config,
  failed check, a SQL error in the code): those fail the task at once
  (``AirflowFailException``); a retry would only repeat them. Transient errors (a locked
  file, a lost connection, a timeout, a killed process) keep Airflow's retries.
* :class:`RunFailureNotifier` is an Airflow notifier (``airflow.sdk.BaseNotifier``) used as
  the tasks' ``on_failure_callback``. It fires once per failed task (after its last try),
  in the task's own process, and sends one notification naming the DAG run, the failing
  task, the error (a gate's message with its FAIL lines) and the run report's path.

Channels (environment of the Airflow workers):

=============================  ===========================================================
``SW_NOTIFY_FILE``             JSON-lines file (default ``$SW_DATA_DIR/notifications/
                               failures.jsonl``); always written, and always logged
``SW_NOTIFY_WEBHOOK_URL``      POST the notification as JSON to this URL (stdlib, no provider)
``SW_NOTIFY_SLACK_CONN_ID``    Slack webhook connection id; needs
                               ``apache-airflow-providers-slack``
``SW_NOTIFY_EMAIL_TO``         comma-separated recipients; needs
                               ``apache-airflow-providers-smtp`` and an ``smtp_default``
                               connection
=============================  ===========================================================

A channel that is configured but cannot send (provider missing, server down) is logged as
an error; it never hides the task's own failure, and the file channel still records it.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["is_permanent", "RunFailureNotifier", "build_notification", "notification_file"]

log = logging.getLogger(__name__)

# DuckDB errors that a retry repeats (wrong SQL, missing table, bad value). IOException,
# TransactionException and the like (a locked file) are transient.
_PERMANENT_DUCKDB = {"CatalogException", "BinderException", "ParserException",
                     "ConversionException", "InvalidInputException", "ConstraintException",
                     "OutOfRangeException", "TypeMismatchException", "SyntaxException",
                     "NotImplementedException", "DependencyException"}
_PERMANENT_NAMES = {"PipelineError", "DbtBuildError", "GateFailed", "IngestError",
                    "MappingError", "SourceError", "AirflowFailException"}


def is_permanent(exc: BaseException) -> bool:
    """True for errors a retry cannot fix: config/input/check/code errors.

    ``ValueError`` (an invalid config value, a malformed date), ``TypeError``,
    ``KeyError``/``LookupError``, ``NotImplementedError``, ``RecursionError``, the project's
    own ``PipelineError`` family and DuckDB's catalog/binder/conversion errors are
    permanent. ``OSError`` (including timeouts and lost connections) and everything else
    is treated as transient and retried.
    """
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _PERMANENT_NAMES:
        return True
    if names & _PERMANENT_DUCKDB:
        return True
    if isinstance(exc, OSError):
        return False
    return isinstance(exc, (ValueError, TypeError, LookupError, NotImplementedError,
                            RecursionError, AssertionError, AttributeError))


def notification_file(env: Mapping[str, str] | None = None) -> Path:
    if env is None:
        env = os.environ
    if env.get("SW_NOTIFY_FILE"):
        return Path(env["SW_NOTIFY_FILE"])
    from .config import get_settings

    return get_settings(env).data_dir / "notifications" / "failures.jsonl"


def _report_path(run_id: str) -> str:
    """Where ``finalize`` writes this run's report (the latest audit attempt's folder)."""
    from .config import get_settings

    s = get_settings()
    try:
        from .audit import current_run, report_dir

        ref = current_run(run_id, store_dir=s.data_dir / "audit")
        return str(report_dir(ref, s.data_dir / "reports") / "report.html")
    except Exception:  # noqa: BLE001 - no audit record yet (prepare_build failed)
        return str(s.data_dir / "reports" / "index.html")


def build_notification(context: Mapping[str, Any]) -> dict[str, Any]:
    """The notification for a failed task, from its Airflow context."""
    ti = context.get("ti") or context.get("task_instance")
    run_id = str(context.get("run_id") or getattr(ti, "run_id", ""))
    exc = context.get("exception")
    error = str(exc) if exc is not None else str(context.get("reason") or "unknown error")
    if exc is not None and exc.__cause__ is not None and str(exc.__cause__) not in error:
        error += f"\ncaused by {type(exc.__cause__).__name__}: {exc.__cause__}"
    dag = context.get("dag")
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dag_id": getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None),
        "run_id": run_id,
        "ds": context.get("ds"),
        "task_id": getattr(ti, "task_id", None),
        "try_number": getattr(ti, "try_number", None),
        "hostname": getattr(ti, "hostname", None),
        "error_type": type(exc).__name__ if exc is not None else None,
        "error": error,
        "fail_lines": [ln.strip() for ln in error.splitlines() if ln.strip().startswith("FAIL")],
        "report": _report_path(run_id) if run_id else None,
        "log_url": getattr(ti, "log_url", None),
    }


def _text(note: dict[str, Any]) -> str:
    head = (f"Social Warehouse: task {note['task_id']} failed in {note['dag_id']} run "
            f"{note['run_id']} (ds {note['ds']})")
    body = note["error"].splitlines()
    lines = [head, *body[:1], *[f"  {ln}" for ln in note["fail_lines"]]]
    lines.append(f"run report: {note['report']}")
    if note.get("log_url"):
        lines.append(f"task log: {note['log_url']}")
    return "\n".join(lines)


class RunFailureNotifier(BaseNotifier):
    """One notification per failed task: file + log always; webhook/Slack/SMTP if set."""

    template_fields = ()

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__()
        self.env = env

    def notify(self, context: Context) -> None:
        env = os.environ if self.env is None else self.env
        note = build_notification(context)
        text = _text(note)
        log.error("%s", text)
        path = notification_file(env)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(note, default=str) + "\n")
        for channel, send in (("SW_NOTIFY_WEBHOOK_URL", self._webhook),
                              ("SW_NOTIFY_SLACK_CONN_ID", self._slack),
                              ("SW_NOTIFY_EMAIL_TO", self._email)):
            if env.get(channel):
                try:
                    send(env[channel], note, text, context)
                except Exception as exc:  # noqa: BLE001 - a channel never hides the failure
                    log.error("notification channel %s failed: %s: %s", channel,
                              type(exc).__name__, exc)

    @staticmethod
    def _webhook(url: str, note: dict, text: str, context: Context) -> None:
        req = urllib.request.Request(url, data=json.dumps({**note, "text": text},
                                                          default=str).encode(),
                                     headers={"Content-Type": "application/json"},
                                     method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass

    @staticmethod
    def _slack(conn_id: str, note: dict, text: str, context: Context) -> None:
        try:
            from airflow.providers.slack.notifications.slack_webhook import (
                SlackWebhookNotifier,
            )
        except ImportError as exc:
            raise RuntimeError("SW_NOTIFY_SLACK_CONN_ID is set but "
                               "apache-airflow-providers-slack is not installed") from exc
        SlackWebhookNotifier(slack_webhook_conn_id=conn_id, text=text).notify(context)

    @staticmethod
    def _email(to: str, note: dict, text: str, context: Context) -> None:
        try:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier
        except ImportError as exc:
            raise RuntimeError("SW_NOTIFY_EMAIL_TO is set but "
                               "apache-airflow-providers-smtp is not installed") from exc
        SmtpNotifier(to=[t.strip() for t in to.split(",") if t.strip()],
                     subject=f"[social-warehouse] {note['task_id']} failed ({note['ds']})",
                     html_content=f"<pre>{_escape(text)}</pre>").notify(context)


def _escape(text: str) -> str:
    import html

    return html.escape(text)
