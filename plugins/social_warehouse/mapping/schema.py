"""The source-mapping file format: JSON schema, loading and semantic validation.

:func:`load_mapping` reads one YAML mapping, checks it against :data:`MAPPING_SCHEMA`
(structure) and then against the canonical contract (entities, required columns, types,
references between files, fields, lookups and event types). Every problem is reported in
one :class:`MappingError` whose lines name the file, the line, the key path and the
problem, e.g.::

    sources/x.yaml: 3 problem(s)
      line 14, files[0].outputs[0].entity: 'postz' is not one of: campaigns, follows, ...
      line 20, files[0].outputs[1]: users must map required column 'created_at' ...
"""

from __future__ import annotations

import hashlib
import math
import re
import reprlib
import string
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ..contract import DEFAULT_EVENT_WEIGHTS, ENTITIES
from .rules import COMMON_OPTIONS, RULE_OPTIONS, RULES, Field, make_field, parse_timestamp_literal

__all__ = [
    "MAPPING_SCHEMA",
    "MappingError",
    "Mapping",
    "FileSpec",
    "OutputSpec",
    "LookupSpec",
    "EventType",
    "load_mapping",
    "validate_mapping",
    "schema_json",
]

_NAME = r"^[a-z][a-z0-9_]*$"
#: Values a mapping may stand for once YAML aliases are expanded.
MAX_EXPANDED_NODES = 200_000
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 80, 80
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxtuple = _SHORT.maxset = 6
_RULE_OPTION_NAMES = sorted(
    {o for opts in RULE_OPTIONS.values() for o in opts} | set(COMMON_OPTIONS)
)

_VALUE_SPEC = {
    "description": (
        "How a target column gets its value: a string (shorthand for {from: <field>}) or "
        "an object with exactly one of from/const/template/lookup/concat."
    ),
    "type": ["string", "object"],
    "additionalProperties": False,
    "properties": {
        "from": {"type": "string", "description": "a field (or raw column) of the file"},
        "const": {"description": "a constant; strings may use {ds}"},
        "template": {"type": "string", "description": "e.g. 'lastfm_{userID}'; {ds} allowed"},
        "lookup": {"type": "string", "description": "name of a lookup"},
        "key": {"type": "string", "description": "field holding the lookup key"},
        "on_missing": {"enum": ["null", "quarantine"]},
        "concat": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/value"}},
        "sep": {"type": "string"},
        "prefix": {"type": "string"},
        "suffix": {"type": "string"},
    },
}

