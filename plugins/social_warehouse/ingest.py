"""Ingest a landing partition ``landing/<ds>/`` into ``raw.<entity>`` of a DuckDB file.

Every row of every file ends in exactly one place: typed in ``raw.<entity>`` or, with
the raw record and a reason, in ``raw.<entity>_rejects``. ``raw.input_files`` records,
per file, its SHA-256, size and the counts, so that for every file
``rows_loaded + rows_rejected == rows_read`` can be checked by anyone.

A problem with a whole file (unreadable, truncated gzip, missing required column,
unknown file name) raises :class:`IngestError` naming the file and the problem; the
partition is loaded in one transaction, so nothing of a failed load remains.

Reject reasons are ``<rule>`` or ``<rule>:<column>``:

===========================  =======================================================
``wrong_column_count``       a CSV record with more or fewer fields than the header
                             (extra fields that are all empty - trailing delimiters -
                             are accepted)
``unclosed_quote``           a quoted field that runs over line ends into a record that
                             does not fit the header, or to the end of the file: that
                             line is quarantined and parsing resumes at the next line
``bad_quoting``              a closing quote followed by text (``"abc"def``)
``repeated_header``          a copy of the header line inside the file (concatenated
                             exports)
``invalid_encoding``         bytes that are not UTF-8
``nul_byte``                 a NUL character in the record (binary or UTF-16 debris)
``invalid_json``             a JSON-lines record that does not parse, is not an object
                             or is nested deeper than ``MAX_JSON_DEPTH``
``empty_record``             a blank line
``missing_key:<c>``          a key column is empty (blank after trimming whitespace,
                             tabs and Unicode spaces)
``bad_id:<c>``               a key/id given as a JSON or Parquet float, boolean, array or
                             object (ids are strings or integers)
``bad_number:<c>``           not a decimal number: ints must be integral (``12`` or
                             ``12.0``; not ``1.5``, ``0x10``, ``1_000``, ``1,234``,
                             ``1.2K``), floats finite
``negative_value:<c>``       a negative count, duration or budget
``bad_timestamp:<c>``        not an ISO-8601 date-time, or outside years 1-9999, or
                             infinite (epoch numbers are not timestamps here)
``bad_boolean:<c>``          not one of true/false/1/0/yes/no/t/f/y/n
``unknown_event_type``       an event type that is neither canonical nor declared
``duplicate_key:<c>``        an event id already delivered in the same partition (every
                             repeat after the first, in file and row order, is rejected)
``superseded_key:<c>``       a user/post/campaign also delivered in a later file of the
                             same partition (file names in byte order): the last file wins
===========================  =======================================================

Every physical line of a text file is accounted for: it belongs to exactly one record
(a quoted field may span lines), and the ingest checks that the lines its records used
add up to the lines of the file before it commits.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import json
import logging
import math
import re
import sys
import zlib
from collections import deque
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
    "read_manifest",
    "declared_time_window",
    "Manifest",
]

log = logging.getLogger(__name__)

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

CHUNK_ROWS = 200_000
MANIFEST_NAME = "_manifest.json"
# A quoted field may span at most this many physical lines; longer is an unclosed quote.
MAX_RECORD_LINES = 10_000
# Lines parsed again after unclosed quotes, per file; beyond this the file fails.
MAX_REPARSED_LINES = 2_000_000
MAX_JSON_DEPTH = 64
_CR_MARK = "\uffff"  # stands in for a bare CR inside a line while csv parses it
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')

_SQL_TYPES = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "timestamp": "TIMESTAMP",
    "bool": "BOOLEAN",
}
# Characters a blank value may consist of: whitespace, no-break and ideographic spaces,
# zero-width space, BOM. They are trimmed from both ends of every non-text value (an RE2
# class: DuckDB's trim() with a character list is ten times slower), so a key made only
# of them is missing, like an empty one.
_BLANK_CLASS = (r"[\s\x{0B}\x{A0}\x{1680}\x{2000}-\x{200B}\x{2028}\x{2029}\x{202F}"
                r"\x{205F}\x{3000}\x{FEFF}]")
_BLANK_RE = f"^{_BLANK_CLASS}+|{_BLANK_CLASS}+$"
_INT_RE = r"[+-]?[0-9]+(\.0*)?"
_FLOAT_RE = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|infinity|nan)"
_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")
# Entities whose key names one immutable record: the same key twice in one partition is a
# duplicate delivery, not an update. Profiles, posts and campaigns are "latest record wins";
# duplicate follow edges are collapsed by staging, which counts them (n_records).
_UNIQUE_IN_PARTITION = {"interactions": "event_id"}
# "Latest record wins" entities: a key delivered in several files of one partition keeps
# only the records of the last file (file names in byte order, e.g. users_part-002 after
# users_part-001); the others are quarantined as superseded_key:<c>, so staging's
# order by (ds, _source_row) never has to break a tie between files.
_LATEST_FILE_WINS = {"users": "user_id", "posts": "post_id", "campaigns": "campaign_id"}
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
    physical_lines: int | None = None  # text files: lines in the file (header included)
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

    @property
    def duplicates(self) -> dict[str, int]:
        """Records set aside as same-day duplicates, by reason (``duplicate_key:event_id``,
        ``superseded_key:user_id``, ...)."""
        out: dict[str, int] = {}
        for f in self.files:
            for reason, n in f.reject_reasons.items():
                if reason.startswith(("duplicate_key:", "superseded_key:")):
                    out[reason] = out.get(reason, 0) + n
        return out

    def to_dict(self) -> dict:
        return {
            "ds": self.ds,
            "seconds": round(self.seconds, 3),
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_rejected": self.rows_rejected,
            "duplicates": self.duplicates,
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
        "create table if not exists raw.export_time_range ("
        "ds DATE, range_start TIMESTAMP, range_end TIMESTAMP, declared_by VARCHAR)"
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


def _inside_root(path: Path, root: Path) -> None:
    """Fail when ``path`` (a landing file, maybe a symlink) resolves outside ``root``."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise IngestError(f"{path}: cannot be resolved ({exc}); a broken or looping "
                          "symlink in the landing folder") from exc
    base = root.resolve()
    if target != base and base not in target.parents:
        raise IngestError(
            f"{path}: is a link to a file outside the landing root {root} (rule: "
            "landing files must resolve inside the landing root); copy the file in instead"
        )


