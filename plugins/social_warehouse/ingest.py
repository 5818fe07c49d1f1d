"""Ingest a landing partition ``landing/<ds>/`` into ``raw.<entity>`` of a DuckDB file.

Every row of every file ends in exactly one place: typed in ``raw.<entity>`` or, with
the raw record and a reason, in ``raw.<entity>_rejects``. ``raw.input_files`` records,
per file, its SHA-256, size and the counts, so that for every file
``rows_loaded + rows_rejected == rows_read`` can be checked by anyone.

A problem with a whole file (unreadable, truncated gzip, missing required column,
unknown file name) raises :class:`IngestError` naming the file and the problem; the
partition is loaded in one transaction, so nothing of a failed load remains.

Reject reasons are ``<rule>`` or ``<rule>:<column>``:

=======================  ===========================================================
``wrong_column_count``   a CSV record with more or fewer fields than the header
``invalid_encoding``     bytes that are not UTF-8
``invalid_json``         a JSON-lines record that does not parse or is not an object
``empty_record``         a blank line
``missing_key:<c>``      a key column is empty
``bad_number:<c>``       not a number (or not finite)
``negative_value:<c>``   a negative count, duration or budget
``bad_timestamp:<c>``    not an ISO-8601 date-time
``bad_boolean:<c>``      not one of true/false/1/0/yes/no/t/f/y/n
``unknown_event_type``   an event type that is neither canonical nor declared
``duplicate_key:<c>``    an event id already delivered in the same partition (every
                         repeat after the first, in file and row order, is rejected)
=======================  ===========================================================
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import json
import logging
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from .contract import DEFAULT_EVENT_WEIGHTS, ENTITIES, Entity, detect_format, entity_for_file
from .db import connect, quote_ident

__all__ = [
    "IngestError",
    "FileLoad",
    "IngestResult",
    "discover_files",
    "ensure_raw_schema",
    "ingest_partition",
    "raw_column_type",
]

log = logging.getLogger(__name__)

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

CHUNK_ROWS = 200_000
MANIFEST_NAME = "_manifest.json"

_SQL_TYPES = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "timestamp": "TIMESTAMP",
    "bool": "BOOLEAN",
}
_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")
# Entities whose key names one immutable record: the same key twice in one partition is a
# duplicate delivery, not an update. Profiles, posts and campaigns are "latest record wins";
# duplicate follow edges are collapsed by staging, which counts them (n_records).
_UNIQUE_IN_PARTITION = {"interactions": "event_id"}
_AUDIT_COLUMNS = (
    ("ds", "DATE"),
    ("_source_file", "VARCHAR"),
    ("_source_row", "BIGINT"),
    ("_file_sha256", "VARCHAR"),
    ("_loaded_at", "TIMESTAMP"),
)


class IngestError(Exception):
    """A landing file or partition that cannot be loaded at all."""


@dataclass
class FileLoad:
    path: str
    entity: str
    format: str
    gzipped: bool
    sha256: str = ""
    size_bytes: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    reject_reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class IngestResult:
    ds: str
    files: list[FileLoad]
    seconds: float = 0.0

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    def to_dict(self) -> dict:
        return {
            "ds": self.ds,
            "seconds": round(self.seconds, 3),
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_rejected": self.rows_rejected,
            "files": [asdict(f) for f in self.files],
        }


def raw_column_type(logical: str) -> str:
    return _SQL_TYPES[logical]


# --------------------------------------------------------------------------- schema


def ensure_raw_schema(con) -> None:
    """Create the ``raw`` schema and its tables if they do not exist."""
    con.execute("create schema if not exists raw")
    audit_cols = ", ".join(f"{quote_ident(n)} {t}" for n, t in _AUDIT_COLUMNS)
    for entity in ENTITIES.values():
        cols = ", ".join(
            f"{quote_ident(c.name)} {_SQL_TYPES[c.type]}" for c in entity.columns
        )
        con.execute(
            f"create table if not exists raw.{quote_ident(entity.name)} ({cols}, {audit_cols})"
        )
        con.execute(
            f"create table if not exists raw.{quote_ident(entity.name + '_rejects')} "
            f"({audit_cols}, raw_record VARCHAR, reason VARCHAR)"
        )
    con.execute(
        """
        create table if not exists raw.input_files (
            ds DATE, entity VARCHAR, path VARCHAR, sha256 VARCHAR, size_bytes BIGINT,
            format VARCHAR, gzipped BOOLEAN, rows_read BIGINT, rows_loaded BIGINT,
            rows_rejected BIGINT, ignored_columns VARCHAR[], loaded_at TIMESTAMP
        )
        """
    )
    con.execute(
        """
        create table if not exists raw.event_types (
            ds DATE, event_type VARCHAR, weight DOUBLE, scale_by_value BOOLEAN,
            declared_by VARCHAR
        )
        """
    )


# --------------------------------------------------------------------------- files


def discover_files(partition_dir: Path) -> list[tuple[Path, str, str, bool]]:
    """List ``(path, entity, format, gzipped)`` for the landing files of one partition.

    Names starting with ``_`` or ``.`` (manifests, quarantine and label folders written
    by source mappings) are reserved and skipped; any other file whose name is not an
    entity of the contract, or whose extension is not supported, is an error.
    """
    if not partition_dir.is_dir():
        raise IngestError(f"landing partition {partition_dir} does not exist")
    found, unknown = [], []
    for path in sorted(partition_dir.iterdir()):
        if path.name.startswith(("_", ".")) or path.is_dir():
            continue
        fmt = detect_format(path.name)
        entity = entity_for_file(path.name)
        if fmt is None or entity is None:
            unknown.append(path.name)
            continue
        found.append((path, entity, fmt[0], fmt[1]))
    if unknown:
        raise IngestError(
            f"{partition_dir}: unrecognised landing file(s) {unknown}; expected "
            f"<entity>[_suffix].(csv|tsv|jsonl|ndjson)[.gz] or .parquet with entity one of "
            f"{sorted(ENTITIES)}"
        )
    return found


def _scan_file(path: Path, gzipped: bool, check_utf8: bool) -> tuple[str, int, bool]:
    """SHA-256 of the file bytes, their size, and whether the content is valid UTF-8."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    valid = True
    if check_utf8:
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            with _open_binary(path, gzipped) as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    decoder.decode(block)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            valid = False
        except (EOFError, OSError, zlib.error) as exc:
            raise IngestError(f"{path}: cannot be read ({_describe(exc)})") from exc
    return digest.hexdigest(), size, valid