MAPPING_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://social-warehouse.local/schemas/source-mapping.json",
    "title": "Social Warehouse source mapping",
    "description": "Turns the files of one platform export into canonical landing files.",
    "type": "object",
    "additionalProperties": False,
    "patternProperties": {"^x-": {"description": "free extension keys, e.g. YAML anchors"}},
    "required": ["version", "name", "files"],
    "properties": {
        "version": {"const": 1},
        "name": {"type": "string", "pattern": _NAME},
        "description": {"type": "string"},
        "platform": {"type": "string"},
        "license": {"type": "string"},
        "event_types": {
            "type": "object",
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["weight"],
                "properties": {
                    "weight": {"type": "number", "exclusiveMinimum": 0},
                    "scale_by_value": {"type": "boolean"},
                    "description": {"type": "string"},
                },
            },
        },
        "export_time_range": {
            "description": (
                "The time span of the export's events, written to the partition's "
                "_manifest.json: the gates take its start as the earliest plausible "
                "timestamp instead of platform_start_date (an old export needs no "
                "thresholds overlay). ISO-8601 dates or date-times; end is optional."
            ),
            "type": "object",
            "additionalProperties": False,
            "required": ["start"],
            "properties": {"start": {"type": "string"}, "end": {"type": "string"}},
        },
        "lookups": {
            "type": "object",
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": {"$ref": "#/$defs/lookup"},
        },
        "files": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/file"}},
    },
    "$defs": {
        "file": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "pattern"],
            "properties": {
                "name": {"type": "string", "pattern": _NAME},
                "description": {"type": "string"},
                "pattern": {
                    "description": "glob(s) relative to the export folder",
                    "oneOf": [
                        {"type": "string", "minLength": 1},
                        {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "string", "minLength": 1},
                        },
                    ],
                },
                "optional": {"type": "boolean"},
                "encoding": {"type": "string"},
                "delimiter": {"type": "string", "minLength": 1},
                "header": {"type": "boolean"},
                "columns": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "string", "minLength": 1},
                },
                "comment": {"type": "string", "minLength": 1},
                "quoting": {"enum": ["minimal", "none"]},
                "skip_rows": {"type": "integer", "minimum": 0},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"$ref": "#/$defs/field"},
                },
                "outputs": {"type": "array", "items": {"$ref": "#/$defs/output"}},
            },
        },
        "field": {
            "type": "object",
            "additionalProperties": False,
            "required": ["rule"],
            "properties": {
                "rule": {"enum": list(RULES)},
                "from": {"type": "string"},
                "description": {"type": "string"},
                "strip": {"type": "boolean"},
                "null_values": {"type": "array", "items": {"type": "string"}},
                "required": {"type": "boolean"},
                "fix_mojibake": {"type": "boolean"},
                "lower": {"type": "boolean"},
                "pattern": {"type": "string"},
                "thousands": {"type": "string", "maxLength": 1},
                "min": {"type": ["number", "string"]},
                "max": {"type": ["number", "string"]},
                "suffixes": {"type": "object", "additionalProperties": {"type": "number"}},
                "type": {"enum": ["int", "float"]},
                "scale": {"enum": ["fraction", "percent"]},
                "true_values": {"type": "array", "items": {"type": "string"}},
                "false_values": {"type": "array", "items": {"type": "string"}},
                "format": {
                    "oneOf": [
                        {"type": "string"},
                        {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    ]
                },
                "timezone": {"type": "string"},
                "unit": {"enum": ["s", "ms", "us"]},
                "year": {"type": "string"},
                "month": {"type": "string"},
                "day": {"type": "string"},
                "hour": {"type": "string"},
                "minute": {"type": "string"},
                "second": {"type": "string"},
                "separator": {"type": "string", "minLength": 1},
                "join": {"type": "string"},
                "strip_chars": {"type": "string"},
            },
        },
        "output": {
            "type": "object",
            "additionalProperties": False,
            "required": ["columns"],
            "properties": {
                "name": {"type": "string", "pattern": _NAME},
                "description": {"type": "string"},
                "entity": {"enum": sorted(ENTITIES)},
                "extra": {"type": "string", "pattern": _NAME},
                "labels": {"type": "string", "pattern": _NAME},
                "columns": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": {"$ref": "#/$defs/value"},
                },
                "dedupe": {"type": "array", "items": {"type": "string"}},
                "require": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["lookup", "key"],
                        "properties": {
                            "lookup": {"type": "string"},
                            "key": {"type": "string"},
                            "reason": {"type": "string"},
                        },
                    },
                },
            },
        },
        "lookup": {
            "type": "object",
            "additionalProperties": False,
            "required": ["file", "key", "value"],
            "properties": {
                "description": {"type": "string"},
                "file": {"type": "string"},
                "key": {"type": "string"},
                "value": {"type": "string"},
                "through": {"type": "string"},
                "aggregate": {"enum": ["first", "list", "count"]},
                "order": {"enum": ["frequency", "value", "first_seen"]},
                "limit": {"type": "integer", "minimum": 1},
                "join": {"type": "string"},
            },
        },
        "value": _VALUE_SPEC,
    },
}

_VALUE_KINDS = ("from", "const", "template", "lookup", "concat")
_TYPE_NAMES = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "list",
    dict: "mapping",
    type(None): "null",
}


def schema_json() -> str:
    """The mapping JSON schema, as written to ``sources/mapping.schema.json``."""
    import json

    return json.dumps(MAPPING_SCHEMA, indent=2, ensure_ascii=False) + "\n"


