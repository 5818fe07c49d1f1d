"""Data Docs that show a warning-level expectation as a warning, not as a red "Failed".

Great Expectations 1.24 stores an expectation's ``severity`` (``critical``/``warning``/
``info``) but its Data Docs ignore it: a failed warning-level expectation gets the red cross,
and a suite whose only failures are warnings is "Failed" on its page and in the index, while
the gate (and the run report) call it a warning. Two things fix that, for every docs build:

* :func:`install_severity_icons` wraps GX's status-icon renderer of every expectation type:
  a failed, non-critical expectation that did not raise renders a warning icon
  (``fa-exclamation-triangle text-warning``, titled "warning") instead of the red cross;
* :func:`mark_warning_suites` rewrites the pages of suites whose failures are all warnings
  (and the index rows linking to them) from "Failed" to "Passed with warnings".

Stored validation results are not changed: they stay what GX computed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["install_severity_icons", "mark_warning_suites", "warning_only_suites",
           "warning_only_validations", "WARNING_TEXT"]

WARNING_TEXT = "Passed with warnings"
_MARK = "sw-severity-warning"
_WARNING_ICON = (f'<i class="fas fa-exclamation-triangle text-warning {_MARK}" '
                 f'title="warning" aria-hidden="true"></i>')
_HEADER_FAILED = re.compile(
    r'<i class="fas fa-times text-danger" aria-hidden="true"></i>\s*Failed')
_INDEX_ENTRY = re.compile(r"\{'validation_success':")
_INDEX_FAILED_ICON = re.compile(r'<i class="fas fa-times text-danger ge-failed-icon"\s*>\s*</i>')


def _severity(result) -> str:
    config = getattr(result, "expectation_config", None)
    severity = getattr(config, "severity", None)
    return str(getattr(severity, "value", severity) or "critical")


def _raised(result) -> bool:
    info = getattr(result, "exception_info", None) or {}
    if "raised_exception" in info:
        return bool(info["raised_exception"])
    return any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())


def _warning_icon():
    from great_expectations.render import RenderedStringTemplateContent

    return RenderedStringTemplateContent(
        content_block_type="string_template",
        string_template={
            "template": "$icon",
            "params": {"icon": "", "markdown_status_icon": "⚠️"},
            "styling": {"params": {"icon": {
                "classes": ["fas", "fa-exclamation-triangle", "text-warning", _MARK],
                "attributes": {"title": "warning"},
                "tag": "i",
            }}},
        },
    )


def install_severity_icons(expectation_types: Iterable[str]) -> None:
    """Make the status icon of failed non-critical expectations a warning (idempotent)."""
    from great_expectations.expectations import registry
    from great_expectations.render import LegacyDiagnosticRendererType

    kind = LegacyDiagnosticRendererType.STATUS_ICON
    for expectation_type in expectation_types:
        renderers = registry._registered_renderers.get(expectation_type, {})
        if kind not in renderers:
            try:
                registry.get_expectation_impl(expectation_type)  # registers its renderers
            except Exception:  # noqa: BLE001 - unknown type: GX renders it as it can
                continue
            renderers = registry._registered_renderers.get(expectation_type, {})
        if kind not in renderers or getattr(renderers[kind][1], "_sw_severity", False):
            continue
        parent, original = renderers[kind]

        def status_icon(*args, _original=original, **kwargs):
            result = kwargs.get("result")
            if (result is not None and result.success is False and not _raised(result)
                    and _severity(result) != "critical"):
                return _warning_icon()
            return _original(*args, **kwargs)

        status_icon._sw_severity = True  # type: ignore[attr-defined]
        status_icon._renderer_type = kind  # type: ignore[attr-defined]
        renderers[kind] = (parent, status_icon)


def warning_only_suites(rows: Iterable[dict]) -> set[str]:
    """Suites with at least one warning and no failure, from a gate's result rows."""
    warned, failed = set(), set()
    for row in rows:
        if row["status"] == "warning":
            warned.add(row["suite"])
        elif row["status"] == "failed":
            failed.add(row["suite"])
    return warned - failed


def warning_only_validations(validations_dir: Path) -> set[str]:
    """Suites whose stored GX validation failed on non-critical expectations only.

    Read from the run's validation store (every stage validated so far), since each docs
    build re-renders the pages of earlier stages too.
    """
    import json

    suites: set[str] = set()
    for path in Path(validations_dir).rglob("*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("success") is not False:
            continue
        failed = [r for r in data.get("results") or [] if r.get("success") is False]
        info = [r.get("exception_info") or {} for r in failed]
        if failed and all(
            str((r.get("expectation_config") or {}).get("severity") or "critical") != "critical"
            and not i.get("raised_exception") for r, i in zip(failed, info, strict=True)
        ):
            suites.add(data.get("suite_name") or "")
    return suites - {""}


def _suite_dir(suite: str) -> str:
    return "validations/" + "/".join(suite.split(".")) + "/"


def mark_warning_suites(docs_dir: Path, suites: Iterable[str]) -> list[Path]:
    """Rewrite the pages of ``suites`` (and their index rows): "Passed with warnings".

    Returns the pages changed. Idempotent: a page is matched by GX's "Failed" header only.
    """
    docs_dir = Path(docs_dir)
    prefixes = [_suite_dir(s) for s in suites]
    changed: list[Path] = []
    if not prefixes:
        return changed
    header = (f'<i class="fas fa-exclamation-triangle text-warning {_MARK}" '
              f'aria-hidden="true"></i> {WARNING_TEXT}')
    for prefix in prefixes:
        for page in sorted((docs_dir / prefix).rglob("*.html")):
            html = page.read_text(encoding="utf-8")
            new = _HEADER_FAILED.sub(header, html)
            if new != html:
                page.write_text(new, encoding="utf-8")
                changed.append(page)
    index = docs_dir / "index.html"
    if index.is_file():
        html = index.read_text(encoding="utf-8")
        starts = [m.start() for m in _INDEX_ENTRY.finditer(html)] + [len(html)]
        parts = [html[: starts[0]]] if starts[0] else []
        for begin, end in zip(starts, starts[1:], strict=False):
            entry = html[begin:end]
            if any(f"'_table_row_link_path': '{p}" in entry for p in prefixes):
                entry = _INDEX_FAILED_ICON.sub(_WARNING_ICON, entry)
                entry = entry.replace("'_validation_success_text': 'Failed'",
                                      f"'_validation_success_text': '{WARNING_TEXT}'")
            parts.append(entry)
        new = "".join(parts)
        if new != html:
            index.write_text(new, encoding="utf-8")
            changed.append(index)
    return changed