def discover_files(
    partition_dir: Path, root: Path | None = None
) -> list[tuple[Path, str, str, bool]]:
    """List ``(path, entity, format, gzipped)`` for the landing files of one partition.

    Names starting with ``_`` or ``.`` (manifests, quarantine and label folders written
    by source mappings) are reserved and skipped; any other file whose name is not an
    entity of the contract, or whose extension is not supported, is an error. Every file
    must resolve inside ``root`` (the landing root, default the partition's parent): a
    symlink to a file elsewhere fails the ingest naming the link, before anything is read.
    """
    if not partition_dir.is_dir():
        raise IngestError(f"landing partition {partition_dir} does not exist")
    root = root if root is not None else partition_dir.parent
    found, unknown = [], []
    for path in sorted(partition_dir.iterdir()):
        if path.name.startswith(("_", ".")) or path.is_dir():
            continue
        fmt = detect_format(path.name)
        entity = entity_for_file(path.name)
        if fmt is None or entity is None:
            unknown.append(path.name)
            continue
        _inside_root(path, root)
        found.append((path, entity, fmt[0], fmt[1]))
    if unknown:
        raise IngestError(
            f"{partition_dir}: unrecognised landing file(s) {unknown}; expected "
            f"<entity>[_suffix].(csv|tsv|jsonl|ndjson)[.gz] or .parquet with entity one of "
            f"{sorted(ENTITIES)}"
        )
    return found


