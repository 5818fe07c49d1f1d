"""The Social Warehouse dashboard for Apache Superset: bundle, setup, serve.

    python superset/dashboard.py bundle --warehouse data/warehouse.duckdb --out bundle.zip
    python superset/dashboard.py setup  --warehouse data/warehouse.duckdb   # metadata + import
    python superset/dashboard.py serve  [--port 8088]                       # foreground

``bundle`` writes a Superset import bundle (YAML export format, version 1.0.0): one database
(the served DuckDB file, opened read-only through duckdb-engine), the datasets on the marts
and on the audit tables, the charts and the dashboard. Dataset columns are read from the
warehouse itself, so the bundle follows the marts' types. ``setup`` creates the SQLite
metadata database (``superset db upgrade``), the admin user, the roles (``superset init``),
grants anonymous read access on localhost and imports the bundle. Superset runs from its own
environment (``make superset-env``: ``.tools/superset-venv``, pinned by
``superset/requirements.txt``); this script only needs the project's Python (duckdb, PyYAML).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SUPERSET_VENV = Path(os.environ.get("SW_SUPERSET_VENV") or REPO / ".tools" / "superset-venv")
NAMESPACE = uuid.UUID("6f1d2c1e-5b0a-4c55-9a57-53575f444153")  # stable uuids per object name
DATABASE_NAME = "Social Warehouse (served)"
DASHBOARD_SLUG = "social-warehouse"
VERSION = "1.0.0"


def _uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{name}"))


def duckdb_uri(warehouse: Path | str) -> str:
    """SQLAlchemy URI of the served file, read-only (absolute path)."""
    return f"duckdb:///{Path(warehouse).resolve()}?access_mode=read_only"


# ---------------------------------------------------------------------------- datasets
@dataclass(frozen=True)
class Dataset:
    name: str
    schema: str
    table: str | None = None  # physical table, or
    sql: str | None = None    # a virtual dataset (SQL over the warehouse)
    description: str = ""
    main_dttm_col: str | None = None


_DATA_QUALITY_SQL = """
select r.run_id, r.attempt, r.ds, r.status, r.started_at,
       coalesce(f.rows_loaded, 0) as rows_loaded,
       coalesce(f.rows_rejected, 0) as rows_rejected,
       coalesce(f.rows_rejected, 0)::double
         / nullif(coalesce(f.rows_loaded, 0) + coalesce(f.rows_rejected, 0), 0) as reject_rate,
       coalesce(g.failed, 0) as gate_failures,
       coalesce(g.warnings, 0) as gate_warnings
from audit.runs r
left join (select run_id, attempt, sum(rows_loaded) as rows_loaded,
                  sum(rows_rejected) as rows_rejected
           from audit.input_files group by run_id, attempt) f using (run_id, attempt)
left join (select run_id, attempt, count(*) filter (where status = 'failed') as failed,
                  count(*) filter (where status = 'warning') as warnings
           from audit.gate_results group by run_id, attempt) g using (run_id, attempt)
"""

_ROWS_BY_ENTITY_SQL = """
select f.ds, f.entity, sum(f.rows_loaded) as rows_loaded, sum(f.rows_rejected) as rows_rejected
from audit.input_files f
join audit.runs r using (run_id, attempt)
where r.status <> 'failed'
group by f.ds, f.entity
"""

# The lists' plain-text twins ("a, b") read as text in every chart.
_COMMUNITIES_SQL = """
select community_id, cast(community_id as varchar) as community, size,
       modularity_contribution, top_member_handles_text as top_members,
       dominant_categories_text as dominant_categories
