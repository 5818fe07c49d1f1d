"""The Docker deployment (Dockerfile + docker-compose.yml), checked without a Docker engine.

* ``docker-compose.yml`` validates against the compose-spec JSON schema. The schema is the
  one PyPI's ``docker-compose`` 1.29.2 wheel ships (``compose/config/compose_spec.json``),
  downloaded once by pip with a pinned hash into ``.tools/compose-schema/``.
* Semantic checks the schema cannot make: every ``depends_on`` target exists (and has a
  healthcheck where the condition needs one), every Airflow service builds the same image and
  shares the settings Airflow 3 needs on every component, the writer queue and pool match the
  DAG's, the volumes exist.
* The Dockerfile's install command is run as written: the same ``uv export`` on this
  checkout's ``uv.lock``, then pip resolves the exported, hash-pinned requirements in a
  scratch virtualenv (``pip install --dry-run``).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml
from packaging.markers import Marker
from social_warehouse.config import WRITER_POOL

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
UV = REPO / ".tools" / "bin" / "uv"
PIP = REPO / ".tools" / "bin" / "pip"  # downloads the schema wheel only
SCHEMA_WHEEL = "docker_compose-1.29.2-py2.py3-none-any.whl"
SCHEMA_SHA256 = "8d5589373b35c8d3b1c8c1182c6e4a4ff14bffa3dd0b605fcd08f73c94cef809"
SCHEMA_DIR = REPO / ".tools" / "compose-schema"
WRITER_QUEUE = "duckdb_writer"
#: Settings every Airflow component must share (Airflow 3 with Celery and the execution API).
SHARED_ENV = (
    "AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__CORE__AUTH_MANAGER", "AIRFLOW_UID", "SW_HOME", "SW_DATA_DIR", "SW_STORAGE_ROOT",
    "SW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
)
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker", "airflow-worker-writer",
                    "airflow-init")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # resolves anchors and `<<`


@pytest.fixture(scope="module")
def compose_schema() -> dict:
    wheel = SCHEMA_DIR / SCHEMA_WHEEL
    if not wheel.is_file():
        SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
        req = SCHEMA_DIR / "requirements.txt"
        req.write_text(f"docker-compose==1.29.2 --hash=sha256:{SCHEMA_SHA256}\n")
        proc = subprocess.run(
            [str(PIP), "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
             "-r", str(req), "-d", str(SCHEMA_DIR)],
            capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    with zipfile.ZipFile(wheel) as zf:
        return json.loads(zf.read("compose/config/compose_spec.json"))


def test_compose_file_validates_against_the_compose_spec_schema(compose, compose_schema):
    validator = jsonschema.Draft7Validator(compose_schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_schema_check_catches_mistakes(compose, compose_schema):
    # control: the validator is not vacuous
    broken = json.loads(json.dumps(compose))
    broken["services"]["airflow-scheduler"]["depends_on"]["postgres"]["condition"] = "healthy"
    broken["services"]["redis"]["healthcheck"]["interval"] = 10
    errors = list(jsonschema.Draft7Validator(compose_schema).iter_errors(broken))
    assert len(errors) >= 2


def test_every_dependency_exists_and_health_conditions_have_healthchecks(compose):
    services = compose["services"]
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        for target, spec in (deps.items() if isinstance(deps, dict) else
                             ((d, {}) for d in deps)):
            assert target in services, f"{name} depends on unknown service {target}"
            cond = (spec or {}).get("condition", "service_started")
            if cond == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}'s health"
            if cond == "service_completed_successfully":
                assert "restart" not in services[target], f"{target} must run once and exit"


def test_airflow_services_build_one_image_and_share_their_settings(compose):
    services = compose["services"]
    assert set(AIRFLOW_SERVICES) <= set(services)
    images = {services[s]["image"] for s in AIRFLOW_SERVICES}
    assert len(images) == 1, images
    envs = {}
    for name in AIRFLOW_SERVICES:
        svc = services[name]
        assert svc["build"]["context"] == "." and svc["build"]["dockerfile"] == "Dockerfile"
        env = svc["environment"]
        missing = [k for k in SHARED_ENV if k not in env]
        assert not missing, f"{name} lacks {missing}"
        envs[name] = {k: env[k] for k in SHARED_ENV}
    first = next(iter(envs.values()))
    for name, env in envs.items():
        assert env == first, f"{name} differs from the others"
    assert first["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    # the execution API URL names the api-server service and its port
    url = first["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    m = re.fullmatch(r"http://([\w-]+):(\d+)/execution/", url)
    assert m and m.group(1) == "airflow-apiserver", url
    assert any(p.endswith(f":{m.group(2)}") for p in services["airflow-apiserver"]["ports"])
    # the storage root is S3 on the MinIO service
    assert first["SW_STORAGE_ROOT"].endswith("s3://social-warehouse/storage}")
    assert "minio:9000" in first["SW_S3_ENDPOINT_URL"]


def test_roles_queues_pool_and_volumes(compose):
    services = compose["services"]
    commands = {name: svc.get("command") for name, svc in services.items()}
    assert commands["airflow-apiserver"] == "api-server"
    assert commands["airflow-scheduler"] == "scheduler"
    assert commands["airflow-dag-processor"] == "dag-processor"
    assert commands["airflow-triggerer"] == "triggerer"
    writer = shlex.split(commands["airflow-worker-writer"])
    assert writer[:2] == ["celery", "worker"]
    assert writer[writer.index("--queues") + 1] == WRITER_QUEUE
    other = shlex.split(commands["airflow-worker"])
    assert WRITER_QUEUE not in other[other.index("--queues") + 1].split(",")
    # the DAG routes writer tasks to that queue and pool
    dag = (REPO / "dags" / "social_warehouse_daily.py").read_text(encoding="utf-8")
    assert re.search(rf"WRITER_QUEUE\b.*{WRITER_QUEUE}|\"{WRITER_QUEUE}\"", dag) or \
        WRITER_QUEUE in (REPO / "plugins" / "social_warehouse" / "airflow_setup.py").read_text()
    init = "\n".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init
    assert re.search(rf"airflow pools set {WRITER_POOL} 1 ", init)
    assert "simple_auth_manager_passwords.json" in init
    # volumes: every named volume is declared; logs, data and the build file are mounted
    declared = set(compose["volumes"])
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} mounts undeclared volume {source}"
    common = services["airflow-scheduler"]["volumes"]
    assert "airflow-logs:/opt/airflow/logs" in common and "warehouse-data:/data" in common
    assert "writer-build:/data/build" in services["airflow-worker-writer"]["volumes"]
    assert "writer-build:/data/build" not in services["airflow-worker"]["volumes"]
    assert any(v.startswith("storage-root:") for v in services["minio"]["volumes"])


def _install_commands() -> tuple[list[str], list[str]]:
    """The Dockerfile's ``uv export`` and ``pip install -r`` commands, as argument lists."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    runs = [line[4:] for line in text.splitlines() if line.startswith("RUN ")]
    export = pip = None
    for run in runs:
        for part in run.split("&&"):
            args = shlex.split(part)
            if args[:2] == ["uv", "export"]:
                export = args
            if args[:2] == ["pip", "install"] and "-r" in args:
                pip = args
    assert export and pip, runs
    return export, pip


