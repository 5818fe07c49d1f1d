"""Apply a source mapping to an export folder and write one canonical landing partition.

Layout written under ``landing_root/<ds>/``::

    <entity>.parquet                 canonical contract columns (or .csv with fmt="csv")
    _extra/<name>.parquet            extra outputs (columns the contract has no place for)
    _labels/<name>.csv               evaluation labels (never loaded into the warehouse)
    _quarantine/<source-stem>.jsonl  one line per rejected (row, output): raw record, rule
    _manifest.json                   mapping, source files + SHA-256, counts, event types

For every source file and every output of that file::

    rows_read == rows_written + rows_quarantined + rows_deduplicated
"""

from __future__ import annotations

import csv
import json
import os
import re
import string
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ..contract import ENTITIES, entity_for_file
from .reader import SourceError, SourceTable, read_table
from .rules import Field, parse_timestamp_literal
from .schema import FileSpec, LookupSpec, Mapping, OutputSpec, load_mapping

__all__ = ["OutputCounts", "FileResult", "ImportResult", "import_export"]

MANIFEST_NAME = "_manifest.json"
QUARANTINE_DIR = "_quarantine"
EXTRA_DIR = "_extra"
LABELS_DIR = "_labels"
FORMATS = ("parquet", "csv")
GENERATOR = "social_warehouse.mapping"


# --------------------------------------------------------------------------- results


@dataclass
class OutputCounts:
    """Counts of one output of one source file."""

    output: str
    kind: str  # entity | extra | labels
    target: str
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    rows_deduplicated: int = 0
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.rows_written + self.rows_quarantined + self.rows_deduplicated


@dataclass
class FileResult:
    """One source file: its identity, rows read and what each output made of them."""

    file: str  # the files[].name of the mapping
    path: str  # relative to the export folder
    sha256: str
    size_bytes: int
    rows_read: int
    rows_malformed: int = 0
    outputs: list[OutputCounts] = field(default_factory=list)
    lookups: dict[str, dict] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)

    def output(self, name: str) -> OutputCounts:
        for o in self.outputs:
            if o.output == name:
                return o
        raise KeyError(name)


