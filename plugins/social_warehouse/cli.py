"""social-warehouse: generate social exports, run the daily DAG, inspect the served warehouse.

Examples:
  social-warehouse run --ds 2026-01-01 --end 2026-01-31
  social-warehouse import --mapping sources/email_eu_core.yaml --from DIR --ds 2026-01-01 --run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from .config import Settings, get_settings

__all__ = ["main", "airflow_env", "ensure_airflow", "run_dag", "run_scheduled"]

TERMINAL = {"success", "failed", "upstream_failed", "skipped", "removed"}


def airflow_env(settings: Settings | None = None, base: dict | None = None) -> dict:
    """Environment for Airflow commands: ``AIRFLOW_HOME`` (default ``$SW_DATA_DIR/airflow``)
    and the pipeline's ``SW_*`` paths. Airflow's settings are in the generated airflow.cfg."""
    from .airflow_setup import project_env

    return project_env(settings, base)


def ensure_airflow(env: dict) -> None:
    """Write ``airflow.cfg``, migrate the metadata DB and create the writer pool (idempotent).

    With a local Postgres configured it is started for the migration and stopped again.
    """
    from .airflow_setup import configured_postgres, ensure_metadata, write_airflow_cfg

    write_airflow_cfg(get_settings(env), env)
    pg = configured_postgres(Path(env["AIRFLOW_HOME"]))
    if pg is None:
        ensure_metadata(env)
        return
    with pg.running():
        ensure_metadata(env)


def run_dag(ds: str, env: dict, conf: dict | None = None, log_path: Path | None = None) -> int:
    """Debug path: the whole DAG for one date in one process with ``airflow dags test``."""
    from .airflow_setup import DAG_ID, airflow_exe, configured_postgres

    args = [airflow_exe(), "dags", "test", DAG_ID, ds]
    if conf:
        args += ["--conf", json.dumps(conf)]
    pg = configured_postgres(Path(env["AIRFLOW_HOME"]))
    ctx = pg.running() if pg else contextlib.nullcontext()
    with ctx:
        if log_path:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "w", encoding="utf-8") as fh:
                return subprocess.run(args, env=env, stdout=fh,
                                      stderr=subprocess.STDOUT).returncode
        return subprocess.run(args, env=env).returncode


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while a run was going."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


def _dates(start: str, end: str | None) -> list[str]:
    d0 = date.fromisoformat(start)
    d1 = date.fromisoformat(end) if end else d0
    if d1 < d0:
        raise SystemExit(f"--end {end} is before --ds {start}")
    return [(d0 + timedelta(days=i)).isoformat() for i in range((d1 - d0).days + 1)]


def cmd_generate(a) -> int:
    from .synthetic import generate

    result = generate(profile=a.profile, days=a.days, seed=a.seed, out=Path(a.out),
                      start_date=a.start_date, fmt=a.format)
    print(f"wrote {len(result.dates)} days of '{a.profile}' exports to {result.landing_dir} "
          f"(planted truth in {result.truth_dir}) in {result.seconds:.1f}s")
    for ds, counts in result.row_counts.items():
        print(f"  {ds}: " + ", ".join(f"{k}={v:,}" for k, v in counts.items()))
    return 0


def check_landing(days: list[str], landing_dir: Path) -> str | None:
    """An error message if a landing partition is missing (checked before Airflow starts)."""
    missing = [d for d in days if not (landing_dir / d).is_dir()]
    if not missing:
        return None
    have = sorted(p.name for p in landing_dir.iterdir() if p.is_dir()) \
        if landing_dir.is_dir() else []
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return (f"no landing partition for ds {shown}: expected folder(s) "
            f"{landing_dir}/<ds>/ (existing partitions: {', '.join(have[-5:]) or 'none'}). "
            "Generate exports with `social-warehouse generate` or import one with "
            "`social-warehouse import`.")


def _fmt_seconds(sec: float | None) -> str:
    if sec is None:
        return "?"
    return f"{sec:.1f}s" if sec < 120 else f"{int(sec // 60)}m{int(sec % 60):02d}s"


def _parse_ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def failure_details(run_id: str, s: Settings) -> tuple[list[str], Path | None]:
    """The failing steps' gate FAIL lines (or first error lines) and the run report path."""
    from .audit import safe_run_id

    lines: list[str] = []
    errors = s.run_dir(run_id) / "errors.jsonl"
    if errors.exists():
        for raw in errors.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            text = str(rec.get("error", ""))
            fails = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("FAIL")]
            head = text.splitlines()[0] if text else ""
            lines.append(f"{rec.get('task')}: {head}")
            lines += [f"  {ln}" for ln in (fails or text.splitlines()[1:6])]
    report = None
    folder = s.data_dir / "reports" / safe_run_id(run_id)
    attempts = sorted(folder.glob("attempt-*/report.html"),
                      key=lambda p: int(p.parent.name.split("-")[1]))
    if attempts:
        report = attempts[-1]
    elif (s.data_dir / "reports" / "index.html").exists():
        report = s.data_dir / "reports" / "index.html"
    return lines, report


