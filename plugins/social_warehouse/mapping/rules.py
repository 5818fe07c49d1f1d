"""Parse rules: how one raw source value (a string) becomes a typed value.

Every rule is a small function ``raw -> value`` that raises :class:`ParseFailure` with a
human-readable reason. A :class:`Field` wraps a rule with the options every rule shares
(``strip``, ``null_values``, ``required``) and with the range checks (``min``/``max``).
A failure never turns into a silent null: the engine quarantines the row and names the
rule.

========================  ======================  ==========================================
rule                      output type             example
========================  ======================  ==========================================
``text``                  text                    ``CÃ´te d'Ivoire`` -> ``Côte d'Ivoire``
                                                  (with ``fix_mojibake``)
``id``                    id                      ``" 42 "`` -> ``"42"``
``int``                   int                     ``"13883"`` -> 13883
``float``                 float                   ``"0.5"`` -> 0.5
``number_suffix``         int (or float)          ``"475.8m"`` -> 475800000, ``"1.2k"``,
                                                  ``"3b"``
``percent``               float (a fraction)      ``"1.39%"`` -> 0.0139
``bool``                  bool                    ``"yes"`` -> True
``timestamp``             timestamp (UTC)         ``"2009-04-01"`` with ``format: "%Y-%m-%d"``
``date_parts``            timestamp (UTC)         columns day/month/year -> 2009-04-01T00:00Z
``epoch``                 timestamp (UTC)         ``"1238536800000"`` with ``unit: ms``
``list``                  text (joined)           ``"#a; b"`` -> ``"a, b"``
========================  ======================  ==========================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "RULES",
    "RULE_OPTIONS",
    "COMMON_OPTIONS",
    "ParseFailure",
    "Field",
    "make_field",
    "parse_timestamp_literal",
    "repair_mojibake",
    "rule_output_type",
]

#: Options every rule accepts.
COMMON_OPTIONS = ("rule", "from", "strip", "null_values", "required", "description")

_RANGE = ("min", "max")
#: Options specific to each rule (besides COMMON_OPTIONS).
RULE_OPTIONS: dict[str, tuple[str, ...]] = {
    "text": ("fix_mojibake", "lower"),
    "id": ("pattern", "lower"),
    "int": ("thousands", *_RANGE),
    "float": ("thousands", *_RANGE),
    "number_suffix": ("suffixes", "type", *_RANGE),
    "percent": ("scale", *_RANGE),
    "bool": ("true_values", "false_values"),
    "timestamp": ("format", "timezone", *_RANGE),
    "date_parts": ("year", "month", "day", "hour", "minute", "second", "timezone", *_RANGE),
    "epoch": ("unit", *_RANGE),
    "list": ("separator", "join", "strip_chars", "lower"),
}
RULES: tuple[str, ...] = tuple(RULE_OPTIONS)

_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")
_SUFFIXES = {"k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}
_DATE_PARTS = ("year", "month", "day", "hour", "minute", "second")
# Two-character sequences UTF-8 text shows when its bytes were decoded as Latin-1/CP1252.
_MOJIBAKE = re.compile(
    "[\u00c2-\u00df][\u0080-\u00bf\u2018-\u203a\u0152\u0153\u0160\u0161"
    "\u0178\u017d\u017e\u0192\u02c6\u02dc\u20ac\u2122]|\u00e2\u20ac"
)


class ParseFailure(ValueError):
    """A raw value the rule cannot turn into a typed value (``reason`` says why)."""


def rule_output_type(rule: str, options: dict) -> str:
    """Logical contract type (id/text/int/float/timestamp/bool) a rule produces."""
    if rule == "number_suffix":
        return options.get("type", "int")
    return {
        "text": "text",
        "id": "id",
        "int": "int",
        "float": "float",
        "percent": "float",
        "bool": "bool",
        "timestamp": "timestamp",
        "date_parts": "timestamp",
        "epoch": "timestamp",
        "list": "text",
    }[rule]


def parse_timestamp_literal(value: str, tz: timezone | ZoneInfo = UTC) -> datetime:
    """ISO-8601 date or date-time -> aware UTC datetime (naive values are in ``tz``)."""
    s = value.strip()
    try:
        if len(s) == 10:
            dt = datetime.combine(date.fromisoformat(s), datetime.min.time())
        else:
            dt = datetime.fromisoformat(s.replace("z", "Z"))
    except ValueError as exc:
        raise ParseFailure(f"{value!r} is not an ISO-8601 date or date-time") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(UTC)


def _zone(name: str | None):
    if not name or name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _number(s: str, thousands: str | None) -> Decimal:
    t = s.replace(thousands, "") if thousands else s
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", t):
        raise ParseFailure(f"{s!r} is not a number")
    return Decimal(t)


# --------------------------------------------------------------------------- rules
# Each factory takes the validated options and returns ``raw(s) -> value``.


def _text(o: dict) -> Callable[[str], Any]:
    fix = bool(o.get("fix_mojibake", False))
    lower = bool(o.get("lower", False))

    def parse(s: str):
        if fix and _MOJIBAKE.search(s):
            fixed = repair_mojibake(s)
            raise _Repaired(fixed.lower() if lower else fixed)
        return s.lower() if lower else s

    return parse


def repair_mojibake(s: str) -> str:
    """Undo one round of UTF-8 bytes decoded as Latin-1 / CP1252; fail if it does not fit."""
    for codec in ("latin-1", "cp1252"):
        try:
            fixed = s.encode(codec).decode("utf-8")
        except UnicodeError:
            continue
        if fixed != s:
            return fixed
    raise ParseFailure(
        f"{s!r} looks like mojibake (UTF-8 read as Latin-1) but does not "
        "decode as UTF-8 after a Latin-1/CP1252 round trip"
    )


class _Repaired(Exception):
    """Internal signal: the value was repaired (counted by the engine)."""

    def __init__(self, value: str):
        super().__init__(value)
        self.value = value


def _id(o: dict):
    pattern = re.compile(o["pattern"]) if o.get("pattern") else None
    lower = bool(o.get("lower", False))

    def parse(s: str):
        if pattern is not None and not pattern.fullmatch(s):
            raise ParseFailure(f"{s!r} does not match the id pattern {pattern.pattern!r}")
        return s.lower() if lower else s

    return parse


def _int(o: dict):
    thousands = o.get("thousands")

    def parse(s: str):
        d = _number(s, thousands)
        if d != d.to_integral_value():
            raise ParseFailure(f"{s!r} is not a whole number")
        return int(d)

    return parse


def _float(o: dict):
    thousands = o.get("thousands")

    def parse(s: str):
        v = float(_number(s, thousands))
        if not math.isfinite(v):
            raise ParseFailure(f"{s!r} is not a finite number")
        return v

    return parse


def _number_suffix(o: dict):
    table = {k.lower(): Decimal(str(v)) for k, v in (o.get("suffixes") or _SUFFIXES).items()}
    as_int = o.get("type", "int") == "int"
    rx = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*([a-z]*)", re.IGNORECASE)

    def parse(s: str):
        m = rx.fullmatch(s)
        if not m:
            raise ParseFailure(
                f"{s!r} is not a number with an optional suffix "
                f"({'/'.join(sorted(table))}), e.g. '475.8m'"
            )
        number, suffix = Decimal(m.group(1)), m.group(2).lower()
        if suffix and suffix not in table:
            raise ParseFailure(
                f"{s!r} has an unknown suffix {suffix!r} (known: {', '.join(sorted(table))})"
            )
        v = number * (table[suffix] if suffix else 1)
        if as_int:
            return int(v.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        return float(v)

    return parse


def _percent(o: dict):
    fraction = o.get("scale", "fraction") == "fraction"
    rx = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*%")

    def parse(s: str):
        m = rx.fullmatch(s)
        if not m:
            raise ParseFailure(f"{s!r} is not a percentage like '1.39%'")
        d = Decimal(m.group(1))
        return float(d / 100) if fraction else float(d)

    return parse


def _bool(o: dict):
    true_values = {v.lower() for v in o.get("true_values", _TRUE)}
    false_values = {v.lower() for v in o.get("false_values", _FALSE)}

    def parse(s: str):
        low = s.lower()
        if low in true_values:
            return True
        if low in false_values:
            return False
        raise ParseFailure(
            f"{s!r} is not a boolean (true: {sorted(true_values)}, false: {sorted(false_values)})"
        )

    return parse


def _timestamp(o: dict):
    formats = o.get("format") or []
    if isinstance(formats, str):
        formats = [formats]
    tz = _zone(o.get("timezone"))

    def parse(s: str):
        if not formats:
            return parse_timestamp_literal(s, tz)
        for fmt in formats:
            try:
                dt = datetime.strptime(s, fmt)
            except ValueError:
                continue
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=tz)
            return dt.astimezone(UTC)
        raise ParseFailure(f"{s!r} matches none of the formats {formats}")

    return parse


def _date_parts(o: dict):
    tz = _zone(o.get("timezone"))

    def parse(parts: dict[str, str]):
        values = {}
        for name, raw in parts.items():
            if not re.fullmatch(r"\d+", raw):
                raise ParseFailure(f"{name} {raw!r} is not a whole number")
            values[name] = int(raw)
        try:
            dt = datetime(
                values["year"],
                values["month"],
                values["day"],
                values.get("hour", 0),
                values.get("minute", 0),
                values.get("second", 0),
                tzinfo=tz,
            )
        except ValueError as exc:
            shown = "-".join(parts[p] for p in _DATE_PARTS if p in parts)
            raise ParseFailure(f"{shown} is not a valid date ({exc})") from exc
        return dt.astimezone(UTC)

    return parse


def _epoch(o: dict):
    divisor = {"s": 1, "ms": 10**3, "us": 10**6}[o.get("unit", "s")]

    def parse(s: str):
        d = _number(s, None)
        try:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=float(d / divisor))
        except (OverflowError, InvalidOperation) as exc:
            raise ParseFailure(f"{s!r} is out of the representable time range") from exc

    return parse


def _list(o: dict):
    sep = o.get("separator", ",")
    joiner = o.get("join", ", ")
    chars = o.get("strip_chars", "")
    lower = bool(o.get("lower", False))
    splitter = (lambda s: s.split()) if sep == "whitespace" else (lambda s: s.split(sep))

    def parse(s: str):
        items = []
        for item in splitter(s):
            item = item.strip().strip(chars).strip() if chars else item.strip()
            if item:
                items.append(item.lower() if lower else item)
        return joiner.join(items) if items else None

    return parse


_FACTORIES = {
    "text": _text,
    "id": _id,
    "int": _int,
    "float": _float,
    "number_suffix": _number_suffix,
    "percent": _percent,
    "bool": _bool,
    "timestamp": _timestamp,
    "date_parts": _date_parts,
    "epoch": _epoch,
    "list": _list,
}


# --------------------------------------------------------------------------- field


@dataclass
class Field:
    """A named, typed value of a source row: a rule applied to one or more source columns.

    ``parse(raws)`` takes the raw strings of :attr:`sources` (same order) and returns
    ``(value, error, repaired)``: ``error`` is None or the reason the value failed.
    """

    name: str
    rule: str
    sources: tuple[str, ...]
    options: dict = field(default_factory=dict)
    out_type: str = "text"
    _fn: Callable | None = field(default=None, repr=False)
    _bounds: tuple = field(default=(None, None), repr=False)

    @property
    def strip(self) -> bool:
        return bool(self.options.get("strip", True))

    @property
    def null_values(self) -> frozenset[str]:
        return frozenset(self.options.get("null_values", [""]))

    @property
    def required(self) -> bool:
        return bool(self.options.get("required", self.rule == "id"))

    def parse(self, raws: tuple) -> tuple[Any, str | None, bool]:
        fn = self._fn
        if fn is None:
            raise TypeError(f"field {self.name!r} has no parser: build it with make_field()")
        cleaned: list[str | None] = []
        for raw in raws:
            if raw is None:
                cleaned.append(None)
                continue
            s = raw.strip() if self.strip else raw
            cleaned.append(None if s in self.null_values else s)
        if all(c is None for c in cleaned):
            if self.required:
                return (
                    None,
                    f"empty value in {'/'.join(self.sources)} but the field is required",
                    False,
                )
            return None, None, False
        repaired = False
        try:
            if self.rule == "date_parts":
                missing = [n for n, c in zip(self._part_names, cleaned, strict=True) if c is None]
                if missing:
                    return None, f"date part(s) {', '.join(missing)} empty", False
                value = fn(dict(zip(self._part_names, cleaned, strict=True)))
            else:
                try:
                    value = fn(cleaned[0])
                except _Repaired as fix:
                    value, repaired = fix.value, True
        except ParseFailure as exc:
            return None, str(exc), False
        lo, hi = self._bounds
        if value is not None and lo is not None and value < lo:
            return None, f"{_show(value)} is below the minimum {_show(lo)}", False
        if value is not None and hi is not None and value > hi:
            return None, f"{_show(value)} is above the maximum {_show(hi)}", False
        return value, None, repaired

    @property
    def _part_names(self) -> tuple[str, ...]:
        return tuple(p for p in _DATE_PARTS if p in self.options)


def _show(v) -> str:
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    return repr(v)


def make_field(name: str, spec: dict) -> Field:
    """Build a :class:`Field` from a validated ``fields:`` entry (raises ValueError)."""
    rule = spec["rule"]
    options = dict(spec)
    if rule == "date_parts":
        missing = [p for p in ("year", "month", "day") if p not in spec]
        if missing:
            raise ValueError(f"rule date_parts needs the column(s) of {', '.join(missing)}")
        sources = tuple(spec[p] for p in _DATE_PARTS if p in spec)
    else:
        sources = (spec.get("from", name),)
    if rule == "number_suffix":
        for k, v in (spec.get("suffixes") or {}).items():
            if not isinstance(v, int | float) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"suffix {k!r} needs a positive number multiplier")
    if rule == "id" and spec.get("pattern"):
        try:
            re.compile(spec["pattern"])
        except re.error as exc:
            raise ValueError(f"invalid regular expression {spec['pattern']!r}: {exc}") from exc
    fn = _FACTORIES[rule](options)
    out_type = rule_output_type(rule, options)
    bounds = (_bound(spec.get("min"), out_type, spec), _bound(spec.get("max"), out_type, spec))
    return Field(name, rule, sources, options, out_type, fn, bounds)


def _bound(value, out_type: str, spec: dict):
    if value is None:
        return None
    if out_type == "timestamp":
        try:
            return parse_timestamp_literal(str(value), _zone(spec.get("timezone")))
        except ParseFailure as exc:
            raise ValueError(f"min/max {value!r} must be an ISO-8601 date or date-time") from exc
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"min/max {value!r} must be a number for rule {spec['rule']}")
    return value
