"""The reports an auditor opens render fully offline in a real browser (headless Chromium).

GX Data Docs fill their tables with JavaScript that normally comes from CDNs. Here every page
is opened from disk with DNS disabled (``--host-resolver-rules=MAP * ~NOTFOUND``), the rendered
DOM is dumped and checked for table rows, the console is checked for script errors, and
screenshots are saved under ``test-artifacts/`` for a human to look at.

Needs the Debian package ``chromium`` (``apt-get install -y chromium``); skipped otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import pytest
from social_warehouse import audit
from social_warehouse.quality import GateFailed, run_gate
from social_warehouse.quality.sample import build_sample_warehouse
from social_warehouse.reporting.offline import MARKER

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
DS = date(2026, 1, 8)
CHROMIUM = next(
    (p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
     if p and Path(p).is_file()),
    None,
)

if CHROMIUM is None and os.environ.get("CI"):
    raise RuntimeError("CI must run the browser test: .ci/run installs Debian's chromium")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install -y chromium): offline rendering of "
    "Data Docs and run reports is NOT verified",
)


def render(url: str, screenshot: Path, profile: Path, height: int = 1100) -> tuple[str, str]:
    """Load ``url`` offline in headless Chromium; return (rendered DOM, console/stderr log)."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}",
        "--enable-logging=stderr", "--v=0", f"--window-size=1400,{height}",
        "--hide-scrollbars", f"--screenshot={screenshot}", "--dump-dom", url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000
    return proc.stdout, proc.stderr


def console_errors(log: str) -> list[str]:
    return [line for line in log.splitlines()
            if "CONSOLE" in line and re.search(r"Uncaught|Error", line)]


def tbody_rows(dom: str, table_id: str) -> list[str]:
    m = re.search(rf'<table[^>]*id="{re.escape(table_id)}"[^>]*>(.*?)</table>', dom, re.S)
    assert m, f"table {table_id} not in DOM"
    body = re.search(r"<tbody>(.*?)</tbody>", m.group(1), re.S)
    return re.findall(r"<tr\b.*?</tr>", body.group(1) if body else "", re.S)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    data_dir = root / "data"
    store = data_dir / "audit"
    good = build_sample_warehouse(root / "good.duckdb", ds=DS)
    bad = root / "bad.duckdb"
    shutil.copy(good, bad)
    con = duckdb.connect(str(bad))
    con.execute("insert into core.dim_users select * from core.dim_users where user_id = 'u5'")
    con.close()
    kwargs = dict(ds=DS, data_dir=data_dir, expectations_dir=REPO / "expectations")
    audit.start_run("run_failed", logical_date=DS, store_dir=store)
    audit.record_inputs("run_failed", bad, DS, store_dir=store)
    for stage in ("raw", "staging"):
        run_gate(stage, bad, run_id="run_failed", **kwargs)
    with pytest.raises(GateFailed) as failure:
        run_gate("core", bad, run_id="run_failed", **kwargs)
    audit.finish_run("run_failed", "failed", error=failure.value, store_dir=store)
    audit.start_run("run_ok", logical_date=DS, store_dir=store)
    audit.record_inputs("run_ok", good, DS, store_dir=store)
    run_gate("raw", good, run_id="run_ok", **kwargs)
    audit.record_publish("run_ok", target="warehouse.duckdb", tables={"core.dim_users": 400},
                         store_dir=store)
    (data_dir / "published.json").write_text(
        '{"run_id": "run_ok", "ds": "2026-01-08", "published_at": "2026-01-08T10:00:00"}')
    audit.finish_run("run_ok", "success", store_dir=store)
    return data_dir / "reports", root


def test_data_docs_index_lists_every_validation_offline(reports):
    reports_dir, root = reports
    site = reports_dir / "run_failed" / "attempt-1" / "data_docs"
    n_results = len(list((site / "validations").rglob("*.html")))
    assert n_results > 20
    dom, log = render(site.joinpath("index.html").as_uri(),
                      ARTIFACTS / "data_docs_index.png", root / "profile")
    assert 'data-sw-offline="1"' in dom
    assert not console_errors(log), console_errors(log)
    rows = tbody_rows(dom, "section-1-content-block-2-1-body-table")
    assert len(rows) == n_results
    assert all("clickable-row" in r and "validations/" in r for r in rows)
    assert sum("ge-failed-icon" in r for r in rows) == 1          # core.dim_users
    assert sum("ge-success-icon" in r for r in rows) == n_results - 1
    suites = tbody_rows(dom, "section-1-content-block-2-2-body-table")
    assert len(suites) == len(list((site / "expectations").rglob("*.html")))


