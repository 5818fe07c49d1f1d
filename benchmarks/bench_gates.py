"""Gate time per stage, pandas engine (before) against the DuckDB SQL engine (after).

    .venv/bin/python benchmarks/bench_gates.py --db WAREHOUSE.duckdb --ds 2026-01-01 \\
        [--stages raw,staging,core,analytics,marts] [--engines pandas,sql] \\
        [--dag-log data/logs/dag_2026-01-01.log] [--name medium]

``WAREHOUSE`` is a warehouse built by a run (the served file, or a run's build file) for the
logical date ``--ds``; stages whose tables it lacks are skipped. Each (stage, engine) gate
runs in a fresh process, as a task does under LocalExecutor, with Data Docs and audit
recording into a scratch data dir, and reports wall time, CPU time (user + system), peak
RSS and the gate's own phases (prepare = GX import + project copy, read, validate, docs,
record). With ``--dag-log`` (the log ``social-warehouse run`` writes), the run's task
durations give the share of the run the gates take before and after: the pandas gates are
the log's own ``gate_*`` tasks, and the SQL share replaces them by the measured SQL gates.
Figures go to ``benchmarks/results/gates_<name>.json`` and ``.md``.

Not a test: timings depend on the machine and its load, which the output records (``uptime``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
STAGES = ("raw", "staging", "core", "analytics", "marts")
_STAGE_SCHEMA = {"raw": "raw", "staging": "staging", "core": "core", "analytics": "analytics",
                 "marts": "marts"}

_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter(); c0 = time.process_time()
from pathlib import Path
from social_warehouse.quality import GateFailed, run_gate
stage, db, ds, engine, data_dir = sys.argv[1:6]
try:
    result = run_gate(stage, Path(db), ds=ds, run_id=f"bench_{engine}", engine=engine,
                      data_dir=Path(data_dir))
except GateFailed as exc:
    result = exc.result
print("BENCH_JSON " + json.dumps({
    "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "expectations": len(result.rows), "failed": len(result.failures),
    "warnings": len(result.warnings), "timings": result.timings,
}))
"""


def _has_stage(db: Path, stage: str) -> bool:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        n = con.execute("select count(*) from information_schema.tables where table_schema = ?",
                        [_STAGE_SCHEMA[stage]]).fetchone()[0]
    finally:
        con.close()
    return bool(n)


def run_one(stage: str, db: Path, ds: str, engine: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_gates_") as tmp:
        env = {**os.environ, "GX_ANALYTICS_ENABLED": "False"}
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _CHILD, stage, str(db), ds, engine, tmp],
                              capture_output=True, text=True, env=env, check=False)
        if proc.returncode:
            raise RuntimeError(f"gate {stage}/{engine} failed:\n{proc.stderr[-3000:]}")
        found = [x.split("BENCH_JSON ", 1)[1] for x in proc.stdout.splitlines()
                 if "BENCH_JSON " in x]
        if not found:
            raise RuntimeError(f"gate {stage}/{engine} printed no result:\n"
                               f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        out = json.loads(found[-1])
        out["process_wall_s"] = time.perf_counter() - start
        return out


def task_durations(log: Path) -> dict[str, float]:
    """Seconds per task of a ``dags test`` log (tasks run one after another there)."""
    durations: dict[str, float] = {}
    start, task = None, None
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        m = re.match(r"(\S+Z) \[info\s+\] Task started", line)
        if m:
            start, task = datetime.fromisoformat(m.group(1).replace("Z", "+00:00")), None
            continue
        m = re.search(r"task_id='([a-z_]+)'", line)
        if m and task is None:
            task = m.group(1)
        m = re.match(r"(\S+Z) \[info\s+\] Task instance state updated.*new_state=success",
                     line)
        if m and start is not None and task:
            end = datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
            durations[task] = durations.get(task, 0.0) + (end - start).total_seconds()
            start = None
    return durations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--ds", required=True)
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--engines", default="pandas,sql")
    parser.add_argument("--dag-log", type=Path, default=None)
    parser.add_argument("--name", default="medium")
    args = parser.parse_args(argv)

    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores; {load}")
    rows = []
    for stage in args.stages.split(","):
        if not _has_stage(args.db, stage):
            print(f"{stage:9s} skipped: no {_STAGE_SCHEMA[stage]} tables in {args.db}")
            continue
        for engine in args.engines.split(","):
            r = run_one(stage, args.db, args.ds, engine)
            r.update(stage=stage, engine=engine)
            rows.append(r)
            phases = ", ".join(f"{k} {v:.1f}" for k, v in r["timings"].items())
            print(f"{stage:9s} {engine:6s} wall {r['wall_s']:7.1f} s  cpu {r['cpu_s']:7.1f} s  "
                  f"peak RSS {r['peak_rss_mb']:7.0f} MB  {r['expectations']} expectations "
                  f"({r['failed']} failed, {r['warnings']} warnings)  [{phases}]")
    totals = {e: sum(r["wall_s"] for r in rows if r["engine"] == e)
              for e in args.engines.split(",")}
    report: dict = {"db": str(args.db), "ds": args.ds, "uptime": load,
                    "cores": os.cpu_count(), "rows": rows, "total_wall_s": totals,
                    "measured_at": datetime.now().isoformat(timespec="seconds")}
    if args.dag_log:
        tasks = task_durations(args.dag_log)
        gates = {t: s for t, s in tasks.items() if t.startswith("gate_")}
        other = sum(s for t, s in tasks.items() if not t.startswith("gate_"))
        measured = {r["stage"] for r in rows}
        sql = sum(r["wall_s"] for r in rows if r["engine"] == "sql"
                  and f"gate_{r['stage']}" in gates)
        before = sum(s for t, s in gates.items() if t[5:] in measured)
        report["run"] = {"tasks": tasks, "non_gate_s": other, "gates_before_s": before,
                         "gates_after_s": sql,
                         "share_before": before / (other + before) if other + before else None,
                         "share_after": sql / (other + sql) if other + sql else None}
        print(f"run (from {args.dag_log.name}): other tasks {other:.0f} s; gates before "
              f"{before:.0f} s = {report['run']['share_before']:.1%} of the run, after "
              f"{sql:.0f} s = {report['run']['share_after']:.1%} (target <= 15%)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"gates_{args.name}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    lines = [f"# Gates per stage, `{args.name}` ({args.ds})", "",
             f"Machine: {os.cpu_count()} cores, `{load}` (shared: figures under load).", "",
             "| stage | engine | wall s | CPU s | peak RSS MB | expectations | phases |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        phases = ", ".join(f"{k} {v:.1f}" for k, v in r["timings"].items())
        lines.append(f"| {r['stage']} | {r['engine']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{r['peak_rss_mb']:.0f} | {r['expectations']} | {phases} |")
    lines += ["", "Total wall: " + ", ".join(f"{e} {s:.1f} s" for e, s in totals.items())]
    if "run" in report:
        run = report["run"]
        lines += ["", f"Run share (DAG log, other tasks {run['non_gate_s']:.0f} s): gates before "
                  f"{run['gates_before_s']:.0f} s = {run['share_before']:.1%}, after "
                  f"{run['gates_after_s']:.0f} s = {run['share_after']:.1%} (target <= 15%)."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
