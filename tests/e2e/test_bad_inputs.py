"""Bad input proves the gates: a matrix of broken exports, each stopped where it should be.

Every case takes the same consistent synthetic export of one day (``BAD_DAY``), breaks one
thing in it, and runs that day against a served warehouse that already holds three good
days (so the volume checks have a trailing baseline). Each case declares its outcome:

* ``quarantine`` - the broken rows are set aside in ``raw.<entity>_rejects`` with their
  reason, source file and row; every gate passes and the day is published;
* ``ingest`` - the whole file cannot be loaded: the ingest step fails naming the file and
  the problem, and nothing of the partition is loaded;
* ``gate_raw`` / ``gate_staging`` / ``gate_core`` - that quality gate fails with a message
  naming the table, column, rule and an example.

A failed run leaves the served warehouse byte-for-byte unchanged, and the audit store
(``data/audit``) and the run report (``data/reports``) record why.

Cost: a full Airflow run of a day takes ~45 s on two cores, so the matrix calls the same
pipeline functions the DAG's tasks call (``dags/social_warehouse_daily.py``), in the DAG's
order and with its error handling (:func:`drive`), in-process. Only the analytics tasks are
left out: none of these inputs reaches them (every failing case stops at a gate before
them), and a quarantine case is judged by the raw/staging/core gates its rows would cross.
One real ``airflow dags test`` sequence (good day, a day failing at a gate, the corrected
rerun) closes the module.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from social_warehouse import audit
from social_warehouse.pipeline import (
    PipelineError,
    build_path,
    finalize_run,
    prepare_build,
    publish,
    record_error,
    run_dbt,
    run_import,
    run_ingest,
    run_quality_gate,
)
from social_warehouse.synthetic import generate

from tests.conftest import pipeline_settings
from tests.helpers import query

pytestmark = pytest.mark.e2e

GOOD_DAYS = ["2026-03-01", "2026-03-02", "2026-03-03"]
BAD_DAY = "2026-03-04"
SEED = 7


# --------------------------------------------------------------------------- the driver


@dataclass
class Run:
    """What one in-process run did: the step that failed (if any) and why."""

    run_id: str
    ds: str
    steps: list[str] = field(default_factory=list)
    failed_step: str | None = None
    error: BaseException | None = None
    published: bool = False
    finalize_error: str | None = None

    @property
    def message(self) -> str:
        return "" if self.error is None else str(self.error)


def _step(run: Run, name: str, func, *args, **kwargs) -> bool:
    """The DAG's ``_step``: a failure is recorded for the audit trail and stops the run."""
    settings = kwargs["settings"]
    try:
        func(*args, **kwargs)
    except PipelineError as exc:
        record_error(run.run_id, name, exc, settings=settings)
        run.failed_step, run.error = name, exc
        return False
    except Exception as exc:  # noqa: BLE001 - the DAG records it too, then Airflow retries
        record_error(run.run_id, name, f"{type(exc).__name__}: {exc}", settings=settings)
        run.failed_step, run.error = name, exc
        return False
    run.steps.append(name)
    return True


def drive(settings, ds: str, run_id: str, last: str = "gate_core") -> Run:
    """One daily run, task by task as the DAG runs it (analytics tasks left out).

    prepare_build -> import_export -> ingest -> gate_raw -> dbt_staging -> gate_staging
    -> dbt_core -> gate_core -> publish; ``finalize`` always runs (trigger rule all_done).
    ``last`` < ``gate_core`` skips the steps between it and ``publish`` (baseline history
    only: the next full run rebuilds staging and core from all raw partitions).
    """
    run = Run(run_id, ds)
    prepare_build(run_id, ds, settings=settings)
    s = {"settings": settings}
    steps = [
        ("import_export", run_import, (ds, None, None)),
        ("ingest", run_ingest, (ds,), {"run_id": run_id}),
        ("gate_raw", run_quality_gate, ("raw", run_id, ds)),
        ("dbt_staging", run_dbt, (["tag:staging"], ds), {"run_id": run_id}),
        ("gate_staging", run_quality_gate, ("staging", run_id, ds)),
        ("dbt_core", run_dbt, (["tag:core"], ds), {"run_id": run_id}),
        ("gate_core", run_quality_gate, ("core", run_id, ds)),
        ("publish", publish, (), {"run_id": run_id, "ds": ds}),
    ]
    names = [step[0] for step in steps]
    skipped = names[names.index(last) + 1:-1]
    for name, func, args, *kwargs in steps:
        if name in skipped:
            continue
        if not _step(run, name, func, *args, **s, **(kwargs[0] if kwargs else {})):
            break
    run.published = run.failed_step is None
    try:
        finalize_run(run_id, ds, settings=settings)
    except PipelineError as exc:
        record_error(run_id, "finalize", exc, settings=settings)
        run.finalize_error = str(exc)
    return run


