"""Run reports and the offline rewrite of GX Data Docs (static checks; see tests/browser)."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
from social_warehouse import audit
from social_warehouse.quality import GateFailed, run_gate
from social_warehouse.quality.sample import build_sample_warehouse
from social_warehouse.reporting import build_index, external_references, make_offline
from social_warehouse.reporting.offline import MARKER

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
    audit.finish_run("run_ok", "success", store_dir=store)
    return data_dir


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