from marts.mart_communities
"""

DATASETS = [
    Dataset("kol_leaderboard", "marts", table="mart_kol_leaderboard",
            description="KOLs ranked by score, with tier and audience quality."),
    Dataset("kol_collaborations", "marts", table="mart_kol_collaborations",
            description="Recommended KOL collaboration pairs and why."),
    Dataset("communities", "marts", sql=_COMMUNITIES_SQL,
            description="Follow-graph communities: size and top members."),
    Dataset("campaign_performance", "marts", table="mart_campaign_performance",
            description="Campaign delivery, rates and lift over the KOLs' baseline."),
    Dataset("segments", "marts", table="mart_segments",
            description="Behavioural user segments and their profiles."),
    Dataset("recommender_eval", "marts", table="mart_recommender_eval", main_dttm_col="ds",
            description="Offline recommender metrics per run (ds)."),
    Dataset("data_quality_runs", "audit", sql=_DATA_QUALITY_SQL, main_dttm_col="ds",
            description="Per run attempt: rows loaded, reject rate, gate failures."),
    Dataset("rows_loaded_by_entity", "audit", sql=_ROWS_BY_ENTITY_SQL, main_dttm_col="ds",
            description="Rows loaded per entity and day (runs that did not fail)."),
]


def _columns(con: duckdb.DuckDBPyConnection, ds: Dataset) -> list[dict[str, Any]]:
    if ds.table:
        rows = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [ds.schema, ds.table]).fetchall()
        if not rows:
            raise LookupError(f"table {ds.schema}.{ds.table} not found in the warehouse "
                              f"(dataset {ds.name!r})")
    else:
        rel = con.sql(ds.sql)
        rows = list(zip(rel.columns, [str(t) for t in rel.types], strict=True))
    out = []
    for name, dtype in rows:
        dtype = str(dtype)
        temporal = dtype.startswith(("DATE", "TIMESTAMP"))
        out.append({
            "column_name": name, "verbose_name": None, "is_dttm": temporal, "is_active": True,
            "type": dtype, "advanced_data_type": None, "groupby": True, "filterable": True,
            "expression": None, "description": None, "python_date_format": None,
            "extra": {},
        })
    return out


def _dataset_yaml(ds: Dataset, columns: list[dict[str, Any]], db_uuid: str) -> dict[str, Any]:
    return {
        "table_name": ds.name if ds.sql else ds.table,
        "main_dttm_col": ds.main_dttm_col,
        "description": ds.description,
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "schema": ds.schema,
        "sql": ds.sql.strip() if ds.sql else None,
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "uuid": _uuid("dataset", ds.name),
        "metrics": [{"metric_name": "count", "verbose_name": "COUNT(*)", "metric_type": "count",
                     "expression": "COUNT(*)", "description": None, "d3format": None,
                     "extra": {}, "warning_text": None}],
        "columns": columns,
        "version": VERSION,
        "database_uuid": db_uuid,
    }


# ---------------------------------------------------------------------------- charts
def _metric(label: str, sql: str) -> dict[str, Any]:
    return {"expressionType": "SQL", "sqlExpression": sql, "label": label,
            "hasCustomLabel": True, "optionName": f"metric_{label}"}


def _sql_filter(sql: str) -> dict[str, Any]:
    return {"expressionType": "SQL", "sqlExpression": sql, "clause": "WHERE",
            "filterOptionName": f"filter_{abs(hash(sql)) % 10**8}"}


@dataclass
class Chart:
    name: str
    dataset: str
    viz_type: str
    width: int  # of 12 grid columns
    height: int = 50
    # table (raw): columns, ordering, limit
    columns: list[str] = field(default_factory=list)
    order_by: list[tuple[str, bool]] = field(default_factory=list)
    # aggregated charts: x axis (column or SQL), series, metrics
    x_axis: str | None = None
    groupby: list[str] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    filters: list[str] = field(default_factory=list)
    row_limit: int = 1000
    description: str = ""
    extra_params: dict[str, Any] = field(default_factory=dict)

    @property
    def uuid(self) -> str:
        return _uuid("chart", self.name)

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {
            "viz_type": self.viz_type,
            "adhoc_filters": [_sql_filter(f) for f in self.filters],
            "row_limit": self.row_limit,
            "color_scheme": "supersetColors",
        }
        if self.viz_type == "table":
            p.update({"query_mode": "raw", "all_columns": self.columns,
                      "order_by_cols": [json.dumps([c, asc]) for c, asc in self.order_by],
                      "server_pagination": False, "include_search": True,
                      "table_timestamp_format": "smart_date", "show_cell_bars": True,
                      "allow_rearrange_columns": False})
        else:
            p.update({"x_axis": self.x_axis, "time_grain_sqla": "P1D", "metrics": self.metrics,
                      "groupby": self.groupby, "show_legend": True, "legendType": "scroll",
                      "legendOrientation": "top", "rich_tooltip": True,
                      "x_axis_sort_asc": True, "truncate_metric": True, "markerEnabled": True,
                      "markerSize": 6, "y_axis_format": "SMART_NUMBER",
                      "x_axis_time_format": "smart_date", "sort_series_type": "sum"})
        p.update(self.extra_params)
        return p

    def query_context(self) -> dict[str, Any]:
        """What the chart's data API runs (saved with the chart, as the UI would)."""
        if self.viz_type == "table":
            query = {"columns": self.columns, "metrics": [],
                     "orderby": [[c, asc] for c, asc in self.order_by]}
        else:
            axis = self.x_axis
            query = {"columns": [axis, *self.groupby], "metrics": self.metrics,
                     "orderby": [[self.metrics[0], False]] if self.metrics else [],
                     "series_columns": self.groupby}
        query.update({
            "filters": [], "extras": {"having": "", "where": " AND ".join(
                f"({f})" for f in self.filters)}, "row_limit": self.row_limit,
            "applied_time_extras": {}, "annotation_layers": [], "url_params": {},
            "custom_params": {}, "custom_form_data": {},
        })
        return {"datasource": {"id": 0, "type": "table"}, "force": False,
                "queries": [query], "form_data": self.params(), "result_format": "json",
                "result_type": "full"}

    def to_yaml(self) -> dict[str, Any]:
        return {"slice_name": self.name, "description": self.description or None,
                "certified_by": None, "certification_details": None,
                "viz_type": self.viz_type, "params": self.params(),
                "query_context": json.dumps(self.query_context()), "cache_timeout": None,
                "uuid": self.uuid, "version": VERSION,
                "dataset_uuid": _uuid("dataset", self.dataset)}


