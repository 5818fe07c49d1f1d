"""Source mappings: schema errors, parse rules, quarantine, counts, shipped mappings."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from social_warehouse.contract import ENTITIES
from social_warehouse.mapping import (
    MAPPING_SCHEMA,
    MappingError,
    SourceError,
    import_export,
    load_mapping,
    schema_json,
)
from social_warehouse.mapping.rules import make_field

REPO = Path(__file__).resolve().parents[2]
SOURCES = REPO / "sources"
DS = "2026-01-05"


# --------------------------------------------------------------------------- helpers


def write_mapping(tmp_path: Path, doc: dict | str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(
        doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False), encoding="utf-8"
    )
    return path


def mapping_errors(tmp_path: Path, doc) -> MappingError:
    with pytest.raises(MappingError) as info:
        load_mapping(write_mapping(tmp_path, doc))
    return info.value


def users_output(**overrides) -> dict:
    cols = {
        "user_id": {"template": "x_{uid}"},
        "handle": "uid",
        "followers_count": {"const": None},
        "following_count": {"const": None},
        "created_at": {"const": None},
    }
    cols.update(overrides)
    return {"entity": "users", "columns": cols}


def minimal(**file_overrides) -> dict:
    f = {
        "name": "people",
        "pattern": "people.csv",
        "fields": {"uid": {"rule": "id"}},
        "outputs": [users_output()],
    }
    f.update(file_overrides)
    return {"version": 1, "name": "t", "files": [f]}


def read_rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def quarantine(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def parse(spec: dict, *raws):
    """(value, error, repaired) of one field on raw string(s)."""
    return make_field("f", spec).parse(raws)


# --------------------------------------------------------------------------- schema


@pytest.mark.parametrize("name", ["lastfm_hetrec2011", "email_eu_core", "instagram_top200"])
def test_shipped_mappings_are_valid(name):
    m = load_mapping(SOURCES / f"{name}.yaml")
    assert m.name == name
    assert len(m.sha256) == 64


def test_schema_file_is_in_sync_with_the_code():
    import jsonschema

    on_disk = (SOURCES / "mapping.schema.json").read_text(encoding="utf-8")
    assert on_disk == schema_json(), (
        "regenerate: python -c 'from social_warehouse.mapping "
        'import schema_json; print(schema_json(), end="")\''
    )
    jsonschema.Draft202012Validator.check_schema(MAPPING_SCHEMA)


def test_unknown_key_names_file_line_path_and_allowed_keys(tmp_path):
    doc = yaml.safe_dump(minimal(), sort_keys=False).replace(
        "  pattern: people.csv\n", "  pattern: people.csv\n  delimeter: ','\n"
    )
    line = doc.splitlines().index("  delimeter: ','") + 1
    err = mapping_errors(tmp_path, doc)
    text = str(err)
    assert str(tmp_path / "m.yaml") in text
    assert "files[0].delimeter: unknown key 'delimeter'" in text
    assert "allowed here:" in text and "delimiter" in text
    assert f"line {line}, files[0].delimeter" in text  # the line of the misspelt key
    assert err.problems == [("files[0].delimeter", err.problems[0][1])]


def test_wrong_type_is_named(tmp_path):
    err = mapping_errors(tmp_path, minimal(header="yes"))
    assert "files[0].header: expected boolean, got string 'yes'" in str(err)


def test_unknown_entity_lists_the_entities(tmp_path):
    doc = minimal()
    doc["files"][0]["outputs"][0]["entity"] = "postz"
    err = mapping_errors(tmp_path, doc)
    assert "files[0].outputs[0].entity: 'postz' is not one of: campaigns, follows" in str(err)


def test_missing_required_canonical_column(tmp_path):
    doc = minimal()
    del doc["files"][0]["outputs"][0]["columns"]["created_at"]
    del doc["files"][0]["outputs"][0]["columns"]["user_id"]
    text = str(mapping_errors(tmp_path, doc))
    assert (
        "files[0].outputs[0]: users must map required column 'created_at' "
        "(use {const: null} when the source has no value)" in text
    )
    assert "users must map key column 'user_id'" in text


def test_missing_required_key_and_unknown_rule(tmp_path):
    doc = minimal()
    del doc["files"][0]["pattern"]
    doc["files"][0]["fields"]["uid"]["rule"] = "integer"
    text = str(mapping_errors(tmp_path, doc))
    assert "files[0]: missing required key 'pattern'" in text
    assert "files[0].fields.uid.rule: 'integer' is not one of: text, id, int" in text


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (
            lambda d: d["files"][0]["fields"].update(n={"rule": "int", "format": "%Y"}),
            "files[0].fields.n.format: option 'format' does not apply to rule 'int'",
        ),
        (
            lambda d: d["files"][0]["outputs"][0]["columns"].update(followers_count="uid"),
            "users.followers_count is int but the value is id",
        ),
        (
            lambda d: d["files"][0]["outputs"][0]["columns"].update(user_id={"const": None}),
            "users.user_id is a key column and cannot be a null constant",
        ),
        (
            lambda d: d["files"][0]["outputs"][0]["columns"].update(created_at={"const": "soon"}),
            "constant 'soon' is not an ISO-8601 date-time",
        ),
        (
            lambda d: d["files"][0]["outputs"][0]["columns"].update(
                bio={"lookup": "nope", "key": "uid"}
            ),
            "unknown lookup 'nope'",
        ),
        (
            lambda d: d["files"][0]["outputs"][0]["columns"].update(nickname="uid"),
            "'nickname' is not a column of users",
        ),
        (
            lambda d: d["files"][0].update(header=False),
            "a file without a header row needs 'columns'",
        ),
        (
            lambda d: d["files"][0]["outputs"][0]["columns"].update(
                bio={"from": "uid", "const": 1}
            ),
            "exactly one of from, const, template, lookup, concat",
        ),
    ],
)
def test_semantic_errors_are_clear(tmp_path, mutate, expected):
    doc = minimal()
    mutate(doc)
    assert expected in str(mapping_errors(tmp_path, doc))


def test_undeclared_event_type_and_unknown_column_reference(tmp_path):
    doc = minimal(columns=["uid", "item"])
    doc["files"][0]["outputs"].append(
        {
            "entity": "interactions",
            "columns": {
                "event_id": {"template": "e_{uid}_{item}"},
                "user_id": "uid",
                "post_id": "itm",
                "event_type": {"const": "dislike"},
                "occurred_at": {"const": "{ds}T00:00:00Z"},
            },
        }
    )
    text = str(mapping_errors(tmp_path, doc))
    assert "event type 'dislike' is neither canonical" in text
    assert "'itm' is neither a field of file 'people'" in text
    doc["event_types"] = {"dislike": {"weight": 0.5}}
    doc["files"][0]["outputs"][1]["columns"]["post_id"] = "item"
    assert load_mapping(write_mapping(tmp_path, doc)).event_types["dislike"].weight == 0.5


def test_invalid_yaml_and_non_mapping(tmp_path):
    err = mapping_errors(tmp_path, "version: 1\nfiles: [\n")
    assert "not valid YAML" in str(err)
    err = mapping_errors(tmp_path, "- a\n- b\n")
    assert "expected a mapping (YAML object) at the top level" in str(err)


# --------------------------------------------------------------------------- parse rules


@pytest.mark.parametrize(
    "raw, value",
    [
        ("475.8m", 475_800_000),
        ("1.2k", 1_200),
        ("3b", 3_000_000_000),
        ("0.89k", 890),
        ("29.0b", 29_000_000_000),
        ("665.3k", 665_300),
        ("0", 0),
        ("12", 12),
        (" 3.3K ", 3_300),
    ],
)
def test_number_suffix(raw, value):
    assert parse({"rule": "number_suffix"}, raw) == (value, None, False)


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("1.2x", "unknown suffix 'x'"),
        ("abc", "is not a number with an optional suffix"),
        ("NaN", "is not a number with an optional suffix"),
        ("1,2k", "is not a number"),
    ],
)
def test_number_suffix_failures(raw, reason):
    value, error, _ = parse({"rule": "number_suffix"}, raw)
    assert value is None and reason in error


def test_number_suffix_float_and_custom_suffixes():
    assert parse({"rule": "number_suffix", "type": "float"}, "1.5k")[0] == 1500.0
    assert parse({"rule": "number_suffix", "suffixes": {"mio": 1e6}}, "2mio")[0] == 2_000_000


@pytest.mark.parametrize(
    "raw, value", [("1.39%", 0.0139), ("0.07%", 0.0007), ("12%", 0.12), ("100 %", 1.0)]
)
def test_percent(raw, value):
    assert parse({"rule": "percent"}, raw)[0] == pytest.approx(value, abs=1e-15)


@pytest.mark.parametrize("raw", ["NaN%", "1.39", "%", "abc%"])
def test_percent_failures(raw):
    value, error, _ = parse({"rule": "percent"}, raw)
    assert value is None and "is not a percentage like '1.39%'" in error


def test_percent_scale_and_declared_null_token():
    assert parse({"rule": "percent", "scale": "percent"}, "1.39%")[0] == pytest.approx(1.39)
    assert parse({"rule": "percent", "null_values": ["NaN%"]}, "NaN%") == (None, None, False)


def test_int_float_and_ranges():
    assert parse({"rule": "int"}, " 13883 ")[0] == 13883
    assert parse({"rule": "int", "thousands": ","}, "1,234")[0] == 1234
    assert "is not a whole number" in parse({"rule": "int"}, "1.5")[1]
    assert "is not a number" in parse({"rule": "int"}, "x")[1]
    assert "below the minimum 0" in parse({"rule": "int", "min": 0}, "-3")[1]
    assert "above the maximum 100" in parse({"rule": "int", "max": 100}, "101")[1]
    assert parse({"rule": "float"}, "0.5")[0] == 0.5
    assert "is not a number" in parse({"rule": "float"}, "inf")[1]


@pytest.mark.parametrize("raw, value", [("yes", True), ("F", False), ("1", True), ("n", False)])
def test_bool(raw, value):
    assert parse({"rule": "bool"}, raw)[0] is value


def test_bool_failure_and_custom_values():
    assert "is not a boolean" in parse({"rule": "bool"}, "maybe")[1]
    assert (
        parse({"rule": "bool", "true_values": ["verified"], "false_values": ["-"]}, "Verified")[0]
        is True
    )


def test_timestamp_formats_iso_and_timezones():
    assert parse({"rule": "timestamp"}, "2009-04-01T10:00:00+02:00")[0] == datetime(
        2009, 4, 1, 8, tzinfo=UTC
    )
    assert parse({"rule": "timestamp"}, "2009-04-01")[0] == datetime(2009, 4, 1, tzinfo=UTC)
    spec = {"rule": "timestamp", "format": ["%d/%m/%Y", "%Y%m%d"], "timezone": "Europe/Paris"}
    assert parse(spec, "01/04/2009")[0] == datetime(2009, 3, 31, 22, tzinfo=UTC)
    assert parse(spec, "20090401")[0] == datetime(2009, 3, 31, 22, tzinfo=UTC)
    assert "matches none of the formats" in parse(spec, "2009-04-01")[1]
    assert "is not an ISO-8601" in parse({"rule": "timestamp"}, "yesterday")[1]


def test_date_parts():
    spec = {"rule": "date_parts", "year": "y", "month": "m", "day": "d", "min": "2002-01-01"}
    f = make_field("when", spec)
    assert f.sources == ("y", "m", "d")
    assert f.parse(("2009", "4", "1"))[0] == datetime(2009, 4, 1, tzinfo=UTC)
    assert "is not a valid date" in f.parse(("2009", "2", "30"))[1]
    assert "below the minimum 2002-01-01T00:00:00Z" in f.parse(("1956", "6", "1"))[1]
    assert "is not a whole number" in f.parse(("2009", "x", "1"))[1]
    assert "date part(s) day empty" in f.parse(("2009", "4", ""))[1]
    assert f.parse(("", "", "")) == (None, None, False)


def test_epoch_and_list():
    assert parse({"rule": "epoch", "unit": "ms"}, "1238536800000")[0] == datetime(
        2009, 3, 31, 22, tzinfo=UTC
    )
    assert (
        parse({"rule": "list", "separator": ";", "strip_chars": "#", "join": " "}, "#a; b ;;#c")[0]
        == "a b c"
    )
    assert parse({"rule": "list", "separator": "whitespace"}, " x  y ")[0] == "x, y"


def test_text_mojibake_is_repaired_or_fails_with_a_reason():
    spec = {"rule": "text", "fix_mojibake": True}
    assert parse(spec, "CÃ´te d'Ivoire") == ("Côte d'Ivoire", None, True)
    assert parse(spec, "SÃ£o Paulo") == ("São Paulo", None, True)
    assert parse(spec, "Côte d'Ivoire") == ("Côte d'Ivoire", None, False)  # already fine
    value, error, _ = parse(spec, "Ã© and ü")  # 'ü' cannot come from UTF-8 bytes
    assert value is None and "looks like mojibake" in error
    assert parse({"rule": "text"}, "CÃ´te") == ("CÃ´te", None, False)  # not asked to repair


def test_id_blank_null_values_and_required():
    assert parse({"rule": "id", "pattern": "^[0-9]+$"}, " 42 ")[0] == "42"
    assert "does not match the id pattern" in parse({"rule": "id", "pattern": "^[0-9]+$"}, "4x")[1]
    assert "but the field is required" in parse({"rule": "id"}, "  ")[1]  # ids are required
    assert parse({"rule": "text"}, "") == (None, None, False)  # a blank cell is null
    assert "required" in parse({"rule": "int", "required": True}, "")[1]
    assert parse({"rule": "int", "null_values": ["", "n/a"]}, "n/a") == (None, None, False)
    assert parse({"rule": "text", "strip": False}, " a ")[0] == " a "


# --------------------------------------------------------------------------- engine


SMALL_MAPPING = """
version: 1
name: small
platform: demo
event_types:
  play: {weight: 1.5, scale_by_value: true}
