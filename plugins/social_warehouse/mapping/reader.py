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

_SURROGATE = re.compile("[\udc80-\udcff]")


class SourceError(Exception):
    """An export (or a landing partition) that cannot be imported at all."""


@dataclass
class Malformed:
    line: int
    rule: str  # shape | encoding
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

    records = _split(numbered, spec, path)
    columns = list(spec.columns) if spec.columns else None
    if spec.header:
        if not records:
            raise SourceError(f"{path}: empty file, expected a header row")
        hline, hfields, _ = records.pop(0)
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
    for lineno, fields, rawline in records:
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


def _split(numbered: list[tuple[int, str]], spec: FileSpec, path: Path):
    """``[(line, fields, raw_line)]`` for every record."""
    if spec.delimiter == "whitespace":
        return [(n, line.split(), line) for n, line in numbered]
    if spec.quoting == "none":
        d = spec.delimiter
        return [(n, line.split(d), line) for n, line in numbered]
    # minimal quoting: a quoted field may span lines, so let csv pull lines as it needs.
    starts: list[int] = []
    raws: list[str] = []

    def feed():
        for n, line in numbered:
            starts.append(n)
            raws.append(line)
            yield line + "\n"

    out = []
    reader = csv.reader(feed(), delimiter=spec.delimiter, quotechar='"', strict=False)
    try:
        for fields in reader:
            out.append((starts[0], fields, "\n".join(raws)))
            starts.clear()
            raws.clear()
    except csv.Error as exc:
        raise SourceError(f"{path}: line {starts[0] if starts else '?'}: {exc}") from exc
    return out