CHARTS = [
    Chart("KOL leaderboard", "kol_leaderboard", "table", width=8, height=60,
          columns=["leaderboard_rank", "handle", "tier", "category", "followers_graph",
                   "engagement_rate_per_view", "score", "quality_score",
                   "inactive_follower_share", "passes_quality_floor"],
          order_by=[("leaderboard_rank", True)], row_limit=50,
          description="Top KOLs by score, with tier and audience quality (share of inactive "
                      "followers, quality score)."),
    Chart("KOLs per tier and audience quality", "kol_leaderboard", "echarts_timeseries_bar",
          width=4, height=60, x_axis="tier",
          metrics=[_metric("KOLs", "COUNT(*)"),
                   _metric("avg audience quality x100", "100 * AVG(quality_score)")],
          description="How many KOLs each tier holds and their mean audience quality."),
    Chart("KOL collaboration pairs", "kol_collaborations", "table", width=12, height=50,
          columns=["kol_handle", "partner_handle", "rank", "score", "jaccard",
                   "complementary_share", "topic_fit", "same_community", "reasons"],
          order_by=[("score", False)], filters=["rank <= 3"], row_limit=30,
          description="Each KOL's best partners, with the reasons (new audience, overlap, "
                      "topic fit, balance)."),
    Chart("Community sizes", "communities", "echarts_timeseries_bar", width=5, x_axis="community",
          metrics=[_metric("members", "SUM(size)")],
          description="Members per follow-graph community."),
    Chart("Communities and top members", "communities", "table", width=7,
          columns=["community_id", "size", "dominant_categories", "top_members"],
          order_by=[("size", False)], row_limit=50),
    Chart("Campaign performance and lift", "campaign_performance", "table", width=7,
          columns=["name", "brand", "n_kols", "views", "engagements", "ctr", "engagement_rate",
                   "engagement_rate_lift", "ctr_lift", "roas"],
          order_by=[("views", False)], row_limit=50,
          description="Delivery and rates per campaign; lift is relative to the KOLs' "
                      "non-campaign baseline."),
    Chart("Campaign lift over baseline", "campaign_performance", "echarts_timeseries_bar",
          width=5, x_axis="name",
          metrics=[_metric("engagement rate lift", "SUM(engagement_rate_lift)"),
                   _metric("CTR lift", "SUM(ctr_lift)")]),
    Chart("Segment profiles", "segments", "table", width=12, height=40,
          columns=["segment_id", "n_users", "share", "mean_n_events", "mean_engaged_share",
                   "mean_active_days", "mean_conversion_value", "mean_kol_share",
                   "top_topic_labels"],
          order_by=[("n_users", False)]),
    Chart("Recommender evaluation over runs (NDCG@k, all users)", "recommender_eval",
          "echarts_timeseries_line", width=6, x_axis="ds", groupby=["model"],
          metrics=[_metric("NDCG", "AVG(value)")],
          filters=["metric = 'ndcg'", "user_group = 'all'"]),
    Chart("Rows loaded per run and entity", "rows_loaded_by_entity", "echarts_timeseries_line",
          width=6, x_axis="ds", groupby=["entity"], metrics=[_metric("rows", "SUM(rows_loaded)")]),
    Chart("Reject rate per run (%)", "data_quality_runs", "echarts_timeseries_line", width=6,
          x_axis="ds", metrics=[_metric("reject rate %", "100 * MAX(reject_rate)")]),
    Chart("Gate failures per run", "data_quality_runs", "echarts_timeseries_bar", width=6,
          x_axis="ds", metrics=[_metric("failed expectations", "SUM(gate_failures)"),
                                _metric("warnings", "SUM(gate_warnings)")]),
]

