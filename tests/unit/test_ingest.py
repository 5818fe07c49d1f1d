"""Ingest: every format, every reject reason, idempotent reloads, counts that reconcile."""

from __future__ import annotations

import csv
import gzip
import io
import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from social_warehouse.contract import ENTITIES
from social_warehouse.ingest import IngestError, ingest_partition

DS = "2026-01-05"

USERS_HEADER = ["user_id", "handle", "display_name", "bio", "followers_count",
                "following_count", "verified", "created_at", "country", "category"]
GOOD_USERS = [
    ["u1", "@Alice", "Alice", "runs, lifts", "10", "5", "true", "2025-01-01T00:00:00Z", "US",
     "fitness"],
    ["u2", "bob", "Bob 🐱", "猫が好き", "0", "1", "no", "2025-02-01 08:00:00", "JP", "pets"],
    ["u3", "'; drop table raw.users; --", "<script>x</script>", "multi\nline", "7", "0", "",
     "2025-03-01", "", ""],
]
INTERACTIONS = [
    {"event_id": "e1", "user_id": "u1", "post_id": "p1", "event_type": "view",
     "occurred_at": "2026-01-05T10:00:00Z", "watch_time_s": 12.5, "value": None},
    {"event_id": "e2", "user_id": "u2", "post_id": "p1", "event_type": "LIKE",
     "occurred_at": "2026-01-05T18:00:00+08:00", "watch_time_s": None, "value": None},
    {"event_id": "e3", "user_id": "u2", "post_id": "p1", "event_type": "conversion",
     "occurred_at": "2026-01-05T11:00:00Z", "watch_time_s": None, "value": 19.99},
]


def write_csv(path, header, rows, delimiter=","):
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    data = buf.getvalue().encode("utf-8")
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)


def write_jsonl(path, records):
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)


@pytest.fixture
def landing(tmp_path):
    part = tmp_path / "landing" / DS
    part.mkdir(parents=True)
    return part


def load(tmp_path, ds=DS):
    return ingest_partition(tmp_path / "wh.duckdb", tmp_path / "landing", ds)


def query(tmp_path, sql, params=None):
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("name", ["users.csv", "users.csv.gz", "users_part-1.tsv"])
def test_csv_variants_load_typed_rows(tmp_path, landing, name):
    write_csv(landing / name, USERS_HEADER, GOOD_USERS, delimiter="\t" if ".tsv" in name else ",")
    result = load(tmp_path)
    assert result.rows_read == 3 and result.rows_loaded == 3 and result.rows_rejected == 0
    rows = query(tmp_path, "select user_id, handle, bio, followers_count, verified, created_at, "
                 "_source_row from raw.users order by user_id")
    assert rows[0][:5] == ("u1", "@Alice", "runs, lifts", 10, True)
    assert str(rows[1][5]) == "2025-02-01 08:00:00"
    assert rows[1][4] is False
    # text with SQL and HTML is data, stored verbatim; the multi-line bio survives
    assert rows[2][1] == "'; drop table raw.users; --" and rows[2][2] == "multi\nline"
    assert [r[6] for r in rows] == [1, 2, 3]
    assert rows[2][4] is None  # empty optional boolean is null, not a reject


@pytest.mark.parametrize("name", ["interactions.jsonl", "interactions.jsonl.gz",
                                  "interactions.parquet"])
def test_jsonl_and_parquet_load(tmp_path, landing, name):
    if name.endswith(".parquet"):
        pq.write_table(pa.Table.from_pylist(INTERACTIONS), landing / name)
    else:
        write_jsonl(landing / name, INTERACTIONS)
    result = load(tmp_path)
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (3, 3, 0)
    rows = query(tmp_path, "select event_id, event_type, occurred_at, watch_time_s, value, "
                 "_source_row from raw.interactions order by event_id")
    assert rows[1][1] == "like"  # event types are case-normalised
    assert str(rows[1][2]) == "2026-01-05 10:00:00"  # +08:00 converted to UTC
    assert rows[0][3] == 12.5 and rows[2][4] == pytest.approx(19.99)
    assert [r[5] for r in rows] == [1, 2, 3]