lookups:
  known_item: {file: items, key: item, value: item}
x-user: &user
  followers_count: {const: null}
  following_count: {const: null}
  created_at: {const: null}
  platform: {const: demo}
files:
  - name: plays
    pattern: "plays*.tsv"
    delimiter: "\\t"
    comment: "#"
    fields:
      uid: {rule: id, pattern: "^[0-9]+$"}
      item: {rule: id}
      plays: {rule: number_suffix, required: true}
      when: {rule: date_parts, year: y, month: m, day: d}
    outputs:
      - name: play_events
        entity: interactions
        columns:
          event_id: {template: "p_{uid}_{item}"}
          user_id: {template: "u_{uid}"}
          post_id: {template: "i_{item}"}
          event_type: {const: play}
          occurred_at: when
          value: plays
        require:
          - {lookup: known_item, key: item}
      - name: players
        entity: users
        columns:
          <<: *user
          user_id: {template: "u_{uid}"}
          handle: {template: "demo_{uid}"}
  - name: items
    pattern: items.csv
    encoding: iso-8859-1
    header: false
    columns: [item, title]
"""

PLAYS = (
    "uid\titem\tplays\ty\tm\td\n"
    "# a comment line\n"
    "1\ta\t1.2k\t2020\t1\t5\n"  # ok
    "1\ta\t7\t2020\t1\t6\n"  # duplicate event id p_1_a
    "2\ta\tlots\t2020\t1\t5\n"  # number_suffix fails
    "3\tb\t5\t2020\t2\t30\n"  # date_parts fails
    "x\tb\t5\t2020\t2\t1\n"  # id pattern fails
    "4\tzz\t5\t2020\t2\t1\n"  # item not known -> reference
    "5\tb\t5\n"  # too few fields -> shape
    "\n"  # blank: not a record
    "6\tb\t9\t2021\t12\t31\n"  # ok
)


@pytest.fixture()
def small_export(tmp_path):
    src = tmp_path / "export"
    src.mkdir()
    (src / "plays_1.tsv").write_text(PLAYS, encoding="utf-8")
    (src / "items.csv").write_bytes("a,Caf\xe9\nb,Bar\n".encode("latin-1"))
    return src, write_mapping(tmp_path, SMALL_MAPPING)


def test_small_export_counts_quarantine_and_contract_columns(tmp_path, small_export):
    src, mapping = small_export
    result = import_export(mapping, src, DS, tmp_path / "landing")
    part = tmp_path / "landing" / DS
    plays = result.file("plays_1.tsv")
    assert plays.rows_read == 8 and plays.rows_malformed == 1
    ev = plays.output("play_events")
    assert (ev.rows_written, ev.rows_quarantined, ev.rows_deduplicated) == (2, 5, 1)
    assert ev.quarantined_by_rule == {
        "date_parts": 1,
        "id": 1,
        "number_suffix": 1,
        "reference": 1,
        "shape": 1,
    }
    users = plays.output("players")
    assert (users.rows_written, users.rows_quarantined, users.rows_deduplicated) == (5, 2, 1)
    assert result.reconciles

    rows = read_rows(part / "interactions.parquet")
    assert list(rows[0]) == ENTITIES["interactions"].column_names
    assert rows[0] == {
        "event_id": "p_1_a",
        "user_id": "u_1",
        "post_id": "i_a",
        "event_type": "play",
        "occurred_at": datetime(2020, 1, 5, tzinfo=UTC),
        "watch_time_s": None,
        "value": 1200.0,
    }
    assert [r["event_id"] for r in rows] == ["p_1_a", "p_6_b"]
    assert pq.read_schema(part / "users.parquet").names == ENTITIES["users"].column_names

    q = quarantine(part / "_quarantine" / "plays_1.jsonl")
    assert len(q) == ev.rows_quarantined + users.rows_quarantined
    by_line = {(r["line"], r["output"]): r for r in q}
    bad = by_line[(5, "play_events")]
    assert bad["rule"] == "number_suffix" and bad["column"] == "plays"
    assert "'lots' is not a number" in bad["reason"]
    assert bad["record"]["plays"] == "lots" and bad["record"]["uid"] == "2"
    assert by_line[(6, "play_events")]["column"] == "y,m,d"
    assert by_line[(8, "play_events")]["rule"] == "reference"
    assert by_line[(9, "play_events")]["rule"] == "shape"
    assert by_line[(9, "play_events")]["record"] == {"_line": "5\tb\t5"}

    manifest = json.loads((part / "_manifest.json").read_text())
    assert manifest["mapping"] == "small"
    assert manifest["event_types"] == {"play": {"weight": 1.5, "scale_by_value": True}}
    files = {f["path"]: f for f in manifest["source_files"]}
    assert (
        files["items.csv"]["sha256"] == hashlib.sha256((src / "items.csv").read_bytes()).hexdigest()
    )
    assert files["plays_1.tsv"]["outputs"][0]["quarantined_by_rule"]["reference"] == 1
    assert manifest["outputs"]["interactions.parquet"] == 2


def test_invalid_bytes_are_quarantined_not_the_file(tmp_path, small_export):
    src, mapping = small_export
    (src / "plays_1.tsv").write_bytes(PLAYS.encode() + b"7\tb\t\xff\xfe\t2021\t1\t1\n")
    result = import_export(mapping, src, DS, tmp_path / "landing")
    out = result.file("plays_1.tsv").output("play_events")
    assert out.quarantined_by_rule["encoding"] == 1
    q = quarantine(tmp_path / "landing" / DS / "_quarantine" / "plays_1.jsonl")
    enc = [r for r in q if r["rule"] == "encoding"][0]
    assert enc["line"] == 12 and "\\xff\\xfe" in enc["record"]["_line"]


def test_reimport_is_idempotent_and_foreign_files_are_refused(tmp_path, small_export):
    src, mapping = small_export
    landing = tmp_path / "landing"
    first = import_export(mapping, src, DS, landing)
    (src / "plays_1.tsv").write_text(PLAYS.replace("6\tb\t9", "6\tb\tx"), encoding="utf-8")
    second = import_export(mapping, src, DS, landing)  # replaces its own files
    assert (
        second.file("plays_1.tsv").output("play_events").rows_written
        == first.file("plays_1.tsv").output("play_events").rows_written - 1
    )
    (landing / DS / "campaigns.csv").write_text("campaign_id\n")
    with pytest.raises(SourceError, match=r"campaigns\.csv"):
        import_export(mapping, src, DS, landing)
    assert import_export(mapping, src, DS, landing, overwrite=True).reconciles


def test_csv_output_and_source_errors(tmp_path, small_export):
    src, mapping = small_export
    result = import_export(mapping, src, DS, tmp_path / "landing", fmt="csv")
    with open(tmp_path / "landing" / DS / "interactions.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["occurred_at"] == "2020-01-05T00:00:00Z" and rows[0]["watch_time_s"] == ""
    assert result.rows["users.csv"] == 5
    with pytest.raises(SourceError, match="ds must be a date"):
        import_export(mapping, src, "05/01/2026", tmp_path / "landing")
    (src / "items.csv").unlink()
    with pytest.raises(SourceError, match=r"file 'items': nothing in .* matches items\.csv"):
        import_export(mapping, src, DS, tmp_path / "landing2")
    (src / "items.csv").write_text("a,b\n")
    (src / "plays_1.tsv").write_text("uid\titem\tcount\n1\ta\t3\n")
    with pytest.raises(SourceError, match="column 'plays' .* is not in the header"):
        import_export(mapping, src, DS, tmp_path / "landing3")


# --------------------------------------------------------------------------- real datasets


def _need(shared_datasets: Path, name: str) -> Path:
    """A real dataset folder; the ``shared_datasets`` fixture fails under CI when it is missing."""
    path = shared_datasets / name
    assert path.is_dir(), f"real dataset {path} is missing from {shared_datasets}"
    return path


def _data_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


@pytest.fixture(scope="module")
def lastfm(tmp_path_factory, shared_datasets):
    src = _need(shared_datasets, "lastfm_hetrec2011")
    landing = tmp_path_factory.mktemp("lastfm")
    result = import_export(SOURCES / "lastfm_hetrec2011.yaml", src, DS, landing)
    return src, landing / DS, result


@pytest.fixture(scope="module")
def email(tmp_path_factory, shared_datasets):
    src = _need(shared_datasets, "email_eu_core")
    landing = tmp_path_factory.mktemp("email")
    result = import_export(SOURCES / "email_eu_core.yaml", src, DS, landing)
    return src, landing / DS, result


@pytest.fixture(scope="module")
def instagram(tmp_path_factory, shared_datasets):
    src = _need(shared_datasets, "instagram_top200_influencers")
    landing = tmp_path_factory.mktemp("instagram")
    result = import_export(SOURCES / "instagram_top200.yaml", src, DS, landing)
    return src, landing / DS, result


def _check_reconciles_and_contract(part: Path, result) -> None:
    assert result.reconciles
    for f in result.files:
        for o in f.outputs:
            assert o.rows_read == f.rows_read
            assert o.rows_read == o.rows_written + o.rows_quarantined + o.rows_deduplicated, o
            assert o.rows_quarantined == sum(o.quarantined_by_rule.values())
    for entity in result.entities:
        assert pq.read_schema(part / f"{entity}.parquet").names == ENTITIES[entity].column_names
    manifest = json.loads((part / "_manifest.json").read_text())
    for f in manifest["source_files"]:
        digest = hashlib.sha256(Path(manifest["source_dir"], f["path"]).read_bytes()).hexdigest()
        assert f["sha256"] == digest
    total_q = sum(o.rows_quarantined for f in result.files for o in f.outputs)
    assert sum(len(quarantine(p)) for p in result.quarantine_paths) == total_q


@pytest.mark.realdata
def test_lastfm_counts_reconcile_with_the_source_files(lastfm):
    src, part, result = lastfm
    _check_reconciles_and_contract(part, result)
    friends = result.file("user_friends.dat")
    plays = result.file("user_artists.dat")
    tagged = result.file("user_taggedartists.dat")
    artists = result.file("artists.dat")
    tags = result.file("tags.dat")
    assert friends.rows_read == _data_lines(src / "user_friends.dat") - 1 == 25_434
    assert plays.rows_read == _data_lines(src / "user_artists.dat") - 1 == 92_834
    assert tagged.rows_read == _data_lines(src / "user_taggedartists.dat") - 1 == 186_479
    assert artists.rows_read == 17_632 and tags.rows_read == 11_946
    assert friends.output("follows").rows_written == 25_434
    assert plays.output("plays").rows_written == 92_834
    tag_out = tagged.output("tags")
    # 1,538 assignments name an artist missing from artists.dat; 5 are dated before 2002
    assert tag_out.quarantined_by_rule == {"date_parts": 5, "reference": 1_538}
    assert tag_out.rows_written == 186_479 - 1_543
    assert result.entities == {
        "follows": 25_434,
        "users": 1_892 + 17_632,
        "interactions": 92_834 + 184_936,
        "posts": 17_632,
    }
    assert tags.lookups["tag_name"]["entries"] == 11_946
    manifest = json.loads((part / "_manifest.json").read_text())
    assert manifest["event_types"]["play"] == {
        "weight": 1.0,
        "scale_by_value": True,
        "description": "a listener's play count of an artist (value = number of plays)",
    }
    assert set(manifest["event_types"]) == {"play", "tag"}


@pytest.mark.realdata
def test_lastfm_rows_look_right(lastfm):
    _, part, _ = lastfm
    import duckdb

    con = duckdb.connect()
    q = lambda sql: con.execute(sql.replace("{p}", str(part))).fetchall()  # noqa: E731
    assert q("select * from '{p}/interactions.parquet' where event_id = 'lastfm_play_2_51'") == [
        (
            "lastfm_play_2_51",
            "lastfm_2",
            "lastfm_artist_51",
            "play",
            datetime(2026, 1, 5, tzinfo=UTC),
            None,
            13883.0,
        )
    ]
    assert q(
        "select occurred_at from '{p}/interactions.parquet' where event_id = 'lastfm_tag_2_52_13'"
    ) == [(datetime(2009, 4, 1, tzinfo=UTC),)]
    assert q(
        "select count(*) from '{p}/users.parquet' where user_id like 'lastfm_creator_%' "
        "and category = 'artist'"
    ) == [(17_632,)]
    assert q("select handle, platform from '{p}/users.parquet' where user_id = 'lastfm_2'") == [
        ("lastfm_2", "lastfm")
    ]
    # tags.dat is ISO-8859-1: its non-ASCII tags arrive decoded in the item text
    ((text, hashtags),) = q(
        "select text, hashtags from '{p}/posts.parquet' where post_id = 'lastfm_artist_5750'"
    )
    assert text.startswith("Chay Suede | tags: ") and "tropicália" in hashtags
    assert q("select post_id from '{p}/posts.parquet' where hashtags like '%die Ärzte%'") == [
        ("lastfm_artist_16875",)
    ]
    assert q("select post_id from '{p}/posts.parquet' where hashtags like '%legião urbana%'") == [
        ("lastfm_artist_714",)
    ]
    assert q("select count(*) from '{p}/posts.parquet' where hashtags like '%Ã%'") == [(0,)]
    assert q("select author_id from '{p}/posts.parquet' where post_id = 'lastfm_artist_707'") == [
        ("lastfm_creator_707",)
    ]
    ((name,),) = q("select text from '{p}/posts.parquet' where post_id = 'lastfm_artist_1686'")
    assert name.startswith('"Weird Al" Yankovic')  # bare quotes survive (quoting: none)


@pytest.mark.realdata
def test_email_edges_self_loops_and_labels(email):
    src, part, result = email
    _check_reconciles_and_contract(part, result)
    emails = result.file("email-Eu-core.txt")
    assert emails.rows_read == _data_lines(src / "email-Eu-core.txt") == 25_571
    assert emails.output("email_edges").rows_written == 25_571
    follows = read_rows(part / "follows.parquet")
    assert sum(r["follower_id"] == r["followee_id"] for r in follows) == 642  # kept as rows
    assert follows[0]["follower_id"] == "email_0" and follows[0]["followee_id"] == "email_1"
    assert result.entities == {"follows": 25_571, "users": 1_005}
    assert "department" not in pq.read_schema(part / "users.parquet").names
    with open(part / "_labels" / "departments.csv", encoding="utf-8") as fh:
        labels = list(csv.DictReader(fh))
    assert len(labels) == 1_005 and len({r["department"] for r in labels}) == 42
    assert labels[2] == {"user_id": "email_2", "department": "21"}
    assert sorted(p.name for p in part.iterdir() if not p.name.startswith("_")) == [
        "follows.parquet",
        "users.parquet",
    ]


@pytest.mark.realdata
def test_email_partition_loads_with_the_ingest(email, tmp_path):
    _, part, _ = email
    from social_warehouse.ingest import ingest_partition

    res = ingest_partition(tmp_path / "wh.duckdb", part.parent, DS)
    assert {Path(f.path).name: (f.rows_read, f.rows_rejected) for f in res.files} == {
        "follows.parquet": (25_571, 0),
        "users.parquet": (1_005, 0),
    }


@pytest.mark.realdata
def test_instagram_numbers_country_and_extras(instagram):
    src, part, result = instagram
    _check_reconciles_and_contract(part, result)
    f = result.file("top_insta_influencers_data.csv")
    assert f.rows_read == 200
    profiles, metrics = f.output("profiles"), f.output("profile_metrics")
    # '5-Minute Crafts GIRLY' is a display name, not a handle: quarantined (rule id)
    assert (profiles.rows_written, profiles.quarantined_by_rule) == (199, {"id": 1})
    # rkive's 60-day engagement rate is 'NaN%': its metrics row is quarantined (rule percent)
    assert (metrics.rows_written, metrics.quarantined_by_rule) == (198, {"id": 1, "percent": 1})
    assert f.repaired == {"country": 1}

    users = {r["handle"]: r for r in read_rows(part / "users.parquet")}
    assert users["cristiano"]["user_id"] == "instagram_cristiano"
    assert users["cristiano"]["followers_count"] == 475_800_000
    assert users["cristiano"]["country"] == "Spain"
    assert users["leomessi"]["country"] is None  # blank -> null
    assert users["hrithikroshan"]["country"] == "Côte d'Ivoire"  # mojibake repaired
    assert "rkive" in users

    extra = {r["handle"]: r for r in read_rows(part / "_extra" / "users_metrics.parquet")}
    assert extra["cristiano"] == {
        "user_id": "instagram_cristiano",
        "handle": "cristiano",
        "rank": 1,
        "influence_score": 92,
        "posts": 3_300,
        "followers": 475_800_000,
        "avg_likes": 8_700_000,
        "eng_rate_60d": pytest.approx(0.0139),
        "new_post_avg_like": 6_500_000,
        "total_likes": 29_000_000_000,
    }
    assert extra["leomessi"]["posts"] == 890 and extra["leomessi"]["total_likes"] == 6_000_000_000
    assert extra["nike"]["total_likes"] == 313_600_000
    assert extra["therock"]["new_post_avg_like"] == 665_300
    assert "rkive" not in extra
    q = quarantine(part / "_quarantine" / "top_insta_influencers_data.jsonl")
    nan = [r for r in q if r["rule"] == "percent"][0]
    assert nan["column"] == "60_day_eng_rate" and nan["record"]["channel_info"] == "rkive"
    assert "'NaN%' is not a percentage" in nan["reason"]


# --------------------------------------------------------------------------- hostile input


MAPPING_TAIL = """\
files:
  - name: people
    pattern: people.csv
    fields: {uid: {rule: id}}
    outputs:
      - entity: users
        columns: {user_id: uid, handle: uid, followers_count: {const: null},
                  following_count: {const: null}, created_at: {const: null}}
