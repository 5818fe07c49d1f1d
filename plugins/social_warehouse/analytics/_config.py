"""Configuration plumbing shared by the KOL analytics (influence, audience quality,
collaboration, campaigns, seeding): a ``from_dict``/``to_dict`` mixin for frozen
dataclasses that rejects unknown keys, and small validators."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

__all__ = ["ConfigMixin", "check_fraction", "check_choice", "check_keys"]

_C = TypeVar("_C", bound="ConfigMixin")


def check_keys(what: str, given: Any, allowed: Any) -> None:
    """Raise ``ValueError`` naming every key of ``given`` not in ``allowed`` and the allowed
    ones (e.g. ``weights`` of a config section)."""
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        keys = ", ".join(repr(k) for k in unknown)
        raise ValueError(
            f"{what}: unknown key(s) {keys}; allowed: {', '.join(sorted(map(str, allowed)))}"
        )


def check_choice(name: str, value: Any, allowed: tuple) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``allowed`` (named in the message)."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {'|'.join(map(str, allowed))}, got {value!r}")


def check_fraction(name: str, value: float, *, open_low: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is in [0, 1] (or (0, 1] with ``open_low``)."""
    low_ok = value > 0 if open_low else value >= 0
    if not (low_ok and value <= 1):
        raise ValueError(f"{name} must be in {'(0' if open_low else '[0'}, 1], got {value!r}")


class ConfigMixin:
    """``from_dict``/``to_dict`` for the frozen configuration dataclasses of this package.

    ``from_dict`` accepts a plain mapping (e.g. a parsed section of
    ``config/analytics.yml``): unknown keys raise ``ValueError`` naming the key, the config
    section (``SECTION``) and the allowed keys; lists become tuples; a mapping given for a
    mapping-valued option (such as ``weights``) is merged over that option's default, so
    YAML only needs the keys it changes.
    """

    #: Name of the section of ``config/analytics.yml`` read into this class.
    SECTION: ClassVar[str] = ""

    @classmethod
    def from_dict(cls: type[_C], data: Mapping[str, Any] | None = None, **overrides: Any) -> _C:
        if data is not None and not isinstance(data, Mapping):
            raise ValueError(
                f"{cls._where()}: expected a mapping of options, got {type(data).__name__}"
            )
        values = dict(data or {})
        values.update(overrides)
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        check_keys(cls._where(), values, fields)
        kwargs: dict[str, Any] = {}
        for name, value in values.items():
            f = fields[name]
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = None
            kwargs[name] = _coerce(value, default)
        return cls(**kwargs)

    @classmethod
    def _where(cls) -> str:
        return f"{cls.__name__} (section {cls.SECTION!r})" if cls.SECTION else cls.__name__

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view of the configuration (tuples stay tuples)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


def _coerce(value: Any, default: Any) -> Any:
    if isinstance(default, Mapping) and isinstance(value, Mapping):
        merged = dict(default)
        merged.update(value)
        return merged
    if isinstance(value, list):
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value