# --------------------------------------------------------------------------- files


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


q = query


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    return rows[0], rows[1:]


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding="utf-8") -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    data = buf.getvalue().encode(encoding)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def edit_csv(path: Path, func: Callable[[list[str], list[list[str]]], None]) -> None:
    header, rows = read_csv(path)
    func(header, rows)
    write_csv(path, header, rows)


def set_column(column: str, value: Callable[[int, str], str], rows_at) -> Callable:
    """An ``edit_csv`` function setting ``column`` of the rows at the given indices."""

    def edit(header, rows):
        i = header.index(column)
        for n in rows_at(len(rows)):
            rows[n][i] = value(n, rows[n][i])

    return edit


def every(k: int) -> Callable[[int], range]:
    return lambda n: range(0, n, k)


def first(k: int) -> Callable[[int], range]:
    return lambda n: range(k)


# --------------------------------------------------------------------------- the matrix
# Files of the synthetic day (fmt="mixed"): users.csv, posts.jsonl, interactions.csv.gz,
# follows.parquet, campaigns.jsonl (empty on days without a new campaign).


def wrong_column_names(day: Path) -> None:
    # a platform renamed its keys to camelCase
    camel = {"post_id": "postId", "author_id": "authorId", "created_at": "createdAt"}
    records = [{camel.get(k, k): v for k, v in r.items()} for r in read_jsonl(day / "posts.jsonl")]
    write_lines(day / "posts.jsonl", [json.dumps(r, ensure_ascii=False) for r in records])


def missing_column(day: Path) -> None:
    table = pq.read_table(day / "follows.parquet")
    pq.write_table(table.drop_columns(["followee_id"]), day / "follows.parquet")


def truncated_gzip(day: Path) -> None:
    path = day / "interactions.csv.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def not_gzip(day: Path) -> None:
    path = day / "interactions.csv.gz"
    path.write_bytes(gzip.decompress(path.read_bytes()))  # plain CSV under a .gz name


def utf16_file(day: Path) -> None:
    path = day / "users.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16"))


def misnamed_file(day: Path) -> None:
    (day / "interactions.csv.gz").rename(day / "interaction.csv.gz")


def duplicate_header(day: Path) -> None:
    def edit(header, rows):
        header[header.index("display_name")] = "handle"

    edit_csv(day / "users.csv", edit)


def non_numeric_counts(day: Path) -> None:
    # "1.2k"-style counts on 10% of the profiles: more than the 2% reject-rate threshold
    edit_csv(day / "users.csv", set_column("followers_count", lambda n, v: "1.2k", every(10)))


def future_timestamps(day: Path) -> None:
    edit_csv(day / "interactions.csv.gz",
             set_column("occurred_at", lambda n, v: "2031-01-01T00:00:00Z", every(500)))


def before_the_platform(day: Path) -> None:
    records = read_jsonl(day / "posts.jsonl")
    for r in records[:5]:
        r["created_at"] = "1970-01-01T00:00:00Z"  # an epoch-zero default leaked into the export
    write_lines(day / "posts.jsonl", [json.dumps(r, ensure_ascii=False) for r in records])


