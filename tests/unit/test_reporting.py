"""Run reports and the offline rewrite of GX Data Docs (static checks; see tests/browser)."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import duckdb
import pytest
from social_warehouse import audit
from social_warehouse.config import get_settings
from social_warehouse.quality import GateFailed, run_gate
from social_warehouse.quality.sample import build_sample_warehouse
from social_warehouse.reporting import build_index, external_references, make_offline
from social_warehouse.reporting.charts import line_chart, nice_ticks
from social_warehouse.reporting.history import collect_history, failure_reason
from social_warehouse.reporting.offline import MARKER
from social_warehouse.taskmetrics import measure

REPO = Path(__file__).resolve().parents[2]
DS = date(2026, 1, 8)


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
    """Two runs through the whole audit lifecycle: one failed at core, one published."""
    root = tmp_path_factory.mktemp("reports")
    data_dir = root / "data"
    store = data_dir / "audit"
    good = build_sample_warehouse(root / "good.duckdb", ds=DS)
    bad = root / "bad.duckdb"
    shutil.copy(good, bad)
    con = duckdb.connect(str(bad))
    con.execute("insert into core.dim_users select * from core.dim_users where user_id = 'u5'")
    con.close()
    kwargs = dict(ds=DS, data_dir=data_dir, expectations_dir=REPO / "expectations")

    settings = get_settings({"SW_HOME": str(REPO), "SW_DATA_DIR": str(data_dir)})
    for run_id, elapsed in (("run_failed", 3.0), ("run_ok", 4.5)):
        run_dir = settings.run_dir(run_id)
        run_dir.mkdir(parents=True)
        (run_dir / "dbt_run_results_tag-staging.json").write_text(json.dumps(
            _dbt_results("tag:staging", elapsed, failing_test=run_id == "run_failed")))
        with measure(run_id, "ingest", settings):
            sum(range(10_000))
    audit.start_run("run_failed", logical_date=DS, store_dir=store)
    audit.record_inputs("run_failed", bad, DS, store_dir=store)
    run_gate("raw", bad, run_id="run_failed", **kwargs)
    with pytest.raises(GateFailed) as failure:
        run_gate("core", bad, run_id="run_failed", **kwargs)
    audit.finish_run("run_failed", "failed", error=failure.value, store_dir=store)

    audit.start_run("run_ok", logical_date=DS, store_dir=store)
    audit.record_inputs("run_ok", good, DS, store_dir=store)
    for stage in ("raw", "staging", "core"):
        run_gate(stage, good, run_id="run_ok", **kwargs)
    audit.record_publish("run_ok", target=root / "served.duckdb",
                         tables={"core.dim_users": 400, "core.fct_interactions": 16000},
                         store_dir=store)
    (data_dir / "published.json").write_text(json.dumps(
        {"run_id": "run_ok", "ds": str(DS), "served_path": str(root / "served.duckdb"),
         "published_at": "2026-01-08T10:00:00"}))
    # finalize_run writes the published warehouse's dbt docs beside the report first
    # (generation itself: tests/dbt/test_dbt_docs.py)
    docs = audit.report_dir(audit.current_run("run_ok", store_dir=store),
                            data_dir / "reports") / "dbt_docs"
    docs.mkdir(parents=True)
    (docs / "index.html").write_text("<html><body>dbt docs</body></html>")
    audit.finish_run("run_ok", "success", store_dir=store)
    return data_dir


def _dbt_results(select: str, elapsed: float, failing_test: bool) -> dict:
    """A run_results.json as dbt 1.11 writes it (only the fields the report reads)."""
    def result(uid, status, seconds, message, failures=None):
        return {"unique_id": uid, "status": status, "execution_time": seconds,
                "message": message, "failures": failures, "timing": []}

    return {
        "metadata": {"dbt_version": "1.11.0"}, "elapsed_time": elapsed,
        "args": {"select": [select]},
        "results": [
            result("model.social_warehouse.stg_users", "success", 0.21, "OK"),
            result("model.social_warehouse.stg_posts", "success", 0.18, "OK"),
            result("test.social_warehouse.unique_stg_users_user_id.abc", "pass", 0.05, None,
                   0),
            result("test.social_warehouse.not_null_stg_posts_post_id.def",
                   "fail" if failing_test else "pass", 0.04,
                   "Got 2 results, configured to fail if != 0" if failing_test else None,
                   2 if failing_test else 0),
        ],
    }


def _report(data_dir: Path, run_id: str) -> str:
    return (data_dir / "reports" / run_id / "attempt-1" / "report.html").read_text()


def test_failed_run_report_shows_inputs_rejects_gates_and_no_publish(lifecycle):
    html = _report(lifecycle, "run_failed")
    assert "badge failed" in html
    # inputs with hashes and counts
    con = duckdb.connect(str(lifecycle.parent / "good.duckdb"), read_only=True)
    sha = con.execute("select sha256 from raw.input_files where ds = ? and entity = "
                      "'interactions'", [DS]).fetchone()[0]
    con.close()
    assert sha in html and "2,002" in html
    # rejects by reason with an example record
    assert "bad_timestamp:occurred_at" in html and "not-a-time" in html
    # every gate, with pass/fail and observed values
    assert 'id="gate-raw"' in html and 'id="gate-core"' in html
    assert "expect_column_values_to_be_unique" in html and "2 unexpected of" in html
    assert "GateFailed: quality gate &#x27;core&#x27; FAILED" in html
    assert "Nothing was published" in html
    assert "data_docs/index.html" in html
    assert external_references(html) == []


def test_successful_run_report_lists_what_was_published(lifecycle):
    html = _report(lifecycle, "run_ok")
    assert "badge success" in html
    assert re.search(r"core\.fct_interactions</td><td class=num>16,000", html)
    assert "served.duckdb" in html
    assert 'id="gate-staging"' in html and "0 failed" in html


def test_published_run_links_its_dbt_docs_and_a_failed_run_does_not(lifecycle):
    assert 'href="dbt_docs/index.html"' in _report(lifecycle, "run_ok")
    assert "dbt_docs" not in _report(lifecycle, "run_failed")
    index = (lifecycle / "reports" / "index.html").read_text()
    assert 'href="run_ok/attempt-1/dbt_docs/index.html"' in index


def test_index_lists_every_run_with_links_that_exist(lifecycle):
    index = lifecycle / "reports" / "index.html"
    html = index.read_text()
    assert "run_failed" in html and "run_ok" in html
    assert "core: FAIL" in html
    for link in re.findall(r'href="([^"]+)"', html):
        assert (index.parent / link).is_file(), link
    assert external_references(html) == []
    # rebuilding is idempotent and keeps both runs
    build_index(store_dir=lifecycle / "audit", reports_dir=lifecycle / "reports")
    assert index.read_text().count("<tr") == html.count("<tr")


def test_data_docs_are_kept_per_run_and_load_nothing_from_the_network(lifecycle):
    sites = sorted((lifecycle / "reports").glob("*/attempt-1/data_docs"))
    assert [s.parent.parent.name for s in sites] == ["run_failed", "run_ok"]
    for site in sites:
        pages = list(site.rglob("*.html"))
        assert len(pages) > 20
        for page in pages:
            text = page.read_text()
            assert external_references(text) == [], page
            assert MARKER in text, page
        # GX copies 4 MB of static files per build; only what the pages use is kept
        static = sorted(p.relative_to(site).as_posix() for p in (site / "static").rglob("*.*"))
        assert static == ["static/images/favicon.ico", "static/images/logo-long.png"]
    # the failed run's docs hold only that run's results
    failed_index = (sites[0] / "index.html").read_text()
    assert "run_failed" in failed_index and "run_ok" not in failed_index


def test_make_offline_is_idempotent(lifecycle):
    site = next((lifecycle / "reports").glob("run_ok/attempt-1/data_docs"))
    before = {p: p.read_text() for p in site.rglob("*.html")}
    assert make_offline(site) == 0
    assert before == {p: p.read_text() for p in site.rglob("*.html")}


def test_make_offline_strips_cdn_tags_and_localises_the_logo(tmp_path):
    site = tmp_path / "site"
    (site / "static" / "images").mkdir(parents=True)
    (site / "static" / "images" / "logo-long.png").write_bytes(b"png")
    (site / "validations").mkdir()
    page = site / "validations" / "p.html"
    page.write_text(
        "<html><head><link rel='stylesheet' href='https://maxcdn.bootstrapcdn.com/b.css'/>"
        '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>'
        '<script src="//unpkg.com/x.js" integrity="sha384-x" crossorigin="anonymous"></script>'
        "<style>.a { background: url('https://example.org/bg.png') }</style></head><body>"
        '<img src="https://great-expectations-web-assets.s3.amazonaws.com/logo-long.png?d=1">'
        '<a href="https://greatexpectations.io">GX</a></body></html>'
    )
    assert len(external_references(page.read_text())) == 5
    assert make_offline(site) == 1
    html = page.read_text()
    assert external_references(html) == []
    assert '<img src="../static/images/logo-long.png">' in html
    assert 'href="https://greatexpectations.io"' in html  # plain links stay links
    assert "window.$ = window.jQuery" in html and MARKER in html


def _section(html: str, start_id: str, end_id: str) -> str:
    return html[html.index(f'id="{start_id}"'):html.index(f'id="{end_id}"')]


def test_failures_and_warnings_come_first_and_passed_checks_are_collapsed(lifecycle):
    html = _report(lifecycle, "run_failed")
    problems = html.index('id="gate-problems-results"')
    assert problems < html.index('id="gate-raw"') < html.index('id="inputs"')
    table = html[problems:html.index("</table>", problems)]
    rows = re.findall(r'<tr class="(\w+)">', table)
    assert rows and rows[0] == "failed" and set(rows) <= {"failed", "warning"}
    assert "dim_users" in table and "user_id" in table
    # every passed expectation sits in a <details> of its table, none outside
    passed_total = len(re.findall(r'<tr class="passed">', _section(html, "gates",
                                                                   "dbt-results")))
    in_details = sum(len(re.findall(r'<tr class="passed">', d)) for d in re.findall(
        r"<details class=passed-checks.*?</details>", html, re.S))
    assert passed_total == in_details > 100
    summaries = re.findall(r'<details class=passed-checks data-stage="(\w+)" '
                           r'data-table="([^"]+)"', html)
    assert len(summaries) == len(set(summaries))  # one per stage and table
    assert ("core", "core.dim_users") in summaries or any(t.endswith("dim_users")
                                                          for _, t in summaries)
    assert "<details open" not in html
    assert re.search(r'<p id="failure-reason" class=error>.*gate core: .*dim_users', html)


def test_raw_records_wrap(lifecycle):
    html = _report(lifecycle, "run_failed")
    assert re.search(r"<code class=raw>[^<]*not-a-time", html)
    css = (REPO / "plugins/social_warehouse/reporting/assets/report.css").read_text()
    assert re.search(r"code\.raw \{[^}]*white-space: pre-wrap", css)
    assert re.search(r"code\.raw \{[^}]*overflow-wrap: anywhere", css)


def test_dbt_results_per_layer_show_failing_tests_first(lifecycle):
    failed = _section(_report(lifecycle, "run_failed"), "dbt", "rejects-h")
    assert 'id="dbt-staging"' in failed and "2 model(s), 2 test(s)" in failed
    problems = failed[failed.index('id="dbt-staging-problems"'):]
    problems = problems[:problems.index("</table>")]
    assert "not_null_stg_posts_post_id" in problems and "Got 2 results" in problems
    assert "unique_stg_users_user_id" not in problems
    assert re.search(r"<details class=dbt-tests><summary>1 passing test", failed)
    ok = _section(_report(lifecycle, "run_ok"), "dbt", "rejects-h")
    assert "dbt-staging-problems" not in ok and "badge passed" in ok


def test_trend_charts_cover_every_run_as_inline_svg(lifecycle):
    html = _report(lifecycle, "run_ok")
    trends = html[html.index('id="trends"'):]
    svgs = re.findall(r"<svg .*?</svg>", trends, re.S)
    ids = [re.search(r'id="([^"]+)"', s).group(1) for s in svgs]
    assert ids == ["chart-rows-loaded", "chart-reject-rate", "chart-gate-failures",
                   "chart-durations"]
    for svg in svgs:
        ET.fromstring(svg)  # well-formed
    rows = svgs[0]
    # one point per run and entity; values are the recorded rows loaded
    points = re.findall(r'data-series="interactions"[^>]*><title>([^<]*)</title>', rows)
    assert len(points) == 2
    history = collect_history(lifecycle / "audit")
    assert [p.ref.run_id for p in history] == ["run_failed", "run_ok"]
    loaded = history[1].rows_loaded["interactions"]
    assert points[1].endswith(f"interactions: {loaded / 1000:.3g}k")
    gates = svgs[2]
    assert re.search(r'data-series="failed"[^>]*><title>01-08 failed: 1<', gates)
    durations = svgs[3]
    assert 'data-series="dbt_staging"' in durations and 'data-series="ingest"' in durations
    assert 'data-series="whole run"' in durations
    assert history[0].durations["dbt_staging"] == 3.0
    assert 'class="current"' in trends  # this run is marked
    assert external_references(html) == []


def test_index_shows_failure_reasons_and_marks_the_served_run(lifecycle):
    html = (lifecycle / "reports" / "index.html").read_text()
    rows = dict(re.findall(r'<tr class="[^"]*" data-run-id="(\w+)">(.*?)</tr>', html, re.S))
    assert set(rows) == {"run_failed", "run_ok"}
    reason = re.search(r'<td class="reason wrap">(.*?)</td>', rows["run_failed"]).group(1)
    assert reason.startswith("gate core: core.dim_users.user_id "
                             "expect_column_values_to_be_unique failed")
    assert re.search(r'<td class="reason wrap"></td>', rows["run_ok"])
    assert "badge served" in rows["run_ok"] and "badge served" not in rows["run_failed"]
    assert re.search(r'<tr class="served" data-run-id="run_ok"', html)
    assert 'id="served"' in html and "Served now: run <code>run_ok</code>" in html
    assert html.count("<svg") == 4


def test_failure_reason_without_a_failed_gate_is_the_error_line():
    data = {"run": {"status": "failed", "error": "ingest: IngestError: users.csv row 3\nmore"},
            "gate_results": []}
    assert failure_reason(data) == "ingest: IngestError: users.csv row 3"
    assert failure_reason({"run": {"status": "success"}, "gate_results": []}) is None


def test_line_chart_breaks_lines_at_missing_values_and_marks_the_current_run():
    svg = line_chart("c", "T <&>", ["a", "b", "c", "d"],
                     {"x": [1.0, None, 3.0, 4.0], "y": [0.0, 0.0, 0.0, 0.0]}, highlight=2)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.find(f"{ns}title").text == "T <&>"
    assert len(root.findall(f"{ns}circle")) == 7
    polylines = root.findall(f"{ns}polyline")
    assert sorted(len(p.get("points").split()) for p in polylines) == [2, 4]  # x: c-d; y: all
    assert len(root.findall(f"{ns}line[@class='current']")) == 1
    with pytest.raises(ValueError, match="series 'x' has 1 values for 2 x labels"):
        line_chart("c", "t", ["a", "b"], {"x": [1.0]})
    empty = ET.fromstring(line_chart("e", "t", ["a"], {"x": [None]}))
    assert "no data" in "".join(empty.itertext())


def test_nice_ticks_cover_the_maximum_with_round_steps():
    assert nice_ticks(0) == [0.0, 1.0]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(0.012)[-1] >= 0.012
    ticks = nice_ticks(27_673)
    assert ticks[0] == 0 and ticks[-1] >= 27_673 and len(ticks) <= 6


def test_demo_quarantine_day_is_quarantined_below_the_gate_threshold(tmp_path):
    # the demo's day with a few bad rows: the ingest quarantines them with a reason, and the
    # reject rate stays under the raw gate's warning threshold (so the run is published)
    import yaml
    from social_warehouse.ingest import ingest_partition
    from social_warehouse.synthetic import generate
    from social_warehouse.synthetic.generator import BAD_TIMESTAMPS

    gen = generate("small", days=2, seed=5, out=tmp_path, fmt="csv", quarantine_day=1)
    db = tmp_path / "b.duckdb"
    for ds in gen.dates:
        ingest_partition(db, tmp_path / "landing", ds)
    con = duckdb.connect(str(db), read_only=True)
    rejects = con.execute(
        "select ds::varchar, reason, raw_record from raw.interactions_rejects order by 3"
    ).fetchall()
    rate = con.execute("select sum(rows_rejected) / sum(rows_read) from raw.input_files "
                       "where ds = ?", [gen.dates[1]]).fetchone()[0]
    con.close()
    assert [(d, r) for d, r, _ in rejects] == [(gen.dates[1], "bad_timestamp:occurred_at")] * 3
    assert all(any(t in raw for t in BAD_TIMESTAMPS) for _, _, raw in rejects)
    thresholds = yaml.safe_load((REPO / "expectations" / "thresholds.yml").read_text())
    warn = next(v for v in _walk(thresholds) if v[0] == "warn_reject_rate")[1]
    assert 0 < rate < warn
    with pytest.raises(ValueError, match="quarantine_day must be in 0..1"):
        generate("small", days=2, out=tmp_path / "x", quarantine_day=2)


def _walk(node, key=None):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, k)
    else:
        yield key, node