class MappingError(ValueError):
    """An invalid mapping file. ``problems`` holds ``(key_path, message)`` pairs."""

    def __init__(
        self,
        source: str,
        problems: list[tuple[str, str]],
        lines: dict[tuple, int] | None = None,
        paths: list[tuple] | None = None,
    ):
        self.source = source
        self.problems = problems
        shown = []
        for i, (path, msg) in enumerate(problems):
            line = None
            if lines and paths:
                line = _line_for(lines, paths[i])
            prefix = f"line {line}, " if line else ""
            shown.append(f"  {prefix}{path or '<root>'}: {msg}")
        super().__init__(
            f"{source}: {len(problems)} problem(s) in the mapping\n" + "\n".join(shown)
        )


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class EventType:
    name: str
    weight: float
    scale_by_value: bool = False
    description: str = ""


@dataclass
class LookupSpec:
    name: str
    file: str
    key: str
    value: str
    through: str | None = None
    aggregate: str = "first"
    order: str = "frequency"
    limit: int | None = None
    join: str = ", "

    @property
    def out_type(self) -> str:
        return {"count": "int", "list": "text"}.get(self.aggregate, "text")


@dataclass
class OutputSpec:
    label: str
    kind: str  # entity | extra | labels
    target: str
    columns: dict[str, dict]
    dedupe: list[str]
    require: list[dict]
    path: str
    column_types: dict[str, str] = field(default_factory=dict)

    @property
    def is_entity(self) -> bool:
        return self.kind == "entity"


@dataclass
class FileSpec:
    name: str
    patterns: list[str]
    optional: bool
    encoding: str
    delimiter: str
    header: bool
    columns: list[str] | None
    comment: str | None
    quoting: str
    skip_rows: int
    fields: dict[str, Field]
    outputs: list[OutputSpec]
    path: str


@dataclass
class Mapping:
    name: str
    path: Path
    sha256: str
    description: str
    platform: str | None
    event_types: dict[str, EventType]
    lookups: dict[str, LookupSpec]
    files: list[FileSpec]
    raw: dict
    # (start, end) as ISO-8601 UTC strings; end None when open
    export_time_range: tuple[str, str | None] | None = None

    def file(self, name: str) -> FileSpec:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def allowed_event_types(self) -> set[str]:
        return set(DEFAULT_EVENT_WEIGHTS) | set(self.event_types)


# --------------------------------------------------------------------------- loading


def load_mapping(path: str | Path) -> Mapping:
    """Read, validate and compile one YAML mapping file; raise :class:`MappingError`."""
    path = Path(path)
    try:
        data_bytes = path.read_bytes()
    except OSError as exc:
        raise MappingError(
            str(path), [("", f"cannot read the mapping file ({exc.strerror})")]
        ) from exc
    try:
        text = data_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MappingError(str(path), [("", f"the mapping file is not UTF-8 ({exc})")]) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise MappingError(str(path), [("", f"not valid YAML: {exc}")]) from exc
    size = _expanded_size(node, MAX_EXPANDED_NODES)
    if size > MAX_EXPANDED_NODES:
        raise MappingError(
            str(path),
            [("", f"the YAML expands to more than {MAX_EXPANDED_NODES:,} values through "
                  "aliases (nested anchors, a 'billion laughs'); a mapping needs no more "
                  "than a few thousand")],
        )
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(str(path), [("", f"not valid YAML: {exc}")]) from exc
    lines = _line_index(node)
    mapping = validate_mapping(data, source=str(path), lines=lines)
    mapping.path = path
    mapping.sha256 = hashlib.sha256(data_bytes).hexdigest()
    return mapping


def validate_mapping(
    data: Any, source: str = "<mapping>", lines: dict[tuple, int] | None = None
) -> Mapping:
    """Validate an already-parsed mapping document and compile it."""
    problems: list[tuple[tuple, str]] = []
    if not isinstance(data, dict):
        raise MappingError(
            source,
            [("", f"expected a mapping (YAML object) at the top level, got {_type_name(data)}")],
        )
    rng = data.get("export_time_range")
    if isinstance(rng, dict):  # unquoted YAML dates arrive as date objects
        data = {**data, "export_time_range": {
            k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in rng.items()}}
    validator = jsonschema.Draft202012Validator(MAPPING_SCHEMA)
    for err in sorted(
        validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    ):
        problems.extend(_describe_schema_error(err))
    if problems:
        _raise(source, problems, lines)
    checker = _Checker(data)
    mapping = checker.run()
    if checker.problems:
        _raise(source, checker.problems, lines)
    return mapping