def _describe(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "truncated gzip stream: compressed file ended before the end-of-stream marker"
    if isinstance(exc, gzip.BadGzipFile):
        return f"not a valid gzip file: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _open_binary(path: Path, gzipped: bool):
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


class _Lines:
    """Decoded lines of a file; remembers whether a line since the last reset was not UTF-8."""

    def __init__(self, fh, strict: bool):
        self._fh = fh
        self._strict = strict
        self.bad = False

    def __iter__(self) -> Iterator[str]:
        if self._strict:
            for raw in self._fh:
                yield raw.decode("utf-8")
            return
        for raw in self._fh:
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                self.bad = True
                yield raw.decode("utf-8", errors="replace")


# A record batch from a reader: raw string values per contract column, source row
# numbers, and for rows that failed before typing, the raw text and the reason.
@dataclass
class _Batch:
    columns: dict[str, list]
    rows: list[int]
    raw: list
    pre_reason: list

    def __len__(self) -> int:
        return len(self.rows)


def _new_batch(names: Iterable[str]) -> _Batch:
    return _Batch({n: [] for n in names}, [], [], [])


def _normalise_header(cells: list[str]) -> list[str]:
    names = [c.strip().lower() for c in cells]
    if names and names[0].startswith("\ufeff"):
        names[0] = names[0][1:]
    return names


def _check_columns(path: Path, entity: Entity, present: Iterable[str]) -> list[str]:
    present = list(present)
    dupes = sorted({n for n in present if present.count(n) > 1})
    if dupes:
        raise IngestError(f"{path}: duplicate column name(s) {dupes}")
    missing = [c for c in entity.required_columns if c not in present]
    if missing:
        raise IngestError(
            f"{path}: missing required column(s) {missing} for entity '{entity.name}'; "
            f"found columns {present}"
        )
    return [n for n in present if n not in entity.column_names]


def _csv_batches(
    path: Path, entity: Entity, gzipped: bool, strict: bool, load: FileLoad
) -> Iterator[_Batch]:
    delimiter = "\t" if path.name.lower().replace(".gz", "").endswith(".tsv") else ","
    names = entity.column_names
    with _open_binary(path, gzipped) as fh:
        lines = _Lines(fh, strict)
        reader = csv.reader(lines, delimiter=delimiter)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise IngestError(f"{path}: cannot parse the CSV header ({exc})") from exc
        if header is None:
            return  # an empty file: no rows; the volume gate judges whether that is fine
        header = _normalise_header(header)
        if lines.bad:
            raise IngestError(f"{path}: the header is not valid UTF-8")
        load.ignored_columns = _check_columns(path, entity, header)
        index = {n: header.index(n) for n in names if n in header}
        width = len(header)
        batch = _new_batch(names)
        row_no = 0
        while True:
            lines.bad = False
            try:
                rec = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise IngestError(f"{path}: CSV parse error after row {row_no}: {exc}") from exc
            row_no += 1
            reason = None
            if lines.bad:
                reason = "invalid_encoding"
            elif not rec or (len(rec) == 1 and not rec[0].strip() and width > 1):
                reason = "empty_record"
            elif len(rec) != width:
                reason = "wrong_column_count"
            batch.rows.append(row_no)
            if reason:
                batch.raw.append(_csv_line(rec, delimiter))
                batch.pre_reason.append(reason)
                for n in names:
                    batch.columns[n].append(None)
            else:
                batch.raw.append(None)
                batch.pre_reason.append(None)
                for n in names:
                    i = index.get(n)
                    batch.columns[n].append(rec[i] if i is not None else None)
            if len(batch) >= CHUNK_ROWS:
                yield batch
                batch = _new_batch(names)
        if len(batch):
            yield batch


def _csv_line(rec: list[str], delimiter: str) -> str:
    import io

    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="").writerow(rec)
    return buf.getvalue()