def test_without_the_offline_fix_the_index_table_would_be_empty(reports):
    # Control: the same page without our inlined scripts behaves like GX's page without CDN
    # access. Its table stays empty, which is what the fix prevents.
    reports_dir, root = reports
    site = reports_dir / "run_failed" / "attempt-1" / "data_docs"
    html = (site / "index.html").read_text()
    start = html.index(MARKER)
    end = html.index("</script>", start) + len("</script>")
    control = site / "index_without_offline_js.html"
    control.write_text(html[:start] + html[end:])
    try:
        dom, log = render(control.as_uri(), root / "control.png", root / "profile")
    finally:
        control.unlink()
    assert tbody_rows(dom, "section-1-content-block-2-1-body-table") == []
    assert any("$ is not defined" in line for line in console_errors(log))


def test_failed_validation_page_shows_the_failure_offline(reports):
    reports_dir, root = reports
    site = reports_dir / "run_failed" / "attempt-1" / "data_docs"
    (page,) = (site / "validations" / "core" / "dim_users").rglob("*.html")
    dom, log = render(page.as_uri(), ARTIFACTS / "data_docs_failed_validation.png",
                      root / "profile", height=1600)
    assert not console_errors(log), console_errors(log)
    assert "Failed" in dom and "user_id" in dom and "u5" in dom
    assert re.search(r"<td[^>]*>.*?values must be unique", dom, re.S)


def test_run_report_and_index_render_offline(reports):
    reports_dir, root = reports
    dom, log = render((reports_dir / "run_failed" / "attempt-1" / "report.html").as_uri(),
                      ARTIFACTS / "run_report_failed.png", root / "profile", height=3200)
    assert not console_errors(log)
    assert len(tbody_rows(dom, "inputs")) == 6          # 5 files + total
    assert len(tbody_rows(dom, "rejects")) == 1
    gate_rows = re.findall(r'<tr class="(passed|failed|warning|skipped)">', dom)
    assert gate_rows.count("failed") == 1 and len(gate_rows) > 100
    # the failure is on top, the passed checks are collapsed (closed <details>) per table
    assert dom.index('id="gate-problems-results"') < dom.index("<details")
    details = re.findall(r"<details[^>]*>", dom)
    assert len(details) > 10 and not any(" open" in d for d in details)
    # trend charts drew as inline SVG; this page was written when it was the only run
    charts = ("chart-rows-loaded", "chart-reject-rate", "chart-gate-failures",
              "chart-durations")
    for chart in charts:
        assert re.search(rf'<svg id="{chart}".*?</svg>', dom, re.S), chart
    reject = re.search(r'<svg id="chart-reject-rate".*?</svg>', dom, re.S).group(0)
    assert reject.count("<circle") == 1
    dom, log = render((reports_dir / "index.html").as_uri(), ARTIFACTS / "runs_index.png",
                      root / "profile", height=1200)
    assert not console_errors(log)
    rows = tbody_rows(dom, "runs")
    assert len(rows) == 2
    failed = next(r for r in rows if "run_failed" in r)
    served = next(r for r in rows if "run_ok" in r)
    assert re.search(r'class="reason wrap">gate core: core\.dim_users', failed)
    assert "badge served" in served and "badge served" not in failed
    assert dom.count("<svg") == 4
    # the index is rebuilt after every run: its charts have one point per run
    reject = re.search(r'<svg id="chart-reject-rate".*?</svg>', dom, re.S).group(0)
    assert reject.count("<circle") == 2
    gates = re.search(r'<svg id="chart-gate-failures".*?</svg>', dom, re.S).group(0)
    assert re.search(r'<circle[^>]*data-series="failed"[^>]*><title>01-08 failed: 1</title>',
                     gates)