def test_every_reject_reason_is_recorded_with_the_raw_record(tmp_path, landing):
    rows = [
        GOOD_USERS[0],
        ["u2", "b", "", "", "many", "1", "true", "2025-01-01", "", ""],          # bad number
        ["", "nokey", "", "", "1", "1", "true", "2025-01-01", "", ""],            # missing key
        ["u4", "d", "", "", "1", "1", "maybe", "2025-01-01", "", ""],             # bad boolean
        ["u5", "e", "", "", "1", "1", "true", "31/12/2025", "", ""],              # bad timestamp
        ["u6", "f", "", "", "-4", "1", "true", "2025-01-01", "", ""],             # negative
        ["u7", "g", "", "", "1", "1", "true", "2025-01-01", "", "", "extra"],     # column count
        ["u8", "h", "", "", "1e400", "1", "true", "2025-01-01", "", ""],          # not finite
    ]
    write_csv(landing / "users.csv", USERS_HEADER, rows)
    bad_events = INTERACTIONS[:1] + [
        {**INTERACTIONS[1], "event_type": "teleport"},
        {**INTERACTIONS[2], "watch_time_s": "NaN"},
    ]
    data = "".join(json.dumps(r) + "\n" for r in bad_events) + "{not json\n\n[1, 2]\n"
    (landing / "interactions.jsonl").write_text(data, encoding="utf-8")

    result = load(tmp_path)
    by_entity = {f.entity: f for f in result.files}
    assert by_entity["users"].rows_read == 8 and by_entity["users"].rows_loaded == 1
    assert by_entity["interactions"].rows_read == 6 and by_entity["interactions"].rows_loaded == 1
    reasons = dict(query(tmp_path, "select _source_row, reason from raw.users_rejects"))
    assert reasons == {
        2: "bad_number:followers_count",
        3: "missing_key:user_id",
        4: "bad_boolean:verified",
        5: "bad_timestamp:created_at",
        6: "negative_value:followers_count",
        7: "wrong_column_count",
        8: "bad_number:followers_count",
    }
    raw = dict(query(tmp_path, "select _source_row, raw_record from raw.users_rejects"))
    assert json.loads(raw[2])["followers_count"] == "many"
    assert raw[7].endswith(",extra")
    ev = dict(query(tmp_path, "select _source_row, reason from raw.interactions_rejects"))
    assert ev == {2: "unknown_event_type", 3: "bad_number:watch_time_s", 4: "invalid_json",
                  5: "empty_record", 6: "invalid_json"}


def test_invalid_utf8_rows_are_quarantined_not_the_file(tmp_path, landing):
    header = ",".join(USERS_HEADER).encode()
    good = ",".join(GOOD_USERS[1]).encode()
    bad = "u9,caf\xe9,,,1,1,true,2025-01-01,FR,food".encode("latin-1")
    (landing / "users.csv").write_bytes(header + b"\n" + good + b"\n" + bad + b"\n")
    result = load(tmp_path)
    assert (result.rows_loaded, result.rows_rejected) == (1, 1)
    [(reason, record)] = query(tmp_path, "select reason, raw_record from raw.users_rejects")
    assert reason == "invalid_encoding" and record.startswith("u9,caf")


def test_missing_required_column_fails_naming_file_and_column(tmp_path, landing):
    header = [c if c != "followers_count" else "follower_cnt" for c in USERS_HEADER]
    write_csv(landing / "users.csv", header, GOOD_USERS)
    with pytest.raises(IngestError) as err:
        load(tmp_path)
    msg = str(err.value)
    assert "users.csv" in msg and "followers_count" in msg and "missing required column" in msg