#: Dashboard rows (chart names per row), top to bottom.
LAYOUT = [
    ("KOLs", ["KOL leaderboard", "KOLs per tier and audience quality"]),
    ("Collaboration", ["KOL collaboration pairs"]),
    ("Communities", ["Community sizes", "Communities and top members"]),
    ("Campaigns", ["Campaign performance and lift", "Campaign lift over baseline"]),
    ("Segments", ["Segment profiles"]),
    ("Models and data quality over runs", ["Recommender evaluation over runs (NDCG@k, all users)",
                                           "Rows loaded per run and entity"]),
    ("", ["Reject rate per run (%)", "Gate failures per run"]),
]


def _dashboard_yaml() -> dict[str, Any]:
    charts = {c.name: c for c in CHARTS}
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER",
                      "meta": {"text": "Social Warehouse"}},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [],
                    "parents": ["ROOT_ID"]},
    }
    for i, (title, names) in enumerate(LAYOUT):
        if title:
            hid = f"HEADER-{i}"
            position[hid] = {"type": "HEADER", "id": hid, "children": [],
                             "parents": ["ROOT_ID", "GRID_ID"],
                             "meta": {"text": title, "headerSize": "MEDIUM_HEADER",
                                      "background": "BACKGROUND_TRANSPARENT"}}
            position["GRID_ID"]["children"].append(hid)
        rid = f"ROW-{i}"
        position[rid] = {"type": "ROW", "id": rid, "children": [],
                         "parents": ["ROOT_ID", "GRID_ID"],
                         "meta": {"background": "BACKGROUND_TRANSPARENT"}}
        position["GRID_ID"]["children"].append(rid)
        for name in names:
            chart = charts[name]
            cid = f"CHART-{chart.uuid[:8]}"
            position[cid] = {"type": "CHART", "id": cid, "children": [],
                             "parents": ["ROOT_ID", "GRID_ID", rid],
                             "meta": {"width": chart.width, "height": chart.height,
                                      "chartId": 0, "uuid": chart.uuid, "sliceName": name}}
            position[rid]["children"].append(cid)
    return {
        "dashboard_title": "Social Warehouse",
        "description": None,
        "css": "",
        "slug": DASHBOARD_SLUG,
        "certified_by": None,
        "certification_details": None,
        "published": True,
        "uuid": _uuid("dashboard", DASHBOARD_SLUG),
        "position": position,
        "metadata": {"color_scheme": "supersetColors", "refresh_frequency": 0,
                     "expanded_slices": {}, "label_colors": {}, "shared_label_colors": [],
                     "timed_refresh_immune_slices": [], "cross_filters_enabled": False,
                     "default_filters": "{}", "chart_configuration": {},
                     "native_filter_configuration": []},
        "version": VERSION,
    }