def _raise(source, problems, lines):
    # de-duplicate, keep order
    seen, unique = set(), []
    for p in problems:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    raise MappingError(
        source, [(_fmt_path(p), m) for p, m in unique], lines, [p for p, _ in unique]
    )


def _fmt_path(path: tuple) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _type_name(v) -> str:
    return _TYPE_NAMES.get(type(v), type(v).__name__)


def _describe_schema_error(err: jsonschema.ValidationError) -> list[tuple[tuple, str]]:
    path = tuple(err.absolute_path)
    v, inst, sch = err.validator, err.instance, err.schema
    if v == "additionalProperties" and isinstance(inst, dict):
        allowed = sorted(sch.get("properties", {}))
        extra = [k for k in inst if k not in sch.get("properties", {})]
        if not allowed:  # pattern-only objects
            return [(path, err.message)]
        return [
            ((*path, k), f"unknown key {k!r} (allowed here: {', '.join(allowed)})") for k in extra
        ]
    if v == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return [(path, f"missing required key {missing!r}")]
    if v == "type":
        want = err.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return [(path, f"expected {want}, got {_type_name(inst)} {_SHORT.repr(inst)}")]
    if v == "enum":
        return [(path, f"{_SHORT.repr(inst)} is not one of: "
                       f"{', '.join(map(str, err.validator_value))}")]
    if v == "const":
        return [(path, f"must be {err.validator_value!r}, got {_SHORT.repr(inst)}")]
    if v == "pattern":
        return [
            (
                path,
                f"{inst!r} does not match {err.validator_value} "
                "(lower-case letters, digits and '_', starting with a letter)",
            )
        ]
    if v == "propertyNames":
        return [(path, f"invalid name: {err.message}")]
    if v == "oneOf":
        hint = err.schema.get("description") or "expected a string or a list of strings"
        return [(path, f"invalid value {_SHORT.repr(inst)}: {hint}")]
    return [(path, err.message)]


# --------------------------------------------------------------------------- YAML lines


def _expanded_size(root, limit: int) -> int:
    """Values the YAML node graph stands for once every alias is expanded (stops at limit).

    Each node is sized once (memoised), so nested anchors cost their distinct nodes, not
    their expansion.
    """
    sizes: dict[int, int] = {}
    stack = [(root, False)] if root is not None else []
    while stack:
        n, done = stack.pop()
        if id(n) in sizes:
            continue
        kids = []
        if isinstance(n, yaml.MappingNode):
            kids = [c for kv in n.value for c in kv]
        elif isinstance(n, yaml.SequenceNode):
            kids = list(n.value)
        if done:
            sizes[id(n)] = min(limit + 1, 1 + sum(sizes.get(id(k), 0) for k in kids))
            continue
        stack.append((n, True))
        stack.extend((k, False) for k in kids if id(k) not in sizes)
    return sizes.get(id(root), 0) if root is not None else 0


def _line_index(node) -> dict[tuple, int]:
    """Map key paths to 1-based line numbers of the YAML document (best effort).

    Every node is visited once: a node reached again through an alias keeps the paths of
    its first visit, and ``x-`` extension keys are not entered, so nested anchors cannot
    make this walk exponential.
    """
    out: dict[tuple, int] = {}
    if node is None:
        return out
    visited: set[int] = set()
    stack: list[tuple[Any, tuple]] = [(node, ())]
    while stack:
        n, path = stack.pop()
        if id(n) in visited:
            continue
        visited.add(id(n))
        out.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for k, val in n.value:
                if not isinstance(k, yaml.ScalarNode):
                    continue
                if k.value == "<<":  # merge key: inherit the children
                    stack.append((val, path))
                elif not (not path and str(k.value).startswith("x-")):
                    out[(*path, k.value)] = k.start_mark.line + 1
                    stack.append((val, (*path, k.value)))
        elif isinstance(n, yaml.SequenceNode):
            stack.extend((item, (*path, i)) for i, item in enumerate(n.value))
    return out


def _line_for(lines: dict[tuple, int], path: tuple) -> int | None:
    p = tuple(path)
    while True:
        if p in lines:
            return lines[p]
        if not p:
            return None
        p = p[:-1]


# --------------------------------------------------------------------------- semantics


