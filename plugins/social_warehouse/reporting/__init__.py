"""Reports for people: per-run HTML reports, their index, and offline GX Data Docs."""

from .offline import external_references, make_offline
from .run_report import build_all_reports, build_index, build_run_report

__all__ = [
    "build_run_report",
    "build_index",
    "build_all_reports",
    "make_offline",
    "external_references",
]
