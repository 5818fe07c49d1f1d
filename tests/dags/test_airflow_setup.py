"""The project's Airflow configuration and the CLI around it (no scheduler started here)."""

from __future__ import annotations

import argparse
import os
import subprocess
import time

import pytest
from social_warehouse import airflow_setup as af
from social_warehouse.cli import build_parser, check_landing
from social_warehouse.config import get_settings

from tests.conftest import REPO_ROOT, VENV_BIN


def _env(tmp_path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SW_"))}
    env.update(SW_HOME=str(REPO_ROOT), SW_DATA_DIR=str(tmp_path / "data"), **extra)
    return af.project_env(get_settings(env), env)


def test_plain_airflow_reads_the_generated_config(tmp_path):
    env = _env(tmp_path, SW_AIRFLOW_DB="sqlite")
    path = af.write_airflow_cfg(get_settings(env), env)
    assert path == tmp_path / "data" / "airflow" / "airflow.cfg"
    plain = {k: v for k, v in env.items() if not k.startswith("SW_")}  # only AIRFLOW_HOME
    expected = {
        ("core", "dags_folder"): str(REPO_ROOT / "dags"),
        ("core", "plugins_folder"): str(REPO_ROOT / "plugins"),
        ("core", "load_examples"): "False",
        ("core", "executor"): "LocalExecutor",
        ("core", "simple_auth_manager_all_admins"): "True",
        ("api", "host"): "127.0.0.1",
        ("database", "sql_alchemy_conn"):
            f"sqlite:///{tmp_path / 'data' / 'airflow' / 'airflow.db'}",
    }
    code = ("from airflow.configuration import conf; import json, sys; "
            "print(json.dumps([conf.get(s, k) for s, k in json.loads(sys.argv[1])]))")
    import json

    proc = subprocess.run([str(VENV_BIN / "python"), "-c", code, json.dumps(list(expected))],
                          env=plain, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert dict(zip(expected, got, strict=True)) == expected
    assert "SimpleAuthManager" in af.read_airflow_cfg(path.parent).get("core", "auth_manager")


def test_rewriting_the_config_keeps_secrets_and_port(tmp_path):
    env = _env(tmp_path, SW_AIRFLOW_DB="sqlite")
    af.write_airflow_cfg(get_settings(env), env, api_port=18080)
    first = af.read_airflow_cfg(tmp_path / "data" / "airflow")
    af.write_airflow_cfg(get_settings(env), env)
    second = af.read_airflow_cfg(tmp_path / "data" / "airflow")
    for section, key in [("api_auth", "jwt_secret"), ("core", "fernet_key"), ("api", "port")]:
        assert first.get(section, key) == second.get(section, key)
    assert len(second.get("api_auth", "jwt_secret")) >= 32
    assert second.get("api", "port") == "18080"
    assert second.get("core", "execution_api_server_url") == "http://127.0.0.1:18080/execution/"


def test_sqlite_metadata_runs_one_task_at_a_time(tmp_path):
    env = _env(tmp_path, SW_AIRFLOW_DB="sqlite")
    af.write_airflow_cfg(get_settings(env), env)
    assert af.read_airflow_cfg(tmp_path / "data" / "airflow").get("core", "parallelism") == "1"


def test_an_unknown_metadata_backend_names_the_allowed_values(tmp_path):
    with pytest.raises(ValueError, match="auto, postgres, sqlite"):
        af.metadata_backend(tmp_path, {"SW_AIRFLOW_DB": "mysql"})


def test_worker_hostname_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SW_WORKER_HOSTNAME", "writer-1")
    assert af.worker_hostname() == "writer-1"


def test_missing_landing_partition_fails_fast_and_once(tmp_path):
    (tmp_path / "data" / "landing" / "2026-01-01").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SW_"))}
    env.update(SW_HOME=str(REPO_ROOT), SW_DATA_DIR=str(tmp_path / "data"))
    t0 = time.monotonic()
    proc = subprocess.run([str(VENV_BIN / "social-warehouse"), "run", "--ds", "2026-01-01",
                           "--end", "2026-01-02"], env=env, capture_output=True, text=True,
                          timeout=120)
    seconds = time.monotonic() - t0
    assert proc.returncode == 2
    out = proc.stdout + proc.stderr
    assert out.count("no landing partition for ds 2026-01-02") == 1, out
    assert "existing partitions: 2026-01-01" in out and "Traceback" not in out
    assert not (tmp_path / "data" / "airflow").exists()  # Airflow was never started
    print(f"missing landing refused in {seconds:.1f}s")


def test_check_landing_lists_every_missing_day(tmp_path):
    (tmp_path / "2026-01-02").mkdir()
    msg = check_landing(["2026-01-01", "2026-01-02", "2026-01-03"], tmp_path)
    assert msg and "2026-01-01, 2026-01-03" in msg
    assert check_landing(["2026-01-02"], tmp_path) is None


def _all_parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def test_every_flag_has_help_and_the_top_level_help_is_clean():
    parser = build_parser()
    for p in _all_parsers(parser):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{p.prog}: {action.option_strings or action.dest} has no help"
    text = parser.format_help()
    assert "``" not in text and "::" not in text
    for command in ("generate", "run", "demo", "ingest", "import", "summary", "airflow"):
        assert command in text


def test_version_flag():
    proc = subprocess.run([str(VENV_BIN / "social-warehouse"), "--version"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.startswith("social-warehouse ") and proc.stdout.strip()[-1].isdigit()


def test_a_socket_path_too_long_for_postgres_falls_back_to_sqlite_or_is_refused():
    import shutil
    import tempfile
    from pathlib import Path

    root = Path(tempfile.mkdtemp(prefix="sw_sock_"))
    try:
        os.chmod(root, 0o755)  # reachable by the postgres user, as a checkout would be
        short = root / "airflow"
        long = root / ("h" * (af.MAX_SOCKET_PATH - len(str(root))))
        # a path too long for the socket never gets Postgres under auto
        assert af.metadata_backend(long, {"SW_AIRFLOW_DB": "auto"}) == "sqlite"
        if af.LocalPostgres.available(short):
            assert af.metadata_backend(short, {"SW_AIRFLOW_DB": "auto"}) == "postgres"
            with pytest.raises(RuntimeError, match="longer than 107 bytes"):
                af.metadata_backend(long, {"SW_AIRFLOW_DB": "postgres"})
        else:  # without the server binaries: auto falls back, a forced choice is refused
            assert not os.environ.get("CI"), "CI installs postgresql and asyncpg"
            assert af.metadata_backend(short, {"SW_AIRFLOW_DB": "auto"}) == "sqlite"
            with pytest.raises(RuntimeError, match="no usable PostgreSQL"):
                af.metadata_backend(long, {"SW_AIRFLOW_DB": "postgres"})
    finally:
        shutil.rmtree(root)
