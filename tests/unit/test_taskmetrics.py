"""Per-task figures: the peak counts child processes, failures are recorded too."""

from __future__ import annotations

import subprocess
import sys

import pytest
from social_warehouse.config import get_settings
from social_warehouse.taskmetrics import measure, read_metrics

ALLOC_MB = 300


@pytest.fixture()
def settings(tmp_path):
    return get_settings({"SW_DATA_DIR": str(tmp_path / "data")})


def test_peak_includes_child_process_memory(settings):
    # a child (as dbt is) holds ALLOC_MB for a second: the task's peak must include it
    code = (f"b = bytearray({ALLOC_MB} * 2**20)\n"
            "for i in range(0, len(b), 4096): b[i] = 1\n"
            "import time; time.sleep(1.0)")
    with measure("run-1", "dbt_core", settings=settings, interval=0.05) as extra:
        subprocess.run([sys.executable, "-c", code], check=True)
        extra["rows_out"] = 7
    (rec,) = read_metrics("run-1", settings)
    assert rec["task"] == "dbt_core" and rec["ok"] is True and rec["rows_out"] == 7
    assert rec["peak_rss_mb"] >= ALLOC_MB
    assert rec["wall_s"] >= 1.0
    assert rec["cpu_s"] > 0


def test_failed_step_is_recorded_and_error_propagates(settings):
    with pytest.raises(ValueError, match="bad config"):
        with measure("run-2", "analytics_kol", settings=settings):
            raise ValueError("bad config")
    (rec,) = read_metrics("run-2", settings)
    assert rec["task"] == "analytics_kol" and rec["ok"] is False


def test_lines_accumulate_per_run(settings):
    for task in ("ingest", "gate_raw"):
        with measure("run-3", task, settings=settings):
            pass
    assert [r["task"] for r in read_metrics("run-3", settings)] == ["ingest", "gate_raw"]
    assert read_metrics("other-run", settings) == []
