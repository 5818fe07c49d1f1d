"""Airflow for Social Warehouse: generated configuration, a local Postgres, and the processes.

The project's Airflow settings live where Airflow reads them: :func:`write_airflow_cfg`
writes ``$AIRFLOW_HOME/airflow.cfg`` (DAGs and plugins folders, no examples, executor,
metadata database, api-server address, simple auth manager for local use, a stable JWT
secret and Fernet key). Plain ``airflow ...`` commands then work once ``AIRFLOW_HOME`` is set.

Metadata database (``SW_AIRFLOW_DB``: ``auto`` (default), ``postgres`` or ``sqlite``):

* ``postgres``: a private PostgreSQL cluster in ``$AIRFLOW_HOME/postgres`` listening only on
  a Unix socket in that folder (no TCP port to collide with), started and stopped by the
  command that needs it (:class:`LocalPostgres`). Scheduler, dag-processor and api-server
  write concurrently; Postgres takes that, and LocalExecutor may run tasks in parallel.
* ``sqlite``: one file, no server; every writer serialises on the file lock, so
  ``parallelism`` is 1 (tasks still run each in their own process, one at a time).
* ``auto``: ``postgres`` where the PostgreSQL server binaries are installed, Airflow's async
  Postgres driver (``asyncpg``, which every Airflow 3 process loads for a Postgres metadata
  DB) is importable and, when running as root, the ``postgres`` user can reach
  ``$AIRFLOW_HOME``; else ``sqlite``. (``asyncpg`` is locked in ``uv.lock``, so a checkout
  on a host with the Debian ``postgresql`` package runs on Postgres.)

A ``sql_alchemy_conn`` given in the environment (``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``,
a team's deployment) always wins and no local server is started.

Processes (:class:`AirflowProcesses`) are started each in its own session, recorded by PID,
and stopped by PID (SIGTERM to the group, then SIGKILL to whatever survives, including task
processes that Airflow moved to process groups of their own).
"""

from __future__ import annotations

import base64
import configparser
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .config import WRITER_POOL, Settings, get_settings

__all__ = [
    "DAG_ID",
    "WRITER_QUEUE",
    "airflow_home",
    "airflow_exe",
    "project_env",
    "metadata_backend",
    "write_airflow_cfg",
    "read_airflow_cfg",
    "LocalPostgres",
    "RedisServer",
    "AirflowProcesses",
    "free_port",
    "wait_for_http",
    "ensure_metadata",
]

DAG_ID = "social_warehouse_daily"
#: Celery queue of the tasks that write the DuckDB build file (pin it to the writer host).
WRITER_QUEUE = WRITER_POOL
_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
DEFAULT_API_PORT = 8080
MAX_SOCKET_PATH = 107  # bytes of a Unix socket path (sockaddr_un.sun_path)


def airflow_home(settings: Settings | None = None, env: Mapping[str, str] | None = None) -> Path:
    """``$AIRFLOW_HOME``, or ``$SW_DATA_DIR/airflow`` by default."""
    if env is None:
        env = os.environ
    s = settings or get_settings(env)
    return Path(env.get("AIRFLOW_HOME") or s.data_dir / "airflow").resolve()


def airflow_exe() -> str:
    """The ``airflow`` executable next to this interpreter (the project's venv)."""
    exe = Path(sys.executable).with_name("airflow")
    return str(exe) if exe.exists() else "airflow"


def project_env(settings: Settings | None = None, base: dict | None = None) -> dict[str, str]:
    """Environment for Airflow processes: ``AIRFLOW_HOME`` and the pipeline's ``SW_*`` paths.

    Airflow's own settings come from the generated ``airflow.cfg``, not from here.
    """
    env = dict(os.environ if base is None else base)
    s = settings or get_settings(env)
    env["AIRFLOW_HOME"] = str(airflow_home(s, env))
    env.setdefault("GX_ANALYTICS_ENABLED", "False")
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    env["SW_HOME"] = str(s.home)
    env["SW_DATA_DIR"] = str(s.data_dir)
    env["SW_LANDING_DIR"] = str(s.landing_dir)
    env["SW_WAREHOUSE"] = str(s.warehouse_path)
    env["SW_BUILD_DIR"] = str(s.build_dir)
    env["SW_RUNS_DIR"] = str(s.runs_dir)
    # lineage of this data dir goes to this data dir, whatever airflow.cfg says
    for key, value in openlineage_settings(s, env).items():
        env[f"AIRFLOW__OPENLINEAGE__{key.upper()}"] = value
    return env


