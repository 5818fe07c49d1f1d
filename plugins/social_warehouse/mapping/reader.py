"""Read one delimited source file as declared by its ``files:`` entry of a mapping.

Every value stays a string here; parse rules type them later. A record that cannot be
split into the declared columns (wrong field count) or holds bytes that are not valid in
the declared encoding is kept aside as *malformed* with its line number, so that it can
be quarantined and counted like any other rejected row.
"""

from __future__ import annotations

import csv
import hashlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .schema import FileSpec

__all__ = ["SourceError", "SourceTable", "Malformed", "read_table"]

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

#: A quoted field may span at most this many lines; longer is an unclosed quote.
MAX_RECORD_LINES = 10_000
#: Lines read again after unclosed quotes, per file; beyond this the file fails.
MAX_REPARSED_LINES = 2_000_000

_SURROGATE = re.compile("[\udc80-\udcff]")


class SourceError(Exception):
    """An export (or a landing partition) that cannot be imported at all."""


@dataclass
class Malformed:
    line: int
    rule: str  # shape | encoding | quote
    reason: str
    raw: str


@dataclass
class SourceTable:
    """The rows of one source file: ``data[column][i]`` is the raw string of row ``i``."""

    path: Path
    rel: str
    sha256: str
    size_bytes: int
    columns: list[str]
    data: dict[str, list[str]]
    lines: list[int]
    malformed: list[Malformed] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.lines)

    @property
    def rows_read(self) -> int:
        return len(self.lines) + len(self.malformed)

    def record(self, i: int) -> dict[str, str]:
        return {c: self.data[c][i] for c in self.columns}


def _printable(s: str) -> str:
    """A string with undecodable bytes (surrogate escapes) shown as ``\\xNN``."""
    if not _SURROGATE.search(s):
        return s
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def read_table(path: Path, spec: FileSpec, rel: str) -> SourceTable:
    """Read ``path`` per ``spec`` (encoding, delimiter, header, comments, quoting)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror})") from exc
    sha = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode(spec.encoding, errors="surrogateescape")
    except (LookupError, UnicodeError) as exc:
        raise SourceError(f"{path}: cannot be decoded as {spec.encoding} ({exc})") from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    physical = text.split("\n")
    if physical and physical[-1] == "":
        physical.pop()

    numbered: list[tuple[int, str]] = []
    for i, line in enumerate(physical):
        if i < spec.skip_rows:
            continue
        if line.endswith("\r"):
            line = line[:-1]
        if not line.strip():
            continue  # blank lines are not records
        if spec.comment and line.lstrip().startswith(spec.comment):
            continue
        numbered.append((i + 1, line))

    columns = list(spec.columns) if spec.columns else None
    records = _split(numbered, spec, path, len(columns) if columns and not spec.header else None)
    if spec.header:
        if not records:
            raise SourceError(f"{path}: empty file, expected a header row")
        hline, hfields, _, problem = records.pop(0)
        if hfields is None:
            raise SourceError(f"{path}: line {hline}: cannot parse the header ({problem})")
        header = [h.strip() for h in hfields]
        if _SURROGATE.search("".join(header)):
            raise SourceError(f"{path}: line {hline}: header is not valid {spec.encoding}")
        if len(set(header)) != len(header):
            raise SourceError(f"{path}: duplicate column names in the header {header}")
        if columns is not None and header != columns:
            raise SourceError(
                f"{path}: header {header} does not match the columns declared in the mapping "
                f"{columns} (file {spec.name!r})"
            )
        columns = header
    assert columns is not None

    width = len(columns)
    good: list[list[str]] = []
    lines: list[int] = []
    malformed: list[Malformed] = []
    for lineno, fields, rawline, problem in records:
        if fields is None:
            malformed.append(Malformed(lineno, "quote", problem, _printable(rawline)))
            continue
        if _SURROGATE.search(rawline):
            bad = _printable(rawline)
            malformed.append(
                Malformed(lineno, "encoding", f"bytes not valid in {spec.encoding}: {bad!r}", bad)
            )
            continue
        if len(fields) != width:
            malformed.append(
                Malformed(
                    lineno,
                    "shape",
                    f"expected {width} fields ({', '.join(columns)}), got {len(fields)}",
                    rawline,
                )
            )
            continue
        good.append(fields)
        lines.append(lineno)
    if good:
        data = {c: list(col) for c, col in zip(columns, zip(*good, strict=True), strict=True)}
    else:
        data = {c: [] for c in columns}
    return SourceTable(path, rel, sha, len(raw), columns, data, lines, malformed)


class _Numbered:
    """The numbered lines for ``csv.reader``, one at a time, rewindable to a position."""

    def __init__(self, numbered: list[tuple[int, str]]):
        self.numbered = numbered
        self.pos = 0
        self.taken: list[int] = []

    def __iter__(self) -> _Numbered:
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.numbered):
            raise StopIteration
        self.taken.append(self.pos)
        self.pos += 1
        if len(self.taken) > MAX_RECORD_LINES:
            raise csv.Error(f"a quoted field runs over more than {MAX_RECORD_LINES:,} lines")
        return self.numbered[self.pos - 1][1] + "\n"


def _split(numbered: list[tuple[int, str]], spec: FileSpec, path: Path, width: int | None):
    """``[(line, fields, raw_line, problem)]`` for every record (``fields`` None: malformed).

    With minimal quoting a quoted field may span lines. A quote that is never closed, or a
    multi-line record that does not fit the columns, sets aside the line that opened it
    (rule ``quote``) and reading resumes at the next line, so a stray quote can never
    swallow the records after it.
    """
    if spec.delimiter == "whitespace":
        return [(n, line.split(), line, None) for n, line in numbered]
    if spec.quoting == "none":
        d = spec.delimiter
        return [(n, line.split(d), line, None) for n, line in numbered]
    lines = _Numbered(numbered)
    reader = csv.reader(lines, delimiter=spec.delimiter, quotechar='"', strict=True)
    out: list = []
    reparsed = 0
    while True:
        lines.taken.clear()
        problem = None
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if not lines.taken:  # pragma: no cover - the reader fails only on a line
                raise SourceError(f"{path}: CSV parse error: {exc}") from exc
            problem = f"unclosed or misplaced quote ({exc})"
            fields = None
        taken = list(lines.taken)
        if fields is not None and len(taken) > 1 and width is not None:
            inner = [numbered[i][1] for i in taken[1:-1]]
            breaks = sum(f.count("\n") for f in fields)
            swallowed = width >= 3 and any(
                '"' not in t and t.count(spec.delimiter) >= width - 1 for t in inner)
            if len(fields) != width or breaks != len(taken) - 1 or swallowed:
                problem = (f"a quoted field opened here runs over {len(taken)} lines into a "
                           f"record of {len(fields)} fields (expected {width}): unclosed quote")
                fields = None
        if fields is None:
            n, raw = numbered[taken[0]]
            out.append((n, None, raw, problem))
            if len(taken) > 1:  # resume at the line after the one that opened the quote
                lines.pos = taken[0] + 1
                reparsed += len(taken) - 1
                if reparsed > MAX_REPARSED_LINES:
                    raise SourceError(
                        f"{path}: line {n}: cannot resynchronise after unclosed quotes "
                        f"({reparsed:,} lines read again)")
            continue
        if width is None:
            width = len(fields)  # the header (or first record) sets the width
        out.append((numbered[taken[0]][0], fields,
                    "\n".join(numbered[i][1] for i in taken), None))
    return out
