"""Record accounting of the ingest: broken exports, each with its outcome and no lost record.

Every case builds a small landing partition (the way a real TikTok, Douyin, Weibo,
Instagram or YouTube export goes wrong), loads it into a real DuckDB file and asserts:

* the outcome: the reject reason of each broken record, or the ``IngestError`` naming the
  file, the row/line and the rule;
* nothing was lost: ``loaded + rejected == physical records`` for every file, in the
  ``IngestResult``, in ``raw.input_files`` and in the rows of ``raw.<entity>`` and its
  rejects (:func:`accounted`).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from social_warehouse.ingest import (
    IngestError,
    declared_time_window,
    ingest_partition,
    read_manifest,
)

DS = "2026-01-05"
USERS = ["user_id", "handle", "bio", "followers_count", "following_count", "created_at"]
EVENTS = ["event_id", "user_id", "post_id", "event_type", "occurred_at", "watch_time_s", "value"]


def user(i: int, **kw) -> list[str]:
    row = {"user_id": f"u{i}", "handle": f"h{i}", "bio": f"bio {i}", "followers_count": str(i),
           "following_count": "1", "created_at": "2025-01-01T00:00:00Z", **kw}
    return [row[c] for c in USERS]


def event(i: int, **kw) -> list[str]:
    row = {"event_id": f"e{i}", "user_id": "u1", "post_id": "p1", "event_type": "view",
           "occurred_at": "2026-01-05T10:00:00Z", "watch_time_s": "3.5", "value": "", **kw}
    return [row[c] for c in EVENTS]


def csv_text(header: list[str], rows: list[list[str]], delimiter=",", newline="\n") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator=newline).writerows([header, *rows])
    return buf.getvalue()


@pytest.fixture
def landing(tmp_path):
    part = tmp_path / "landing" / DS
    part.mkdir(parents=True)
    return part


def load(tmp_path):
    return ingest_partition(tmp_path / "wh.duckdb", tmp_path / "landing", DS)


def query(tmp_path, sql, params=None):
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def accounted(tmp_path, result, records: dict[str, int]) -> None:
    """``loaded + rejected == physical records`` for every file, everywhere it is recorded."""
    assert {f.path.rsplit("/", 1)[1] for f in result.files} == set(records)
    for f in result.files:
        name = f.path.rsplit("/", 1)[1]
        assert f.rows_read == records[name], (name, f)
        assert f.rows_loaded + f.rows_rejected == records[name], (name, f)
        n_raw = query(tmp_path, f'select count(*) from raw."{f.entity}" '
                      "where ds = ? and _source_file = ?", [DS, f.path])[0][0]
        n_rej = query(tmp_path, f'select count(*) from raw."{f.entity}_rejects" '
                      "where ds = ? and _source_file = ?", [DS, f.path])[0][0]
        assert (n_raw, n_rej) == (f.rows_loaded, f.rows_rejected), name
        assert query(tmp_path, "select rows_read, rows_loaded, rows_rejected from "
                     "raw.input_files where ds = ? and path = ?", [DS, f.path]) == [
            (f.rows_read, f.rows_loaded, f.rows_rejected)]


def rejects(tmp_path, entity="users") -> dict[int, str]:
    return dict(query(tmp_path, f'select _source_row, reason from raw."{entity}_rejects" '
                      "order by _source_row"))


def loaded_ids(tmp_path, entity="users", key="user_id") -> list[str]:
    return [r[0] for r in query(tmp_path, f'select "{key}" from raw."{entity}" '
                                "order by _source_row")]


# --------------------------------------------------------------------------- quotes


def test_unclosed_quote_at_the_end_quarantines_one_record_and_resynchronises(tmp_path, landing):
    # issue 16: row 2's open quote used to swallow rows 3 and 4 (rows_read 2, rejected 0)
    text = csv_text(USERS, [user(1)]) + 'u2,h2,"bio that never closes,2,1,2025-01-01\n' + \
        csv_text(USERS, [user(3), user(4)]).split("\n", 1)[1]
    (landing / "users.csv").write_text(text, encoding="utf-8")
    result = load(tmp_path)
    accounted(tmp_path, result, {"users.csv": 4})
    assert loaded_ids(tmp_path) == ["u1", "u3", "u4"]
    assert rejects(tmp_path) == {2: "unclosed_quote"}
    raw = query(tmp_path, "select raw_record from raw.users_rejects")[0][0]
    assert raw == 'u2,h2,"bio that never closes,2,1,2025-01-01'
    assert result.files[0].physical_lines == 5


def test_open_quote_closed_by_a_later_row_cannot_swallow_records(tmp_path, landing):
    # issue 16's real day: an open quote in row 2 closed by a stray quote 48 rows later
    # gave one record of the right width (rejected as bad_number); 48 events vanished
    rows = [",".join(event(1))]
    rows.append("e2,u1,p1,view,\"2026-01-05T10:00:00Z,1,2")
    rows += [",".join(event(i)) for i in range(3, 51)]
    rows.append('e51,u1,p1,view,2026-01-05T10:00:00Z",1,2')
    rows += [",".join(event(i)) for i in range(52, 56)]
    (landing / "interactions.csv").write_text(
        ",".join(EVENTS) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = load(tmp_path)
    accounted(tmp_path, result, {"interactions.csv": 55})
    assert rejects(tmp_path, "interactions") == {2: "unclosed_quote",
                                                 51: "bad_timestamp:occurred_at"}
    assert len(loaded_ids(tmp_path, "interactions", "event_id")) == 53


def test_a_quoted_field_longer_than_the_line_cap_is_an_unclosed_quote(tmp_path, landing):
    from social_warehouse.ingest import MAX_RECORD_LINES

    n = MAX_RECORD_LINES + 2_000
    text = csv_text(USERS, [user(1)]) + 'u2,h2,"open,2,1,2025-01-01\n' + "".join(
        ",".join(user(i)) + "\n" for i in range(3, n + 1))
    (landing / "users.csv").write_text(text, encoding="utf-8")
    result = load(tmp_path)
    accounted(tmp_path, result, {"users.csv": n})
    assert rejects(tmp_path) == {2: "unclosed_quote"}
    assert result.files[0].physical_lines == n + 1


def test_a_file_that_cannot_resynchronise_fails_naming_file_row_and_rule(tmp_path, landing,
                                                                         monkeypatch):
    import social_warehouse.ingest as ingest

    monkeypatch.setattr(ingest, "MAX_REPARSED_LINES", 10)
    # every line opens a quote that the next line's quote closes, then text: each record
    # start is quarantined and the following line parsed again, past the (lowered) budget
    text = csv_text(USERS, [user(1)]) + "".join(f'u{i},h,"x""y,1,1,\n' for i in range(2, 30))
    (landing / "users.csv").write_text(text, encoding="utf-8")
    with pytest.raises(IngestError, match=r"users\.csv: row 12: rule unclosed_quote: cannot "
                       r"resynchronise after unclosed quotes \(11 lines parsed again\)"):
        load(tmp_path)


def test_legitimate_multi_line_fields_still_load(tmp_path, landing):
    rows = [user(1, bio="line one\nline two, with a comma\r\nline three"), user(2),
            user(3, bio='he said "hi"\nthen left')]
    (landing / "users.csv").write_text(csv_text(USERS, rows), encoding="utf-8")
    result = load(tmp_path)
    accounted(tmp_path, result, {"users.csv": 3})
    bios = [r[0] for r in query(tmp_path, "select bio from raw.users order by _source_row")]
    assert bios[0] == "line one\nline two, with a comma\r\nline three"
    assert bios[2] == 'he said "hi"\nthen left'
    assert result.files[0].physical_lines == 7


def test_text_after_a_closing_quote_is_bad_quoting(tmp_path, landing):
    text = csv_text(USERS, [user(1)]) + 'u2,h2,"quoted"tail,2,1,2025-01-01\n'
    (landing / "users.csv").write_text(text, encoding="utf-8")
    accounted(tmp_path, load(tmp_path), {"users.csv": 2})
    assert rejects(tmp_path) == {2: "bad_quoting"}


@pytest.mark.parametrize(("tail", "reason"), [
    ("u3,h3,bio 3,3,1,2025-01-01T00:00:00Z", None),   # complete, just no final newline
    ("u3,h3,bio 3,3", "wrong_column_count"),          # cut mid-record
    ('u3,h3,"bio cut inside its quo', "unclosed_quote"),  # cut inside a quoted field
])
def test_truncated_last_line_without_newline(tmp_path, landing, tail, reason):
    text = csv_text(USERS, [user(1), user(2)]) + tail
    (landing / "users.csv").write_text(text, encoding="utf-8")
    accounted(tmp_path, load(tmp_path), {"users.csv": 3})
    assert rejects(tmp_path) == ({3: reason} if reason else {})


# --------------------------------------------------------------------------- encodings


def test_bom_before_a_quoted_csv_header_and_in_jsonl(tmp_path, landing):
    # R write.csv(fileEncoding="UTF-8-BOM") / Excel "CSV UTF-8": BOM, then quoted names
    text = csv_text(USERS, [user(1), user(2)])
    text = "\ufeff" + ",".join(f'"{c}"' for c in USERS) + "\n" + text.split("\n", 1)[1]
    (landing / "users.csv").write_text(text, encoding="utf-8")
    lines = [json.dumps(dict(zip(EVENTS, event(i), strict=True))) for i in (1, 2)]
    (landing / "interactions.jsonl").write_bytes(codecs.BOM_UTF8 + "\n".join(lines).encode())
    result = load(tmp_path)
    accounted(tmp_path, result, {"users.csv": 2, "interactions.jsonl": 2})
    assert result.rows_rejected == 0
    assert loaded_ids(tmp_path, "interactions", "event_id") == ["e1", "e2"]


@pytest.mark.parametrize("name", ["users.csv", "users.jsonl"])
def test_utf16_export_fails_naming_the_encoding(tmp_path, landing, name):
    # YouTube Studio / Excel "Unicode text" exports are UTF-16
    if name.endswith(".csv"):
        text = csv_text(USERS, [user(1)])
    else:
        text = json.dumps(dict(zip(USERS, user(1), strict=True))) + "\n"
    (landing / name).write_bytes(text.encode("utf-16"))
    with pytest.raises(IngestError) as err:
        load(tmp_path)
    msg = str(err.value)
    assert name in msg and "UTF-16" in msg and "not valid UTF-8" in msg
    assert query(tmp_path, "select count(*) from raw.input_files") == [(0,)]


def test_nul_bytes_quarantine_the_record(tmp_path, landing):
    text = csv_text(USERS, [user(1), user(2, bio="bro\x00ken"), user(3)])
    (landing / "users.csv").write_text(text, encoding="utf-8")
    accounted(tmp_path, load(tmp_path), {"users.csv": 3})
    assert rejects(tmp_path) == {2: "nul_byte"}


# --------------------------------------------------------------------------- line endings


def test_bare_cr_in_an_unquoted_field_is_kept_as_data(tmp_path, landing):
    # issue 16: one stray CR used to fail the whole file
    text = csv_text(USERS, [user(1)]) + "u2,h2,bio\rwith a stray CR,2,1,2025-01-01\n" + \
        csv_text(USERS, [user(3)], newline="\r\n").split("\r\n", 1)[1]
    (landing / "users.csv").write_text(text, encoding="utf-8", newline="")
    result = load(tmp_path)
    accounted(tmp_path, result, {"users.csv": 3})
    assert query(tmp_path, "select bio from raw.users where user_id = 'u2'") == [
        ("bio\rwith a stray CR",)]
    assert loaded_ids(tmp_path) == ["u1", "u2", "u3"]


def test_mixed_line_endings_load(tmp_path, landing):
    lines = [",".join(USERS)] + [",".join(user(i)) for i in range(1, 7)]
    text = "".join(line + ("\r\n" if i % 2 else "\n") for i, line in enumerate(lines))
    (landing / "users.csv").write_text(text, encoding="utf-8", newline="")
    accounted(tmp_path, load(tmp_path), {"users.csv": 6})
    assert query(tmp_path, "select count(*) from raw.users where created_at is not null") == [(6,)]


def test_classic_mac_cr_only_file_fails_naming_line_one(tmp_path, landing):
    text = "\r".join([",".join(USERS)] + [",".join(user(i)) for i in range(1, 4)]) + "\r"
    (landing / "users.csv").write_text(text, encoding="utf-8", newline="")
    with pytest.raises(IngestError, match=r"users\.csv: line 1: bare CR line endings"):
        load(tmp_path)


# --------------------------------------------------------------------------- shapes


def test_header_repeated_mid_file_is_quarantined(tmp_path, landing):
    # two Weibo exports concatenated with cat: the second header is a record
    part = csv_text(USERS, [user(1), user(2)])
    text = part + csv_text([c.upper() for c in USERS], [user(3), user(4)])
    (landing / "users.csv").write_text(text, encoding="utf-8")
    accounted(tmp_path, load(tmp_path), {"users.csv": 5})
    assert rejects(tmp_path) == {3: "repeated_header"}
    assert loaded_ids(tmp_path) == ["u1", "u2", "u3", "u4"]


def test_trailing_delimiters_are_accepted_other_extra_fields_are_not(tmp_path, landing):
    # Excel/Instagram exports: a delimiter after the last column, on the header or not
    text = ",".join(USERS) + ",\n" + ",".join(user(1)) + ",\n" + ",".join(user(2)) + ",,\n" \
        + ",".join(user(3)) + ",x\n"
    (landing / "users.csv").write_text(text, encoding="utf-8")
    accounted(tmp_path, load(tmp_path), {"users.csv": 3})
    assert rejects(tmp_path) == {3: "wrong_column_count"}


def test_tsv_gz_is_accepted(tmp_path, landing):
    data = csv_text(USERS, [user(1), user(2, bio="tab\tinside")], delimiter="\t")
    (landing / "users_export.tsv.gz").write_bytes(gzip.compress(data.encode()))
    result = load(tmp_path)
    accounted(tmp_path, result, {"users_export.tsv.gz": 2})
    assert result.files[0].gzipped and result.rows_rejected == 0
    assert query(tmp_path, "select bio from raw.users where user_id = 'u2'") == [("tab\tinside",)]


def test_emoji_zwj_handles_and_very_long_text_load_verbatim(tmp_path, landing):
    handle = "👩‍👩‍👧‍👦家族🇯🇵_ｆｕｌｌ"  # ZWJ family, flag, full-width letters
    caption = ("长文本 " + "🎵" * 3 + " lorem ipsum, \"quoted\" ") * 200_000  # ~6 MB
    (landing / "users.csv").write_text(
        csv_text(USERS, [user(1, handle=handle, bio=caption), user(2)]), encoding="utf-8")
    accounted(tmp_path, load(tmp_path), {"users.csv": 2})
    got = query(tmp_path, "select handle, length(bio), bio = ? from raw.users "
                "where user_id = 'u1'", [caption])
    assert got == [(handle, len(caption), True)]


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(("value", "loaded"), [
    ("12", 12), ("12.0", 12), (" 7 ", 7), ("+3", 3),
    ("1.5", None), ("7.49", None), ("0x10", None), ("1_000", None), ("1e3", None),
    ("1,234", None),   # Instagram: thousands separator (quoted in the CSV)
    ("1.2万", None),    # Douyin/Weibo: 1.2 x 10^4
    ("1.2K", None),     # TikTok/YouTube
    ("99999999999999999999", None),  # overflows BIGINT
])
def test_integers_are_strict(tmp_path, landing, value, loaded):
    (landing / "users.csv").write_text(
        csv_text(USERS, [user(1, followers_count=value)]), encoding="utf-8")
    accounted(tmp_path, load(tmp_path), {"users.csv": 1})
    if loaded is None:
        assert rejects(tmp_path) == {1: "bad_number:followers_count"}
    else:
        assert query(tmp_path, "select followers_count from raw.users") == [(loaded,)]


def test_floats_are_strict(tmp_path, landing):
    values = ["3.5", "1e2", ".5", "1_000", "0x10", "12%", "inf", "NaN"]
    rows = [event(i, watch_time_s=v) for i, v in enumerate(values, 1)]
    (landing / "interactions.csv").write_text(csv_text(EVENTS, rows), encoding="utf-8")
    accounted(tmp_path, load(tmp_path), {"interactions.csv": len(values)})
    assert rejects(tmp_path, "interactions") == {
        i: "bad_number:watch_time_s" for i in range(4, 9)}


def test_parquet_counts_must_be_integral(tmp_path, landing):
    n = 4
    table = pa.table({
        "user_id": [f"u{i}" for i in range(n)], "handle": ["h"] * n,
        "followers_count": pa.array([2.0, 1.5, 7.49, None], pa.float64()),
        "following_count": pa.array([1, 2, 3, 4], pa.int64()),
        "created_at": pa.array([None] * n, pa.timestamp("us", tz="UTC")),
    })
    pq.write_table(table, landing / "users.parquet")
    accounted(tmp_path, load(tmp_path), {"users.parquet": n})
    assert rejects(tmp_path) == {2: "bad_number:followers_count", 3: "bad_number:followers_count"}
    assert query(tmp_path, "select followers_count from raw.users order by _source_row") == [
        (2,), (None,)]


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize("value", [
    "infinity", "-infinity", "10000-01-01", "0044-03-15 BC", "1767225600000",  # epoch ms
    "1767225600", "05/01/2026 10:00",
])
def test_timestamps_outside_years_1_to_9999_or_not_iso_are_bad_timestamp(tmp_path, landing,
                                                                          value):
    (landing / "interactions.csv").write_text(
        csv_text(EVENTS, [event(1), event(2, occurred_at=value)]), encoding="utf-8")
    accounted(tmp_path, load(tmp_path), {"interactions.csv": 2})
    assert rejects(tmp_path, "interactions") == {2: "bad_timestamp:occurred_at"}


# --------------------------------------------------------------------------- JSON


def test_deeply_nested_json_is_invalid_json_not_a_recursion_error(tmp_path, landing):
    deep = '{"event_id": "e9", "value": ' + "[" * 100_000 + "]" * 100_000 + "}"
    nested_ok = {**dict(zip(EVENTS, event(3), strict=True)), "extra": {"a": [[{"b": 1}]]}}
    lines = [json.dumps(dict(zip(EVENTS, event(1), strict=True))), deep, json.dumps(nested_ok),
             '{"bio": "' + "[" * 200 + '"}']
    (landing / "interactions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    accounted(tmp_path, load(tmp_path), {"interactions.jsonl": 4})
    assert rejects(tmp_path, "interactions") == {2: "invalid_json", 4: "missing_key:event_id; "
                                                 "missing_key:user_id; missing_key:post_id; "
                                                 "missing_key:event_type"}


def test_json_ids_must_be_strings_or_integers(tmp_path, landing):
    base = dict(zip(EVENTS, event(1), strict=True))
    records = [
        {**base, "event_id": 123},                      # integer id: fine
        {**base, "event_id": "e2", "user_id": ["u1", "u2"]},
        {**base, "event_id": "e3", "post_id": {"id": "p1"}},
        {**base, "event_id": 1.2345678901234567e18},     # a Twitter-size id as a JS float
        {**base, "event_id": "e5", "user_id": True},
    ]
    (landing / "interactions.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    accounted(tmp_path, load(tmp_path), {"interactions.jsonl": 5})
    assert rejects(tmp_path, "interactions") == {
        2: "bad_id:user_id", 3: "bad_id:post_id", 4: "bad_id:event_id", 5: "bad_id:user_id"}
    assert loaded_ids(tmp_path, "interactions", "event_id") == ["123"]


def test_parquet_float_ids_are_quarantined(tmp_path, landing):
    table = pa.table({"follower_id": pa.array([1.0, None, 3.5]),
                      "followee_id": ["a", "b", "c"],
                      "followed_at": ["2026-01-05T00:00:00Z"] * 3})
    pq.write_table(table, landing / "follows.parquet")
    accounted(tmp_path, load(tmp_path), {"follows.parquet": 3})
    assert rejects(tmp_path, "follows") == {1: "bad_id:follower_id",
                                            2: "missing_key:follower_id",
                                            3: "bad_id:follower_id"}


# --------------------------------------------------------------------------- keys


def test_blank_keys_of_tabs_or_unicode_spaces_are_missing(tmp_path, landing):
    rows = [user(1), user(2, user_id="\t"), user(3, user_id="\u3000"), user(4, user_id=" \u00a0")]
    (landing / "users.csv").write_text(csv_text(USERS, rows), encoding="utf-8")
    accounted(tmp_path, load(tmp_path), {"users.csv": 4})
    assert rejects(tmp_path) == {i: "missing_key:user_id" for i in (2, 3, 4)}


def test_same_user_in_two_files_of_a_day_the_last_file_wins(tmp_path, landing):
    a = [user(1, handle="old"), user(2)]
    b = [user(3), user(1, handle="new"), user(1, handle="newer")]
    (landing / "users_part-001.csv").write_text(csv_text(USERS, a), encoding="utf-8")
    (landing / "users_part-002.csv").write_text(csv_text(USERS, b), encoding="utf-8")
    for _ in range(2):  # deterministic: a rerun gives the same split
        result = load(tmp_path)
        accounted(tmp_path, result, {"users_part-001.csv": 2, "users_part-002.csv": 3})
        assert result.duplicates == {"superseded_key:user_id": 1}
        assert query(tmp_path, "select _source_file, _source_row, reason, raw_record "
                     "from raw.users_rejects")[0][:3] == (
            str(landing / "users_part-001.csv"), 1, "superseded_key:user_id")
        assert query(tmp_path, "select handle from raw.users where user_id = 'u1' "
                     "order by _source_row") == [("new",), ("newer",)]
    assert result.to_dict()["duplicates"] == {"superseded_key:user_id": 1}


def test_same_event_twice_in_a_day_the_first_wins_and_is_counted(tmp_path, landing):
    (landing / "interactions.csv").write_text(csv_text(EVENTS, [event(1), event(2)]))
    (landing / "interactions_resend.csv").write_text(csv_text(EVENTS, [event(2), event(3)]))
    result = load(tmp_path)
    accounted(tmp_path, result, {"interactions.csv": 2, "interactions_resend.csv": 2})
    assert result.duplicates == {"duplicate_key:event_id": 1}


# --------------------------------------------------------------------------- manifests


@pytest.mark.parametrize(("content", "message"), [
    ("[1, 2]", "must be a JSON object, got list"),
    ('"play"', "must be a JSON object, got str"),
    ('{"event_types": {"play": {"weight": "nan"}}}', "weight must be a number"),
    ('{"event_types": {"play": {"weight": NaN}}}', "weight must be finite and > 0"),
    ('{"event_types": {"play": {"weight": -1e308}}}', "weight must be finite and > 0"),
    ('{"event_types": {"play": 0}}', "weight must be finite and > 0"),
    ('{"event_types": {"play": Infinity}}', "weight must be finite and > 0"),
    ('{"event_types": {"play": true}}', "weight must be a number"),
    ('{"event_types": [{"weight": 1}]}', "event_types[0] must be an object"),
    ('{"event_types": "play"}', "event_types must be an object or a list"),
    ('{"event_types": {"play": {"weight": 1, "scale_by_value": "yes"}}}', "scale_by_value"),
    ('{"export_time_range": {"start": "yesterday"}}', "export_time_range.start"),
    ('{"export_time_range": {"start": "2011-01-01", "end": "2005-01-01"}}', "is before"),
    ("{not json", "not valid JSON"),
])
def test_bad_manifest_is_a_clear_ingest_error(tmp_path, landing, content, message):
    (landing / "users.csv").write_text(csv_text(USERS, [user(1)]))
    (landing / "_manifest.json").write_text(content)
    with pytest.raises(IngestError) as err:
        load(tmp_path)
    assert "_manifest.json" in str(err.value) and message in str(err.value)
    assert not (tmp_path / "wh.duckdb").exists() or query(
        tmp_path, "select count(*) from raw.users") == [(0,)]


def test_manifest_time_range_is_recorded_for_the_gates(tmp_path, landing):
    (landing / "users.csv").write_text(csv_text(USERS, [user(1)]))
    (landing / "_manifest.json").write_text(json.dumps({
        "event_types": [{"event_type": "play", "weight": 2, "scale_by_value": True}],
        "export_time_range": {"start": "2005-02-14", "end": "2011-05-31T23:59:59Z"}}))
    load(tmp_path)
    assert query(tmp_path, "select ds::VARCHAR, range_start::VARCHAR, range_end::VARCHAR "
                 "from raw.export_time_range") == [
        (DS, "2005-02-14 00:00:00", "2011-05-31 23:59:59")]
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    try:
        window = declared_time_window(con, DS)
        assert str(window["min_timestamp"]) == "2005-02-14 00:00:00+00:00"
        assert declared_time_window(con, "2026-01-06") == {}
    finally:
        con.close()
    assert read_manifest(landing).event_types == {"play": (2.0, True)}
    (landing / "_manifest.json").unlink()  # a rerun without it forgets the range
    load(tmp_path)
    assert query(tmp_path, "select count(*) from raw.export_time_range") == [(0,)]


# --------------------------------------------------------------------------- links


def test_symlink_out_of_the_landing_root_fails_without_echoing_the_target(tmp_path, landing):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\nsecret-token-123\n")
    os.symlink(secret, landing / "users.csv")
    with pytest.raises(IngestError) as err:
        load(tmp_path)
    msg = str(err.value)
    assert "users.csv" in msg and "outside the landing root" in msg
    assert "root:x" not in msg and "secret-token" not in msg


def test_symlink_inside_the_landing_root_is_followed(tmp_path, landing):
    other = tmp_path / "landing" / "2026-01-04"
    other.mkdir()
    (other / "users.csv").write_text(csv_text(USERS, [user(1)]))
    os.symlink(other / "users.csv", landing / "users.csv")
    accounted(tmp_path, load(tmp_path), {"users.csv": 1})


def test_a_first_line_that_is_no_header_is_described_not_echoed(tmp_path, landing):
    (landing / "users.csv").write_text("root:x:0:0:root:/root:/bin/bash\nsecret\n")
    with pytest.raises(IngestError) as err:
        load(tmp_path)
    msg = str(err.value)
    assert "users.csv" in msg and "missing required column(s)" in msg
    assert "does not look like a header" in msg and "root:x" not in msg


def test_manifest_symlinked_out_of_the_landing_root_fails(tmp_path, landing):
    (landing / "users.csv").write_text(csv_text(USERS, [user(1)]))
    outside = tmp_path / "elsewhere.json"
    outside.write_text('{"event_types": {"play": 1}}')
    os.symlink(outside, landing / "_manifest.json")
    with pytest.raises(IngestError, match=r"_manifest\.json: is a link to a file outside"):
        load(tmp_path)