def openlineage_settings(settings: Settings, env: Mapping[str, str] | None = None
                         ) -> dict[str, str]:
    """The ``[openlineage]`` settings: every task's inputs and outputs
    (:mod:`social_warehouse.lineage`) go to a file transport in ``<data dir>/lineage/``
    (one JSON event per file) unless ``SW_OPENLINEAGE_TRANSPORT`` gives another transport
    (OpenLineage's JSON form, e.g. ``{"type": "http", "url": "http://marquez:5000"}``);
    ``SW_LINEAGE=off`` disables the listener."""
    env = os.environ if env is None else env
    if (env.get("SW_LINEAGE") or "on").strip().lower() in ("off", "0", "false", "no"):
        return {"disabled": "True"}
    transport = (env.get("SW_OPENLINEAGE_TRANSPORT") or "").strip()
    if not transport:
        folder = settings.data_dir / "lineage"
        folder.mkdir(parents=True, exist_ok=True)
        transport = json.dumps({"type": "file", "log_file_path": str(folder / "event"),
                                "append": False})
    return {"disabled": "False", "namespace": "social_warehouse", "transport": transport}


def worker_hostname() -> str:
    """Airflow ``[core] hostname_callable``: ``$SW_WORKER_HOSTNAME`` or the host's FQDN.

    Several Celery workers on one machine (or containers sharing a host name) then record
    distinct task-instance hostnames, so the UI and audits show which worker ran a task.
    """
    name = os.environ.get("SW_WORKER_HOSTNAME")
    if name:
        return name
    from airflow.utils.net import getfqdn  # Airflow's default hostname_callable

    return getfqdn()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Wait until ``url`` answers (any HTTP status), at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            cmd = proc.args[:3] if isinstance(proc.args, list | tuple) else proc.args
            raise RuntimeError(f"{cmd!r} exited with code {proc.returncode} before "
                               f"{url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s (last error: {last})")


# --------------------------------------------------------------------------- Postgres / Redis

def _pg_bindir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    if candidates:
        return candidates[0].parent
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found else None


