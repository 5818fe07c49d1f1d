"""dbt docs of a published warehouse, as one static, offline HTML page per run.

:func:`generate_dbt_docs` runs ``dbt docs generate --static`` against the *served* file,
attached read-only (profile target ``served``, see ``dbt_project/profiles.yml``), so the
catalog describes exactly what BI tools read, and nothing can create or change a database
file. dbt's ``static_index.html`` embeds the manifest and the catalog and loads no network
assets; it is written as ``<out_dir>/index.html`` next to ``catalog.json`` (for tools).

Wiring (finalize, after a successful publish)::

    from social_warehouse.audit import report_dir
    from social_warehouse.dbt_docs import generate_dbt_docs

    generate_dbt_docs(report_dir(ref, reports) / "dbt_docs", ds, settings=s)

and the run report links ``dbt_docs/index.html``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .config import Settings, get_settings

__all__ = ["DbtDocsError", "generate_dbt_docs"]

#: Files of the generated docs folder.
INDEX, CATALOG = "index.html", "catalog.json"


class DbtDocsError(RuntimeError):
    """``dbt docs generate`` failed or produced an empty catalog."""


def _dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def generate_dbt_docs(
    out_dir: Path | str,
    ds: str,
    settings: Settings | None = None,
    warehouse: Path | str | None = None,
    timeout_s: float = 900,
) -> dict:
    """Write the static dbt docs of ``warehouse`` (default: the served file) to ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Folder to (re)create, e.g. ``reports/<run>/attempt-<n>/dbt_docs``. It is replaced
        only when generation succeeded (built next to it, then renamed).
    ds : str
        The published logical date (``YYYY-MM-DD``), passed as the dbt var ``ds``.
    settings : Settings, optional
        Where the dbt project and the served warehouse are (default: environment).
    warehouse : path, optional
        Another existing DuckDB file to document instead of the served one.
    timeout_s : float
        Upper bound for the dbt subprocess.

    Returns
    -------
    dict
        ``index`` (path of the HTML page), ``catalog`` (path), ``models`` (catalogued
        models), ``sources``, ``seconds``.

    Raises
    ------
    DbtDocsError
        The warehouse file is missing, dbt failed (its output tail is in the message), or
        the catalog holds no model (the file is not a built warehouse).
    """
    s = settings or get_settings()
    db = Path(warehouse) if warehouse is not None else s.warehouse_path
    if not db.is_file():
        raise DbtDocsError(f"cannot document {db}: the file does not exist (nothing published?)")
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.with_name(f".{out.name}.building")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    cmd = [
        _dbt_executable(), "docs", "generate", "--static",
        "--project-dir", str(s.dbt_project_dir),
        "--profiles-dir", str(s.dbt_project_dir),
        "--target", "served",
        "--target-path", str(work / "target"),
        "--log-path", str(work / "logs"),
        "--vars", json.dumps({"ds": str(ds)}),
    ]
    env = {k: v for k, v in os.environ.items() if k != "SW_DBT_DUCKDB_PATH"}
    env.update({"SW_WAREHOUSE": str(db.resolve()), "SW_DBT_TARGET": "served",
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              cwd=s.dbt_project_dir, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise DbtDocsError(
            f"dbt docs generate on {db} did not finish in {timeout_s:.0f} s") from exc
    seconds = time.perf_counter() - t0
    target = work / "target"
    static, catalog_path = target / "static_index.html", target / CATALOG
    if proc.returncode != 0 or not static.is_file() or not catalog_path.is_file():
        shutil.rmtree(work, ignore_errors=True)
        raise DbtDocsError(f"dbt docs generate on {db} failed (exit {proc.returncode}):\n"
                           + (proc.stdout[-3000:] + proc.stderr[-2000:]).strip())
    catalog = json.loads(catalog_path.read_text(encoding="utf-8"))
    models = sum(1 for key in catalog.get("nodes", {}) if key.startswith("model."))
    if models == 0:
        shutil.rmtree(work, ignore_errors=True)
        raise DbtDocsError(f"dbt docs of {db}: the catalog has no model; is it a built warehouse?")
    site = work / "site"
    site.mkdir()
    os.replace(static, site / INDEX)
    os.replace(catalog_path, site / CATALOG)
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(site, out)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return {"index": str(out / INDEX), "catalog": str(out / CATALOG), "models": models,
            "sources": len(catalog.get("sources", {})), "seconds": round(seconds, 2)}
