"""Declarative source mappings: turn a real platform export into canonical landing files.

A mapping (``sources/<name>.yaml``, reference in ``docs/mappings.md``) says which export
files are which entity, how raw values are parsed, which rows are duplicates and what
each file derives. :func:`import_export` applies it::

    from social_warehouse.mapping import import_export

    result = import_export("sources/lastfm_hetrec2011.yaml", "../shared/datasets/lastfm_hetrec2011",
                           "2026-01-05", "data/landing")
    print(result.summary())
"""

from .engine import FileResult, ImportResult, OutputCounts, import_export
from .reader import SourceError
from .rules import RULES, ParseFailure
from .schema import (
    MAPPING_SCHEMA,
    Mapping,
    MappingError,
    load_mapping,
    schema_json,
    validate_mapping,
)

__all__ = [
    "MAPPING_SCHEMA",
    "RULES",
    "FileResult",
    "ImportResult",
    "Mapping",
    "MappingError",
    "OutputCounts",
    "ParseFailure",
    "SourceError",
    "import_export",
    "load_mapping",
    "main",
    "schema_json",
    "validate_mapping",
]


def main(argv: list[str] | None = None) -> int:
    """``python -m social_warehouse.mapping --mapping F --from DIR --ds D [--landing DIR]``."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(
        prog="python -m social_warehouse.mapping",
        description="import a platform export with a source mapping",
    )
    ap.add_argument("--mapping", required=True, help="mapping YAML (sources/*.yaml)")
    ap.add_argument("--from", dest="source_dir", help="folder holding the export")
    ap.add_argument("--ds", help="landing partition date YYYY-MM-DD")
    ap.add_argument("--landing", default=None, help="landing root (default: SW_LANDING_DIR)")
    ap.add_argument("--format", default="parquet", choices=["parquet", "csv"])
    ap.add_argument(
        "--overwrite", action="store_true", help="write even if the partition holds other files"
    )
    ap.add_argument("--check", action="store_true", help="only validate the mapping")
    a = ap.parse_args(argv)
    try:
        if a.check:
            m = load_mapping(a.mapping)
            print(
                f"{a.mapping}: mapping {m.name!r} is valid "
                f"({len(m.files)} file(s), {sum(len(f.outputs) for f in m.files)} output(s))"
            )
            return 0
        if not a.source_dir or not a.ds:
            ap.error("--from and --ds are required (unless --check)")
        result = import_export(
            a.mapping, a.source_dir, a.ds, a.landing, fmt=a.format, overwrite=a.overwrite
        )
    except (MappingError, SourceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0
