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
) -> Thresholds:
    """Read and check the thresholds file (see the module docstring for the lookup order)."""
    import yaml

    if expectations_dir is None:
        from ..config import get_settings

        expectations_dir = get_settings().expectations_dir
    resolved = resolve_path(path, expectations_dir, env)
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
