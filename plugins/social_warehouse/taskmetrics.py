"""Per-task resource figures: wall time, CPU time and peak memory of one pipeline step.

Every DAG task runs its step inside :func:`measure`, which appends one JSON line to
``<runs_dir>/<run_id>/task_metrics.jsonl``::

    {"task": "ingest", "started_at": ..., "wall_s": 21.4, "cpu_s": 19.8,
     "peak_rss_mb": 812.0, "ok": true, "pid": 4242, "host": "worker-1"}

``peak_rss_mb`` is the highest resident set size of the task's process *plus all its
descendants* (dbt runs as a child process), sampled every ``interval`` seconds while the
step runs. Sampling is used instead of ``ru_maxrss`` because ``ru_maxrss`` is a lifetime
maximum: under ``airflow dags test`` every task shares one process and would inherit the
peak of the tasks before it. Under LocalExecutor or Celery each task has its own process,
and the sampled figure is that task's own peak. ``cpu_s`` counts the process and its
waited-for children.

The end-to-end benchmark (``benchmarks/bench_pipeline.py``) reads these lines back.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from .config import Settings, get_settings

__all__ = ["measure", "metrics_path", "read_metrics", "tree_rss_bytes"]

FILE_NAME = "task_metrics.jsonl"


def metrics_path(run_id: str, settings: Settings | None = None) -> Path:
    """Where the task figures of ``run_id`` are appended (on the host that ran the task)."""
    return (settings or get_settings()).run_dir(run_id) / FILE_NAME


def tree_rss_bytes(proc: psutil.Process) -> int:
    """Resident memory of ``proc`` and all its live descendants, in bytes."""
    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:  # a child that exited between listing and reading
            continue
    return total


class _PeakSampler(threading.Thread):
    def __init__(self, interval: float) -> None:
        super().__init__(name="sw-task-metrics", daemon=True)
        self.interval = interval
        self.peak = 0
        self._stop_event = threading.Event()
        self._proc = psutil.Process(os.getpid())

    def run(self) -> None:
        while True:
            self.peak = max(self.peak, tree_rss_bytes(self._proc))
            if self._stop_event.wait(self.interval):
                break

    def stop(self) -> int:
        self._stop_event.set()
        self.join(timeout=5)
        self.peak = max(self.peak, tree_rss_bytes(self._proc))
        return self.peak


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@contextmanager
def measure(run_id: str, task: str, settings: Settings | None = None,
            interval: float = 0.2) -> Iterator[dict[str, Any]]:
    """Measure the enclosed step and append its figures to the run's metrics file.

    The yielded dict may be filled by the caller with extra figures (``rows_in``,
    ``rows_out``); it is written whether the step succeeds or raises.
    """
    extra: dict[str, Any] = {}
    sampler = _PeakSampler(interval)
    sampler.start()
    started = datetime.now(UTC)
    wall0, cpu0 = time.perf_counter(), _cpu_seconds()
    ok = False
    try:
        yield extra
        ok = True
    finally:
        peak = sampler.stop()
        record = {
            "task": task,
            "run_id": run_id,
            "started_at": started.isoformat(),
            "wall_s": round(time.perf_counter() - wall0, 3),
            "cpu_s": round(_cpu_seconds() - cpu0, 3),
            "peak_rss_mb": round(peak / 2**20, 1),
            "ok": ok,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            **extra,
        }
        path = metrics_path(run_id, settings)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # one short line per write: O_APPEND keeps concurrent tasks' lines whole
            with path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, default=str) + "\n")
        except OSError:
            # figures are diagnostics: never fail (or mask the error of) the task itself
            pass


def read_metrics(run_id: str, settings: Settings | None = None) -> list[dict[str, Any]]:
    """The figures recorded for ``run_id`` on this host, in the order tasks finished."""
    path = metrics_path(run_id, settings)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]