def _pg_user() -> str | None:
    """The user that runs Postgres: ourselves, or ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return "postgres"


def _reachable_by(user: str, path: Path) -> bool:
    """Whether ``user`` can reach ``path`` (or its nearest existing parent).

    We (root) create the cluster folder and hand it to ``user``, who only needs to traverse
    the folders above it.
    """
    probe = path
    while not probe.exists():
        probe = probe.parent
    proc = subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(probe)],
                          capture_output=True)
    return proc.returncode == 0


@dataclass
class LocalPostgres:
    """A private PostgreSQL cluster in ``root`` (database ``airflow``), started on demand.

    ``port=None``: Unix socket only (in ``root``), no TCP. With a port, it also listens on
    127.0.0.1:port. As root, the server runs as the ``postgres`` user (initdb refuses root).
    """

    root: Path
    port: int | None = None
    database: str = "airflow"
    bindir: Path | None = None
    started_here: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.bindir = self.bindir or _pg_bindir()

    @staticmethod
    def available(root: Path | None = None) -> bool:
        """Server binaries found, Airflow's async driver installed, the folder reachable."""
        import importlib.util

        if _pg_bindir() is None or importlib.util.find_spec("asyncpg") is None:
            return False
        if os.geteuid() == 0:
            user = _pg_user()
            return user is not None and (root is None or _reachable_by(user, root))
        return True

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url(self, driver: str = "postgresql+psycopg2") -> str:
        user = _pg_user() or pwd.getpwuid(os.geteuid()).pw_name
        if self.port is None:
            return f"{driver}://{user}@/{self.database}?host={self.socket_dir}&port=5432"
        return f"{driver}://{user}@127.0.0.1:{self.port}/{self.database}"

    def _cmd(self, tool: str, *args: str) -> list[str]:
        assert self.bindir is not None
        cmd = [str(self.bindir / tool), *args]
        user = _pg_user()
        return ["runuser", "-u", user, "--", *cmd] if user else cmd

    def _run(self, tool: str, *args: str, timeout: float = 120) -> str:
        proc = subprocess.run(self._cmd(tool, *args), capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({proc.returncode}):\n"
                               f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        return proc.stdout

    def initdb(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        if self.bindir is None:
            raise RuntimeError("PostgreSQL server binaries (pg_ctl, initdb) not found")
        self.root.mkdir(parents=True, exist_ok=True)
        user = _pg_user()
        if user:
            shutil.chown(self.root, user=user)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-E", "UTF8",
                  "--no-instructions", "-U", user or pwd.getpwuid(os.geteuid()).pw_name)

    def pid(self) -> int | None:
        """The postmaster's PID if it runs (from ``postmaster.pid``, checked alive)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def start(self, timeout: float = 60) -> None:
        self.initdb()
        if self.pid() is not None:
            return
        listen = "127.0.0.1" if self.port else ""
        opts = (f"-c listen_addresses='{listen}' -c unix_socket_directories='{self.socket_dir}' "
                f"-c port={self.port or 5432} -c max_connections=200 -c fsync=on")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-o", opts, "-w", "-t", str(int(timeout)), "start", timeout=timeout + 10)
        self.started_here = True
        self._ensure_database()

    def _ensure_database(self) -> None:
        import psycopg2
        from psycopg2 import sql

        user = _pg_user() or pwd.getpwuid(os.geteuid()).pw_name
        con = psycopg2.connect(host=str(self.socket_dir), port=self.port or 5432, user=user,
                               dbname="postgres")
        try:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute("select 1 from pg_database where datname = %s", [self.database])
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("create database {}").format(
                        sql.Identifier(self.database)))
        finally:
            con.close()

    def stop(self, timeout: float = 30) -> None:
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t",
                      str(int(timeout)), "stop", timeout=timeout + 5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.started_here = False

    @contextlib.contextmanager
    def running(self) -> Iterator[LocalPostgres]:
        """Started for the block (if not already running); stopped after if we started it."""
        was_running = self.pid() is not None
        self.start()
        try:
            yield self
        finally:
            if not was_running:
                self.stop()


@dataclass
class RedisServer:
    """``redis-server`` on 127.0.0.1:port, no persistence, stopped by PID."""

    root: Path
    port: int
    proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 20) -> None:
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "redis.log", "wb")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [exe, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not _port_in_use(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: "
                                   f"{(self.root / 'redis.log').read_text()[-2000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None:
            _stop_pids([self.proc.pid], timeout=10)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)


# --------------------------------------------------------------------------- configuration

def metadata_backend(home: Path, env: Mapping[str, str] | None = None) -> str:
    """``postgres`` or ``sqlite`` per ``SW_AIRFLOW_DB`` (see the module docstring)."""
    if env is None:
        env = os.environ
    choice = (env.get("SW_AIRFLOW_DB") or "auto").lower()
    if choice not in ("auto", "postgres", "sqlite"):
        raise ValueError(f"SW_AIRFLOW_DB={choice!r}: allowed values are auto, postgres, sqlite")
    # the private cluster listens on a Unix socket in $AIRFLOW_HOME/postgres: its path must
    # fit in sockaddr_un (107 bytes), else the server refuses to start
    socket_path = Path(home) / "postgres" / ".s.PGSQL.5432"
    socket_fits = len(os.fsencode(str(socket_path))) <= MAX_SOCKET_PATH
    if choice == "auto":
        return "postgres" if socket_fits and LocalPostgres.available(home) else "sqlite"
    if choice == "postgres" and not LocalPostgres.available(home):
        raise RuntimeError("SW_AIRFLOW_DB=postgres, but no usable PostgreSQL server binaries "
                           "(pg_ctl/initdb; as root also the 'postgres' user) were found")
    if choice == "postgres" and not socket_fits:
        raise RuntimeError(f"SW_AIRFLOW_DB=postgres, but the socket path {socket_path} is longer "
                           f"than {MAX_SOCKET_PATH} bytes: use a shorter AIRFLOW_HOME")
    return choice


def read_airflow_cfg(home: Path) -> configparser.ConfigParser:
    cfg = configparser.ConfigParser(interpolation=None)
    path = Path(home) / "airflow.cfg"
    if path.exists():
        cfg.read(path, encoding="utf-8")
    return cfg


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def write_airflow_cfg(
    settings: Settings | None = None,
    env: Mapping[str, str] | None = None,
    *,
    executor: str = "LocalExecutor",
    sql_alchemy_conn: str | None = None,
    api_port: int | None = None,
    parallelism: int | None = None,
    celery: dict[str, str] | None = None,
    extra: dict[str, dict[str, str]] | None = None,
) -> Path:
    """Write ``$AIRFLOW_HOME/airflow.cfg`` with the project's settings; return its path.

    Idempotent: secrets (JWT secret, Fernet key) and an earlier api port are kept, so the
    processes of a deployment keep agreeing after a rewrite. Only the keys set here are
    written; everything else keeps Airflow's defaults.
    """
    if env is None:
        env = os.environ
    s = settings or get_settings(env)
    home = airflow_home(s, env)
    home.mkdir(parents=True, exist_ok=True)
    old = read_airflow_cfg(home)
    backend = None
    if sql_alchemy_conn is None:
        backend = metadata_backend(home, env)
        if backend == "postgres":
            sql_alchemy_conn = LocalPostgres(home / "postgres").url()
        else:
            sql_alchemy_conn = f"sqlite:///{home / 'airflow.db'}"
    if parallelism is None:
        parallelism = int(env.get("SW_AIRFLOW_PARALLELISM") or
                          (1 if sql_alchemy_conn.startswith("sqlite") else 4))
    if api_port is None:
        api_port = old.getint("api", "port", fallback=0) or int(
            env.get("SW_AIRFLOW_PORT") or DEFAULT_API_PORT)
    jwt = old.get("api_auth", "jwt_secret", fallback="") or secrets.token_urlsafe(64)
    fernet = old.get("core", "fernet_key", fallback="") or _fernet_key()
    values: dict[str, dict[str, str]] = {
        "core": {
            "dags_folder": str(s.home / "dags"),
            "plugins_folder": str(s.home / "plugins"),
            "load_examples": "False",
            "executor": executor,
            "parallelism": str(parallelism),
            "max_active_tasks_per_dag": str(max(parallelism, 1)),
            "dagbag_import_timeout": "120",
            "dags_are_paused_at_creation": "True",
            "fernet_key": fernet,
            "auth_manager": _AUTH_MANAGER,
            "simple_auth_manager_all_admins": "True",
            "execution_api_server_url": f"http://127.0.0.1:{api_port}/execution/",
            "hostname_callable": "social_warehouse.airflow_setup.worker_hostname",
        },
        "database": {"sql_alchemy_conn": sql_alchemy_conn},
        "api": {"host": "127.0.0.1", "port": str(api_port), "workers": "1",
                "base_url": f"http://127.0.0.1:{api_port}"},
        "api_auth": {"jwt_secret": jwt},
        "operators": {"default_queue": "default"},
        "logging": {"base_log_folder": str(home / "logs")},
        "scheduler": {"use_job_schedule": "True"},
        "dag_processor": {"refresh_interval": "60"},
        "social_warehouse": {"metadata_backend": backend or "external",
                             "data_dir": str(s.data_dir)},
        "openlineage": openlineage_settings(s, env),
    }
    if celery:
        values["celery"] = dict(celery)
    for section, items in (extra or {}).items():
        values.setdefault(section, {}).update(items)
    cfg = configparser.ConfigParser(interpolation=None)
    for section, items in values.items():
        cfg[section] = items
    path = home / "airflow.cfg"
    tmp = path.with_name(".airflow.cfg.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("# Generated by social_warehouse.airflow_setup (social-warehouse airflow config)."
                 "\n# Rewritten on setup: change settings with AIRFLOW__SECTION__KEY variables"
                 " or in airflow_setup.py.\n")
        cfg.write(fh)
    os.replace(tmp, path)
    return path


def configured_postgres(home: Path) -> LocalPostgres | None:
    """The local Postgres the generated config points at, if it uses one."""
    cfg = read_airflow_cfg(home)
    if cfg.get("social_warehouse", "metadata_backend", fallback="") != "postgres":
        return None
    if os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        return None
    return LocalPostgres(Path(home) / "postgres")


def _airflow(args: Sequence[str], env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([airflow_exe(), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def ensure_metadata(env: dict) -> None:
    """Migrate the metadata database (idempotent) and create the single-slot writer pool.

    The database server (a local Postgres) must be running.
    """
    home = Path(env["AIRFLOW_HOME"])
    marker = home / ".migrated"
    conn = read_airflow_cfg(home).get("database", "sql_alchemy_conn", fallback="")
    stamp = json.dumps({"conn": env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or conn,
                        "airflow": _airflow_version()})
    if not marker.exists() or marker.read_text() != stamp:
        proc = _airflow(["db", "migrate"], env)
        if proc.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{proc.stdout[-3000:]}"
                               f"{proc.stderr[-3000:]}")
        marker.write_text(stamp)
    proc = _airflow(["pools", "set", WRITER_POOL, "1",
                     "DuckDB allows one writing process per file"], env)
    if proc.returncode != 0:
        raise RuntimeError(f"airflow pools set failed:\n{proc.stderr[-3000:]}")


def _airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow")


# --------------------------------------------------------------------------- processes

# start time of every descendant PID we recorded: a PID whose process has ended and whose
# number was reused by an unrelated process is never signalled
_START_TIMES: dict[int, float] = {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        import psutil

        proc = psutil.Process(pid)
        if pid in _START_TIMES and proc.create_time() != _START_TIMES[pid]:
            return False  # the PID now belongs to another process
        return proc.status() != psutil.STATUS_ZOMBIE  # a zombie is dead for our purposes
    except Exception:  # noqa: BLE001 - gone between the two calls
        return False


def _descendants(pids: Sequence[int]) -> set[int]:
    import psutil

    found: set[int] = set()
    for pid in pids:
        try:
            children = psutil.Process(pid).children(recursive=True)
        except psutil.Error:
            continue
        for child in children:
            try:
                _START_TIMES[child.pid] = child.create_time()
            except psutil.Error:
                continue
            found.add(child.pid)
    return found


def _stop_pids(pids: Sequence[int], timeout: float = 30,
               also: set[int] | None = None) -> list[int]:
    """SIGTERM each PID's process group, wait, SIGKILL survivors; return PIDs killed hard."""
    tree = set(pids) | _descendants(pids) | (also or set())
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tree |= _descendants(pids)
        if not any(_alive(p) for p in tree):
            return []
        time.sleep(0.3)
    hard = [p for p in tree if _alive(p)]
    for pid in hard:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return hard


@dataclass
class AirflowProcesses:
    """Airflow components started by this process, each in its own session, stopped by PID.

    The PIDs are recorded in ``$AIRFLOW_HOME/processes.json`` so that another command can
    find (and reuse) a running set, e.g. the one ``make airflow`` started.
    """

    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    #: every descendant (task process, dbt, gunicorn worker) ever seen, per component
    seen: dict[str, set[int]] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"])

    @property
    def state_file(self) -> Path:
        return self.home / "processes.json"

    def start(self, name: str, args: Sequence[str] | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start ``airflow <args>`` (default: ``airflow <name>``); ``env`` adds variables."""
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen([airflow_exe(), *(args or name.split())],
                                env={**self.env, **(env or {})},
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        out.close()
        self.procs[name] = proc
        self._record()
        return proc

    def _record(self) -> None:
        data = {"owner_pid": os.getpid(),
                "api_port": self.api_port(),
                "processes": {n: p.pid for n, p in self.procs.items()}}
        tmp = self.state_file.with_name(".processes.json.tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(tmp, self.state_file)

    def api_port(self) -> int:
        port = self.env.get("AIRFLOW__API__PORT")
        if port:
            return int(port)
        return read_airflow_cfg(self.home).getint("api", "port", fallback=DEFAULT_API_PORT)

    def track(self) -> set[int]:
        """Remember every current descendant (task processes) so stop() can reach them."""
        for name, proc in self.procs.items():
            self.seen.setdefault(name, set()).update(_descendants([proc.pid]))
        return set().union(*self.seen.values()) if self.seen else set()

    def exited(self) -> dict[str, int]:
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}

    def pids(self) -> set[int]:
        return {p.pid for p in self.procs.values()} | self.track()

    def stop(self, timeout: float = 45) -> list[int]:
        """Stop every component and task process by PID; return PIDs that needed SIGKILL."""
        everything = self.track()
        # stop the scheduler first: it stops its executor's workers and their tasks
        order = sorted(self.procs, key=lambda n: 0 if n.startswith("scheduler") else 1)
        hard: list[int] = []
        for name in order:
            hard += _stop_pids([self.procs[name].pid], timeout=timeout,
                               also=self.seen.get(name, set()))
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        leftovers = [p for p in everything | self.track() if _alive(p)]
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.procs.clear()
        with contextlib.suppress(OSError):
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            if data.get("owner_pid") == os.getpid():
                self.state_file.unlink()
        return hard + leftovers


def running_deployment(home: Path) -> dict | None:
    """The state of a running ``make airflow`` set on this home (all PIDs alive), or None."""
    try:
        data = json.loads((Path(home) / "processes.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    procs = data.get("processes") or {}
    if not procs or not all(isinstance(p, int) and _alive(p) for p in procs.values()):
        return None
    if not _alive(int(data.get("owner_pid", -1))):
        return None
    return data


# --------------------------------------------------------------------------- REST client

class AirflowAPI:
    """The few calls of Airflow's public REST API (v2) that the CLI needs.

    The embedded setup uses the simple auth manager with ``simple_auth_manager_all_admins``
    (local use only), so no token is needed.
    """

    def __init__(self, base_url: str, timeout: float = 60) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.base}/api/v2{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:1000]
            raise RuntimeError(f"Airflow API {method} {path}: HTTP {exc.code}: {detail}") from None
        return json.loads(text) if text else {}

    def dag(self, dag_id: str = DAG_ID) -> dict:
        return self.call("GET", f"/dags/{dag_id}")

    def set_paused(self, paused: bool, dag_id: str = DAG_ID) -> None:
        self.call("PATCH", f"/dags/{dag_id}", {"is_paused": paused})

    def trigger(self, run_id: str, logical_date: str, conf: dict | None = None,
                dag_id: str = DAG_ID) -> dict:
        return self.call("POST", f"/dags/{dag_id}/dagRuns",
                         {"dag_run_id": run_id, "logical_date": logical_date,
                          "conf": conf or {}})

    def run(self, run_id: str, dag_id: str = DAG_ID) -> dict:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def task_instances(self, run_id: str, dag_id: str = DAG_ID) -> list[dict]:
        out = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")
        return out.get("task_instances", [])

    def fail_run(self, run_id: str, dag_id: str = DAG_ID) -> None:
        self.call("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", {"state": "failed"})


def wait_for_dag(api: AirflowAPI, timeout: float, dag_id: str = DAG_ID) -> dict:
    """Wait until the dag-processor has serialized ``dag_id`` (bounded)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            return api.dag(dag_id)
        except RuntimeError as exc:
            last = str(exc)
        time.sleep(1)
    raise TimeoutError(f"DAG {dag_id} was not parsed within {timeout:.0f} s ({last}); "
                       "see the dag-processor log")
