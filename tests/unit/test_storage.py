"""The storage root, local and S3: Parquet that moves between the writer and analytics workers.

The S3 tests run against a real S3 API: a moto server started by the test on 127.0.0.1
(bounded wait, stopped by PID). Objects are checked independently with boto3.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from social_warehouse.db import connect
from social_warehouse.pipeline import (
    PipelineError,
    analytics_dir,
    build_path,
    export_analytics_inputs,
    load_outputs,
    prepare_build,
    read_output,
    read_sql,
    run_settings,
    write_outputs,
)
from social_warehouse.storage import StorageError, get_storage

from tests.conftest import pipeline_settings

BUCKET = "sw-test-bucket"
DS = "2026-03-01"
WAIT_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint():
    """A moto S3 server on a free port; yields its URL, stops it by PID."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + WAIT_SECONDS
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on port {port}: "
                                       f"{proc.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=WAIT_SECONDS)
        proc.stderr.close()


S3_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": "us-east-1"}


@pytest.fixture
def s3_env(moto_endpoint, monkeypatch, request):
    """SW_STORAGE_ROOT on the moto server, under a prefix unique to the test."""
    import boto3

    client = boto3.client("s3", endpoint_url=moto_endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    if BUCKET not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
        client.create_bucket(Bucket=BUCKET)
    prefix = f"warehouse/{request.node.name}"
    for key, value in {**S3_KEYS, "SW_STORAGE_ROOT": f"s3://{BUCKET}/{prefix}",
                       "SW_S3_ENDPOINT_URL": moto_endpoint}.items():
        monkeypatch.setenv(key, value)
    return client, prefix


def _keys(client, prefix: str) -> list[str]:
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/")
    # pyarrow may leave empty "folder/" marker objects after a delete: not data
    return sorted(o["Key"][len(prefix) + 1:] for o in listed.get("Contents", [])
                  if not o["Key"].endswith("/"))


def _build_with_core(s, run_id: str) -> Path:
    """A run's build file holding small core tables (lists, timestamps, NULLs included)."""
    prepare_build(run_id, DS, settings=s)
    build = build_path(run_id, s)
    with connect(build, create=False) as con:
        con.execute("create schema core")
        con.execute("""create table core.dim_users as
            select 'u' || i as user_id, i * 10 as followers_count,
                   case when i % 2 = 0 then 'music' end as category
            from range(5) t(i)""")
        con.execute("""create table core.fct_interactions as
            select 'u' || (i % 5) as user_id, 'p' || (i % 3) as post_id,
                   timestamp '2026-03-01 00:00:00' + to_seconds(i) as occurred_at,
                   [i, i + 1] as tags
            from range(20) t(i)""")
        con.execute("create view core.v_users as select user_id from core.dim_users")
        con.execute("create schema staging")
        con.execute("create table staging.stg_event_types as select 'like' as event_type, "
                    "1.0 as weight")
    return build


QUERIES = [
    ("select user_id, followers_count, category from core.dim_users order by user_id", None),
    ("select user_id, count(*) as n, max(occurred_at) as last_at from core.fct_interactions "
     "where occurred_at >= ? group by user_id order by user_id", ["2026-03-01 00:00:05"]),
    ("select * from core.fct_interactions order by all", None),
    ("select * from core.v_users order by 1", None),
    ("select event_type, weight from staging.stg_event_types", None),
]


def _check_analytics_io(s, run_id: str) -> None:
    """Export, query, write, read back and load, on whatever storage root is configured."""
    build = _build_with_core(s, run_id)
    with connect(build, read_only=True) as con:
        expected = [con.sql(q, params=p).to_arrow_table().to_pandas() for q, p in QUERIES]
    exported = export_analytics_inputs(run_id, s)
    assert exported["core.dim_users"]["rows"] == 5
    assert exported["core.fct_interactions"]["rows"] == 20
    assert set(exported) == {"core.dim_users", "core.fct_interactions", "core.v_users",
                             "staging.stg_event_types"}
    # the analytics read the exported Parquet, not the build file: move it away
    hidden = build.with_name("hidden.duckdb")
    build.rename(hidden)
    rs = run_settings(run_id, s)
    for (query, params), want in zip(QUERIES, expected, strict=True):
        pd.testing.assert_frame_equal(read_sql(query, params, settings=rs), want)
    hidden.rename(build)

    frame = pd.DataFrame({"user_id": ["u1", "u2"], "score": [0.5, 1.5],
                          "members": [["a"], ["b", "c"]]})
    written = write_outputs(run_id, {"out_a": frame, "out_b": frame.head(1)}, s)
    assert written["out_a"]["rows"] == 2 and written["out_a"]["path"].endswith("out_a.parquet")
    pd.testing.assert_frame_equal(read_output(run_id, "out_a", settings=s), frame)
    with pytest.raises(PipelineError, match="'out_c'"):
        read_output(run_id, "out_c", settings=s)
    # stages that read an upstream output by path find it in analytics_dir
    local = analytics_dir(run_id, s)
    pd.testing.assert_frame_equal(pd.read_parquet(local / "out_b.parquet"), frame.head(1))

    with pytest.raises(PipelineError, match="out_c missing in .*found: out_a, out_b"):
        load_outputs(run_id, s, expected=["out_a", "out_b", "out_c"])
    assert load_outputs(run_id, s, expected=["out_a", "out_b"]) == {"out_a": 2, "out_b": 1}
    with connect(build, read_only=True) as con:
        assert con.execute("select user_id, score, members from analytics.out_a "
                           "order by user_id").fetchall() == [("u1", 0.5, ["a"]),
                                                              ("u2", 1.5, ["b", "c"])]
    # a new attempt of the run starts with an empty storage prefix
    prepare_build(run_id, DS, settings=s)
    with pytest.raises(PipelineError, match="no analytics inputs"):
        read_sql("select 1", settings=rs)
    with pytest.raises(PipelineError, match="out_a, out_b missing"):
        load_outputs(run_id, s, expected=["out_a", "out_b"])


# --------------------------------------------------------------------------- local


def test_local_root_defaults_to_data_dir_and_round_trips(tmp_path, monkeypatch):
    import pyarrow as pa

    monkeypatch.delenv("SW_STORAGE_ROOT", raising=False)
    s = pipeline_settings(tmp_path / "data")
    storage = get_storage(s)
    assert storage.is_local and storage.root == str(s.data_dir / "storage")
    table = pa.table({"a": [1, 2, 3]})
    assert storage.write_parquet("runs/r1/x/t.parquet", table) == 3
    assert (s.data_dir / "storage" / "runs" / "r1" / "x" / "t.parquet").is_file()
    assert storage.exists("runs/r1/x/t.parquet") and storage.read_parquet(
        "runs/r1/x/t.parquet").equals(table)
    assert storage.list_files("runs/r1/x", ".parquet") == ["runs/r1/x/t.parquet"]
    assert storage.list_files("runs/none") == []
    assert not list((s.data_dir / "storage" / "runs" / "r1" / "x").glob("*.tmp"))
    with pytest.raises(StorageError, match="t2.parquet does not exist"):
        storage.read_parquet("runs/r1/x/t2.parquet")
    for bad in ("../escape.parquet", "/etc/passwd", "a/../../b"):
        with pytest.raises(StorageError, match="relative to the storage root"):
            storage.path(bad)
    storage.delete_dir("runs/r1")
    assert not storage.exists("runs/r1/x/t.parquet")
    storage.delete_dir("runs/r1")  # absent: no error


def test_bad_storage_roots_are_refused_with_the_allowed_forms(tmp_path):
    s = pipeline_settings(tmp_path / "data")
    with pytest.raises(StorageError, match="only s3://bucket/prefix or a local folder"):
        get_storage(s, env={"SW_STORAGE_ROOT": "gs://bucket/x"})
    with pytest.raises(StorageError, match="names no bucket"):
        get_storage(s, env={"SW_STORAGE_ROOT": "s3://"})
    with pytest.raises(StorageError, match="must be http"):
        get_storage(s, env={"SW_STORAGE_ROOT": "s3://b/p", "SW_S3_ENDPOINT_URL": "127.0.0.1:9"})
    with pytest.raises(StorageError, match="both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        get_storage(s, env={"SW_STORAGE_ROOT": "s3://b/p", "AWS_ACCESS_KEY_ID": "k"})


def test_analytics_io_on_the_local_root(tmp_path, monkeypatch):
    monkeypatch.delenv("SW_STORAGE_ROOT", raising=False)
    s = pipeline_settings(tmp_path / "data")
    _check_analytics_io(s, "local_run")
    # local root: the stages' analytics folder is the outputs folder of the storage root
    assert analytics_dir("local_run", s) == s.data_dir / "storage/runs/local_run/analytics"


def test_local_root_elsewhere_is_used(tmp_path, monkeypatch):
    root = tmp_path / "shared_storage"
    monkeypatch.setenv("SW_STORAGE_ROOT", str(root))
    s = pipeline_settings(tmp_path / "data")
    _check_analytics_io(s, "other_root")
    _build_with_core(s, "other_root_2")
    export_analytics_inputs("other_root_2", s)
    assert (root / "runs" / "other_root_2" / "inputs" / "core" / "dim_users.parquet").is_file()
    assert not (s.data_dir / "storage").exists()


# --------------------------------------------------------------------------- S3 (moto)


def test_s3_root_round_trips_through_a_real_s3_api(s3_env, tmp_path):
    import pyarrow as pa

    client, prefix = s3_env
    s = pipeline_settings(tmp_path / "data")
    storage = get_storage(s)
    assert not storage.is_local and storage.root == f"s3://{BUCKET}/{prefix}"
    table = pa.table({"a": [1, 2], "b": ["x", None]})
    assert storage.write_parquet("runs/r/t.parquet", table) == 2
    assert _keys(client, prefix) == ["runs/r/t.parquet"]
    assert storage.read_parquet("runs/r/t.parquet").equals(table)
    assert storage.list_files("runs/r", ".parquet") == ["runs/r/t.parquet"]
    with pytest.raises(StorageError, match=f"s3://{BUCKET}/{prefix}/runs/r/none.parquet"):
        storage.read_parquet("runs/r/none.parquet")
    storage.delete_dir("runs/r")
    assert _keys(client, prefix) == []


def test_analytics_io_on_s3(s3_env, tmp_path):
    client, prefix = s3_env
    s = pipeline_settings(tmp_path / "data")
    run = "s3_run"
    _check_analytics_io(s, run)
    # what moved went through the bucket; nothing was written to a local storage folder
    assert not (s.data_dir / "storage").exists()
    _build_with_core(s, "s3_run_2")
    export_analytics_inputs("s3_run_2", s)
    write_outputs("s3_run_2", {"out_a": pd.DataFrame({"x": [1]})}, s)
    assert _keys(client, prefix) == [
        "runs/s3_run_2/analytics/out_a.parquet",
        "runs/s3_run_2/inputs/core/dim_users.parquet",
        "runs/s3_run_2/inputs/core/fct_interactions.parquet",
        "runs/s3_run_2/inputs/core/v_users.parquet",
        "runs/s3_run_2/inputs/staging/stg_event_types.parquet",
    ]
    # analytics_dir is a local cache of the bucket's outputs, refreshed on every call
    cache = analytics_dir("s3_run_2", s)
    assert cache == s.run_dir("s3_run_2") / "analytics"
    assert sorted(p.name for p in cache.glob("*.parquet")) == ["out_a.parquet"]
    client.delete_object(Bucket=BUCKET, Key=f"{prefix}/runs/s3_run_2/analytics/out_a.parquet")
    assert list(analytics_dir("s3_run_2", s).glob("*.parquet")) == []


def test_s3_missing_bucket_fails_loudly_naming_it(moto_endpoint, tmp_path):
    import pyarrow as pa

    s = pipeline_settings(tmp_path / "data")
    env = {"SW_STORAGE_ROOT": "s3://no-such-bucket-sw/x", "SW_S3_ENDPOINT_URL": moto_endpoint,
           **S3_KEYS}
    storage = get_storage(s, env=env)
    with pytest.raises(OSError, match="no-such-bucket-sw"):
        storage.write_parquet("t.parquet", pa.table({"a": [1]}))


def test_export_fails_naming_a_missing_analytics_input(tmp_path, monkeypatch):
    monkeypatch.delenv("SW_STORAGE_ROOT", raising=False)
    s = pipeline_settings(tmp_path / "data")
    prepare_build("no_staging", DS, settings=s)
    with connect(build_path("no_staging", s), create=False) as con:
        con.execute("create schema core")
        con.execute("create table core.dim_users as select 'u1' as user_id")
    with pytest.raises(PipelineError, match="analytics input staging.stg_event_types does not "
                                            "exist in build file .*no_staging.duckdb"):
        export_analytics_inputs("no_staging", s)
