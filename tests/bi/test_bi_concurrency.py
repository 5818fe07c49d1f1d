"""BI readers while a run publishes: fresh connections never fail and see the new day.

Reader *processes* (as BI tools are) open a new read-only SQLAlchemy + duckdb-engine
connection for every query of the served file, in a loop, while the next day runs
through the real pipeline steps and publishes by renaming its build file over the served
one. Then the stale cases the README documents are pinned down: a connection opened before
the publish, and a new connection in a process that still holds one, see the old day.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date

import duckdb
import pytest

from tests.bi.conftest import generate_world, run_day

#: Builds a whole warehouse (every dbt layer, the gates, a publish): in `make test`, left
#: out of `make test-fast`.
pytestmark = pytest.mark.integration

READERS = 3

READER = r"""
import json, sys, time, warnings
import sqlalchemy as sa
path, out, stop = sys.argv[1], sys.argv[2], sys.argv[3]
warnings.simplefilter("ignore")
engine = sa.create_engine(f"duckdb:///{path}", connect_args={"read_only": True},
                          poolclass=sa.pool.NullPool)
import os

with open(out, "w") as fh:
    while not os.path.exists(stop):
        started = time.time()
        try:
            with engine.connect() as con:
                ds = con.execute(sa.text("select max(ds) from meta.publications")).scalar_one()
                kols = con.execute(sa.text(
                    "select count(*), max(ds) from marts.mart_kol_leaderboard")).one()
            rec = {"t0": started, "t1": time.time(), "ds": str(ds), "kols": kols[0],
                   "mart_ds": str(kols[1])}
        except Exception as exc:  # recorded, the test fails on any
            rec = {"t0": started, "t1": time.time(), "error": f"{type(exc).__name__}: {exc}"}
        fh.write(json.dumps(rec) + "\n")
        fh.flush()
        time.sleep(0.1)
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two generated days; only the first is published before the test."""
    settings, gen = generate_world(tmp_path_factory.mktemp("bi_publish") / "data")
    run_day(settings, gen.dates[0])
    return settings, gen.dates


def test_fresh_connections_during_publish_never_fail_and_see_the_new_day(world, tmp_path):
    settings, (day1, day2) = world
    served = settings.warehouse_path
    stop = tmp_path / "stop"
    procs, outs = [], []
    for i in range(READERS):
        out = tmp_path / f"reader_{i}.jsonl"
        outs.append(out)
        procs.append(subprocess.Popen([sys.executable, "-c", READER, str(served), str(out),
                                       str(stop)]))
    try:
        # the readers are reading day 1 before the next run starts
        deadline = time.time() + 120
        while time.time() < deadline and not all(
                o.exists() and o.read_text().count("\n") >= 3 for o in outs):
            time.sleep(0.2)
        # stale case 1 (same process): a connection opened before the publish
        before = duckdb.connect(str(served), read_only=True)
        assert str(before.execute("select max(ds) from meta.publications").fetchone()[0]) == day1

        run_day(settings, day2)  # ingest .. dbt .. analytics .. publish (os.replace)
        published_at = time.time()

        # stale case 1: it keeps reading the file it opened (day 1), consistently
        assert str(before.execute("select max(ds) from meta.publications").fetchone()[0]) == day1
        assert str(before.execute("select max(ds) from marts.mart_kol_leaderboard")
                   .fetchone()[0]) == day1
        # stale case 2: DuckDB caches the instance per path, so a *new* connection in this
        # process, while `before` is open, gets the same old database
        again = duckdb.connect(str(served), read_only=True)
        assert str(again.execute("select max(ds) from meta.publications").fetchone()[0]) == day1
        again.close()
        before.close()
        # once every connection of the process is closed, a new one opens the new file
        fresh = duckdb.connect(str(served), read_only=True)
        assert str(fresh.execute("select max(ds) from meta.publications").fetchone()[0]) == day2
        fresh.close()

        # let every reader complete a few reads that started after the publish
        deadline = time.time() + 120
        while time.time() < deadline and not all(
                sum(1 for line in o.read_text().splitlines()
                    if json.loads(line)["t0"] > published_at) >= 3 for o in outs):
            time.sleep(0.2)
    finally:
        stop.touch()
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    total, after = 0, 0
    for out in outs:
        records = [json.loads(line) for line in out.read_text().splitlines()]
        errors = [r for r in records if "error" in r]
        assert not errors, f"{out.name}: {errors[:3]}"
        seen = [r["ds"] for r in records]
        assert set(seen) <= {day1, day2}
        # each read is one whole publication: meta and marts agree, and there are KOLs
        assert all(r["ds"] == r["mart_ds"] and r["kols"] > 0 for r in records)
        # a reader never goes back to day 1 once it saw day 2
        first_new = seen.index(day2)
        assert set(seen[first_new:]) == {day2}
        # every read that started after publish returned sees day 2
        late = [r for r in records if r["t0"] > published_at]
        assert len(late) >= 3 and all(r["ds"] == day2 for r in late)
        assert any(r["ds"] == day1 for r in records)
        total += len(records)
        after += len(late)
    print(f"{READERS} readers, {total} fresh connections, {after} after the publish, 0 errors")
    assert date.fromisoformat(day2) > date.fromisoformat(day1)