_COMPATIBLE = {
    # target type -> value types it accepts
    "id": {"id", "text", "int"},
    "text": {"id", "text", "int", "float", "bool"},
    "int": {"int"},
    "float": {"int", "float"},
    "timestamp": {"timestamp"},
    "bool": {"bool"},
}


class _Checker:
    """Semantic checks after the JSON-schema pass; compiles the :class:`Mapping`."""

    def __init__(self, data: dict):
        self.data = data
        self.problems: list[tuple[tuple, str]] = []

    def err(self, path: tuple, msg: str) -> None:
        self.problems.append((path, msg))

    def run(self) -> Mapping:
        d = self.data
        event_types = {
            name: EventType(
                name,
                float(spec["weight"]),
                bool(spec.get("scale_by_value", False)),
                spec.get("description", ""),
            )
            for name, spec in (d.get("event_types") or {}).items()
        }
        for name, et in event_types.items():
            if not math.isfinite(et.weight):
                self.err(("event_types", name, "weight"),
                         f"weight must be a finite number > 0, got {et.weight!r}")
        export_range = self._export_time_range(d.get("export_time_range"))
        files_raw = d["files"]
        names = [f["name"] for f in files_raw]
        for i, n in enumerate(names):
            if names.index(n) != i:
                self.err(("files", i, "name"), f"duplicate file name {n!r}")
        self.files_raw = {f["name"]: (i, f) for i, f in enumerate(files_raw)}

        files = [self._file(i, f) for i, f in enumerate(files_raw)]
        by_name = {f.name: f for f in files}
        lookups = {
            n: self._lookup(n, spec, by_name) for n, spec in (d.get("lookups") or {}).items()
        }
        self._check_lookup_cycles(lookups)
        self.allowed_events = set(DEFAULT_EVENT_WEIGHTS) | set(event_types)
        labels: dict[str, str] = {}
        used_files = {lk.file for lk in lookups.values()}
        for fi, f in enumerate(files):
            for oi, out in enumerate(f.outputs):
                self._check_output(f, fi, oi, out, lookups)
                if out.label in labels:
                    self.err(
                        ("files", fi, "outputs", oi, "name"),
                        f"duplicate output name {out.label!r}; give the outputs distinct 'name's",
                    )
                labels[out.label] = f.name
            if not f.outputs and f.name not in used_files:
                self.err(("files", fi), f"file {f.name!r} has no outputs and no lookup uses it")
        return Mapping(
            name=d["name"],
            path=Path(),
            sha256="",
            description=d.get("description", ""),
            platform=d.get("platform"),
            event_types=event_types,
            lookups=lookups,
            files=files,
            raw=d,
            export_time_range=export_range,
        )

    def _export_time_range(self, rng: dict | None) -> tuple[str, str | None] | None:
        if not rng:
            return None
        out: dict[str, str] = {}
        for key in ("start", "end"):
            if rng.get(key) is None:
                continue
            try:
                t = parse_timestamp_literal(rng[key])
            except ValueError:
                self.err(("export_time_range", key),
                         f"{rng[key]!r} is not an ISO-8601 date or date-time (e.g. '2005-02-14')")
                continue
            out[key] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        if "start" not in out:
            return None
        if out.get("end") and out["end"] < out["start"]:
            self.err(("export_time_range", "end"),
                     f"end {rng['end']!r} is before start {rng['start']!r}")
            return None
        return out["start"], out.get("end")

    # -- files

    def _file(self, i: int, f: dict) -> FileSpec:
        base = ("files", i)
        header = f.get("header", True)
        columns = f.get("columns")
        if not header and not columns:
            self.err(
                base, "a file without a header row needs 'columns' (the column names in order)"
            )
        if columns and len(set(columns)) != len(columns):
            self.err((*base, "columns"), "column names must be unique")
        fields: dict[str, Field] = {}
        for name, spec in (f.get("fields") or {}).items():
            fpath = (*base, "fields", name)
            allowed = set(COMMON_OPTIONS) | set(RULE_OPTIONS[spec["rule"]])
            bad = [k for k in spec if k not in allowed]
            for k in bad:
                self.err(
                    (*fpath, k),
                    f"option {k!r} does not apply to rule {spec['rule']!r} "
                    f"(options of this rule: {', '.join(sorted(allowed))})",
                )
            if bad:
                continue
            try:
                fields[name] = make_field(name, spec)
            except ValueError as exc:
                self.err(fpath, str(exc))
                continue
            if columns:
                for src in fields[name].sources:
                    if src not in columns:
                        self.err(
                            fpath,
                            f"source column {src!r} is not among the file's columns "
                            f"({', '.join(columns)})",
                        )
        delimiter = f.get("delimiter", ",")
        if delimiter != "whitespace" and len(delimiter) != 1:
            self.err(
                (*base, "delimiter"),
                f"delimiter must be one character or 'whitespace', got {delimiter!r}",
            )
        encoding = f.get("encoding", "utf-8")
        try:
            "".encode(encoding)
        except LookupError:
            self.err((*base, "encoding"), f"unknown encoding {encoding!r}")
        patterns = f["pattern"] if isinstance(f["pattern"], list) else [f["pattern"]]
        for p in patterns:
            if p.startswith("/") or ".." in Path(p).parts:
                self.err((*base, "pattern"), f"pattern {p!r} must stay inside the export folder")
        outputs = []
        counts: dict[str, int] = {}
        for oi, o in enumerate(f.get("outputs") or []):
            outputs.append(self._output(f["name"], base, oi, o, counts))
        return FileSpec(
            name=f["name"],
            patterns=patterns,
            optional=f.get("optional", False),
            encoding=encoding,
            delimiter=delimiter,
            header=header,
            columns=columns,
            comment=f.get("comment"),
            quoting=f.get("quoting", "minimal"),
            skip_rows=f.get("skip_rows", 0),
            fields=fields,
            outputs=outputs,
            path=_fmt_path(base),
        )

    def _output(self, file_name: str, base: tuple, oi: int, o: dict, counts: dict) -> OutputSpec:
        path = (*base, "outputs", oi)
        kinds = [k for k in ("entity", "extra", "labels") if k in o]
        if len(kinds) != 1:
            self.err(
                path,
                "an output declares exactly one of 'entity' (a canonical entity), "
                "'extra' (written to _extra/) or 'labels' (written to _labels/)",
            )
            kind, target = "extra", "invalid"
        else:
            kind, target = kinds[0], o[kinds[0]]
        columns = {}
        for col, spec in o["columns"].items():
            columns[col] = self._value(spec, (*path, "columns", col))
        if "dedupe" in o:
            dedupe = list(o["dedupe"])
        elif kind == "entity":
            dedupe = list(ENTITIES[target].primary_key)
        else:
            dedupe = []
        counts[target] = counts.get(target, 0) + 1
        label = o.get("name") or f"{file_name}:{target}" + (
            f"#{counts[target]}" if counts[target] > 1 else ""
        )
        return OutputSpec(
            label, kind, target, columns, dedupe, list(o.get("require") or []), _fmt_path(path)
        )

    def _value(self, spec, path: tuple) -> dict:
        if isinstance(spec, str):
            return {"kind": "from", "from": spec, "_path": path}
        kinds = [k for k in _VALUE_KINDS if k in spec]
        if len(kinds) != 1:
            self.err(
                path,
                "a column value declares exactly one of "
                + ", ".join(_VALUE_KINDS)
                + f" (got {', '.join(kinds) or 'none'})",
            )
            return {"kind": "const", "const": None, "_path": path}
        kind = kinds[0]
        allowed = {
            "from": {"prefix", "suffix"},
            "const": set(),
            "template": set(),
            "lookup": {"key", "on_missing", "prefix", "suffix"},
            "concat": {"sep", "prefix", "suffix"},
        }[kind] | {kind}
        for k in spec:
            if k not in allowed:
                self.err(
                    (*path, k),
                    f"key {k!r} does not apply to a {kind!r} value "
                    f"(allowed: {', '.join(sorted(allowed))})",
                )
        out = dict(spec)
        out["kind"] = kind
        out["_path"] = path
        if kind == "lookup" and "key" not in spec:
            self.err(path, "a lookup value needs 'key': the field holding the lookup key")
        if kind == "concat":
            out["concat"] = [
                self._value(s, (*path, "concat", i)) for i, s in enumerate(spec["concat"])
            ]
        if kind == "template":
            try:
                out["vars"] = [
                    fname
                    for _, fname, _, _ in string.Formatter().parse(spec["template"])
                    if fname is not None
                ]
            except ValueError as exc:
                self.err((*path, "template"), f"invalid template: {exc}")
                out["vars"] = []
            if any(v == "" or not re.fullmatch(r"[A-Za-z0-9_]+", v) for v in out["vars"]):
                self.err(
                    (*path, "template"), "template placeholders must be field names like {userID}"
                )
        return out

    # -- lookups

    def _lookup(self, name: str, spec: dict, files: dict[str, FileSpec]) -> LookupSpec:
        path = ("lookups", name)
        lk = LookupSpec(
            name,
            spec["file"],
            spec["key"],
            spec["value"],
            spec.get("through"),
            spec.get("aggregate", "first"),
            spec.get("order", "frequency"),
            spec.get("limit"),
            spec.get("join", ", "),
        )
        if lk.file not in files:
            self.err((*path, "file"), f"unknown file {lk.file!r} (files: {', '.join(files)})")
            return lk
        f = files[lk.file]
        for key in ("key", "value"):
            self._check_ref(f, getattr(lk, key), (*path, key))
        if lk.through and lk.through not in (self.data.get("lookups") or {}):
            self.err((*path, "through"), f"unknown lookup {lk.through!r}")
        if lk.aggregate != "list" and ("limit" in spec or "join" in spec or "order" in spec):
            self.err(path, "'order', 'limit' and 'join' apply only to aggregate: list")
        return lk

    def _check_lookup_cycles(self, lookups: dict[str, LookupSpec]) -> None:
        for name in lookups:
            seen: list[str] = []
            cur = name
            while cur in lookups and (through := lookups[cur].through):
                if cur in seen:
                    self.err(
                        ("lookups", name, "through"),
                        f"lookups form a cycle: {' -> '.join(seen + [cur])}",
                    )
                    break
                seen.append(cur)
                cur = through

    def _check_ref(self, f: FileSpec, ref: str, path: tuple) -> None:
        """A field name or a raw column; raw columns become implicit text fields."""
        if ref in f.fields:
            return
        if f.columns is not None and ref not in f.columns:
            self.err(
                path,
                f"{ref!r} is neither a field of file {f.name!r} "
                f"({', '.join(f.fields) or 'none'}) nor one of its columns "
                f"({', '.join(f.columns)})",
            )
            return
        f.fields[ref] = make_field(ref, {"rule": "text"})

    # -- outputs

    def _check_output(self, f: FileSpec, fi: int, oi: int, out: OutputSpec, lookups) -> None:
        path = ("files", fi, "outputs", oi)
        types: dict[str, str | None] = {}
        for col, spec in out.columns.items():
            types[col] = self._value_type(f, spec, lookups)
        if out.kind == "entity":
            entity = ENTITIES[out.target]
            for col, spec in out.columns.items():
                cpath = spec["_path"]
                if col not in entity.column_names:
                    self.err(
                        cpath,
                        f"{col!r} is not a column of {entity.name} "
                        f"(columns: {', '.join(entity.column_names)})",
                    )
                    continue
                ecol = entity.column(col)
                vt = types[col]
                if spec["kind"] == "const":
                    self._check_const(spec, ecol, cpath, entity.name)
                elif vt is not None and vt not in _COMPATIBLE[ecol.type]:
                    self.err(
                        cpath,
                        f"{entity.name}.{col} is {ecol.type} but the value is {vt}; "
                        "declare a field with a rule producing "
                        f"{' or '.join(sorted(_COMPATIBLE[ecol.type]))}",
                    )
                if (
                    col == "event_type"
                    and spec["kind"] == "const"
                    and isinstance(spec["const"], str)
                ):
                    if spec["const"].lower() not in self.allowed_events:
                        self.err(
                            cpath,
                            f"event type {spec['const']!r} is neither canonical "
                            f"({', '.join(DEFAULT_EVENT_WEIGHTS)}) nor declared "
                            "under event_types",
                        )
            for c in entity.required_columns:
                if c in out.columns:
                    continue
                if entity.column(c).key:
                    self.err(
                        path,
                        f"{entity.name} must map key column {c!r} (it needs a value on every row)",
                    )
                else:
                    self.err(
                        path,
                        f"{entity.name} must map required column {c!r} "
                        "(use {const: null} when the source has no value)",
                    )
            out.column_types = {c.name: c.type for c in entity.columns}
        else:
            for col, spec in out.columns.items():
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", col):
                    self.err(spec["_path"], f"column name {col!r} must be an identifier")
            out.column_types = {c: (t or "text") for c, t in types.items()}
        for k in out.dedupe:
            if k not in out.columns and not (
                out.kind == "entity" and k in ENTITIES[out.target].column_names
            ):
                self.err((*path, "dedupe"), f"dedupe key {k!r} is not an output column")
        for ri, req in enumerate(out.require):
            if req["lookup"] not in lookups:
                self.err((*path, "require", ri, "lookup"), f"unknown lookup {req['lookup']!r}")
            self._check_ref(f, req["key"], (*path, "require", ri, "key"))

    def _check_const(self, spec: dict, c, path: tuple, entity: str) -> None:
        v = spec["const"]
        if v is None:
            if c.key:
                self.err(path, f"{entity}.{c.name} is a key column and cannot be a null constant")
            return
        ok = {
            "id": isinstance(v, str | int) and not isinstance(v, bool),
            "text": isinstance(v, str | int | float) and not isinstance(v, bool),
            "int": isinstance(v, int) and not isinstance(v, bool),
            "float": isinstance(v, int | float) and not isinstance(v, bool),
            "bool": isinstance(v, bool),
            "timestamp": isinstance(v, str),
        }[c.type]
        if not ok:
            self.err(path, f"constant {v!r} is not a valid {c.type} for {entity}.{c.name}")
            return
        if c.type == "timestamp":
            try:
                parse_timestamp_literal(v.replace("{ds}", "2000-01-01"))
            except ValueError:
                self.err(
                    path, f"constant {v!r} is not an ISO-8601 date-time (e.g. '{{ds}}T00:00:00Z')"
                )
        if c.nonnegative and isinstance(v, int | float) and v < 0:
            self.err(path, f"{entity}.{c.name} cannot be negative")

    def _value_type(self, f: FileSpec, spec: dict, lookups) -> str | None:
        kind = spec["kind"]
        path = spec["_path"]
        if kind == "from":
            self._check_ref(f, spec["from"], (*path, "from") if len(path) else path)
            fld = f.fields.get(spec["from"])
            base = fld.out_type if fld else None
            if base and (spec.get("prefix") or spec.get("suffix")):
                return "text" if base != "id" else "id"
            return base
        if kind == "const":
            v = spec["const"]
            if v is None:
                return None
            if isinstance(v, bool):
                return "bool"
            if isinstance(v, int):
                return "int"
            if isinstance(v, float):
                return "float"
            if isinstance(v, str):
                return "text"
            self.err(
                path, f"constant must be a string, number, boolean or null, got {_type_name(v)}"
            )
            return None
        if kind == "template":
            for var in spec.get("vars", []):
                if var != "ds":
                    self._check_ref(f, var, (*path, "template"))
            return "id"
        if kind == "lookup":
            if spec["lookup"] not in lookups:
                self.err(
                    (*path, "lookup"),
                    f"unknown lookup {spec['lookup']!r} (lookups: {', '.join(lookups) or 'none'})",
                )
                return None
            if "key" in spec:
                self._check_ref(f, spec["key"], (*path, "key"))
            lk = lookups[spec["lookup"]]
            if spec.get("prefix") or spec.get("suffix"):
                return "text"
            if lk.aggregate == "count":
                return "int"
            if lk.aggregate == "list" or lk.through:
                return "text"
            src = self.files_raw.get(lk.file)
            fields = (src[1].get("fields") or {}) if src else {}
            vspec = fields.get(lk.value)
            if vspec:
                from .rules import rule_output_type

                return rule_output_type(vspec["rule"], vspec)
            return "text"
        if kind == "concat":
            for item in spec["concat"]:
                self._value_type(f, item, lookups)
            return "text"
        return None  # pragma: no cover