def _watch(api, run_id: str, procs, timeout: float, out: Callable[[str], None],
           poll: float = 2.0) -> str:
    """Print each task's start and end until the DAG run ends; return its state."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        procs and procs.track()
        dead = procs.exited() if procs else {}
        if dead:
            raise RuntimeError(f"Airflow component(s) exited: {dead}; see "
                               f"{procs.home / 'logs'}/<component>.log")
        if time.monotonic() > deadline:
            raise TimeoutError(f"DAG run {run_id} did not finish within {timeout:.0f} s")
        try:
            instances = api.task_instances(run_id)
            run_state = api.run(run_id).get("state")
        except OSError as exc:  # a slow or restarting api-server: ask again (bounded)
            out(f"  (api-server did not answer: {exc}; retrying)")
            time.sleep(poll)
            continue
        for ti in sorted(instances, key=lambda t: t.get("start_date") or "~"):
            task, state = ti["task_id"], ti.get("state") or "none"
            if seen.get(task) == state:
                continue
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            if state == "running" and seen.get(task) != "running":
                host = f" on {ti['hostname']}" if ti.get("hostname") else ""
                out(f"  {stamp} {task:<24} started (try {ti.get('try_number', 1)}{host})")
            elif state in TERMINAL:
                start, end = _parse_ts(ti.get("start_date")), _parse_ts(ti.get("end_date"))
                took = (end - start).total_seconds() if start and end else None
                if start and seen.get(task) != "running":  # started and ended between polls
                    host = f" on {ti['hostname']}" if ti.get("hostname") else ""
                    out(f"  {start.strftime('%H:%M:%S')} {task:<24} started "
                        f"(try {ti.get('try_number', 1)}{host})")
                if state in ("success", "failed"):
                    out(f"  {stamp} {task:<24} {state} in {_fmt_seconds(took)}")
                else:
                    out(f"  {stamp} {task:<24} {state}")
            elif state == "up_for_retry":
                out(f"  {stamp} {task:<24} failed, will retry")
            seen[task] = state
        if run_state in ("success", "failed"):
            return run_state
        time.sleep(poll)


def run_scheduled(days: list[str], s: Settings, conf: dict | None,
                  out: Callable[[str], None] = print, run_timeout: float = 4 * 3600) -> int:
    """Run the DAG once per day through a real scheduler (LocalExecutor, a process per task).

    Takes the data dir's run lock for the whole command; starts (or reuses, when
    ``make airflow`` runs on this AIRFLOW_HOME) the metadata DB, api-server, scheduler and
    dag-processor; triggers one DAG run per logical date and waits for it; stops what it
    started. SIGINT/SIGTERM: the running DAG run is marked failed, every Airflow process
    is stopped by PID and the run is closed ``failed`` in the audit store.
    """
    from . import airflow_setup as af
    from .locking import DataDirLock, RunLockedError

    lock = DataDirLock(s.data_dir)
    try:
        lock.acquire({"ds": days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}",
                      "command": " ".join(["social-warehouse", *sys.argv[1:]])})
    except RunLockedError as exc:
        out(f"error: {exc}")
        return 3

    def on_signal(signum: int, _frame: object) -> None:
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    env = af.project_env(s)
    home = Path(env["AIRFLOW_HOME"])
    procs = None
    pg = None
    api = None
    current: str | None = None
    paused_before: bool | None = None
    rc = 1
    try:
        af.write_airflow_cfg(s, env)
        pg = af.configured_postgres(home)
        pg_started = False
        if pg is not None and pg.pid() is None:
            pg.start()
            pg_started = True
        deployment = af.running_deployment(home)
        if deployment:
            port = int(deployment["api_port"])
            out(f"using the running Airflow on {home} (api-server http://127.0.0.1:{port})")
        else:
            af.ensure_metadata(env)
            port = af.free_port()
            env.update({
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL":
                    f"http://127.0.0.1:{port}/execution/",
                # only the runs triggered here: no cron runs of the current day
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            })
            procs = af.AirflowProcesses(env)
            t0 = time.perf_counter()
            api_proc = procs.start("api-server")
            procs.start("scheduler")
            procs.start("dag-processor")
            af.wait_for_http(f"http://127.0.0.1:{port}/api/v2/version", 180, api_proc)
            out(f"Airflow up in {time.perf_counter() - t0:.0f}s (scheduler, dag-processor, "
                f"api-server http://127.0.0.1:{port}; component logs {home / 'logs'})")
        api = af.AirflowAPI(f"http://127.0.0.1:{port}")
        paused_before = bool(af.wait_for_dag(api, 180).get("is_paused"))
        if paused_before:
            api.set_paused(False)
        for ds in days:
            current = f"sw__{ds}__{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
            api.trigger(current, f"{ds}T00:00:00Z", conf)
            t0 = time.perf_counter()
            out(f"{ds}: DAG run {current} triggered; task logs: "
                f"{home / 'logs' / f'dag_id={af.DAG_ID}' / f'run_id={current}'}/")
            state = _watch(api, current, procs, run_timeout, out)
            out(f"{ds}: DAG run {state} in {_fmt_seconds(time.perf_counter() - t0)}")
            if state != "success":
                lines, report = failure_details(current, s)
                for line in lines:
                    out(f"  {line}")
                if report:
                    out(f"  run report: {report}")
                current = None
                return 1
            current = None
        rc = 0
        return 0
    except Interrupted as exc:
        out(f"interrupted by {exc}: stopping the run and every Airflow process")
        rc = 128 + exc.signum
        return rc
    except (RuntimeError, TimeoutError, OSError) as exc:
        out(f"error: {exc}")
        return 1
    finally:
        # no second signal may interrupt the clean-up
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        try:
            if current and api is not None:
                with contextlib.suppress(Exception):
                    api.fail_run(current)
            if api is not None and paused_before:
                with contextlib.suppress(Exception):
                    api.set_paused(True)
            if procs is not None:
                procs.stop()
            if pg is not None and pg_started:
                pg.stop()
            if current:
                _close_interrupted(current, s, rc)
        finally:
            lock.release()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _close_interrupted(run_id: str, s: Settings, rc: int) -> None:
    """Close the audit record of a run that did not end by itself."""
    from . import audit

    refs = audit.list_attempts(run_id, store_dir=s.data_dir / "audit")
    if not refs:
        return
    record = audit.load_attempt(refs[-1])["run"]
    if record.get("status") == "running":
        why = f"interrupted (exit {rc}): the CLI was stopped and ended its Airflow processes"
        audit.finish_run(run_id, "failed", why, store_dir=s.data_dir / "audit",
                         reports_dir=s.data_dir / "reports")


def _run_days(days: list[str], s: Settings, conf: dict | None, debug: bool = False) -> int:
    if not debug:
        return run_scheduled(days, s, conf)
    from .locking import DataDirLock, RunLockedError

    lock = DataDirLock(s.data_dir)
    try:
        lock.acquire({"ds": days[0], "command": " ".join(sys.argv)})
    except RunLockedError as exc:
        print(f"error: {exc}")
        return 3
    try:
        env = airflow_env(s)
        ensure_airflow(env)
        for ds in days:
            t0 = time.perf_counter()
            log = s.data_dir / "logs" / f"dag_{ds}.log"
            print(f"{ds}: airflow dags test (debug, one process); log: {log}")
            rc = run_dag(ds, env, conf=conf, log_path=log)
            print(f"{ds}: DAG run {'success' if rc == 0 else 'failed'} in "
                  f"{time.perf_counter() - t0:.1f}s")
            if rc != 0:
                return rc
        return 0
    finally:
        lock.release()


def cmd_run(a) -> int:
    s = get_settings()
    days = _dates(a.ds, a.end)
    problem = check_landing(days, Path(a.landing_dir or s.landing_dir).resolve())
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    conf = {k: v for k, v in (("landing_dir", a.landing_dir), ("thresholds", a.thresholds)) if v}
    rc = _run_days(days, s, conf or None, debug=a.debug)
    if rc == 0 and s.warehouse_path.exists():
        from .pipeline import format_summary

        print(format_summary(s.warehouse_path))
    return rc


def cmd_demo(a) -> int:
    from .pipeline import format_summary

    s = get_settings()
    t0 = time.perf_counter()
    from .locking import current_holder, describe_holder

    holder = current_holder(s.data_dir)
    if holder is not None:  # never delete files under a running run
        print(f"error: data dir {s.data_dir} is in use by another run "
              f"({describe_holder(holder)})", file=sys.stderr)
        return 3
    if a.fresh:
        import shutil

        for p in (s.warehouse_path, s.build_dir, s.runs_dir, s.landing_dir):
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    from .synthetic import generate

    # one day carries a few quarantined rows (below the gate threshold), so a new user
    # sees the quarantine section of the run report
    result = generate(profile=a.profile, days=a.days, seed=a.seed, out=s.data_dir,
                      start_date=a.start_date, fmt=a.format,
                      quarantine_day=min(1, a.days - 1))
    print(f"generated {a.days} days of '{a.profile}' exports in {s.landing_dir} "
          f"({result.seconds:.1f}s); running the DAG for each day:")
    rc = _run_days(result.dates, s, None, debug=a.debug)
    if rc != 0:
        return rc
    print(f"\nDemo finished in {time.perf_counter() - t0:.0f}s.")
    print(format_summary(s.warehouse_path))
    return 0


def cmd_ingest(a) -> int:
    from .ingest import IngestError, ingest_partition

    s = get_settings()
    try:
        result = ingest_partition(Path(a.db or s.build_path), Path(a.landing_dir or s.landing_dir),
                                  a.ds)
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2))
    return 0


def cmd_import(a) -> int:
    from .mapping import MappingError, SourceError, import_export

    s = get_settings()
    if not a.thresholds:
        candidate = Path(a.mapping).with_suffix(".thresholds.yml")
        a.thresholds = str(candidate.resolve()) if candidate.exists() else None
    try:
        result = import_export(a.mapping, a.source_dir, a.ds, a.landing_dir or s.landing_dir,
                               fmt=a.format, overwrite=a.overwrite)
    except (MappingError, SourceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    if a.run:
        conf = {k: v for k, v in (("landing_dir", a.landing_dir), ("thresholds", a.thresholds))
                if v}
        rc = _run_days([a.ds], s, conf or None, debug=a.debug)
        if rc == 0:
            from .pipeline import format_summary

            print(format_summary(s.warehouse_path))
        return rc
    return 0


def cmd_summary(a) -> int:
    from .pipeline import format_summary

    s = get_settings()
    path = Path(a.db or s.warehouse_path)
    if not path.exists():
        print(f"no served warehouse at {path} yet: run `make run` first", file=sys.stderr)
        return 1
    print(format_summary(path))
    return 0


def cmd_airflow(a) -> int:
    """``airflow config``: write airflow.cfg and migrate; ``airflow up``: run Airflow here."""
    from . import airflow_setup as af

    s = get_settings()
    env = af.project_env(s)
    home = Path(env["AIRFLOW_HOME"])
    if a.action == "config":
        ensure_airflow(env)
        print(f"wrote {home / 'airflow.cfg'} and migrated the metadata DB; use it with\n"
              f"  export AIRFLOW_HOME={home}")
        return 0
    if af.running_deployment(home):
        print(f"error: Airflow already runs on {home} (see {home / 'processes.json'})",
              file=sys.stderr)
        return 3
    af.write_airflow_cfg(s, env)
    pg = af.configured_postgres(home)
    procs = af.AirflowProcesses(env)
    stop = {"signal": 0}

    def on_signal(signum: int, _frame: object) -> None:
        stop["signal"] = signum

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    try:
        if pg is not None:
            pg.start()
        af.ensure_metadata(env)
        api = procs.start("api-server")
        for name in ("scheduler", "dag-processor", "triggerer"):
            procs.start(name)
        port = procs.api_port()
        af.wait_for_http(f"http://127.0.0.1:{port}/api/v2/version", 180, api)
        print(f"Airflow UI: http://127.0.0.1:{port}/  (login: none needed; the simple auth "
              "manager makes every local user admin: local use only)\n"
              f"AIRFLOW_HOME={home}; component logs in {home / 'logs'}; "
              f"PIDs in {home / 'processes.json'}\n"
              "DAG social_warehouse_daily starts paused: unpause it in the UI for daily runs. "
              "Ctrl-C stops everything.")
        while not stop["signal"]:
            dead = procs.exited()
            if dead:
                print(f"error: Airflow component(s) exited: {dead}", file=sys.stderr)
                return 1
            procs.track()
            time.sleep(1)
        return 0
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        procs.stop()
        if pg is not None:
            pg.stop()
        print("Airflow stopped.")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("social-warehouse")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="social-warehouse", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version",
                   version=f"social-warehouse {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def gen_args(sp: argparse.ArgumentParser, out_default: str | None = None) -> None:
        sp.add_argument("--profile", default="small", choices=["small", "medium", "large"],
                        help="size of the synthetic platform (default: small)")
        sp.add_argument("--days", type=int, default=3, help="number of daily partitions")
        sp.add_argument("--seed", type=int, default=42, help="random seed (same seed, same files)")
        sp.add_argument("--start-date", default="2026-01-01",
                        help="first logical date YYYY-MM-DD (default: 2026-01-01)")
        sp.add_argument("--format", default="mixed",
                        choices=["csv", "csv.gz", "jsonl", "jsonl.gz", "parquet", "mixed"],
                        help="file format of the exports (mixed: a different one per entity)")
        if out_default is not None:
            sp.add_argument("--out", default=out_default,
                            help="output root: writes OUT/landing/<ds>/ and OUT/truth/")

    def debug_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--debug", action="store_true",
                        help="run each day with `airflow dags test` in one process instead of "
                             "through the scheduler (debugging only: no executor, no pool)")

    g = sub.add_parser("generate", help="write synthetic social exports with planted truth")
    gen_args(g, out_default=str(get_settings().data_dir))
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("run", help="run the daily DAG for a date or a date range through the "
                                   "Airflow scheduler")
    r.add_argument("--ds", required=True, help="first logical date YYYY-MM-DD")
    r.add_argument("--end", help="last logical date (inclusive) for a backfill, one DAG run "
                                 "per day in order")
    r.add_argument("--landing-dir", help="landing root (default SW_LANDING_DIR)")
    r.add_argument("--thresholds", help="quality-gate thresholds overlay file")
    debug_arg(r)
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="generate sample exports, run the DAG for each day, summarise")
    gen_args(d)
    d.add_argument("--no-fresh", dest="fresh", action="store_false",
                   help="keep the existing warehouse and landing files")
    debug_arg(d)
    d.set_defaults(func=cmd_demo)

    i = sub.add_parser("ingest", help="load one landing partition into a DuckDB file (no Airflow)")
    i.add_argument("--ds", required=True, help="landing partition to load (YYYY-MM-DD)")
    i.add_argument("--landing-dir", help="landing root (default SW_LANDING_DIR)")
    i.add_argument("--db", required=True, help="DuckDB file to load into (created if missing)")
    i.set_defaults(func=cmd_ingest)

    im = sub.add_parser("import", help="turn a real export into canonical landing files with a "
                                       "source mapping (sources/*.yaml)")
    im.add_argument("--mapping", required=True,
                    help="mapping YAML, e.g. sources/email_eu_core.yaml")
    im.add_argument("--from", dest="source_dir", required=True, help="folder of the export")
    im.add_argument("--ds", required=True, help="landing partition to write (YYYY-MM-DD)")
    im.add_argument("--landing-dir", help="landing root (default SW_LANDING_DIR)")
    im.add_argument("--format", default="parquet", choices=["parquet", "csv"],
                    help="format of the landing files written (default: parquet)")
    im.add_argument("--overwrite", action="store_true",
                    help="replace files of the partition that another source wrote")
    im.add_argument("--run", action="store_true", help="then run the daily DAG for --ds")
    im.add_argument("--thresholds",
                    help="quality-gate thresholds overlay for this source (default: "
                         "sources/<mapping name>.thresholds.yml if it exists)")
    debug_arg(im)
    im.set_defaults(func=cmd_import)

    m = sub.add_parser("summary", help="row counts of the served warehouse")
    m.add_argument("--db", help="DuckDB file (default: the served warehouse)")
    m.set_defaults(func=cmd_summary)

    af = sub.add_parser("airflow", help="write the project's airflow.cfg (config) or run "
                                        "scheduler, dag-processor, triggerer and api-server (up)")
    af.add_argument("action", choices=["config", "up"],
                    help="config: write $AIRFLOW_HOME/airflow.cfg, migrate, create the pool; "
                         "up: start Airflow on 127.0.0.1 until Ctrl-C")
    af.set_defaults(func=cmd_airflow)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