def build_bundle(warehouse: Path | str, out: Path | str) -> Path:
    """Write the import bundle for ``warehouse`` (the served file) to ``out`` (.zip)."""
    warehouse = Path(warehouse).resolve()
    if not warehouse.is_file():
        raise FileNotFoundError(f"served warehouse {warehouse} does not exist: run the pipeline "
                                "(make run) first")
    db_uuid = _uuid("database", DATABASE_NAME)
    files: dict[str, dict[str, Any]] = {
        "metadata.yaml": {"version": VERSION, "type": "Dashboard",
                          "timestamp": "2026-12-03T00:00:00+00:00"},
        "databases/Social_Warehouse.yaml": {
            "database_name": DATABASE_NAME, "sqlalchemy_uri": duckdb_uri(warehouse),
            "cache_timeout": None, "expose_in_sqllab": True, "allow_run_async": False,
            "allow_ctas": False, "allow_cvas": False, "allow_dml": False,
            "allow_csv_upload": False, "impersonate_user": False,
            "extra": {"allows_virtual_table_explore": True, "metadata_params": {},
                      "engine_params": {}, "schemas_allowed_for_file_upload": []},
            "uuid": db_uuid, "version": VERSION},
    }
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for ds in DATASETS:
            files[f"datasets/Social_Warehouse/{ds.name}.yaml"] = _dataset_yaml(
                ds, _columns(con, ds), db_uuid)
    finally:
        con.close()
    names = {c.name for c in CHARTS}
    for _, row in LAYOUT:
        missing = set(row) - names
        if missing:
            raise ValueError(f"layout names unknown charts: {sorted(missing)}")
    for chart in CHARTS:
        slug = "".join(ch if ch.isalnum() else "_" for ch in chart.name).strip("_")
        files[f"charts/{slug}.yaml"] = chart.to_yaml()
    files["dashboards/Social_Warehouse.yaml"] = _dashboard_yaml()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(f"social_warehouse_dashboard/{name}",
                        yaml.safe_dump(content, sort_keys=False, allow_unicode=True))
    out.write_bytes(buf.getvalue())
    return out