def _scan_file(path: Path, gzipped: bool, check_utf8: bool) -> tuple[str, int, bool, int]:
    """SHA-256 of the file bytes, their size, whether the content is valid UTF-8, and (text
    files) the number of physical lines of the content, counted on the bytes."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    valid, lines = True, 0
    if check_utf8:
        decoder = codecs.getincrementaldecoder("utf-8")()
        last = b"\n"
        try:
            with _open_binary(path, gzipped) as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    lines += block.count(b"\n")
                    last = block[-1:]
                    if valid:
                        try:
                            decoder.decode(block)
                        except UnicodeDecodeError:
                            valid = False
                if valid:
                    decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            valid = False
        except (EOFError, OSError, zlib.error) as exc:
            raise IngestError(f"{path}: cannot be read ({_describe(exc)})") from exc
        if last != b"\n":
            lines += 1  # a last line without a newline
    return digest.hexdigest(), size, valid, lines


def _describe(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "truncated gzip stream: compressed file ended before the end-of-stream marker"
    if isinstance(exc, gzip.BadGzipFile):
        return f"not a valid gzip file: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _open_binary(path: Path, gzipped: bool):
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


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


class _RecordTooLong(Exception):
    """A record ran over ``MAX_RECORD_LINES`` physical lines (an unclosed quote)."""


class _Feed:
    """Physical lines of a text file for ``csv.reader``, with push-back and accounting.

    ``taken`` holds the original lines of the record being parsed, so that a record can
    be quarantined verbatim, or its first line quarantined and the rest pushed back and
    parsed again (resynchronisation after an unclosed quote). ``lines`` counts the
    physical lines read from the file; every one of them ends in exactly one record.
    ``bad_at`` lists the positions in ``taken`` of lines that are not valid UTF-8.
    """

    def __init__(self, fh, strict: bool):
        self._it = iter(fh)
        self._strict = strict
        self._pending: deque[tuple[str, bool]] = deque()
        self.lines = 0
        self.reparsed = 0
        self.taken: list[str] = []
        self.bad_at: list[int] = []
        self.cr = self.nul = False

    def start(self) -> None:
        self.taken.clear()
        if self.bad_at:
            self.bad_at.clear()
        self.cr = self.nul = False

    def push_back(self, first: int) -> None:
        """Put the lines of the current record from position ``first`` back in the feed."""
        bad = set(self.bad_at)
        lines = [(t, i in bad) for i, t in enumerate(self.taken) if i >= first]
        self._pending.extendleft(reversed(lines))
        self.reparsed += len(lines)
        del self.taken[first:]
        self.bad_at = [i for i in self.bad_at if i < first]

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if self._pending:
            text, bad = self._pending.popleft()
        else:
            raw = next(self._it)
            self.lines += 1
            bad = False
            if self._strict:
                text = raw.decode("utf-8")
            else:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text, bad = raw.decode("utf-8", errors="replace"), True
            if self.lines == 1 and text.startswith("\ufeff"):
                text = text[1:]  # utf-8-sig: a BOM never changes the header
        taken = self.taken
        if bad:
            self.bad_at.append(len(taken))
        taken.append(text)
        if len(taken) > MAX_RECORD_LINES:
            raise _RecordTooLong
        if "\x00" in text:
            self.nul = True
        if "\r" in text:
            body = text[:-2] if text.endswith("\r\n") else text.rstrip("\n")
            if "\r" in body and _CR_MARK not in text:
                # a bare CR inside the line: csv would end the record there; keep it as data
                self.cr = True
                return body.replace("\r", _CR_MARK) + text[len(body):]
        return text

    @property
    def bad(self) -> bool:
        return bool(self.bad_at)


def _swallowed_records(taken: list[str], delimiter: str, width: int) -> bool:
    """Whether a line inside a multi-line quoted field looks like a whole record.

    A quote left open swallows the records after it until some later quote closes it, and
    by chance the result can have the header's field count. A line wholly inside a
    legitimate quoted field (a multi-line bio) rarely has ``width - 1`` delimiters and no
    quote; a swallowed record always does.
    """
    if width < 3:
        return False
    return any(
        '"' not in line and line.count(delimiter) >= width - 1 for line in taken[1:-1]
    )


def _raw_text(lines: list[str]) -> str:
    return "".join(lines).rstrip("\r\n")


def _normalise_header(cells: list[str]) -> list[str]:
    names = [c.strip().lower() for c in cells]
    if names and names[0].startswith("\ufeff"):
        names[0] = names[0][1:]
    while len(names) > 1 and names[-1] == "":
        names.pop()  # trailing delimiters after the last column name
    return names


_HEADER_NAME = re.compile(r"[^\W\d][\w .\-()#%]{0,63}")


def _shown_columns(names: list[str]) -> str:
    """The header's names for a message, or a description when it is no header at all.

    File contents are never echoed: a first line that does not look like column names
    (a symlinked system file, a data row, binary) is described, not quoted.
    """
    if len(names) <= 200 and all(_HEADER_NAME.fullmatch(n) for n in names if n):
        return f"found columns {names}"
    return (f"the first line does not look like a header of column names "
            f"({len(names)} field(s), {sum(map(len, names))} characters; not shown)")


def _check_columns(path: Path, entity: Entity, present: Iterable[str]) -> list[str]:
    present = list(present)
    dupes = sorted({n for n in present if present.count(n) > 1})
    if dupes:
        raise IngestError(f"{path}: duplicate column name(s) {dupes}")
    missing = [c for c in entity.required_columns if c not in present]
    if missing:
        raise IngestError(
            f"{path}: missing required column(s) {missing} for entity '{entity.name}'; "
            f"{_shown_columns(present)}"
        )
    return [n for n in present if n not in entity.column_names]


def _encoding_hint(path: Path, gzipped: bool) -> str:
    with _open_binary(path, gzipped) as fh:
        head = fh.read(4)
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return ("; the file starts with a UTF-16 byte-order mark: re-export it as UTF-8, or "
                "import it with a source mapping declaring encoding: utf-16")
    if b"\x00" in head:
        return "; NUL bytes in the first line suggest UTF-16 without a byte-order mark"
    return ""


def _csv_batches(
    path: Path, entity: Entity, gzipped: bool, strict: bool, load: FileLoad
) -> Iterator[_Batch]:
    base = path.name.lower().removesuffix(".gz")
    delimiter = "\t" if base.endswith(".tsv") else ","
    names = entity.column_names
    with _open_binary(path, gzipped) as fh:
        feed = _Feed(fh, strict)
        reader = csv.reader(feed, delimiter=delimiter, strict=True)
        try:
            header = next(reader, None)
        except (csv.Error, _RecordTooLong) as exc:
            raise IngestError(
                f"{path}: line 1: cannot parse the CSV header (rule: header; {exc})"
            ) from exc
        if header is None:
            load.physical_lines = feed.lines
            return  # an empty file: no rows; the volume gate judges whether that is fine
        if feed.bad:
            raise IngestError(f"{path}: the header is not valid UTF-8"
                              f"{_encoding_hint(path, gzipped)}")
        if feed.nul:
            raise IngestError(f"{path}: line 1: the header contains NUL bytes"
                              f"{_encoding_hint(path, gzipped) or '; the file is not text'}")
        if feed.cr:
            raise IngestError(
                f"{path}: line 1: bare CR line endings (classic Mac); the contract expects "
                "LF or CRLF line endings"
            )
        header_lines = len(feed.taken)
        header = _normalise_header(header)
        load.ignored_columns = _check_columns(path, entity, header)
        pairs = [(n, header.index(n) if n in header else None) for n in names]
        width = len(header)
        first_name = header[0]
        batch = _new_batch(names)
        row_no = 0
        used_lines = header_lines
        while True:
            feed.start()
            reason = None
            try:
                rec = next(reader)
            except StopIteration:
                break
            except (csv.Error, _RecordTooLong) as exc:
                if not feed.taken:  # pragma: no cover - the reader fails only on a line
                    raise IngestError(f"{path}: CSV parse error after row {row_no}: {exc}") \
                        from exc
                eof = isinstance(exc, _RecordTooLong) or "end of data" in str(exc)
                reason = "unclosed_quote" if eof or len(feed.taken) > 1 else "bad_quoting"
                rec = None
            taken = feed.taken
            if rec is not None and len(taken) > 1:
                # a quoted field spanned lines: it must give a record that fits the header
                # and whose fields hold exactly the line breaks it used
                breaks = sum(f.count("\n") for f in rec)
                if not (width <= len(rec) and breaks == len(taken) - 1
                        and not any(f.strip() for f in rec[width:])
                        and not _swallowed_records(taken, delimiter, width)):
                    reason, rec = "unclosed_quote", None
            if reason == "unclosed_quote" and len(taken) > 1:
                # quarantine the line that opened the quote, parse the rest again
                feed.push_back(1)
                if feed.reparsed > MAX_REPARSED_LINES:
                    raise IngestError(
                        f"{path}: row {row_no + 1}: rule unclosed_quote: cannot resynchronise "
                        f"after unclosed quotes ({feed.reparsed:,} lines parsed again)"
                    )
            row_no += 1
            used_lines += len(taken)
            if feed.bad_at:
                reason = "invalid_encoding" if reason != "unclosed_quote" else reason
            elif reason is None and rec is not None:
                if feed.nul:
                    reason = "nul_byte"
                elif not rec or (len(rec) == 1 and not rec[0].strip() and width > 1):
                    reason = "empty_record"
                elif len(rec) != width:
                    if len(rec) > width and not any(f.strip() for f in rec[width:]):
                        rec = rec[:width]  # trailing delimiters
                    else:
                        reason = "wrong_column_count"
                if reason is None and rec and rec[0].strip().lower() == first_name and [
                    c.strip().lower() for c in rec
                ] == header:
                    reason = "repeated_header"
            batch.rows.append(row_no)
            if reason:
                batch.raw.append(_raw_text(taken))
                batch.pre_reason.append(reason)
                for n in names:
                    batch.columns[n].append(None)
            else:
                assert rec is not None  # a record without a reason was parsed
                if feed.cr:
                    rec = [f.replace(_CR_MARK, "\r") for f in rec]
                batch.raw.append(None)
                batch.pre_reason.append(None)
                for n, i in pairs:
                    batch.columns[n].append(rec[i] if i is not None else None)
            if len(batch) >= CHUNK_ROWS:
                yield batch
                batch = _new_batch(names)
        if len(batch):
            yield batch
    load.physical_lines = feed.lines
    if used_lines != feed.lines:  # pragma: no cover - a parser bug, never bad input
        raise IngestError(
            f"{path}: line accounting failed: records used {used_lines:,} of "
            f"{feed.lines:,} physical lines"
        )


def _json_too_deep(line: str) -> bool:
    """Whether a JSON text nests arrays/objects deeper than ``MAX_JSON_DEPTH``."""
    if line.count("[") + line.count("{") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    for m in _JSON_TOKENS.finditer(line):
        t = m.group()
        if t in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif t in "]}":
            depth -= 1
    return False


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
    id_columns = [c.name for c in entity.columns if c.type == "id"]
    seen: set[str] = set()
    batch = _new_batch(names)
    row_no = 0
    with _open_binary(path, gzipped) as fh:
        feed = _Feed(fh, strict)
        for line in feed:
            line = feed.taken[0]  # the original line (bare CRs are data in JSON strings)
            row_no += 1
            reason, obj = None, None
            if feed.bad:
                reason = "invalid_encoding"
                if row_no == 1 and (hint := _encoding_hint(path, gzipped)):
                    raise IngestError(f"{path}: line 1 is not valid UTF-8{hint}")
            elif not line.strip():
                reason = "empty_record"
            elif _json_too_deep(line):
                reason = "invalid_json"
            else:
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError):
                    reason = "invalid_json"
                else:
                    if not isinstance(obj, dict):
                        reason, obj = "invalid_json", None
            if obj is not None:
                obj = {str(k).strip().lower(): v for k, v in obj.items()}
                for c in id_columns:
                    v = obj.get(c)
                    if v is not None and (isinstance(v, bool) or not isinstance(v, (str, int))):
                        reason, obj = f"bad_id:{c}", None
                        break
            batch.rows.append(row_no)
            if obj is None:
                batch.raw.append(line.rstrip("\r\n"))
                batch.pre_reason.append(reason)
                for n in names:
                    batch.columns[n].append(None)
            else:
                seen.update(obj)
                batch.raw.append(None)
                batch.pre_reason.append(None)
                for n in names:
                    batch.columns[n].append(_json_value(obj.get(n)))
            feed.start()
            if len(batch) >= CHUNK_ROWS:
                yield batch
                batch = _new_batch(names)
    if len(batch):
        yield batch
    load.physical_lines = feed.lines
    if row_no != feed.lines:  # pragma: no cover - a reader bug, never bad input
        raise IngestError(f"{path}: line accounting failed: {row_no} records, "
                          f"{feed.lines} lines")
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
    """SQL that types the all-VARCHAR rows of ``source`` and computes the reject reason.

    Three layers, so each value is trimmed and parsed once: ``_b_<c>`` the value with
    blank characters trimmed (null when nothing is left), ``_t_<c>`` the typed value,
    then the output columns and the reason.
    """
    blanks, typed_cols, exprs, key_checks, checks, params = [], [], [], [], [], []
    for c in entity.columns:
        q = quote_ident(c.name)
        b, t = quote_ident("_b_" + c.name), quote_ident("_t_" + c.name)
        blanks.append(f"nullif(regexp_replace({q}, '{_BLANK_RE}', '', 'g'), '') as {b}")
        if c.type == "id":
            typed = b
        elif c.type == "text":
            typed = q
        elif c.type == "int":
            # strict: decimal digits, optionally ".0" (pandas writes nullable ints so);
            # never rounded, never hex, underscores or thousands separators
            typed = (f"case when regexp_full_match({b}, '{_INT_RE}') then try_cast("
                     f"regexp_replace({b}, '\\.0*$', '') as BIGINT) end")
            checks.append(f"case when {b} is not null and {t} is null "
                          f"then 'bad_number:{c.name}' end")
        elif c.type == "float":
            typed = (f"case when regexp_full_match({b}, '{_FLOAT_RE}') "
                     f"then try_cast({b} as DOUBLE) end")
            checks.append(f"case when {b} is not null and ({t} is null or not isfinite({t})) "
                          f"then 'bad_number:{c.name}' end")
        elif c.type == "timestamp":
            typed = f"timezone('UTC', try_cast({b} as TIMESTAMPTZ))"
            checks.append(f"case when {b} is not null and ({t} is null "
                          f"or not isfinite({t}) or year({t}) not between 1 and 9999) "
                          f"then 'bad_timestamp:{c.name}' end")
        elif c.type == "bool":
            typed = (f"case when lower({b}) in {_TRUE} then true "
                     f"when lower({b}) in {_FALSE} then false end")
            checks.append(f"case when {b} is not null and {t} is null "
                          f"then 'bad_boolean:{c.name}' end")
        else:  # pragma: no cover - contract types are closed
            raise ValueError(c.type)
        if c.name == "event_type":
            typed = f"lower({b})"
        if c.key:
            key_checks.append(f"case when {b} is null then 'missing_key:{c.name}' end")
        if c.nonnegative and c.type in ("int", "float"):
            checks.append(f"case when {t} < 0 then 'negative_value:{c.name}' end")
        typed_cols.append(f"{typed} as {t}")
        exprs.append(f"{t} as {q}")
    if "event_type" in entity.column_names:
        checks.append(
            "case when \"_t_event_type\" is not null and "
            "not list_contains(?, \"_t_event_type\") then 'unknown_event_type' end"
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
        f"coalesce(_raw, case when _reason is not null then cast({raw_json} as VARCHAR) end) "
        f"as _raw_record, _reason from (select *, {reason} as _reason from ("
        f"select *, {', '.join(typed_cols)} from ("
        f"select *, {', '.join(blanks)} from {source})))"
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
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # noqa: BLE001 - any pyarrow failure means unreadable
        raise IngestError(f"{path}: not a readable Parquet file ({exc})") from exc
    present = _normalise_header(list(schema.names))
    load.ignored_columns = _check_columns(path, entity, present)
    by_lower = dict(zip(present, schema.names, strict=True))
    selects, id_checks = [], []
    for c in entity.columns:
        if c.name not in by_lower:
            selects.append(f"cast(null as VARCHAR) as {quote_ident(c.name)}")
            continue
        src = quote_ident(by_lower[c.name])
        field_type = schema.field(by_lower[c.name]).type
        if c.type == "id" and not (pa.types.is_string(field_type)
                                   or pa.types.is_large_string(field_type)
                                   or pa.types.is_integer(field_type)
                                   or pa.types.is_dictionary(field_type)):
            # float, boolean, list or struct ids are quarantined, never stringified
            id_checks.append(f"case when {src} is not null then 'bad_id:{c.name}' end")
            expr = "cast(null as VARCHAR)"
        elif str(field_type).startswith(("list", "large_list")):
            expr = f"array_to_string({src}, ' ')"
        else:
            expr = f"cast({src} as VARCHAR)"
        selects.append(f"{expr} as {quote_ident(c.name)}")
    pre_reason = (f"nullif(concat_ws('; ', {', '.join(id_checks)}), '')" if id_checks
                  else "cast(null as VARCHAR)")
    raw = ("cast(null as VARCHAR)" if not id_checks else
           f"case when {pre_reason} is not null then cast(json_object(" + ", ".join(
               f"'{n}', {quote_ident(by_lower[n])}" for n in present
               if n in by_lower and n in entity.column_names) + ") as VARCHAR) end")
    source = (
        "(select " + ", ".join(selects) + ", file_row_number + 1 as _source_row, "
        f"{raw} as _raw, {pre_reason} as _pre_reason "
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


@dataclass
class Manifest:
    """What a source mapping declared for a partition in ``_manifest.json``."""

    event_types: dict[str, tuple[float, bool]] = field(default_factory=dict)
    time_range: tuple[datetime, datetime] | None = None


def _manifest_error(manifest: Path, msg: str) -> IngestError:
    return IngestError(f"{manifest}: {msg}")


def _weight(manifest: Path, name: str, spec) -> tuple[float, bool]:
    scale = False
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - {"weight", "scale_by_value", "description", "event_type"})
        if unknown:
            raise _manifest_error(manifest, f"event type {name!r}: unknown key(s) {unknown}; "
                                  "allowed: weight, scale_by_value, description")
        scale = spec.get("scale_by_value", False)
        if not isinstance(scale, bool):
            raise _manifest_error(manifest, f"event type {name!r}: scale_by_value must be "
                                  f"true or false, got {scale!r}")
        spec = spec.get("weight", 1.0)
    if isinstance(spec, bool) or not isinstance(spec, (int, float)):
        raise _manifest_error(manifest, f"event type {name!r}: weight must be a number, "
                              f"got {spec!r}")
    weight = float(spec)
    if not math.isfinite(weight) or weight <= 0:
        raise _manifest_error(manifest, f"event type {name!r}: weight must be finite and > 0, "
                              f"got {spec!r}")
    return weight, scale


def _range_bound(manifest: Path, key: str, value) -> datetime:
    if not isinstance(value, str):
        raise _manifest_error(manifest, f"export_time_range.{key} must be an ISO-8601 date or "
                              f"date-time string, got {value!r}")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _manifest_error(manifest, f"export_time_range.{key} {value!r} is not an ISO-8601 "
                              "date or date-time") from exc
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return t


def read_manifest(partition_dir: Path, root: Path | None = None) -> Manifest:
    """Read and validate ``_manifest.json`` of a partition (an empty one when absent).

    ``event_types`` accepts ``{"play": 1.0}``, ``{"play": {"weight": 1.0,
    "scale_by_value": true}}`` or a list of ``{"event_type": "play", "weight": 1.0}``;
    weights must be finite numbers > 0. ``export_time_range`` (``{"start": "2005-02-01",
    "end": "2011-05-31"}``, written by a source mapping that declares it) is the time span
    of the export; the gates use it as the earliest plausible timestamp. Every problem is
    an :class:`IngestError` naming the manifest and the key.
    """
    manifest = partition_dir / MANIFEST_NAME
    if not manifest.exists() and not manifest.is_symlink():
        return Manifest()
    _inside_root(manifest, root or partition_dir.parent)
    try:
        data = json.loads(manifest.read_text(encoding="utf-8-sig"))
    except (ValueError, RecursionError) as exc:
        raise _manifest_error(manifest, f"not valid JSON ({exc})") from exc
    except OSError as exc:
        raise _manifest_error(manifest, f"cannot be read ({exc.strerror})") from exc
    if not isinstance(data, dict):
        raise _manifest_error(manifest, f"must be a JSON object, got {type(data).__name__}")
    declared = data.get("event_types") or {}
    if isinstance(declared, list):
        items = {}
        for i, d in enumerate(declared):
            if not isinstance(d, dict) or not isinstance(d.get("event_type"), str):
                raise _manifest_error(manifest, f"event_types[{i}] must be an object with a "
                                      "string 'event_type'")
            items[d["event_type"]] = d
        declared = items
    if not isinstance(declared, dict):
        raise _manifest_error(manifest, "event_types must be an object or a list, got "
                              f"{type(declared).__name__}")
    out = Manifest()
    for name, spec in declared.items():
        key = str(name).strip().lower()
        if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            raise _manifest_error(manifest, f"event type name {name!r} must be lower-case "
                                  "letters, digits and '_'")
        out.event_types[key] = _weight(manifest, key, spec)
    rng = data.get("export_time_range")
    if rng is not None:
        if not isinstance(rng, dict) or set(rng) - {"start", "end"} or "start" not in rng:
            raise _manifest_error(manifest, "export_time_range must be an object "
                                  '{"start": ..., "end": ...} (end optional)')
        start = _range_bound(manifest, "start", rng["start"])
        end = _range_bound(manifest, "end", rng["end"]) if rng.get("end") is not None \
            else datetime(9999, 12, 31, 23, 59, 59)
        if end < start:
            raise _manifest_error(manifest, f"export_time_range: end {rng['end']!r} is before "
                                  f"start {rng['start']!r}")
        out.time_range = (start, end)
    return out


def declared_event_types(partition_dir: Path) -> dict[str, tuple[float, bool]]:
    """Event types a source mapping declared for this partition (``_manifest.json``)."""
    return read_manifest(partition_dir).event_types


def declared_time_window(con, ds) -> dict:
    """Gate parameters from the export time range declared for ``ds`` (empty if none).

    ``{"min_timestamp": <declared start, UTC>}``: a source mapping that declares
    ``export_time_range`` states when its events can begin, so the raw gate's lower bound
    is that start instead of ``platform_start_date``. Reads ``raw.export_time_range``.
    """
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'raw' and table_name = 'export_time_range'").fetchone()[0]
    if not exists:
        return {}
    row = con.execute(
        "select min(range_start) from raw.export_time_range where ds = ?::DATE", [str(ds)]
    ).fetchone()
    if row is None or row[0] is None:
        return {}
    import pandas as pd

    return {"min_timestamp": pd.Timestamp(row[0], tz="UTC")}


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
    files = discover_files(partition, Path(landing_dir))
    manifest = read_manifest(partition, Path(landing_dir))
    extra_events = manifest.event_types
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
            con.execute("delete from raw.export_time_range where ds = ?::DATE", [ds])
            if manifest.time_range:
                con.execute("insert into raw.export_time_range values (?::DATE, ?, ?, ?)",
                            [ds, *manifest.time_range, MANIFEST_NAME])
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
            for entity_name, key in _LATEST_FILE_WINS.items():
                _reject_superseded_keys(con, ENTITIES[entity_name], key, ds, result.files)
            _check_accounting(con, ds, result.files)
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
    """Move every repeat of ``key`` in the partition to the rejects (the first one stays)."""
    k = quote_ident(key)
    _move_to_rejects(
        con, entity, ds, loads, f"duplicate_key:{key}",
        f"select * from (select *, row_number() over (partition by {k} "
        f"order by _source_file, _source_row) as _n from raw.{quote_ident(entity.name)} "
        f"where ds = ?::DATE) where _n > 1",
    )


def _reject_superseded_keys(con, entity: Entity, key: str, ds: str,
                            loads: list[FileLoad]) -> None:
    """Quarantine records whose key is also delivered in a later file of the partition."""
    k, table = quote_ident(key), quote_ident(entity.name)
    _move_to_rejects(
        con, entity, ds, loads, f"superseded_key:{key}",
        f"select t.* from raw.{table} t join (select {k}, max(_source_file) as _keep "
        f"from raw.{table} where ds = ?::DATE group by {k} "
        f"having count(distinct _source_file) > 1) w using ({k}) "
        f"where t.ds = ?::DATE and t._source_file <> w._keep",
        n_params=2,
    )


def _move_to_rejects(con, entity: Entity, ds: str, loads: list[FileLoad], reason: str,
                     select_sql: str, n_params: int = 1) -> None:
    """Move the rows ``select_sql`` picks from ``raw.<entity>`` to its rejects.

    The rejected record is the row as loaded (typed values); counts of the files it came
    from are corrected, so ``rows_loaded + rows_rejected == rows_read`` still holds.
    """
    table, rejects = quote_ident(entity.name), quote_ident(entity.name + "_rejects")
    con.execute(f"create or replace temp table _moved as {select_sql}", [ds] * n_params)
    per_file = dict(con.execute("select _source_file, count(*) from _moved group by 1").fetchall())
    if per_file:
        record = "json_object(" + ", ".join(
            f"'{c.name}', {quote_ident(c.name)}" for c in entity.columns) + ")"
        con.execute(
            f"insert into raw.{rejects} select ds, _source_file, _source_row, _file_sha256, "
            f"_loaded_at, cast({record} as VARCHAR), ? from _moved", [reason])
        con.execute(
            f"delete from raw.{table} t using _moved d where t.ds = ?::DATE "
            f"and t._source_file = d._source_file and t._source_row = d._source_row", [ds])
        for load in loads:
            moved = per_file.get(load.path, 0)
            if not moved:
                continue
            load.rows_loaded -= moved
            load.rows_rejected += moved
            load.reject_reasons[reason] = load.reject_reasons.get(reason, 0) + moved
            con.execute(
                "update raw.input_files set rows_loaded = ?, rows_rejected = ? "
                "where ds = ?::DATE and path = ?",
                [load.rows_loaded, load.rows_rejected, ds, load.path])
    con.execute("drop table _moved")


def _check_accounting(con, ds: str, loads: list[FileLoad]) -> None:
    """Every file: rows in ``raw`` + rows in the rejects == records read; else fail."""
    for load in loads:
        entity = ENTITIES[load.entity]
        n_raw = con.execute(
            f"select count(*) from raw.{quote_ident(entity.name)} "
            "where ds = ?::DATE and _source_file = ?", [ds, load.path]).fetchone()[0]
        n_rej = con.execute(
            f"select count(*) from raw.{quote_ident(entity.name + '_rejects')} "
            "where ds = ?::DATE and _source_file = ?", [ds, load.path]).fetchone()[0]
        if (n_raw, n_rej) != (load.rows_loaded, load.rows_rejected) or \
                n_raw + n_rej != load.rows_read:  # pragma: no cover - a bug, never input
            raise IngestError(
                f"{load.path}: record accounting failed: {load.rows_read} read, "
                f"{n_raw} in raw.{entity.name}, {n_rej} rejected")


def _ingest_file(con, path, entity, fmt, gz, ds, loaded_at, allowed) -> FileLoad:
    load = FileLoad(path=str(path), entity=entity.name, format=fmt, gzipped=gz)
    sha, size, utf8, lines = _scan_file(path, gz, check_utf8=fmt != "parquet")
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
    if fmt != "parquet" and load.physical_lines is not None and load.physical_lines != lines:
        raise IngestError(  # pragma: no cover - the reader lost lines: a bug, never input
            f"{path}: line accounting failed: the reader saw {load.physical_lines:,} lines, "
            f"the file has {lines:,}")
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
