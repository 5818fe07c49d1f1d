"""The Great Expectations 1.x file project under ``expectations/gx`` and its per-run copies.

Layout (committed)::

    expectations/
      thresholds.yml                      business thresholds (see thresholds.py)
      gx/great_expectations.yml           file context: stores, Data Docs site, datasource
      gx/expectations/<stage>/<table>.json            one suite per table per stage
      gx/expectations/<stage>/<table>__metrics.json   derived checks of that table
      gx/validation_definitions/<suite>.json          suite + DataFrame asset
      gx/checkpoints/social_warehouse_daily__<stage>.json
      gx/uncommitted/                     ignored by git

Validation definitions and checkpoints follow from the suites: :func:`sync_project` adds what
is missing (one DataFrame asset and validation definition per suite, every suite of a stage
in its checkpoint), so adding a table is writing its suite JSON (+ a thresholds entry). A
unit test fails when the committed project is out of sync.

A gate never writes into the committed project. :func:`prepare_run_project` copies it
(without ``uncommitted/``) into the run's audit folder, points its Data Docs site at the
run's report folder, syncs the copy, and the gate runs there. So every run keeps its own
validation results and Data Docs (nothing is overwritten), concurrent runs do not share
state, and the run's folder records exactly which rules applied.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from .specs import SuiteSpec, load_suite_specs

__all__ = [
    "DAG_ID",
    "DATASOURCE",
    "BATCH_DEFINITION",
    "checkpoint_name",
    "import_gx",
    "get_context",
    "prepare_run_project",
    "sync_context",
    "sync_project",
]

DAG_ID = "social_warehouse_daily"
DATASOURCE = "social_warehouse"
BATCH_DEFINITION = "whole_dataframe"
SITE_NAME = "local_site"
_GX_LOGGERS = ("great_expectations", "great_expectations.core", "great_expectations.data_context")


def checkpoint_name(stage: str) -> str:
    return f"{DAG_ID}__{stage}"


def import_gx():
    """Import great_expectations on first use (5-9 s cold), quiet and without analytics."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    for name in _GX_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return gx


def get_context(gx_parent: Path):
    """File context of the project whose ``gx/`` folder is inside ``gx_parent``."""
    gx = import_gx()
    return gx.get_context(mode="file", project_root_dir=str(gx_parent))


def _stage_specs(specs: dict[str, SuiteSpec]) -> dict[str, list[SuiteSpec]]:
    stages: dict[str, list[SuiteSpec]] = {}
    for spec in specs.values():
        stages.setdefault(spec.stage, []).append(spec)
    return stages


def sync_context(
    context, specs: dict[str, SuiteSpec], stages: list[str] | None = None
) -> list[str]:
    """Add the missing asset, validation definition and checkpoint entries; return what changed."""
    gx = import_gx()
    changed: list[str] = []
    try:
        datasource = context.data_sources.get(DATASOURCE)
    except (KeyError, ValueError, LookupError):
        datasource = context.data_sources.add_pandas(DATASOURCE)
        changed.append(f"datasource {DATASOURCE}")
    by_stage = _stage_specs(specs)
    for stage, stage_specs in sorted(by_stage.items()):
        if stages is not None and stage not in stages:
            continue
        vds = []
        for spec in sorted(stage_specs, key=lambda s: s.name):
            asset_names = {a.name for a in datasource.assets}
            if spec.name in asset_names:
                asset = datasource.get_asset(spec.name)
            else:
                asset = datasource.add_dataframe_asset(spec.name)
                changed.append(f"asset {spec.name}")
            if BATCH_DEFINITION in {b.name for b in asset.batch_definitions}:
                batch_definition = asset.get_batch_definition(BATCH_DEFINITION)
            else:
                batch_definition = asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
                changed.append(f"batch definition {spec.name}")
            suite = context.suites.get(spec.name)
            if not suite.id or any(not e.id for e in suite.expectations):
                # a hand-written suite JSON without ids: store it once so GX assigns them
                suite = context.suites.add_or_update(suite)
                changed.append(f"ids of suite {spec.name}")
            try:
                vd = context.validation_definitions.get(spec.name)
            except Exception:  # noqa: BLE001 - GX raises several types for "not found"
                vd = context.validation_definitions.add(
                    gx.ValidationDefinition(name=spec.name, data=batch_definition, suite=suite)
                )
                changed.append(f"validation definition {spec.name}")
            vds.append(vd)
        name = checkpoint_name(stage)
        try:
            checkpoint = context.checkpoints.get(name)
        except Exception:  # noqa: BLE001
            checkpoint = None
        wanted = [vd.name for vd in vds]
        if checkpoint is None:
            context.checkpoints.add(
                gx.Checkpoint(
                    name=name,
                    validation_definitions=vds,
                    actions=[],
                    result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
                )
            )
            changed.append(f"checkpoint {name}")
        elif sorted(vd.name for vd in checkpoint.validation_definitions) != sorted(wanted):
            checkpoint.validation_definitions = vds
            checkpoint.save()
            changed.append(f"checkpoint {name} validation definitions")
    return changed


def sync_project(expectations_dir: Path | None = None) -> list[str]:
    """Bring the project's validation definitions and checkpoints in line with its suites."""
    if expectations_dir is None:
        from ..config import get_settings

        expectations_dir = get_settings().expectations_dir
    specs = load_suite_specs(Path(expectations_dir) / "gx")
    context = get_context(Path(expectations_dir))
    return sync_context(context, specs)


def _patch_config(config_path: Path, docs_dir: Path) -> None:
    import yaml

    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    site = config.setdefault("data_docs_sites", {}).setdefault(SITE_NAME, {})
    site["class_name"] = "SiteBuilder"
    site["show_how_to_buttons"] = False
    site["store_backend"] = {
        "class_name": "TupleFilesystemStoreBackend",
        "base_directory": str(Path(docs_dir).resolve()),
    }
    site.setdefault("site_index_builder", {"class_name": "DefaultSiteIndexBuilder"})
    config["data_docs_sites"] = {SITE_NAME: site}
    config["analytics_enabled"] = False
    config["progress_bars"] = {"globally": False, "metric_calculations": False}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def prepare_run_project(expectations_dir: Path, work_dir: Path, docs_dir: Path) -> Path:
    """Copy the committed GX project into ``work_dir`` once per run; return ``work_dir``.

    ``work_dir/gx`` then holds the suites as they were when the run started, the run's
    validation results (``gx/uncommitted/validations``) and a Data Docs site writing to
    ``docs_dir``. Later gates of the same run reuse the copy.
    """
    src = Path(expectations_dir) / "gx"
    dst = Path(work_dir) / "gx"
    if not (dst / "great_expectations.yml").is_file():
        if not (src / "great_expectations.yml").is_file():
            raise FileNotFoundError(f"no GX project at {src} (great_expectations.yml missing)")
        tmp = Path(work_dir) / "gx.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("uncommitted", "__pycache__"))
        tmp.rename(dst)
    _patch_config(dst / "great_expectations.yml", docs_dir)
    Path(docs_dir).mkdir(parents=True, exist_ok=True)
    return Path(work_dir)