# ---------------------------------------------------------------------------- running it
def superset_env(home: Path | str, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the ``superset`` CLI: config file, home (metadata DB, secret key)."""
    env = dict(os.environ if base is None else base)
    env.update({"SUPERSET_CONFIG_PATH": str(HERE / "superset_config.py"),
                "SW_SUPERSET_HOME": str(Path(home).resolve()), "FLASK_APP": "superset",
                "SUPERSET_LOAD_EXAMPLES": "no", "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def _superset_bin() -> Path:
    exe = SUPERSET_VENV / "bin" / "superset"
    if not exe.is_file():
        raise FileNotFoundError(f"{exe} not found: run `make superset-env` first")
    return exe


def _run(args: list[str], env: dict[str, str], log: Path) -> None:
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"\n$ {' '.join(args)}\n")
        fh.flush()
        proc = subprocess.run(args, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=600)
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(args[:3])} failed (exit {proc.returncode}); log {log}:\n"
                           f"{tail}")


_GRANT_PUBLIC = """
from superset.app import create_app
app = create_app()
with app.app_context():
    from superset import db, security_manager as sm
    role = sm.find_role("Public")
    for perm, view in (("all_datasource_access", "all_datasource_access"),
                       ("all_database_access", "all_database_access")):
        pv = sm.find_permission_view_menu(perm, view) or sm.add_permission_view_menu(perm, view)
        if pv not in role.permissions:
            sm.add_permission_role(role, pv)
    db.session.commit()
    print("Public role:", len(role.permissions), "permissions")
"""


def setup(home: Path | str, warehouse: Path | str, *, password: str = "admin",
          public_read: bool = True) -> Path:
    """Metadata DB, admin user, roles, (anonymous read), and the imported dashboard."""
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    env = superset_env(home, {**os.environ,
                              "SW_SUPERSET_PUBLIC_READ": "1" if public_read else "0"})
    exe, log = str(_superset_bin()), home / "setup.log"
    bundle = build_bundle(warehouse, home / "social_warehouse_dashboard.zip")
    _run([exe, "db", "upgrade"], env, log)
    _run([exe, "fab", "create-admin", "--username", "admin", "--firstname", "Social",
          "--lastname", "Warehouse", "--email", "admin@localhost", "--password", password],
         env, log)
    _run([exe, "init"], env, log)
    if public_read:
        _run([str(SUPERSET_VENV / "bin" / "python"), "-c", _GRANT_PUBLIC], env, log)
    _run([exe, "import-dashboards", "-p", str(bundle), "-u", "admin"], env, log)
    return bundle


def serve_command(port: int = 8088, host: str = "127.0.0.1") -> list[str]:
    return [str(_superset_bin()), "run", "-h", host, "-p", str(port), "--with-threads"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    default_wh = os.environ.get("SW_WAREHOUSE") or str(
        Path(os.environ.get("SW_DATA_DIR") or REPO / "data") / "warehouse.duckdb")
    default_home = os.environ.get("SW_SUPERSET_HOME") or str(REPO / "data" / "superset")
    b = sub.add_parser("bundle", help="write the dashboard import bundle (.zip)")
    b.add_argument("--warehouse", default=default_wh, help="served DuckDB file")
    b.add_argument("--out", required=True, help="bundle path (.zip)")
    s = sub.add_parser("setup", help="create Superset's metadata DB and import the dashboard")
    s.add_argument("--warehouse", default=default_wh, help="served DuckDB file")
    s.add_argument("--home", default=default_home, help="Superset home (metadata, secret)")
    s.add_argument("--password", default=os.environ.get("SW_SUPERSET_PASSWORD", "admin"),
                   help="password of the 'admin' user")
    r = sub.add_parser("serve", help="run Superset on 127.0.0.1 in the foreground")
    r.add_argument("--home", default=default_home, help="Superset home (metadata, secret)")
    r.add_argument("--port", type=int, default=int(os.environ.get("SW_SUPERSET_PORT", "8088")),
                   help="port (default 8088)")
    a = parser.parse_args(argv)
    if a.cmd == "bundle":
        print(build_bundle(a.warehouse, a.out))
    elif a.cmd == "setup":
        bundle = setup(a.home, a.warehouse, password=a.password)
        print(f"imported {bundle} into Superset at {a.home}")
    else:
        print(f"Superset: http://127.0.0.1:{a.port}/superset/dashboard/{DASHBOARD_SLUG}/ "
              "(viewing needs no login; edit as admin)", flush=True)
        os.execve(serve_command(a.port)[0], serve_command(a.port), superset_env(a.home))
    return 0


if __name__ == "__main__":
    sys.exit(main())