def test_dockerfile_base_image_matches_the_lock():
    text = DOCKERFILE.read_text(encoding="utf-8")
    base = re.search(r"^FROM apache/airflow:(\S+)-python(\d+\.\d+)\s*$", text, re.M)
    assert base, "Dockerfile must start FROM apache/airflow:<version>-python<x.y>"
    lock = tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))
    airflow = next(p["version"] for p in lock["package"] if p["name"] == "apache-airflow")
    assert base.group(1) == airflow
    assert base.group(2) == f"{sys.version_info.major}.{sys.version_info.minor}"
    # everything the package build needs is copied into the image
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    copied = re.findall(r"^COPY\s+(?:--\S+\s+)*(.+?)\s+\S+$", text, re.M)
    sources = {s for line in copied for s in line.split()}
    for pkg in project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]:
        assert pkg.split("/")[0] in sources, pkg
    assert {"pyproject.toml", "uv.lock", "README.md", "dags", "dbt_project",
            "expectations"} <= sources


def _arg(name: str) -> str:
    m = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    assert m, f"Dockerfile lacks ARG {name}"
    return m.group(1)


@pytest.mark.integration
def test_image_install_command_resolves_from_uv_lock(tmp_path):
    export, pip = _install_commands()
    # the image exports with the uv version this checkout uses (Makefile's UV_VERSION)
    make_uv = re.search(r"^UV_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.M)
    assert make_uv and _arg("UV_VERSION") == make_uv.group(1)
    out = tmp_path / "requirements.txt"
    args = [str(UV), *export[1:]]
    args[args.index("--output-file") + 1] = str(out)
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    reqs = out.read_text(encoding="utf-8")
    pins, markers = {}, {}
    for name, version, marker in re.findall(
            r"^([A-Za-z0-9_.\-]+)==([^\s;]+)(?:\s*;\s*([^\\\n]+?))?\s*\\?$", reqs, re.M):
        pins[name], markers[name] = version, marker
    lock = tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))
    locked = {p["name"]: p["version"] for p in lock["package"]}
    assert pins["apache-airflow"] == locked["apache-airflow"]
    for name in ("dbt-duckdb", "great-expectations", "networkit", "igraph", "duckdb"):
        assert pins[name] == locked[name], name
    assert "social-warehouse" not in pins and "pytest" not in pins  # no project, no dev extra
    assert "--hash=sha256:" in reqs
    # pip (the image's version) resolves exactly these pins, hashes checked, in a scratch venv
    venv = tmp_path / "venv"
    subprocess.run([str(UV), "venv", "-q", "--python", "3.11", str(venv)], check=True,
                   timeout=120)
    subprocess.run([str(UV), "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                    f"pip=={_arg('PIP_VERSION')}"], check=True, timeout=300)
    report = tmp_path / "report.json"
    pip_args = [str(venv / "bin" / "pip"), *pip[1:]]
    pip_args[pip_args.index("-r") + 1] = str(out)
    proc = subprocess.run(
        [*pip_args, "--dry-run", "--ignore-installed", "--quiet", "--report", str(report)],
        capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    resolved = {_canonical(i["metadata"]["name"]): i["metadata"]["version"]
                for i in json.loads(report.read_text())["install"]}
    # every pin whose environment marker holds here (Python 3.11 on Linux) is installed, at
    # exactly the locked version, and nothing else is
    expected = {_canonical(k): v for k, v in pins.items()
                if not markers[k] or Marker(markers[k]).evaluate()}
    assert resolved == expected
    assert len(expected) > 150


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
