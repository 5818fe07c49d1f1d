"""Run reports for auditors: one self-contained HTML page per run attempt, and an index.

Pages need no network and no JavaScript (styles inline, collapsible parts as ``<details>``),
so they open from a copied folder or a USB stick::

    <reports>/index.html                               every run and attempt, newest first
    <reports>/<run_id>/attempt-<n>/report.html         the run: inputs, rejects, gates, publish
    <reports>/<run_id>/attempt-<n>/data_docs/index.html  GX Data Docs of that attempt

Everything is read from the audit store (:mod:`social_warehouse.audit`), never from the
warehouse, so failed runs have reports too.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from .. import audit
from . import charts as charts_mod
from . import history

__all__ = ["build_run_report", "build_index", "build_all_reports"]

_CSS_PATH = Path(__file__).resolve().parent / "assets" / "report.css"


def _e(value) -> str:
    return escape("" if value is None else str(value))


def _num(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    return f"{value:,}"


def _badge(status) -> str:
    status = status or "unknown"
    return f'<span class="badge {_e(status)}">{_e(status)}</span>'


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(title)}</title><style>{_CSS_PATH.read_text(encoding='utf-8')}</style>"
        f"</head>\n<body>\n{body}\n"
        f"<footer>Generated {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC by "
        "social_warehouse.reporting from the audit store. This page needs no network.</footer>"
        "\n</body></html>\n"
    )


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _duration(run: dict) -> str:
    try:
        start = datetime.fromisoformat(run["started_at"])
        end = datetime.fromisoformat(run["ended_at"])
    except (KeyError, TypeError, ValueError):
        return ""
    seconds = (end - start).total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _gate_counts(rows: list[dict]) -> dict[str, dict[str, int]]:
    stages: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = stages.setdefault(row["stage"], {"passed": 0, "failed": 0, "warning": 0,
                                                  "skipped": 0})
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return stages


def _inputs_section(files: list[dict]) -> str:
    if not files:
        return "<p class=\"muted\">No input files recorded for this run.</p>"
    head = ("<tr><th>Entity</th><th>File</th><th>Format</th><th class=num>Size (bytes)</th>"
            "<th>SHA-256</th><th class=num>Rows read</th><th class=num>Loaded</th>"
            "<th class=num>Rejected</th></tr>")
    body = []
    for f in files:
        body.append(
            f"<tr><td>{_e(f['entity'])}</td><td class=mono title=\"{_e(f['path'])}\">"
            f"{_e(Path(str(f['path'])).name)}<br><span class=muted>{_e(f['path'])}</span></td>"
            f"<td>{_e(f['format'])}</td><td class=num>{_num(f['size_bytes'])}</td>"
            f"<td class=\"mono hash\">{_e(f['sha256'])}</td>"
            f"<td class=num>{_num(f['rows_read'])}</td>"
            f"<td class=num>{_num(f['rows_loaded'])}</td><td class=num>{_num(f['rows_rejected'])}"
            "</td></tr>"
        )
    total = {k: sum(int(f[k] or 0) for f in files) for k in ("size_bytes", "rows_read",
                                                            "rows_loaded", "rows_rejected")}
    body.append(
        f"<tr><th colspan=3>Total ({len(files)} files)</th>"
        f"<th class=num>{_num(total['size_bytes'])}"
        f"</th><th></th><th class=num>{_num(total['rows_read'])}</th><th class=num>"
        f"{_num(total['rows_loaded'])}</th><th class=num>{_num(total['rows_rejected'])}</th></tr>"
    )
    return f"<table id=\"inputs\"><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


def _rejects_section(summary: list[dict], examples: list[dict]) -> str:
    if not summary:
        return "<p class=\"muted\">No rejected rows.</p>"
    by_reason: dict[tuple, list[dict]] = {}
    for ex in examples:
        by_reason.setdefault((ex["entity"], ex["reason"]), []).append(ex)
    head = ("<tr><th>Entity</th><th>Reason</th><th class=num>Rows</th>"
            "<th>Examples (file:row, raw record)</th></tr>")
    body = []
    for s in summary:
        exs = by_reason.get((s["entity"], s["reason"]), [])
        items = "".join(
            f"<li><span class=mono>{_e(Path(str(x['source_file'])).name)}:{_e(x['source_row'])}"
            f"</span> <code class=raw>{_e(x['raw_record'])}</code></li>" for x in exs
        )
        body.append(
            f"<tr><td>{_e(s['entity'])}</td><td class=\"mono wrap\">{_e(s['reason'])}</td>"
            f"<td class=num>{_num(s['count'])}</td><td><ul>{items}</ul></td></tr>"
        )
    return f"<table id=\"rejects\"><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


def _gate_row(r: dict) -> str:
    examples = json.loads(r["unexpected_examples"] or "[]")
    ex_text = "; ".join(json.dumps(x) if not isinstance(x, str) else x for x in examples)
    exception = (f"<br><span class=muted>{_e(r['exception'])}</span>" if r["exception"] else "")
    suite = _e(r["table_name"])
    if r["suite"] != r["table_name"]:
        suite += f"<br><span class=muted>{_e(r['suite'])}</span>"
    pct = r["unexpected_percent"]
    return (
        f"<tr class=\"{_e(r['status'])}\"><td>{_badge(r['status'])}</td><td>{suite}</td>"
        f"<td class=mono>{_e(r['column'])}</td><td><code>{_e(r['expectation'])}</code>"
        f"<br><span class=\"muted wrap\">{_e(r['kwargs'])}</span></td><td>{_e(r['severity'])}"
        f"</td><td class=\"mono wrap\">{_e(r['observed_value'])}{exception}</td>"
        f"<td class=num>{_num(r['unexpected_count'])}</td>"
        f"<td class=num>{'' if pct is None else f'{pct:.3g}'}</td>"
        f"<td class=\"mono wrap\">{_e(ex_text)}</td></tr>"
    )


_GATE_HEAD = ("<thead><tr><th>Status</th><th>Table / suite</th><th>Column</th><th>Expectation</th>"
              "<th>Severity</th><th>Observed</th><th class=num>Unexpected</th><th class=num>%</th>"
              "<th>Unexpected examples</th></tr></thead>")
_STAGE_ORDER = ["raw", "staging", "core", "analytics", "marts"]


def _stage_key(stage: str) -> tuple:
    return (_STAGE_ORDER.index(stage) if stage in _STAGE_ORDER else 99, stage)


def _gates_section(rows: list[dict], docs_link: str | None) -> str:
    """Failures and warnings of every gate first, then per gate the other checks collapsed
    per table (``<details>``, opened by a click)."""
    if not rows:
        return "<p class=\"muted\">No quality gate ran in this attempt.</p>"
    rank = {"failed": 0, "warning": 1, "skipped": 2, "passed": 3}
    rows = sorted(rows, key=lambda r: (_stage_key(r["stage"]), rank.get(r["status"], 9),
                                       r["table_name"], r["expectation"], r["column"] or ""))
    problems = [r for r in rows if r["status"] in ("failed", "warning")]
    parts = []
    if problems:
        parts.append(
            "<h3 id=\"gate-problems\">Failures and warnings</h3>"
            f"<table class=gate id=\"gate-problems-results\">{_GATE_HEAD}<tbody>"
            + "".join(_gate_row(r) for r in problems) + "</tbody></table>")
    else:
        parts.append("<p id=\"gate-problems\" class=ok>Every expectation of every gate passed."
                     "</p>")
    counts = _gate_counts(rows)
    for stage in sorted(counts, key=_stage_key):
        c = counts[stage]
        status = "failed" if c["failed"] else ("warning" if c["warning"] else "passed")
        parts.append(
            f"<h3 id=\"gate-{_e(stage)}\">Gate <code>{_e(stage)}</code> {_badge(status)} "
            f"<span class=muted>{c['passed']} passed, {c['failed']} failed, {c['warning']} "
            f"warning(s), {c['skipped']} skipped</span></h3>"
        )
        rest = [r for r in rows if r["stage"] == stage and r["status"] not in ("failed",
                                                                                "warning")]
        by_table: dict[str, list[dict]] = {}
        for r in rest:
            by_table.setdefault(r["table_name"], []).append(r)
        for table, trs in sorted(by_table.items()):
            n_pass = sum(r["status"] == "passed" for r in trs)
            n_skip = len(trs) - n_pass
            skipped = f", {n_skip} skipped" if n_skip else ""
            parts.append(
                f"<details class=passed-checks data-stage=\"{_e(stage)}\" "
                f"data-table=\"{_e(table)}\"><summary><code>{_e(table)}</code>: {n_pass} "
                f"passed{skipped}</summary><table class=gate>{_GATE_HEAD}<tbody>"
                + "".join(_gate_row(r) for r in trs) + "</tbody></table></details>")
    if docs_link:
        parts.append(f"<p>Full validation results: <a href=\"{_e(docs_link)}\">GX Data Docs of "
                     "this run</a>.</p>")
    return "".join(parts)


def _dbt_section(layers: dict[str, dict]) -> str:
    """dbt models and tests per layer, problems first, passing tests collapsed."""
    if not layers:
        return ("<p id=\"dbt\" class=\"muted\">No dbt results recorded for this run (dbt did "
                "not run, or the run folder is not on this host).</p>")
    parts = ["<div id=\"dbt\">"]
    for layer, info in layers.items():
        results = info["results"]
        if info.get("error"):
            parts.append(f"<p class=error>{_e(info['error'])}</p>")
            continue
        statuses: dict[str, int] = {}
        for r in results:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        bad = [r for r in results if r["status"] not in ("success", "pass")]
        elapsed = "" if info.get("elapsed") is None else f", {info['elapsed']:.1f} s"
        status = ("failed" if any(r["status"] in ("error", "fail", "runtime error")
                                  for r in results)
                  else "warning" if bad else "passed")
        models = [r for r in results if r["kind"] != "test"]
        tests = [r for r in results if r["kind"] == "test"]
        parts.append(
            f"<h3 id=\"dbt-{_e(layer)}\">Layer <code>{_e(layer)}</code> {_badge(status)} "
            f"<span class=muted>{len(models)} model(s), {len(tests)} test(s): "
            + ", ".join(f"{n} {_e(s)}" for s, n in sorted(statuses.items()))
            + f"{elapsed}</span></h3>")

        def table(rs: list[dict], css_id: str) -> str:
            body = "".join(
                f"<tr class=\"{_e(_dbt_css(r['status']))}\"><td>{_badge(_dbt_css(r['status']))}"
                f"</td><td>{_e(r['kind'])}</td><td class=\"mono wrap\">{_e(r['name'])}</td>"
                f"<td class=num>{_secs(r['seconds'])}"
                f"</td><td class=num>{_num(r['failures'])}</td>"
                f"<td class=\"mono wrap\">{_e(r['message'])}</td></tr>" for r in rs)
            return (f"<table class=dbt id=\"{_e(css_id)}\"><thead><tr><th>Status</th><th>Kind</th>"
                    "<th>Node</th><th class=num>Seconds</th><th class=num>Failures</th>"
                    f"<th>Message</th></tr></thead><tbody>{body}</tbody></table>")

        if bad:
            parts.append(table(bad, f"dbt-{layer}-problems"))
        if models:
            parts.append(f"<details class=dbt-models><summary>{len(models)} model(s)</summary>"
                         + table(models, f"dbt-{layer}-models") + "</details>")
        ok_tests = [r for r in tests if r not in bad]
        if ok_tests:
            parts.append(f"<details class=dbt-tests><summary>{len(ok_tests)} passing test(s)"
                         "</summary>" + table(ok_tests, f"dbt-{layer}-tests") + "</details>")
    parts.append("</div>")
    return "".join(parts)


def _secs(value) -> str:
    return "" if value is None else f"{value:.2f}"


def _dbt_css(status) -> str:
    return {"success": "passed", "pass": "passed", "warn": "warning", "skipped": "skipped",
            "error": "failed", "fail": "failed", "runtime error": "failed"}.get(status, "skipped")


def _pct(v: float) -> str:
    return f"{v * 100:.3g}%" if v else "0%"


def _int(v: float) -> str:
    return f"{v:,.0f}" if v == int(v) else f"{v:,.1f}"


def _trends_section(points: list[history.RunPoint], current: audit.RunRef | None) -> str:
    """Inline SVG charts over the recorded attempts (oldest to newest)."""
    if not points:
        return "<p id=\"trends\" class=muted>No runs recorded yet.</p>"
    labels = [p.label for p in points]
    highlight = next((i for i, p in enumerate(points)
                      if current and p.ref.key == current.key), None)
    entities = sorted({e for p in points for e in p.rows_loaded})
    tasks = sorted({t for p in points for t in p.durations},
                   key=lambda t: (t == "whole run", t))
    charts = [
        charts_mod.line_chart(
            "chart-rows-loaded", "Rows loaded per entity", labels,
            {e: [p.rows_loaded.get(e) for p in points] for e in entities}, highlight=highlight),
        charts_mod.line_chart(
            "chart-reject-rate", "Reject rate (rejected / rows read)", labels,
            {"reject rate": [p.reject_rate for p in points]}, y_format=_pct, min_top=0.01,
            highlight=highlight),
        charts_mod.line_chart(
            "chart-gate-failures", "Gate failures and warnings", labels,
            {"failed": [float(p.gate_failed) for p in points],
             "warning": [float(p.gate_warnings) for p in points]}, y_format=_int, min_top=4,
            highlight=highlight),
        charts_mod.line_chart(
            "chart-durations", "Duration per task (s)", labels,
            {t: [p.durations.get(t) for p in points] for t in tasks}, height=260,
            highlight=highlight),
    ]
    note = ("" if highlight is None else
            " The dashed vertical line marks this attempt.")
    return (f"<div id=\"trends\"><p class=muted>{len(points)} attempt(s), oldest to newest; "
            f"hover a point for its value.{note}</p><div class=charts>"
            + "".join(f"<figure>{c}</figure>" for c in charts) + "</div></div>")


def _published_section(published: list[dict], status: str) -> str:
    if not published:
        why = ("the run did not reach the publish step" if status != "success"
               else "no publish was recorded")
        return f"<p id=\"published\" class=\"muted\">Nothing was published: {why}. The served " \
               "warehouse still holds the previous successful run.</p>"
    target = published[0]["target"]
    when = published[0]["published_at"]
    note = ""
    if status == "failed":
        note = ("<p class=error>The run failed after this publish was prepared: check the error "
                "above to see whether the served warehouse was replaced.</p>")
    rows = "".join(
        f"<tr><td class=mono>{_e(p['table_name'])}</td>"
        f"<td class=num>{_num(p['row_count'])}</td></tr>"
        for p in published
    )
    return (f"{note}<p>Published to <code>{_e(target)}</code> at {_e(when)} UTC.</p>"
            "<table id=\"published\"><thead><tr><th>Table</th><th class=num>Rows</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def build_run_report(ref: audit.RunRef, *, store_dir, reports_dir, runs_dir=None) -> Path:
    """Write ``<reports_dir>/<run>/attempt-<n>/report.html`` for one attempt; return its path.

    ``runs_dir`` (default ``<store>/../runs``) holds the run folders with the dbt results and
    task timings; the trend charts cover every attempt in the store up to now.
    """
    runs_dir = Path(runs_dir) if runs_dir else history.default_runs_dir(store_dir)
    data = audit.load_attempt(ref)
    run = data["run"]
    out_dir = audit.report_dir(ref, Path(reports_dir))
    docs = out_dir / "data_docs" / "index.html"
    docs_link = "data_docs/index.html" if docs.is_file() else None
    files, gates = data["input_files"], data["gate_results"]
    counts = _gate_counts(gates)
    failed = sum(c["failed"] for c in counts.values())
    warnings = sum(c["warning"] for c in counts.values())
    rows_loaded = sum(int(f["rows_loaded"] or 0) for f in files)
    rows_rejected = sum(int(f["rows_rejected"] or 0) for f in files)
    others = [r for r in audit.list_attempts(ref.run_id, store_dir=store_dir)
              if r.attempt != ref.attempt]
    other_links = ", ".join(
        f"<a href=\"../attempt-{r.attempt}/report.html\">attempt {r.attempt}</a>" for r in others
    )
    meta = [
        ("Run id", f"<code>{_e(run['run_id'])}</code>"),
        ("Attempt", f"{ref.attempt}" + (f" (other attempts: {other_links})" if others else "")),
        ("Logical date", _e(run.get("logical_date"))),
        ("Partition (ds)", _e(run.get("ds"))),
        ("Started / ended (UTC)", f"{_e(run.get('started_at'))} / {_e(run.get('ended_at'))}"),
        ("Duration", _e(_duration(run))),
        ("Versions", _e(", ".join(
            f"{k.replace('_version', '')} {run.get(k)}" for k in (
                "package_version", "dbt_version", "gx_version", "airflow_version",
                "duckdb_version", "python_version") if run.get(k)))),
    ]
    body = [
        "<p><a href=\"../../index.html\">&larr; All runs</a></p>",
        f"<h1>Run {_e(run['run_id'])} {_badge(run.get('status'))}</h1>",
        "<dl class=meta>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in meta) + "</dl>",
    ]
    if run.get("error"):
        body.append(f"<pre class=error>{_e(run['error'])}</pre>")
    cards = [
        (len(files), "input files"), (f"{rows_loaded:,}", "rows loaded"),
        (f"{rows_rejected:,}", "rows rejected"),
        (len(gates), "expectations checked"), (failed, "failed"), (warnings, "warnings"),
        (len(data["published"]), "tables published"),
    ]
    body.append("<div class=cards>" + "".join(
        f"<div class=card><div class=n>{_e(n)}</div><div class=l>{_e(label)}</div></div>"
        for n, label in cards) + "</div>")
    layers = history.dbt_results(history.run_dir_of(ref, runs_dir))
    dbt_bad = sum(r["status"] not in ("success", "pass") for info in layers.values()
                  for r in info["results"])
    reason = history.failure_reason(data)
    if reason:
        body.append(f"<p id=\"failure-reason\" class=error><strong>Why it failed:</strong> "
                    f"{_e(reason)}</p>")
    toc = [("gates", "Quality gates"), ("dbt-results", "dbt models and tests"),
           ("rejects-h", "Rejected rows"), ("inputs-h", "Inputs"), ("trends-h", "Trends"),
           ("published-h", "Published")]
    body.append("<nav class=toc>" + " &middot; ".join(
        f"<a href=\"#{a}\">{t}</a>" for a, t in toc)
        + (f" &middot; <a href=\"{docs_link}\">GX Data Docs of this run</a>" if docs_link
           else "")
        + (" &middot; <a href=\"dbt_docs/index.html\">dbt docs of the published warehouse</a>"
           if (out_dir / "dbt_docs" / "index.html").is_file() else "") + "</nav>")
    body += [
        "<h2 id=\"gates\">Quality gates</h2>", _gates_section(gates, docs_link),
        f"<h2 id=\"dbt-results\">dbt models and tests by layer"
        f"{' ' + _badge('warning') if dbt_bad else ''}</h2>", _dbt_section(layers),
        "<h2 id=\"rejects-h\">Rejected rows by reason</h2>",
        _rejects_section(data["rejects_summary"], data["rejects_examples"]),
        "<h2 id=\"inputs-h\">Inputs</h2>", _inputs_section(files),
        "<h2 id=\"trends-h\">Trends across runs</h2>",
        _trends_section(history.collect_history(store_dir, runs_dir), ref),
        "<h2 id=\"published-h\">Published</h2>",
        _published_section(data["published"], run.get("status")),
    ]
    return _write(out_dir / "report.html", _page(f"Run {run['run_id']}", "\n".join(body)))


def build_index(*, store_dir, reports_dir, runs_dir=None, data_dir=None) -> Path:
    """Write ``<reports_dir>/index.html`` listing every attempt in the store, newest first.

    Each failed attempt shows why it failed; the attempt whose publish is being served
    (``<data_dir>/published.json``, default ``data_dir`` = the store's parent) is marked.
    """
    reports_dir = Path(reports_dir)
    runs_dir = Path(runs_dir) if runs_dir else history.default_runs_dir(store_dir)
    served = history.served_run(Path(data_dir) if data_dir else Path(store_dir).parent)
    entries = []
    for ref in audit.list_attempts(store_dir=store_dir):
        entries.append((ref, audit.load_attempt(ref)))
    entries.sort(key=lambda e: (e[1]["run"].get("started_at") or "", e[0].attempt), reverse=True)
    # the served attempt: the newest successful attempt of the served run id
    served_key = None
    if served:
        for ref, data in entries:
            if ref.run_id == served["run_id"] and data["published"]:
                served_key = ref.key
                break
    head = ("<tr><th>Run id</th><th class=num>Attempt</th><th>Logical date</th><th>Status</th>"
            "<th>Started (UTC)</th><th>Duration</th><th class=num>Files</th>"
            "<th class=num>Rows loaded</th><th class=num>Rejected</th><th>Gates</th>"
            "<th>Failure reason</th><th class=num>Published tables</th><th>Links</th></tr>")
    rows = []
    for ref, data in entries:
        run = data["run"]
        files, gates = data["input_files"], data["gate_results"]
        counts = _gate_counts(gates)
        gate_text = ", ".join(
            f"{s}: {'FAIL' if c['failed'] else 'ok'}" + (f" ({c['warning']} warn)" if c["warning"]
                                                         else "")
            for s, c in sorted(counts.items(), key=lambda kv: _stage_key(kv[0]))
        )
        rel = audit.report_dir(ref, reports_dir).relative_to(reports_dir).as_posix()
        links = f"<a href=\"{rel}/report.html\">report</a>"
        if (audit.report_dir(ref, reports_dir) / "data_docs" / "index.html").is_file():
            links += f" &middot; <a href=\"{rel}/data_docs/index.html\">data docs</a>"
        if (audit.report_dir(ref, reports_dir) / "dbt_docs" / "index.html").is_file():
            links += f" &middot; <a href=\"{rel}/dbt_docs/index.html\">dbt docs</a>"
        status = run.get("status")
        is_served = ref.key == served_key
        marker = (" <span class=\"badge served\" title=\"the served warehouse holds this run\">"
                  "served</span>" if is_served else "")
        css = " ".join(c for c in ("failed" if status == "failed" else "",
                                   "served" if is_served else "") if c)
        rows.append(
            f"<tr class=\"{css}\" data-run-id=\"{_e(run['run_id'])}\">"
            f"<td class=mono>{_e(run['run_id'])}{marker}</td><td class=num>{ref.attempt}</td>"
            f"<td>{_e(run.get('ds') or run.get('logical_date'))}</td><td>{_badge(status)}</td>"
            f"<td>{_e((run.get('started_at') or '')[:19])}</td><td>{_e(_duration(run))}</td>"
            f"<td class=num>{len(files)}</td>"
            f"<td class=num>{_num(sum(int(f['rows_loaded'] or 0) for f in files))}</td>"
            f"<td class=num>{_num(sum(int(f['rows_rejected'] or 0) for f in files))}</td>"
            f"<td>{_e(gate_text)}</td>"
            f"<td class=\"reason wrap\">{_e(history.failure_reason(data) or '')}</td>"
            f"<td class=num>{len(data['published'])}</td><td>{links}</td></tr>"
        )
    if not rows:
        rows.append("<tr><td colspan=13 class=muted>No runs recorded yet.</td></tr>")
    if served:
        served_text = (f"<p id=\"served\">Served now: run <code>{_e(served['run_id'])}</code> "
                       f"(ds {_e(served.get('ds'))}), published {_e(served.get('published_at'))}"
                       " UTC" + (f" to <code>{_e(served['served_path'])}</code>"
                                 if served.get("served_path") else "") + ".</p>")
    else:
        served_text = "<p id=\"served\" class=muted>No run has been published yet.</p>"
    body = (
        "<h1>Social Warehouse runs</h1>" + served_text +
        f"<p class=muted>{len(entries)} attempt(s) in the audit store, newest first. Failed runs "
        "never reach the served warehouse; their inputs, rejects and gate results are kept here."
        f"</p><table id=\"runs\"><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
        "<h2>Trends across runs</h2>"
        + _trends_section(history.collect_history(store_dir, runs_dir), None)
    )
    return _write(reports_dir / "index.html", _page("Social Warehouse runs", body))


def build_all_reports(*, store_dir, reports_dir, runs_dir=None) -> list[Path]:
    """Rebuild every run report and the index (e.g. after a style change)."""
    paths = [build_run_report(ref, store_dir=store_dir, reports_dir=reports_dir,
                              runs_dir=runs_dir)
             for ref in audit.list_attempts(store_dir=store_dir)]
    paths.append(build_index(store_dir=store_dir, reports_dir=reports_dir, runs_dir=runs_dir))
    return paths