@dataclass
class ImportResult:
    mapping: str
    mapping_path: str
    mapping_sha256: str
    ds: str
    partition_dir: Path
    files: list[FileResult]
    rows: dict[str, int]  # relative output path -> rows written
    paths: list[Path]  # every file written, manifest last
    manifest_path: Path
    event_types: dict[str, dict]
    seconds: float = 0.0

    def file(self, name_or_path: str) -> FileResult:
        for f in self.files:
            if name_or_path in (f.file, f.path, Path(f.path).name):
                return f
        raise KeyError(name_or_path)

    @property
    def entities(self) -> dict[str, int]:
        """Rows written per canonical entity."""
        out: dict[str, int] = defaultdict(int)
        for f in self.files:
            for o in f.outputs:
                if o.kind == "entity":
                    out[o.target] += o.rows_written
        return dict(out)

    @property
    def rows_quarantined(self) -> int:
        return sum(o.rows_quarantined for f in self.files for o in f.outputs)

    @property
    def quarantined_by_rule(self) -> dict[str, int]:
        c: Counter = Counter()
        for f in self.files:
            for o in f.outputs:
                c.update(o.quarantined_by_rule)
        return dict(c)

    @property
    def quarantine_paths(self) -> list[Path]:
        return [p for p in self.paths if p.parent.name == QUARANTINE_DIR]

    @property
    def reconciles(self) -> bool:
        return all(o.reconciles for f in self.files for o in f.outputs)

    def to_dict(self) -> dict:
        return {
            "mapping": self.mapping,
            "mapping_file": self.mapping_path,
            "mapping_sha256": self.mapping_sha256,
            "ds": self.ds,
            "partition_dir": str(self.partition_dir),
            "event_types": self.event_types,
            "source_files": [asdict(f) for f in self.files],
            "outputs": dict(self.rows),
            "entities": self.entities,
            "rows_quarantined": self.rows_quarantined,
            "quarantined_by_rule": self.quarantined_by_rule,
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        """Human-readable report for the command line."""
        lines = [
            f"import {self.mapping} ds={self.ds} -> {self.partition_dir} ({self.seconds:.1f}s)"
        ]
        for f in self.files:
            lines.append(f"  {f.path}  read={f.rows_read:,}  sha256={f.sha256[:12]}")
            for o in f.outputs:
                rules = ", ".join(f"{k}={v:,}" for k, v in sorted(o.quarantined_by_rule.items()))
                lines.append(
                    f"    -> {o.output:<28} written={o.rows_written:,}  "
                    f"quarantined={o.rows_quarantined:,}{' (' + rules + ')' if rules else ''}  "
                    f"deduplicated={o.rows_deduplicated:,}"
                )
            for name, info in f.lookups.items():
                lines.append(
                    f"    lookup {name}: {info['entries']:,} keys"
                    + (f", {info['rows_skipped']:,} rows skipped" if info["rows_skipped"] else "")
                )
            for fld, n in f.repaired.items():
                lines.append(f"    repaired {n} value(s) of field {fld} (mojibake)")
        lines.append("  written: " + ", ".join(f"{p} ({n:,})" for p, n in self.rows.items()))
        return "\n".join(lines)


# --------------------------------------------------------------------------- engine


_MISSING = object()


class _Parsed:
    __slots__ = ("values", "bad", "repaired")

    def __init__(self, values, bad, repaired):
        self.values = values
        self.bad = bad  # list of (row index, reason)
        self.repaired = repaired


class _Run:
    def __init__(self, mapping: Mapping, source_dir: Path, ds: str):
        self.m = mapping
        self.source_dir = source_dir
        self.ds = ds
        self.ds_midnight = datetime.fromisoformat(ds).replace(tzinfo=UTC)
        self.tables: dict[Path, SourceTable] = {}
        self.parsed: dict[tuple[Path, str], _Parsed] = {}
        self.lookups: dict[str, dict] = {}
        self.lookup_info: dict[Path, dict[str, dict]] = defaultdict(dict)
        self.quarantine: dict[str, list[dict]] = defaultdict(list)
        self.acc: dict[tuple[str, str], dict[str, list]] = {}
        self.acc_types: dict[tuple[str, str], dict[str, str]] = {}
        self.seen: dict[tuple[str, str], set] = defaultdict(set)
        self.resolved: dict[str, list[Path]] = {}

    # -- files

    def resolve(self) -> None:
        for f in self.m.files:
            found: set[Path] = set()
            for pat in f.patterns:
                found.update(p for p in self.source_dir.glob(pat) if p.is_file())
            if not found and not f.optional:
                raise SourceError(
                    f"{self.m.path}: file {f.name!r}: nothing in {self.source_dir} matches "
                    f"{' or '.join(f.patterns)}"
                )
            self.resolved[f.name] = sorted(found)

    def table(self, spec: FileSpec, path: Path) -> SourceTable:
        if path not in self.tables:
            rel = path.relative_to(self.source_dir).as_posix()
            t = read_table(path, spec, rel)
            for fld in spec.fields.values():
                for src in fld.sources:
                    if src not in t.columns:
                        raise SourceError(
                            f"{path}: column {src!r} (field {fld.name!r} of file {spec.name!r} "
                            f"in {self.m.path.name}) is not in the header {t.columns}"
                        )
            self.tables[path] = t
        return self.tables[path]

    def field(self, t: SourceTable, fld: Field) -> _Parsed:
        key = (t.path, fld.name)
        if key in self.parsed:
            return self.parsed[key]
        cols = [t.data[s] for s in fld.sources]
        single = len(cols) == 1
        keys: list[Any]
        if single:
            keys = cols[0]
        else:
            keys = list(zip(*cols, strict=True))
        memo: dict = {}
        values, bad, repaired = [], [], 0
        for i, k in enumerate(keys):
            r = memo.get(k)
            if r is None:
                r = memo[k] = fld.parse((k,) if single else k)
            values.append(r[0])
            if r[1] is not None:
                bad.append((i, r[1]))
            elif r[2]:
                repaired += 1
        p = self.parsed[key] = _Parsed(values, bad, repaired)
        return p

    # -- lookups

    def build_lookup(self, lk: LookupSpec) -> dict:
        if lk.name in self.lookups:
            return self.lookups[lk.name]
        through = self.build_lookup(self.m.lookups[lk.through]) if lk.through else None
        spec = self.m.file(lk.file)
        kfld, vfld = spec.fields[lk.key], spec.fields[lk.value]
        groups: dict = {}
        for path in self.resolved[spec.name]:
            t = self.table(spec, path)
            kp, vp = self.field(t, kfld), self.field(t, vfld)
            bad = {i: r for i, r in kp.bad} | {i: r for i, r in vp.bad}
            skipped = len(bad)
            lookup_only = not spec.outputs
            for i, reason in sorted(bad.items()):
                if lookup_only:
                    fld = kfld if any(j == i for j, _ in kp.bad) else vfld
                    self._q(
                        t,
                        i,
                        f"lookup:{lk.name}",
                        "lookup",
                        lk.name,
                        fld.rule,
                        ",".join(fld.sources),
                        fld.name,
                        reason,
                    )
            for i, (k, v) in enumerate(zip(kp.values, vp.values, strict=True)):
                if i in bad or k is None or v is None:
                    if i not in bad:
                        skipped += 1
                    continue
                if through is not None:
                    v = through.get(v, _MISSING)
                    if v is _MISSING:
                        skipped += 1
                        continue
                if lk.aggregate == "first":
                    groups.setdefault(k, v)
                elif lk.aggregate == "count":
                    groups[k] = groups.get(k, 0) + 1
                else:
                    groups.setdefault(k, Counter())[v] += 1
            self.lookup_info[path][lk.name] = {"rows_skipped": skipped}
        if lk.aggregate == "list":
            out = {}
            for k, counter in groups.items():
                if lk.order == "frequency":
                    items = [v for v, _ in counter.most_common()]  # ties: first seen first
                elif lk.order == "value":
                    items = sorted(counter, key=lambda v: str(v).lower())
                else:
                    items = list(counter)
                if lk.limit:
                    items = items[: lk.limit]
                out[k] = lk.join.join(str(v) for v in items)
            groups = out
        for path in self.resolved[spec.name]:
            self.lookup_info[path][lk.name]["entries"] = len(groups)
        self.lookups[lk.name] = groups
        return groups

    # -- values

    def value(
        self, t: SourceTable, spec_file: FileSpec, vs: dict, errors: list, target_type: str | None
    ) -> list:
        kind = vs["kind"]
        n = t.n
        if kind == "from":
            fld = spec_file.fields[vs["from"]]
            p = self.field(t, fld)
            self._mark(errors, p, fld)
            return self._affix(p.values, vs)
        if kind == "const":
            v = vs["const"]
            if isinstance(v, str):
                v = v.replace("{ds}", self.ds)
                if target_type == "timestamp":
                    v = parse_timestamp_literal(v)
            return [v] * n
        if kind == "template":
            parts = []
            for literal, name, _, _ in string.Formatter().parse(vs["template"]):
                if literal:
                    parts.append(literal)
                if name is None:
                    continue
                if name == "ds":
                    parts.append(self.ds)
                    continue
                fld = spec_file.fields[name]
                p = self.field(t, fld)
                self._mark(errors, p, fld)
                parts.append(p.values)
            out: list[str | None] = []
            for i in range(n):
                pieces = []
                for part in parts:
                    if isinstance(part, str):
                        pieces.append(part)
                    else:
                        v = part[i]
                        if v is None:
                            break
                        pieces.append(_text(v))
                else:
                    out.append("".join(pieces))
                    continue
                out.append(None)
            return out
        if kind == "lookup":
            table = self.build_lookup(self.m.lookups[vs["lookup"]])
            fld = spec_file.fields[vs["key"]]
            p = self.field(t, fld)
            self._mark(errors, p, fld)
            out = []
            quarantine = vs.get("on_missing", "null") == "quarantine"
            for i, k in enumerate(p.values):
                v = table.get(k) if k is not None else None
                if v is None and quarantine and k is not None:
                    errors.append(
                        (
                            i,
                            "reference",
                            ",".join(fld.sources),
                            fld.name,
                            f"{fld.name} {k!r} not found in lookup {vs['lookup']!r}",
                        )
                    )
                out.append(v)
            return self._affix(out, vs)
        if kind == "concat":
            items = [self.value(t, spec_file, item, errors, None) for item in vs["concat"]]
            sep = vs.get("sep", " ")
            out = []
            for row in zip(*items, strict=True):
                present = [_text(v) for v in row if v is not None and _text(v) != ""]
                out.append(sep.join(present) if present else None)
            return self._affix(out, vs)
        raise AssertionError(kind)  # pragma: no cover

    @staticmethod
    def _affix(values: list, vs: dict) -> list:
        pre, suf = vs.get("prefix", ""), vs.get("suffix", "")
        if not pre and not suf:
            return values
        return [None if v is None else f"{pre}{_text(v)}{suf}" for v in values]

    @staticmethod
    def _mark(errors: list, p: _Parsed, fld: Field) -> None:
        src = ",".join(fld.sources)
        errors.extend((i, fld.rule, src, fld.name, reason) for i, reason in p.bad)

    # -- outputs

    def run_output(self, spec: FileSpec, t: SourceTable, out: OutputSpec) -> OutputCounts:
        counts = OutputCounts(out.label, out.kind, out.target, rows_read=t.rows_read)
        by_rule: Counter = Counter()
        for bad in t.malformed:
            by_rule[bad.rule] += 1
            self._q_raw(t, bad, out)
        errors: list = []  # (row, rule, column, field, reason), in evaluation order
        values: dict[str, list] = {}
        types = out.column_types
        for col, vs in out.columns.items():
            values[col] = self.value(t, spec, vs, errors, types.get(col))
            if types.get(col) in ("id", "text"):  # ids become strings before keys compare
                values[col] = _coerce(values[col], "text")
        for req in out.require:
            table = self.build_lookup(self.m.lookups[req["lookup"]])
            fld = spec.fields[req["key"]]
            p = self.field(t, fld)
            self._mark(errors, p, fld)
            for i, k in enumerate(p.values):
                if k is not None and k not in table:
                    errors.append(
                        (
                            i,
                            "reference",
                            ",".join(fld.sources),
                            fld.name,
                            req.get("reason")
                            or f"{fld.name} {k!r} not found in lookup {req['lookup']!r}",
                        )
                    )
        if out.kind == "entity":
            entity = ENTITIES[out.target]
            for ecol in entity.columns:
                vals = values.get(ecol.name)
                if vals is None:
                    continue
                if ecol.key:
                    errors.extend(
                        (i, "key", ecol.name, None, f"key column {ecol.name} is empty")
                        for i, v in enumerate(vals)
                        if v is None or _text(v).strip() == ""
                    )
                if ecol.nonnegative:
                    errors.extend(
                        (i, "nonnegative", ecol.name, None, f"{ecol.name} is negative ({v!r})")
                        for i, v in enumerate(vals)
                        if isinstance(v, int | float) and not isinstance(v, bool) and v < 0
                    )
                if ecol.name == "event_type":
                    allowed = self.m.allowed_event_types
                    errors.extend(
                        (
                            i,
                            "event_type",
                            ecol.name,
                            None,
                            f"event type {v!r} is neither canonical nor declared",
                        )
                        for i, v in enumerate(vals)
                        if v is not None and str(v).strip().lower() not in allowed
                    )
        first: dict[int, tuple] = {}
        for e in errors:
            first.setdefault(e[0], e)
        for i in sorted(first):
            _, rule, column, fname, reason = first[i]
            by_rule[rule] += 1
            self._q(t, i, out.label, out.kind, out.target, rule, column, fname, reason)

        key = (out.kind, out.target)
        if key not in self.acc:
            cols = ENTITIES[out.target].column_names if out.kind == "entity" else list(out.columns)
            self.acc[key] = {c: [] for c in cols}
            self.acc_types[key] = dict(types)
        acc = self.acc[key]
        for c in out.columns:
            if c not in acc:  # an extra/labels target fed by several outputs
                acc[c] = [None] * len(next(iter(acc.values()), []))
                self.acc_types[key].setdefault(c, types.get(c, "text"))
        seen = self.seen[key]
        dedupe = [values.get(c) for c in out.dedupe]
        keep = []
        dups = 0
        for i in range(t.n):
            if i in first:
                continue
            if dedupe:
                k = tuple(None if col is None else col[i] for col in dedupe)
                if k in seen:
                    dups += 1
                    continue
                seen.add(k)
            keep.append(i)
        n_before = len(next(iter(acc.values()), []))
        for c, lst in acc.items():
            src = values.get(c)
            if src is None:
                lst.extend([None] * len(keep))
            else:
                lst.extend(src[i] for i in keep)
        assert all(len(v) == n_before + len(keep) for v in acc.values())
        counts.rows_written = len(keep)
        counts.rows_deduplicated = dups
        counts.rows_quarantined = sum(by_rule.values())
        counts.quarantined_by_rule = dict(sorted(by_rule.items()))
        return counts

    # -- quarantine records

    def _q(
        self,
        t: SourceTable,
        i: int,
        output: str,
        kind: str,
        target: str,
        rule: str,
        column: str | None,
        fname: str | None,
        reason: str,
    ) -> None:
        self.quarantine[Path(t.rel).stem].append(
            {
                "source_file": t.rel,
                "line": t.lines[i],
                "output": output,
                "target": f"{kind}:{target}",
                "column": column,
                "field": fname,
                "rule": rule,
                "reason": reason,
                "record": t.record(i),
            }
        )

    def _q_raw(self, t: SourceTable, bad, out: OutputSpec | None) -> None:
        self.quarantine[Path(t.rel).stem].append(
            {
                "source_file": t.rel,
                "line": bad.line,
                "output": out.label if out else "*",
                "target": f"{out.kind}:{out.target}" if out else None,
                "column": None,
                "field": None,
                "rule": bad.rule,
                "reason": bad.reason,
                "record": {"_line": bad.raw},
            }
        )


def _text(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return _iso(v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _iso(v: datetime) -> str:
    return (
        v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        + (f".{v.microsecond:06d}" if v.microsecond else "")
        + "Z"
    )


# --------------------------------------------------------------------------- writing


def _arrow_type(t: str):
    import pyarrow as pa

    return {
        "id": pa.string(),
        "text": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "bool": pa.bool_(),
    }[t]


def _coerce(values: list, t: str) -> list:
    if t in ("id", "text"):
        return [None if v is None else _text(v) for v in values]
    if t == "float":
        return [None if v is None else float(v) for v in values]
    if t == "int":
        return [None if v is None else int(v) for v in values]
    return values


def _write(path: Path, columns: dict[str, list], types: dict[str, str], fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = {
            c: pa.array(_coerce(v, types[c]), type=_arrow_type(types[c]))
            for c, v in columns.items()
        }
        schema = pa.schema([(c, _arrow_type(types[c])) for c in columns])
        pq.write_table(pa.table(arrays, schema=schema), tmp, compression="zstd")
    else:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(list(columns))
            for row in zip(*columns.values(), strict=True):
                w.writerow(["" if v is None else _text(v) for v in row])
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _prepare_partition(part: Path, mapping: Mapping, overwrite: bool) -> None:
    """Remove what a previous import of the same mapping wrote; refuse foreign files."""
    manifest = part / MANIFEST_NAME
    if manifest.exists():
        try:
            old = json.loads(manifest.read_text(encoding="utf-8"))
        except ValueError:
            old = {}
        if old.get("mapping") not in (None, mapping.name) and not overwrite:
            raise SourceError(
                f"{part} already holds an import of mapping {old.get('mapping')!r}; "
                f"use another ds or landing root (or overwrite=True) to import {mapping.name!r}"
            )
        own = old.get("mapping") == mapping.name and old.get("generator") == GENERATOR
        for rel in (old.get("outputs") or {}) if own else ():
            p = (part / rel).resolve()
            if p.is_file() and part.resolve() in p.parents:
                p.unlink()
    if part.is_dir():
        foreign = sorted(
            p.name for p in part.iterdir() if p.is_file() and not p.name.startswith(("_", "."))
        )
        if foreign and not overwrite:
            raise SourceError(
                f"{part} already holds landing files not written by mapping {mapping.name!r}: "
                f"{foreign}; import into an empty partition (or pass overwrite=True)"
            )


def _check_ds(ds) -> str:
    s = ds.isoformat() if isinstance(ds, date) else str(ds)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        raise SourceError(f"ds must be a date YYYY-MM-DD, got {ds!r}")
    try:
        date.fromisoformat(s)
    except ValueError as exc:
        raise SourceError(f"ds {s!r} is not a valid date") from exc
    return s


def import_export(
    mapping_path: str | Path | Mapping,
    source_dir: str | Path,
    ds: str | date,
    landing_root: str | Path | None = None,
    *,
    fmt: str = "parquet",
    overwrite: bool = False,
) -> ImportResult:
    """Import the export in ``source_dir`` with a mapping into ``landing_root/<ds>/``.

    Raises :class:`~social_warehouse.mapping.MappingError` for an invalid mapping and
    :class:`~social_warehouse.mapping.SourceError` for an export that cannot be read
    (missing file, header mismatch) or a partition holding someone else's files.
    Row-level problems never raise: they are quarantined and counted.
    """
    started = time.monotonic()
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    mapping = mapping_path if isinstance(mapping_path, Mapping) else load_mapping(mapping_path)
    ds = _check_ds(ds)
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise SourceError(f"export folder {source_dir} does not exist")
    if landing_root is None:
        from ..config import get_settings

        landing_root = get_settings().landing_dir
    part = Path(landing_root) / ds

    run = _Run(mapping, source_dir.resolve(), ds)
    run.resolve()
    for lk in mapping.lookups.values():
        run.build_lookup(lk)

    files: list[FileResult] = []
    for spec in mapping.files:
        for path in run.resolved[spec.name]:
            t = run.table(spec, path)
            fr = FileResult(
                spec.name,
                t.rel,
                t.sha256,
                t.size_bytes,
                t.rows_read,
                rows_malformed=len(t.malformed),
            )
            for out in spec.outputs:
                fr.outputs.append(run.run_output(spec, t, out))
            if not spec.outputs:
                for bad in t.malformed:
                    run._q_raw(t, bad, None)
            fr.lookups = dict(run.lookup_info.get(path, {}))
            fr.repaired = {
                name: p.repaired
                for (pth, name), p in run.parsed.items()
                if pth == path and p.repaired
            }
            files.append(fr)

    _prepare_partition(part, mapping, overwrite)
    written: list[Path] = []
    rows: dict[str, int] = {}
    ext = "parquet" if fmt == "parquet" else "csv"
    for (kind, target), cols in run.acc.items():
        if kind == "entity":
            types = {c.name: c.type for c in ENTITIES[target].columns}
            path = part / f"{target}.{ext}"
            _write(path, cols, types, fmt)
        elif kind == "extra":
            path = part / EXTRA_DIR / f"{target}.{ext}"
            _write(path, cols, run.acc_types[(kind, target)], fmt)
        else:
            path = part / LABELS_DIR / f"{target}.csv"
            _write(path, cols, run.acc_types[(kind, target)], "csv")
        written.append(path)
        rows[path.relative_to(part).as_posix()] = len(next(iter(cols.values()), []))
    for stem, records in sorted(run.quarantine.items()):
        path = part / QUARANTINE_DIR / f"{stem}.jsonl"
        _write_text(
            path, "".join(json.dumps(r, ensure_ascii=False, default=_text) + "\n" for r in records)
        )
        written.append(path)
        rows[path.relative_to(part).as_posix()] = len(records)

    event_types = {
        name: {
            "weight": et.weight,
            "scale_by_value": et.scale_by_value,
            **({"description": et.description} if et.description else {}),
        }
        for name, et in mapping.event_types.items()
    }
    result = ImportResult(
        mapping=mapping.name,
        mapping_path=str(mapping.path),
        mapping_sha256=mapping.sha256,
        ds=ds,
        partition_dir=part,
        files=files,
        rows=rows,
        paths=written,
        manifest_path=part / MANIFEST_NAME,
        event_types=event_types,
    )
    result.seconds = time.monotonic() - started
    manifest = {
        "manifest_version": 1,
        "generator": GENERATOR,
        "created_at": _iso(datetime.now(UTC).replace(microsecond=0)),
        "platform": mapping.platform,
        "description": mapping.description,
        "source_dir": str(source_dir.resolve()),
        **result.to_dict(),
    }
    if mapping.export_time_range:
        start, end = mapping.export_time_range
        manifest["export_time_range"] = {"start": start, **({"end": end} if end else {})}
    manifest.pop("partition_dir", None)
    _write_text(result.manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    written.append(result.manifest_path)
    # an entity file name must be recognised by the landing loader
    assert all(
        entity_for_file(p.name) for p in written if p.parent == part and not p.name.startswith("_")
    )
    return result