def test_truncated_gzip_fails_and_rolls_back_the_whole_partition(tmp_path, landing):
    write_csv(landing / "users.csv", USERS_HEADER, GOOD_USERS)
    load(tmp_path)  # a good first load of the day
    buf = io.StringIO()
    csv.writer(buf).writerows([USERS_HEADER] + GOOD_USERS * 2000)
    data = gzip.compress(buf.getvalue().encode())
    (landing / "follows.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(IngestError, match=r"follows\.csv\.gz.*truncated gzip"):
        load(tmp_path)
    # the failed reload changed nothing: yesterday's load of the day is intact
    assert query(tmp_path, "select count(*) from raw.users") == [(3,)]
    assert query(tmp_path, "select count(*) from raw.follows") == [(0,)]


def test_unknown_file_fails_reserved_names_are_skipped(tmp_path, landing):
    write_csv(landing / "users.csv", USERS_HEADER, GOOD_USERS)
    (landing / "_manifest.json").write_text("{}")
    (landing / "_quarantine").mkdir()
    load(tmp_path)
    (landing / "likes.xlsx").write_bytes(b"PK")
    with pytest.raises(IngestError, match="likes.xlsx"):
        load(tmp_path)


def test_reload_replaces_the_partition_and_keeps_others(tmp_path, landing):
    write_csv(landing / "users.csv", USERS_HEADER, GOOD_USERS)
    load(tmp_path)
    other = tmp_path / "landing" / "2026-01-06"
    other.mkdir()
    write_csv(other / "users.csv", USERS_HEADER, GOOD_USERS[:1])
    load(tmp_path, "2026-01-06")
    for _ in range(2):
        load(tmp_path)
    assert query(tmp_path, "select ds::VARCHAR, count(*) from raw.users group by 1 order by 1") == [
        ("2026-01-05", 3), ("2026-01-06", 1)]
    write_csv(landing / "users.csv", USERS_HEADER, GOOD_USERS[:2])  # corrected re-delivery
    load(tmp_path)
    assert query(tmp_path, "select count(*) from raw.users where ds = '2026-01-05'") == [(2,)]
    assert query(tmp_path, "select count(*) from raw.input_files") == [(2,)]


def test_manifest_declares_extra_event_types(tmp_path, landing):
    events = [{**INTERACTIONS[0], "event_type": "play", "value": 12}]
    write_jsonl(landing / "interactions.jsonl", events)
    assert load(tmp_path).rows_rejected == 1  # 'play' is not canonical
    (landing / "_manifest.json").write_text(json.dumps(
        {"event_types": {"play": {"weight": 1.5, "scale_by_value": True}}}))
    assert load(tmp_path).rows_loaded == 1
    assert query(tmp_path, "select weight, scale_by_value from raw.event_types "
                 "where event_type = 'play'") == [(1.5, True)]


def test_counts_reconcile_for_every_file(tmp_path, landing):
    rows = GOOD_USERS + [["u9", "x", "", "", "NaNa", "1", "true", "2025-01-01", "", ""]] * 5
    write_csv(landing / "users.csv.gz", USERS_HEADER, rows)
    write_jsonl(landing / "interactions.jsonl", INTERACTIONS * 3)
    pq.write_table(pa.table({"follower_id": ["u1", "u2", None], "followee_id": ["u2", "u1", "u1"],
                             "followed_at": ["2026-01-05T00:00:00Z"] * 3}),
                   landing / "follows.parquet")
    result = load(tmp_path)
    files = query(tmp_path, "select path, rows_read, rows_loaded, rows_rejected, sha256 "
                  "from raw.input_files")
    assert len(files) == 3
    expected_rows = {"users.csv.gz": 8, "interactions.jsonl": 9, "follows.parquet": 3}
    import hashlib
    for path, read, loaded, rejected, sha in files:
        name = path.rsplit("/", 1)[1]
        assert read == expected_rows[name]
        assert loaded + rejected == read
        entity = name.split(".")[0]
        (n_raw,) = query(tmp_path, f"select count(*) from raw.{entity} where _source_file = ?",
                         [path])[0]
        (n_rej,) = query(tmp_path, f"select count(*) from raw.{entity}_rejects "
                         f"where _source_file = ?", [path])[0]
        assert (n_raw, n_rej) == (loaded, rejected)
        assert sha == hashlib.sha256((landing / name).read_bytes()).hexdigest()
    assert result.rows_read == 20


def test_raw_tables_have_contract_columns_and_lineage(tmp_path, landing):
    write_csv(landing / "users.csv", USERS_HEADER, GOOD_USERS)
    load(tmp_path)
    for entity in ENTITIES.values():
        cols = [r[0] for r in query(
            tmp_path, "select column_name from information_schema.columns where "
            "table_schema = 'raw' and table_name = ? order by ordinal_position", [entity.name])]
        assert cols == entity.column_names + ["ds", "_source_file", "_source_row",
                                              "_file_sha256", "_loaded_at"]


def test_empty_file_loads_zero_rows(tmp_path, landing):
    (landing / "campaigns.csv").write_bytes(b"")
    result = load(tmp_path)
    assert result.files[0].rows_read == 0
    assert query(tmp_path, "select rows_read from raw.input_files") == [(0,)]


def test_bad_ds_is_refused(tmp_path, landing):
    with pytest.raises(IngestError, match="YYYY-MM-DD"):
        ingest_partition(tmp_path / "wh.duckdb", tmp_path / "landing", "2026-13-40")