def volume_drop_90(day: Path) -> None:
    def edit(header, rows):
        del rows[len(rows) // 10:]

    edit_csv(day / "interactions.csv.gz", edit)


def empty_file(day: Path) -> None:
    (day / "interactions.csv.gz").write_bytes(b"")


def missing_file(day: Path) -> None:
    (day / "follows.parquet").unlink()


def gbk_encoding(day: Path) -> None:
    # the whole profile export in the platform's legacy Chinese code page
    path = day / "users.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("gb18030"))


def campaign_ends_before_it_starts(day: Path) -> None:
    write_lines(day / "campaigns.jsonl", [json.dumps({
        "campaign_id": "c_backwards", "brand": "Acme", "name": "Spring",
        "starts_at": "2026-03-10T00:00:00Z", "ends_at": "2026-03-01T00:00:00Z", "budget": 1000,
    })])


def orphan_interactions(day: Path) -> None:
    edit_csv(day / "interactions.csv.gz",
             set_column("user_id", lambda n, v: f"ghost_{n}", every(20)))


def duplicate_keys(day: Path) -> None:
    # three events delivered again right after themselves, with another user and time
    def edit(header, rows):
        u, t = header.index("user_id"), header.index("occurred_at")
        rows[3:3] = [[*r[:u], "u000001", *r[u + 1:t], "2026-03-04T23:00:00Z", *r[t + 1:]]
                     for r in rows[:3]]

    edit_csv(day / "interactions.csv.gz", edit)


def export_delivered_twice(day: Path) -> None:
    shutil.copy(day / "interactions.csv.gz", day / "interactions_resend.csv.gz")


def implausible_follower_counts(day: Path) -> None:
    edit_csv(day / "users.csv",
             set_column("followers_count", lambda n, v: str(2**62), every(20)))


def implausible_watch_time(day: Path) -> None:
    # 10^12 s (31,700 years) of watch time on 1% of the views
    edit_csv(day / "interactions.csv.gz",
             set_column("watch_time_s", lambda n, v: "1e12" if v else v, every(100)))


def inflated_follower_counts(day: Path) -> None:
    # plausible numbers, but three times what the export's own follow edges say
    edit_csv(day / "users.csv",
             set_column("followers_count", lambda n, v: str(int(v) * 3 + 10) if v else v,
                        every(4)))


def overflowing_count(day: Path) -> None:
    edit_csv(day / "users.csv",
             set_column("followers_count", lambda n, v: "99999999999999999999", first(2)))


def invalid_json_lines(day: Path) -> None:
    path = day / "posts.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4][:-10]  # cut mid-record
    lines[7] = "[1, 2, 3]"  # JSON, but not an object
    write_lines(path, lines)


def latin1_rows(day: Path) -> None:
    # three profiles re-typed by hand in a Latin-1 tool: the rest of the file is UTF-8
    path = day / "users.csv"
    header, rows = read_csv(path)
    i = header.index("display_name")
    buf = io.BytesIO()
    for n, row in enumerate([header, *rows]):
        text = io.StringIO()
        if 1 <= n <= 3:
            row = [*row[:i], "José Müller", *row[i + 1:]]
            csv.writer(text, lineterminator="\n").writerow(row)
            buf.write(text.getvalue().encode("latin-1", errors="replace"))
        else:
            csv.writer(text, lineterminator="\n").writerow(row)
            buf.write(text.getvalue().encode("utf-8"))
    path.write_bytes(buf.getvalue())


def unclosed_quote(day: Path) -> None:
    # issue 16: a quote opened in row 10 and never closed used to swallow every event after
    # it into one field (one bad_number reject, the rest of the day silently gone)
    header, rows = read_csv(day / "interactions.csv.gz")
    assert not any(set(",\"\n\r") & set(v) for r in rows for v in r)  # plain fields
    lines = [",".join(header)] + [",".join(r) for r in rows]
    at = header.index("occurred_at")
    cells = lines[10].split(",")
    cells[at] = '"' + cells[at]
    lines[10] = ",".join(cells)
    (day / "interactions.csv.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))


def every_record_accounted(settings, run: Run) -> None:
    """rows_read is the number of physical records of the file, not what the parser saw."""
    path = settings.landing_dir / BAD_DAY / "interactions.csv.gz"
    records = gzip.decompress(path.read_bytes()).decode().count("\n") - 1  # minus the header
    assert q(settings.warehouse_path, "select rows_read, rows_loaded + rows_rejected from "
             "raw.input_files where ds = ? and path = ?", [BAD_DAY, str(path)]) == [
        (records, records)]


def nan_event_weight(day: Path) -> None:
    # issue 16: {"play": {"weight": NaN}} passed every gate and published NaN scores
    (day / "_manifest.json").write_text(json.dumps(
        {"event_types": {"play": {"weight": float("nan"), "scale_by_value": True}}}))


HTML = "<script>alert('x')</script>"
SQL = "'; DROP TABLE raw.users; --"


def html_and_sql_text(day: Path) -> None:
    def edit(header, rows):
        h, b, f = (header.index(c) for c in ("handle", "bio", "followers_count"))
        rows[0][h], rows[0][b] = SQL, HTML
        rows[1][h], rows[1][b] = HTML, SQL
        rows[2][h], rows[2][f] = HTML, f"{HTML}"  # markup where a number belongs

    edit_csv(day / "users.csv", edit)


def html_is_data_not_markup(settings, run: Run) -> None:
    """Markup and SQL in text columns load verbatim, execute nowhere, and are escaped in
    the report; the row with markup in a count column is quarantined."""
    served = settings.warehouse_path
    raw = q(served, "select handle, bio from raw.users where ds = ? and _source_row in (1, 2) "
            "order by _source_row", [BAD_DAY])
    assert raw == [(SQL, HTML), (HTML, SQL)]
    core = q(served, "select bio from core.dim_users where bio in (?, ?) order by bio", [HTML, SQL])
    assert core == [(SQL,), (HTML,)]
    assert q(served, "select count(*) from raw.users where ds = ?", [BAD_DAY])[0][0] > 1000
    report = _report(settings, run.run_id)  # the quarantined record is shown, as text
    assert escape(HTML, quote=False) in report or escape(HTML) in report


@dataclass(frozen=True)
class Expect:
    """The declared outcome of a case.

    ``step``: ``published`` (bad rows quarantined, the day published) or the failing step.
    ``table``: the rejects table (quarantine) or the failing gate's suite.
    ``column``/``rule``: the failing column and expectation; for quarantine, ``rule`` is the
    reject reason.
    ``text``: fragments the failure message must contain (file, example values, ...).
    ``rows``: for quarantine, the source rows (1-based data rows) of the rejected records.
    ``verify``: a further check ``verify(settings, run)``.
    """

    step: str
    table: str | None = None
    column: str | None = None
    rule: str | None = None
    text: tuple[str, ...] = ()
    rows: tuple[int, ...] = ()
    verify: Callable | None = None


BETWEEN, MAX_BETWEEN = "expect_column_values_to_be_between", "expect_column_max_to_be_between"

MATRIX = [
    # ---- whole files the ingest cannot load: it fails naming the file and the problem
    ("wrong_column_names", wrong_column_names,
     Expect("ingest", text=("posts.jsonl", "missing required column(s)",
                            "['post_id', 'author_id', 'created_at']", "'postid'"))),
    ("missing_column", missing_column,
     Expect("ingest", text=("follows.parquet", "missing required column(s) ['followee_id']"))),
    ("truncated_gzip", truncated_gzip,
     Expect("ingest", text=("interactions.csv.gz", "truncated gzip stream"))),
    ("not_gzip", not_gzip,
     Expect("ingest", text=("interactions.csv.gz", "not a valid gzip file"))),
    ("utf16_file", utf16_file,
     Expect("ingest", text=("users.csv", "header is not valid UTF-8",
                            "UTF-16 byte-order mark"))),
    ("misnamed_file", misnamed_file,
     Expect("ingest", text=("unrecognised landing file(s) ['interaction.csv.gz']",))),
    ("duplicate_header", duplicate_header,
     Expect("ingest", text=("users.csv", "duplicate column name(s) ['handle']"))),
    ("nan_event_weight", nan_event_weight,
     Expect("ingest", text=("_manifest.json", "event type 'play'",
                            "weight must be finite and > 0"))),
    # ---- loadable files whose content fails the raw gate
    ("non_numeric_counts", non_numeric_counts,
     Expect("gate_raw", "raw.users__metrics", "reject_rate", MAX_BETWEEN,
            ("max_value=0.02", "bad_number:followers_count: "))),
    ("gbk_encoding", gbk_encoding,
     Expect("gate_raw", "raw.users__metrics", "reject_rate", MAX_BETWEEN,
            ("invalid_encoding: ",))),
    ("export_delivered_twice", export_delivered_twice,
     Expect("gate_raw", "raw.interactions__metrics", "reject_rate", MAX_BETWEEN,
            ("duplicate_key:event_id: ",))),
    ("future_timestamps", future_timestamps,
     Expect("gate_raw", "raw.interactions", "occurred_at", BETWEEN,
            ("max_value=2026-03-05 06:00:00", " unexpected of ", "2031-01-01",
             "at interactions.csv.gz:row "))),
    ("before_the_platform", before_the_platform,
     Expect("gate_raw", "raw.posts", "created_at", BETWEEN,
            ("min_value=2006-01-01", "5 unexpected of ", "1970-01-01", "at posts.jsonl:row "))),
    ("volume_drop_90", volume_drop_90,
     Expect("gate_raw", "raw.interactions__metrics", "volume_ratio", MAX_BETWEEN,
            ("min_value=0.5", "rows on 2026-03-04 vs trailing median"))),
    ("empty_file", empty_file,
     Expect("gate_raw", "raw.interactions__metrics", "volume_ratio", MAX_BETWEEN,
            ("observed 0;", "0 rows on 2026-03-04"))),
    ("missing_file", missing_file,
     Expect("gate_raw", "raw.follows__metrics", "volume_ratio", MAX_BETWEEN,
            ("0 rows on 2026-03-04",))),
    ("campaign_ends_before_it_starts", campaign_ends_before_it_starts,
     Expect("gate_raw", "raw.campaigns", "ends_at,starts_at",
            "expect_column_pair_values_a_to_be_greater_than_b", ("2026-03-10",))),
    # ---- rows that load but break a relation: caught once dbt has built the layer
    ("orphan_interactions", orphan_interactions,
     Expect("gate_staging", "staging.stg_interactions__metrics", "user_ri_share", MAX_BETWEEN,
            ("min_value=0.99", "user_id=ghost_0 not in staging.stg_users"))),
    # ---- a few bad rows: quarantined with their reason, the day is published
    ("duplicate_keys", duplicate_keys,
     Expect("published", "raw.interactions_rejects", rule="duplicate_key:event_id",
            rows=(4, 5, 6))),
    ("extreme_value_overflow", overflowing_count,
     Expect("published", "raw.users_rejects", rule="bad_number:followers_count", rows=(1, 2))),
    ("invalid_json_lines", invalid_json_lines,
     Expect("published", "raw.posts_rejects", rule="invalid_json", rows=(5, 8))),
    ("unclosed_quote", unclosed_quote,
     Expect("published", "raw.interactions_rejects", rule="unclosed_quote", rows=(10,),
            verify=every_record_accounted)),
    ("latin1_rows", latin1_rows,
     Expect("published", "raw.users_rejects", rule="invalid_encoding", rows=(1, 2, 3))),
    ("html_and_sql_text", html_and_sql_text,
     Expect("published", "raw.users_rejects", rule="bad_number:followers_count", rows=(3,),
            verify=html_is_data_not_markup)),
    # ---- known gaps, published today; not run (each costs a run through core): set
    # run=True (and strict=True) when a gate bounds them
    ("implausible_follower_counts", implausible_follower_counts,
     Expect("gate_raw", "raw.users", "followers_count", BETWEEN, text=(str(2**62),))),
    ("implausible_watch_time", implausible_watch_time,
     Expect("gate_raw", "raw.interactions", "watch_time_s", BETWEEN,
            text=("1000000000000", "at interactions.csv.gz:row "))),
    ("inflated_follower_counts", inflated_follower_counts,
     Expect("gate_core", "core.dim_users__metrics", "reported_followers_consistent_share",
            MAX_BETWEEN, text=("edge(s) in core.fct_follow_edges",))),
]


def _params():
    for case in MATRIX:
        yield case if hasattr(case, "marks") else pytest.param(*case, id=case[0])


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """A data dir whose served warehouse holds three good days, and the 4th day's export."""
    root = tmp_path_factory.mktemp("bad_inputs")
    settings = pipeline_settings(root / "data")
    generate(profile="small", days=len(GOOD_DAYS) + 1, seed=SEED, out=settings.data_dir,
             start_date=GOOD_DAYS[0], fmt="mixed")
    for ds in GOOD_DAYS[:-1]:  # history for the volume checks: loaded, raw gate, published
        run = drive(settings, ds, f"good__{ds}", last="gate_raw")
        assert run.failed_step is None, f"{ds} failed at {run.failed_step}: {run.message}"
    run = drive(settings, GOOD_DAYS[-1], f"good__{GOOD_DAYS[-1]}")  # every step
    assert run.published, f"{GOOD_DAYS[-1]} failed at {run.failed_step}: {run.message}"
    return settings


@pytest.fixture
def case_settings(baseline, tmp_path):
    """A private copy of the baseline data dir (served warehouse, audit store, landing)."""
    data = tmp_path / "data"
    shutil.copytree(baseline.data_dir, data, symlinks=True)
    return pipeline_settings(data)


# --------------------------------------------------------------------------- the tests


def _attempt(settings, run_id: str) -> dict:
    refs = audit.list_attempts(run_id, store_dir=settings.data_dir / "audit")
    assert len(refs) == 1, refs
    return audit.load_attempt(refs[0])


def _report(settings, run_id: str) -> str:
    path = settings.data_dir / "reports" / audit.safe_run_id(run_id) / "attempt-1" / "report.html"
    return path.read_text(encoding="utf-8")


def _assert_in(parts, text: str, what: str) -> None:
    for part in parts:
        assert part in text, f"{part!r} not in {what}:\n{text}"


@pytest.mark.parametrize(("case", "mutate", "expect"), _params())
def test_bad_input_ends_in_quarantine_or_a_named_failure(case_settings, case, mutate, expect):
    s = case_settings
    served = s.warehouse_path
    served_before = sha256(served)
    mutate(s.landing_dir / BAD_DAY)
    run_id = f"bad__{case}"

    run = drive(s, BAD_DAY, run_id)

    # a clear message, never a traceback: bad input is a PipelineError
    if run.error is not None:
        assert isinstance(run.error, PipelineError), (
            f"{run.failed_step} raised {type(run.error).__name__}: {run.error}")
    attempt = _attempt(s, run_id)
    report = _report(s, run_id)
    index = (s.data_dir / "reports" / "index.html").read_text(encoding="utf-8")
    for page in (report, index):
        assert "<script>" not in page  # input text is escaped, never markup
    assert run_id in index

    if expect.step == "published":
        _assert_quarantined(s, run, expect, attempt, report, served_before)
    else:
        _assert_failed(s, run, expect, attempt, report, served_before)
    if expect.verify:
        expect.verify(s, run)


def _assert_failed(s, run: Run, expect: Expect, attempt: dict, report: str, served_before):
    assert run.failed_step == expect.step, (
        f"expected {expect.step}, got {run.failed_step or 'published'}: {run.message}")
    message = run.message
    _assert_in(expect.text, message, "the failure message")
    if expect.table:  # a gate: the message names table, column and rule
        _assert_in([f"[{expect.step.removeprefix('gate_')}]", expect.table], message,
                   "the gate message")
        if expect.column:
            _assert_in([f"column {expect.column}", expect.rule], message, "the gate message")
        failed = [r for r in attempt["gate_results"] if r["status"] == "failed"]
        assert any(r["suite"] == expect.table and r["column"] == expect.column
                   and (expect.rule is None or r["expectation"] == expect.rule)
                   for r in failed), failed
        # the day's files were recorded with their hash before the gate judged them
        landed = {str(p): sha256(p) for p in (s.landing_dir / BAD_DAY).iterdir()}
        assert {r["path"]: r["sha256"] for r in attempt["input_files"]} == landed
    else:  # ingest: nothing of the partition was loaded
        assert attempt["input_files"] == []
        assert q(build_path(run.run_id, s), "select count(*) from raw.input_files where ds = ?",
                 [BAD_DAY]) == [(0,)]
    # nothing downstream of the failed step ran
    assert "publish" not in run.steps and not run.published
    # the served warehouse is untouched
    assert sha256(s.warehouse_path) == served_before
    assert json.loads((s.data_dir / "published.json").read_text())["ds"] == GOOD_DAYS[-1]
    # the audit trail and the report record the failure and why
    record = attempt["run"]
    assert record["status"] == "failed"
    _assert_in([f"{expect.step}: ", *(expect.text[:1] or [expect.rule])], record["error"],
               "the audit record's error")
    assert "was not published" in (run.finalize_error or "")
    _assert_in(["failed", escape(expect.step), escape(expect.text[0] if expect.text
                                                      else expect.column)],
               report, "the run report")


def _assert_quarantined(s, run: Run, expect: Expect, attempt: dict, report: str, served_before):
    assert run.published, f"failed at {run.failed_step}: {run.message}"
    served = s.warehouse_path
    assert sha256(served) != served_before
    assert json.loads((s.data_dir / "published.json").read_text())["ds"] == BAD_DAY
    # the broken rows are in the rejects with their reason, file and row, and only there
    entity = expect.table.removeprefix("raw.").removesuffix("_rejects")
    rejected = q(served, f"select _source_file, _source_row, raw_record from {expect.table} "
                 "where ds = ? and reason = ? order by _source_row", [BAD_DAY, expect.rule])
    assert [r[1] for r in rejected] == list(expect.rows), rejected
    (source,) = {r[0] for r in rejected}
    assert Path(source).parent == s.landing_dir / BAD_DAY
    assert all(r[2] for r in rejected)  # the raw record is kept
    rows = ", ".join(map(str, expect.rows))
    assert q(served, f"select count(*) from raw.{entity} where ds = ? and _source_file = ? "
             f"and _source_row in ({rows})", [BAD_DAY, source]) == [(0,)]
    read, loaded, rejects = q(served, "select rows_read, rows_loaded, rows_rejected from "
                              "raw.input_files where ds = ? and path = ?", [BAD_DAY, source])[0]
    assert rejects == len(expect.rows) and loaded + rejects == read
    # every gate the rows cross passed (warnings allowed)
    gates = attempt["gate_results"]
    assert {r["stage"] for r in gates} == {"raw", "staging", "core"}
    assert [r for r in gates if r["status"] == "failed"] == []
    # the audit trail: in the store, in the served warehouse, in the report
    assert attempt["run"]["status"] == "success"
    assert {(r["entity"], r["reason"], r["count"]) for r in attempt["rejects_summary"]} == {
        (entity, expect.rule, len(expect.rows))}
    assert q(served, "select status from audit.runs where run_id = ?", [run.run_id]) == [
        ("success",)]
    assert q(served, "select entity, reason, count from audit.rejects_summary "
             "where run_id = ?", [run.run_id]) == [(entity, expect.rule, len(expect.rows))]
    _assert_in(["success", escape(expect.rule)], report, "the run report")


# --------------------------------------------------------------------------- the real DAG

AIRFLOW_DAYS = ["2026-04-01", "2026-04-02"]


def _attempts_of(settings, ds: str) -> list[tuple[audit.RunRef, dict]]:
    refs = audit.list_attempts(store_dir=settings.data_dir / "audit")
    loaded = [(ref, audit.load_attempt(ref)) for ref in refs]
    return sorted([(ref, a) for ref, a in loaded if a["run"]["ds"] == ds],
                  key=lambda x: x[1]["run"]["started_at"])


def test_real_dag_good_day_then_a_gate_failure_then_the_corrected_rerun(airflow_home,
                                                                        tmp_path_factory):
    """Good day published; a day with future timestamps fails at gate_raw (served file
    unchanged, audit store and report say why); the corrected delivery is published."""
    from social_warehouse.cli import airflow_env, run_dag

    root = tmp_path_factory.mktemp("bad_inputs_dag")
    settings = pipeline_settings(root / "data")
    generate(profile="small", days=2, seed=SEED, out=settings.data_dir,
             start_date=AIRFLOW_DAYS[0], fmt="mixed")
    env = airflow_env(settings, base={**os.environ, "AIRFLOW_HOME": str(airflow_home),
                                      "SW_TASK_RETRIES": "0"})

    def dag(ds: str, name: str) -> tuple[int, str]:
        log = root / f"{name}.log"
        rc = run_dag(ds, env, log_path=log)
        return rc, log.read_text(encoding="utf-8", errors="replace")

    good, bad = AIRFLOW_DAYS
    rc, log = dag(good, "good")
    assert rc == 0, log[-5000:]
    served = settings.warehouse_path
    digest = sha256(served)

    # ---- the bad delivery: one event in 500 dated 2031
    day = settings.landing_dir / bad
    pristine = (day / "interactions.csv.gz").read_bytes()
    future_timestamps(day)
    rc, log = dag(bad, "bad")
    assert rc != 0
    _assert_in(["gate_raw", "table raw.interactions", "column occurred_at",
                "expect_column_values_to_be_between", "2031-01-01"], log, "the DAG log")
    assert sha256(served) == digest
    assert json.loads((settings.data_dir / "published.json").read_text())["ds"] == good
    [(ref, attempt)] = _attempts_of(settings, bad)
    record = attempt["run"]
    assert record["status"] == "failed"
    _assert_in(["gate_raw: ", "raw.interactions", "occurred_at", "2031-01-01"],
               record["error"], "the audit record's error")
    failed = [r for r in attempt["gate_results"] if r["status"] == "failed"]
    assert [(r["stage"], r["table_name"], r["column"], r["expectation"]) for r in failed] == [
        ("raw", "raw.interactions", "occurred_at", "expect_column_values_to_be_between")]
    header, rows = read_csv(day / "interactions.csv.gz")
    at = header.index("occurred_at")
    assert failed[0]["unexpected_count"] == sum(r[at].startswith("2031") for r in rows) > 0
    assert {r["stage"] for r in attempt["gate_results"]} == {"raw"}  # nothing ran after it
    assert attempt["published"] == []
    files = {Path(r["path"]).name: r["sha256"] for r in attempt["input_files"]}
    assert files["interactions.csv.gz"] == sha256(day / "interactions.csv.gz")
    report = (audit.report_dir(ref, settings.data_dir / "reports") / "report.html").read_text()
    _assert_in(["failed", "gate_raw", "occurred_at", "expect_column_values_to_be_between",
                "2031-01-01", "Nothing was published"], report, "the run report")
    index = (settings.data_dir / "reports" / "index.html").read_text()
    assert escape(ref.run_id) in index or ref.run_id in index

    # ---- the corrected delivery is published, and the served audit shows both runs
    (day / "interactions.csv.gz").write_bytes(pristine)
    rc, log = dag(bad, "fixed")
    assert rc == 0, log[-5000:]
    assert sha256(served) != digest
    assert json.loads((settings.data_dir / "published.json").read_text())["ds"] == bad
    runs = q(served, "select status, error from audit.runs where ds = ? order by started_at",
             [bad])
    assert [r[0] for r in runs] == ["failed", "success"]
    assert "occurred_at" in runs[0][1] and runs[1][1] is None
    assert [r[0].isoformat() for r in q(served, "select ds from meta.publications "
                                        "order by published_at")] == [good, bad]