def _json_value(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(value)
    return json.dumps(value, ensure_ascii=False)


def _jsonl_batches(
    path: Path, entity: Entity, gzipped: bool, strict: bool, load: FileLoad
) -> Iterator[_Batch]:
    names = entity.column_names
    seen: set[str] = set()
    batch = _new_batch(names)
    row_no = 0
    with _open_binary(path, gzipped) as fh:
        lines = _Lines(fh, strict)
        for line in lines:
            row_no += 1
            reason, obj = None, None
            if lines.bad:
                reason = "invalid_encoding"
                lines.bad = False
            elif not line.strip():
                reason = "empty_record"
            else:
                try:
                    obj = json.loads(line)
                except ValueError:
                    reason = "invalid_json"
                else:
                    if not isinstance(obj, dict):
                        reason, obj = "invalid_json", None
            batch.rows.append(row_no)
            if obj is None:
                batch.raw.append(line.rstrip("\r\n"))
                batch.pre_reason.append(reason)
                for n in names:
                    batch.columns[n].append(None)
            else:
                obj = {str(k).strip().lower(): v for k, v in obj.items()}
                seen.update(obj)
                batch.raw.append(None)
                batch.pre_reason.append(None)
                for n in names:
                    batch.columns[n].append(_json_value(obj.get(n)))
            if len(batch) >= CHUNK_ROWS:
                yield batch
                batch = _new_batch(names)
    if len(batch):
        yield batch
    if row_no and seen:
        load.ignored_columns = sorted(seen - set(names))
        missing = [c for c in entity.required_columns if c not in seen]
        if missing:
            raise IngestError(
                f"{path}: missing required column(s) {missing} for entity '{entity.name}': "
                f"no record has them; keys found {sorted(seen)}"
            )


# --------------------------------------------------------------------------- typing


def _typed_select(entity: Entity, source: str, allowed_events: list[str]) -> tuple[str, list]:
    """SQL that types the all-VARCHAR rows of ``source`` and computes the reject reason."""
    exprs, key_checks, checks, params = [], [], [], []
    for c in entity.columns:
        q = quote_ident(c.name)
        blank = f"nullif(trim({q}), '')"
        if c.type == "id":
            typed = blank
        elif c.type == "text":
            typed = q
        elif c.type == "int":
            typed = f"try_cast({blank} as BIGINT)"
            checks.append(f"case when {blank} is not null and {typed} is null "
                          f"then 'bad_number:{c.name}' end")
        elif c.type == "float":
            typed = f"try_cast({blank} as DOUBLE)"
            checks.append(f"case when {blank} is not null and "
                          f"({typed} is null or not isfinite({typed})) "
                          f"then 'bad_number:{c.name}' end")
        elif c.type == "timestamp":
            typed = f"timezone('UTC', try_cast({blank} as TIMESTAMPTZ))"
            checks.append(f"case when {blank} is not null and {typed} is null "
                          f"then 'bad_timestamp:{c.name}' end")
        elif c.type == "bool":
            typed = (f"case when lower({blank}) in {_TRUE} then true "
                     f"when lower({blank}) in {_FALSE} then false end")
            checks.append(f"case when {blank} is not null and ({typed}) is null "
                          f"then 'bad_boolean:{c.name}' end")
        else:  # pragma: no cover - contract types are closed
            raise ValueError(c.type)
        if c.name == "event_type":
            typed = f"lower({blank})"
        if c.key:
            key_checks.append(f"case when {blank} is null then 'missing_key:{c.name}' end")
        if c.nonnegative and c.type in ("int", "float"):
            checks.append(f"case when {typed} < 0 then 'negative_value:{c.name}' end")
        exprs.append(f"{typed} as {q}")
    if "event_type" in entity.column_names:
        blank = "nullif(trim(\"event_type\"), '')"
        checks.append(
            f"case when {blank} is not null and not list_contains(?, lower({blank})) "
            f"then 'unknown_event_type' end"
        )
        params.append(allowed_events)
    raw_json = "json_object(" + ", ".join(
        f"'{c.name}', {quote_ident(c.name)}" for c in entity.columns
    ) + ")"
    # A record rejected before typing keeps that single reason; otherwise every failed
    # rule is listed, keys first.
    reason = ("coalesce(_pre_reason, nullif(concat_ws('; ', "
              + ", ".join(key_checks + checks) + "), ''))")
    sql = (
        f"select {', '.join(exprs)}, _source_row, "
        f"coalesce(_raw, cast({raw_json} as VARCHAR)) as _raw_record, {reason} as _reason "
        f"from {source}"
    )
    return sql, params


def _load_typed(con, entity: Entity, select_sql: str, params: list, meta: list) -> tuple[int, int]:
    """Split typed rows into ``raw.<entity>`` and its rejects; return (loaded, rejected)."""
    con.execute(f"create or replace temp table _typed as {select_sql}", params)
    cols = ", ".join(quote_ident(c) for c in entity.column_names)
    table = quote_ident(entity.name)
    rejects = quote_ident(entity.name + "_rejects")
    con.execute(
        f"insert into raw.{table} select {cols}, ?::DATE, ?, _source_row, ?, ?::TIMESTAMP "
        f"from _typed where _reason is null",
        meta,
    )
    con.execute(
        f"insert into raw.{rejects} select ?::DATE, ?, _source_row, ?, ?::TIMESTAMP, "
        f"_raw_record, _reason from _typed where _reason is not null",
        meta,
    )
    loaded, rejected = con.execute(
        "select count(*) filter (where _reason is null), "
        "count(*) filter (where _reason is not null) "
        "from _typed"
    ).fetchone()
    con.execute("drop table _typed")
    return int(loaded), int(rejected)


def _load_batches(con, entity, batches, allowed, meta) -> tuple[int, int, int]:
    import pyarrow as pa

    read = loaded = rejected = 0
    for batch in batches:
        arrays = {n: pa.array(v, type=pa.string()) for n, v in batch.columns.items()}
        arrays["_source_row"] = pa.array(batch.rows, type=pa.int64())
        arrays["_raw"] = pa.array(batch.raw, type=pa.string())
        arrays["_pre_reason"] = pa.array(batch.pre_reason, type=pa.string())
        table = pa.table(arrays)
        con.register("_chunk", table)
        try:
            sql, params = _typed_select(entity, "_chunk", allowed)
            lo, rj = _load_typed(con, entity, sql, params, meta)
        finally:
            con.unregister("_chunk")
        read += len(batch)
        loaded += lo
        rejected += rj
    return read, loaded, rejected


def _load_parquet(con, path: Path, entity: Entity, allowed, meta, load: FileLoad):
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # noqa: BLE001 - any pyarrow failure means unreadable
        raise IngestError(f"{path}: not a readable Parquet file ({exc})") from exc
    present = _normalise_header(list(schema.names))
    load.ignored_columns = _check_columns(path, entity, present)
    by_lower = dict(zip(present, schema.names, strict=True))
    selects = []
    for c in entity.columns:
        if c.name not in by_lower:
            selects.append(f"cast(null as VARCHAR) as {quote_ident(c.name)}")
            continue
        src = quote_ident(by_lower[c.name])
        field_type = schema.field(by_lower[c.name]).type
        if str(field_type).startswith(("list", "large_list")):
            expr = f"array_to_string({src}, ' ')"
        else:
            expr = f"cast({src} as VARCHAR)"
        selects.append(f"{expr} as {quote_ident(c.name)}")
    source = (
        "(select " + ", ".join(selects) + ", file_row_number + 1 as _source_row, "
        "cast(null as VARCHAR) as _raw, cast(null as VARCHAR) as _pre_reason "
        "from read_parquet(?, file_row_number = true))"
    )
    sql, params = _typed_select(entity, source, allowed)
    try:
        loaded, rejected = _load_typed(con, entity, sql, [*params, str(path)], meta)
    except IngestError:
        raise
    except Exception as exc:
        raise IngestError(f"{path}: cannot be read as Parquet ({exc})") from exc
    return loaded + rejected, loaded, rejected


# --------------------------------------------------------------------------- partition


def declared_event_types(partition_dir: Path) -> dict[str, tuple[float, bool]]:
    """Event types a source mapping declared for this partition (``_manifest.json``).

    Accepted shapes of ``event_types``: ``{"play": 1.0}``,
    ``{"play": {"weight": 1.0, "scale_by_value": true}}`` or a list of
    ``{"event_type": "play", "weight": 1.0, "scale_by_value": true}``.
    Returns ``{event_type: (weight, scale_by_value)}``.
    """
    manifest = partition_dir / MANIFEST_NAME
    if not manifest.exists():
        return {}
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise IngestError(f"{manifest}: not valid JSON ({exc})") from exc
    declared = data.get("event_types") or {}
    if isinstance(declared, list):
        declared = {d["event_type"]: d for d in declared}
    out = {}
    for name, spec in declared.items():
        scale = False
        if isinstance(spec, dict):
            scale = bool(spec.get("scale_by_value", False))
            spec = spec.get("weight", 1.0)
        try:
            out[str(name).strip().lower()] = (float(spec), scale)
        except (TypeError, ValueError) as exc:
            raise IngestError(f"{manifest}: event type {name!r} has a non-numeric weight") from exc
    return out


def ingest_partition(
    db_path: Path | str,
    landing_dir: Path | str,
    ds: str | date,
    *,
    loaded_at: datetime | None = None,
) -> IngestResult:
    """Load every landing file of partition ``ds`` into ``raw`` in one transaction.

    Parameters
    ----------
    db_path : path of the (build) DuckDB file; created if missing.
    landing_dir : the landing root holding one folder per ``ds``.
    ds : the logical date, ``YYYY-MM-DD``.
    loaded_at : load timestamp to record (default: now, UTC).

    Returns
    -------
    IngestResult
        Per-file counts; ``rows_loaded + rows_rejected == rows_read`` for each file.

    Raises
    ------
    IngestError
        When a file cannot be loaded at all; the database is left as it was.
    """
    import time

    t0 = time.perf_counter()
    ds = ds.isoformat() if isinstance(ds, date) else str(ds)
    try:
        date.fromisoformat(ds)
    except ValueError as exc:
        raise IngestError(f"ds {ds!r} is not a YYYY-MM-DD date") from exc
    partition = Path(landing_dir) / ds
    files = discover_files(partition)
    extra_events = declared_event_types(partition)
    loaded_at = (loaded_at or datetime.now(UTC)).replace(tzinfo=None)
    result = IngestResult(ds=ds, files=[])
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    with connect(db_path) as con:
        ensure_raw_schema(con)
        con.execute("begin transaction")
        try:
            for entity in ENTITIES.values():
                for table in (entity.name, entity.name + "_rejects"):
                    con.execute(f"delete from raw.{quote_ident(table)} where ds = ?::DATE", [ds])
            con.execute("delete from raw.input_files where ds = ?::DATE", [ds])
            con.execute("delete from raw.event_types where ds = ?::DATE", [ds])
            event_rows = [(ds, k, v, False, "contract") for k, v in DEFAULT_EVENT_WEIGHTS.items()]
            event_rows += [
                (ds, k, w, scale, MANIFEST_NAME) for k, (w, scale) in extra_events.items()
                if k not in DEFAULT_EVENT_WEIGHTS
            ]
            con.executemany(
                "insert into raw.event_types values (?::DATE, ?, ?, ?, ?)", event_rows
            )
            allowed = [r[0] for r in con.execute(
                "select distinct event_type from raw.event_types").fetchall()]
            for path, entity_name, fmt, gz in files:
                result.files.append(
                    _ingest_file(con, path, ENTITIES[entity_name], fmt, gz, ds, loaded_at, allowed)
                )
            for entity_name, key in _UNIQUE_IN_PARTITION.items():
                _reject_duplicate_keys(con, ENTITIES[entity_name], key, ds, result.files)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    result.seconds = time.perf_counter() - t0
    for f in result.files:
        log.info(
            "ingested %s: read %d, loaded %d, rejected %d %s",
            f.path, f.rows_read, f.rows_loaded, f.rows_rejected, f.reject_reasons or "",
        )
    return result


def _reject_duplicate_keys(con, entity: Entity, key: str, ds: str, loads: list[FileLoad]) -> None:
    """Move every repeat of ``key`` in the partition to the rejects (the first one stays).

    The rejected record is the row as loaded (typed values); counts of the files it came
    from are corrected, so ``rows_loaded + rows_rejected == rows_read`` still holds.
    """
    table, rejects = quote_ident(entity.name), quote_ident(entity.name + "_rejects")
    k, reason = quote_ident(key), f"duplicate_key:{key}"
    con.execute(
        f"create or replace temp table _dupes as select * from ("
        f"select *, row_number() over (partition by {k} order by _source_file, _source_row) "
        f"as _n from raw.{table} where ds = ?::DATE) where _n > 1",
        [ds],
    )
    per_file = dict(con.execute("select _source_file, count(*) from _dupes group by 1").fetchall())
    if per_file:
        record = "json_object(" + ", ".join(
            f"'{c.name}', {quote_ident(c.name)}" for c in entity.columns) + ")"
        con.execute(
            f"insert into raw.{rejects} select ds, _source_file, _source_row, _file_sha256, "
            f"_loaded_at, cast({record} as VARCHAR), ? from _dupes", [reason])
        con.execute(
            f"delete from raw.{table} t using _dupes d where t.ds = ?::DATE "
            f"and t._source_file = d._source_file and t._source_row = d._source_row", [ds])
        for load in loads:
            moved = per_file.get(load.path, 0)
            if not moved:
                continue
            load.rows_loaded -= moved
            load.rows_rejected += moved
            load.reject_reasons[reason] = moved
            con.execute(
                "update raw.input_files set rows_loaded = ?, rows_rejected = ? "
                "where ds = ?::DATE and path = ?",
                [load.rows_loaded, load.rows_rejected, ds, load.path])
    con.execute("drop table _dupes")


def _ingest_file(con, path, entity, fmt, gz, ds, loaded_at, allowed) -> FileLoad:
    load = FileLoad(path=str(path), entity=entity.name, format=fmt, gzipped=gz)
    sha, size, utf8 = _scan_file(path, gz, check_utf8=fmt != "parquet")
    load.sha256, load.size_bytes = sha, size
    meta = [ds, str(path), sha, loaded_at]
    try:
        if fmt == "parquet":
            read, loaded, rejected = _load_parquet(con, path, entity, allowed, meta, load)
        else:
            reader = _csv_batches if fmt == "csv" else _jsonl_batches
            batches = reader(path, entity, gz, utf8, load)
            read, loaded, rejected = _load_batches(con, entity, batches, allowed, meta)
    except IngestError:
        raise
    except (EOFError, OSError, zlib.error) as exc:
        raise IngestError(f"{path}: cannot be read ({_describe(exc)})") from exc
    if loaded + rejected != read:  # pragma: no cover - a bug, never bad input
        raise IngestError(f"{path}: internal count mismatch {loaded}+{rejected}!={read}")
    load.rows_read, load.rows_loaded, load.rows_rejected = read, loaded, rejected
    rejects = quote_ident(entity.name + "_rejects")
    load.reject_reasons = dict(con.execute(
        f"select reason, count(*) from raw.{rejects} where ds = ?::DATE and _source_file = ? "
        f"group by reason order by count(*) desc",
        [ds, str(path)],
    ).fetchall())
    con.execute(
        "insert into raw.input_files values (?::DATE, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::TIMESTAMP)",
        [ds, entity.name, str(path), sha, size, fmt, gz, read, loaded, rejected,
         load.ignored_columns, loaded_at],
    )
    return load