"""


def laughs(levels: int, use: str = "x-lols") -> str:
    """A mapping with ``levels`` nested anchors of 10 aliases each (10^levels values)."""
    lines = ["version: 1", "name: lol",
             'x-a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"x-a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    lines.append(f"{use}: *a{levels - 1}")
    return "\n".join(lines) + "\n" + MAPPING_TAIL


def test_billion_laughs_mapping_fails_fast_with_a_clear_message(tmp_path):
    """Issue 16: nested anchors under an x- key kept --check running for over 60 s."""
    import subprocess
    import sys

    path = write_mapping(tmp_path, laughs(10))  # 10^10 values once expanded
    proc = subprocess.run(
        [sys.executable, "-m", "social_warehouse.mapping", "--check", "--mapping", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "expands to more than 200,000 values through aliases" in proc.stderr
    assert str(path) in proc.stderr


def test_aliases_that_do_not_explode_are_fine_and_hostile_values_are_not_echoed(tmp_path):
    assert load_mapping(write_mapping(tmp_path, laughs(4))).name == "lol"  # 10^4 values
    # a large aliased value where a string belongs is reported briefly, not printed whole
    err = mapping_errors(tmp_path, laughs(4, use="description"))
    assert "description: expected string, got list" in str(err)
    assert len(str(err)) < 2_000


@pytest.mark.parametrize(("weight", "message"), [
    (".nan", "weight must be a finite number > 0"),
    (".inf", "weight must be a finite number > 0"),
    ("0", "event_types.play.weight"),
    ("-1e308", "event_types.play.weight"),
])
def test_event_weights_must_be_finite_and_positive(tmp_path, weight, message):
    doc = yaml.safe_dump(minimal(), sort_keys=False)
    doc += f"event_types:\n  play: {{weight: {weight}}}\n"
    err = mapping_errors(tmp_path, doc)
    assert message in str(err)


def test_export_time_range_reaches_the_manifest_and_the_warehouse(tmp_path):
    """Issue 14 item 9: an old export declares its span; the gates read it from raw."""
    import duckdb
    from social_warehouse.ingest import declared_time_window, ingest_partition

    src = tmp_path / "export"
    src.mkdir()
    (src / "people.csv").write_text("uid\na\nb\n", encoding="utf-8")
    doc = minimal()
    doc["export_time_range"] = {"start": "2005-02-14", "end": "2011-05-31T23:59:59+02:00"}
    m = load_mapping(write_mapping(tmp_path, doc))
    assert m.export_time_range == ("2005-02-14T00:00:00Z", "2011-05-31T21:59:59Z")
    result = import_export(m, src, DS, tmp_path / "landing")
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    assert manifest["export_time_range"] == {"start": "2005-02-14T00:00:00Z",
                                             "end": "2011-05-31T21:59:59Z"}
    ingest_partition(tmp_path / "wh.duckdb", tmp_path / "landing", DS)
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    try:
        window = declared_time_window(con, DS)
    finally:
        con.close()
    assert str(window["min_timestamp"]) == "2005-02-14 00:00:00+00:00"
    # unquoted YAML dates work too; a range that ends before it starts does not
    text = yaml.safe_dump(minimal(), sort_keys=False)
    ok = load_mapping(write_mapping(tmp_path, text + "export_time_range: {start: 2005-02-14}\n"))
    assert ok.export_time_range == ("2005-02-14T00:00:00Z", None)
    err = mapping_errors(tmp_path, text + "export_time_range: {start: 2011-01-01, "
                         "end: 2005-01-01}\n")
    assert "export_time_range.end" in str(err) and "before start" in str(err)
    err = mapping_errors(tmp_path, text + "export_time_range: {start: soon}\n")
    assert "'soon' is not an ISO-8601 date" in str(err)


def test_unclosed_quote_in_an_export_sets_aside_one_line_and_resumes(tmp_path):
    """The mapping reader gives the same guarantee as the ingest: a stray quote cannot
    swallow the records after it; every record is written or quarantined."""
    src = tmp_path / "export"
    src.mkdir()
    (src / "people.csv").write_text(
        'uid,bio\na,fine\nb,"never closed\nc,ok\nd,"two\nlines"\ne,last\n', encoding="utf-8")
    result = import_export(load_mapping(write_mapping(tmp_path, minimal())), src, DS,
                           tmp_path / "landing")
    f = result.file("people.csv")
    out = f.outputs[0]
    assert (f.rows_read, out.rows_written, out.quarantined_by_rule) == (5, 4, {"quote": 1})
    assert out.reconciles
    users = read_rows(tmp_path / "landing" / DS / "users.parquet")
    assert [u["user_id"] for u in users] == ["x_a", "x_c", "x_d", "x_e"]
    [q] = quarantine(result.quarantine_paths[0])
    assert (q["line"], q["rule"], q["record"]) == (3, "quote", {"_line": 'b,"never closed'})
    assert "unclosed" in q["reason"]
