"""Business thresholds of the gates, from ``expectations/thresholds.yml``.

The file (format documented in its header) maps parameter names to values at four levels,
``defaults`` -> ``stages.<stage>`` -> ``tables.<schema.table>`` -> ``suites.<suite>``, later
levels overriding earlier ones. The path is, first found: the ``path`` argument, the
``SW_QUALITY_THRESHOLDS`` environment variable, ``<expectations_dir>/thresholds.yml``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .specs import SuiteSpec

__all__ = ["Thresholds", "QualityConfigError", "load_thresholds", "ENV_VAR"]

ENV_VAR = "SW_QUALITY_THRESHOLDS"
OVERLAY_ENV_VAR = "SW_QUALITY_OVERLAY"
_LEVELS = ("defaults", "stages", "tables", "suites")


class QualityConfigError(ValueError):
    """The gate cannot run: a suite or the thresholds file is wrong (not the data)."""


@dataclass(frozen=True)
class Thresholds:
    path: Path
    data: dict

    def for_suite(self, spec: SuiteSpec) -> dict[str, Any]:
        """The parameters a suite sees, resolved over the four levels."""
        params: dict[str, Any] = dict(self.data.get("defaults") or {})
        params.update((self.data.get("stages") or {}).get(spec.stage) or {})
        params.update((self.data.get("tables") or {}).get(spec.table) or {})
        params.update((self.data.get("suites") or {}).get(spec.name) or {})
        return params


def resolve_path(
    path: Path | str | None, expectations_dir: Path, env: Mapping | None = None
) -> Path:
    env = os.environ if env is None else env
    if path:
        return Path(path)
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR])
    return Path(expectations_dir) / "thresholds.yml"


def load_thresholds(
    path: Path | str | None = None,
    *,
    expectations_dir: Path | None = None,
    env: Mapping | None = None,
    overlay: Path | str | None = None,
) -> Thresholds:
    """Read and check the thresholds file (see the module docstring for the lookup order).

    ``overlay`` (or ``$SW_QUALITY_OVERLAY``) names a second file of the same format whose
    values override the first, level by level: a source can state what differs for it
    (e.g. ``defaults: {platform_start_date: "2002-01-01"}``) without copying the rest.
    """
    if expectations_dir is None:
        from ..config import get_settings

        expectations_dir = get_settings().expectations_dir
    env = os.environ if env is None else env
    base = _read_thresholds(resolve_path(path, expectations_dir, env))
    overlay = overlay or env.get(OVERLAY_ENV_VAR)
    if not overlay:
        return base
    top = _read_thresholds(Path(overlay))
    data = {k: v for k, v in base.data.items()}
    for level in _LEVELS:
        merged = dict(base.data.get(level) or {})
        for key, value in (top.data.get(level) or {}).items():
            if level != "defaults" and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **(value or {})}
            else:
                merged[key] = value
        data[level] = merged
    return Thresholds(path=base.path, data=data)


def _read_thresholds(resolved: Path) -> Thresholds:
    import yaml

    if not resolved.is_file():
        raise QualityConfigError(f"thresholds file {resolved} does not exist")
    try:
        data = yaml.safe_load(resolved.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise QualityConfigError(f"thresholds file {resolved} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise QualityConfigError(f"thresholds file {resolved}: top level must be a mapping")
    unknown = set(data) - set(_LEVELS) - {"version"}
    if unknown:
        raise QualityConfigError(
            f"thresholds file {resolved}: unknown top-level keys {sorted(unknown)}; "
            f"expected {list(_LEVELS)}"
        )
    for level in _LEVELS:
        section = data.get(level) or {}
        if not isinstance(section, dict):
            raise QualityConfigError(f"thresholds file {resolved}: {level} must be a mapping")
        if level != "defaults":
            for key, value in section.items():
                if not isinstance(value or {}, dict):
                    raise QualityConfigError(
                        f"thresholds file {resolved}: {level}.{key} must be a mapping"
                    )
    return Thresholds(path=resolved, data=data)
