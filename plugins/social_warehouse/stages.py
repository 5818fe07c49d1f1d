"""Analytics stages of the daily run: core tables in, Parquet outputs out.

Each stage opens the build warehouse read-only, calls the pure functions of
:mod:`social_warehouse.analytics`, and writes one Parquet file per output under
``runs/<run_id>/analytics/``; :func:`social_warehouse.pipeline.load_outputs` (the single
writer) loads them into ``analytics.*``. Settings come from ``config/analytics.yml``
(or ``SW_ANALYTICS_CONFIG``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from .config import Settings, get_settings
from .pipeline import analytics_dir, read_sql, write_outputs

__all__ = ["load_analytics_config", "run_graph_stage", "run_kol_stage"]

log = logging.getLogger(__name__)


def load_analytics_config(settings: Settings | None = None) -> dict:
    """The analytics settings as a dict of sections (missing file: all defaults)."""
    import yaml

    s = settings or get_settings()
    path = Path(os.environ.get("SW_ANALYTICS_CONFIG") or s.home / "config" / "analytics.yml")
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data


def _save_info(run_id: str, name: str, info: dict, settings: Settings | None) -> None:
    path = analytics_dir(run_id, settings) / f"{name}_info.json"
    path.write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")


def _read_info(run_id: str, name: str, settings: Settings | None) -> dict:
    path = analytics_dir(run_id, settings) / f"{name}_info.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _as_of(ds: str):
    import pandas as pd

    return pd.Timestamp(ds) + pd.Timedelta(days=1)


def run_graph_stage(run_id: str, ds: str, settings: Settings | None = None) -> dict:
    """Centralities, components, k-core and communities of the user graph."""
    from .analytics.graph import compute_graph_metrics

    cfg = load_analytics_config(settings).get("graph") or {}
    t0 = time.perf_counter()
    if cfg.get("edges", "follows") == "user_edges":
        edges = read_sql("select source_id as source, target_id as target, weight "
                         "from core.fct_user_edges", settings=settings)
        weight = "weight"
    else:
        edges = read_sql("select follower_id as source, followee_id as target "
                         "from core.fct_follow_edges", settings=settings)
        weight = None
    nodes = read_sql("select user_id from core.dim_users order by user_id",
                     settings=settings)["user_id"]
    metrics, communities, info = compute_graph_metrics(
        edges, nodes=nodes, engine=cfg.get("engine", "auto"), seed=int(cfg.get("seed", 0)),
        weight=weight, community_method=cfg.get("community_method", "leiden"),
    )
    communities = communities.copy()
    communities["top_members"] = communities["top_members"].map(list)
    metrics.insert(1, "ds", ds)
    communities.insert(0, "ds", ds)
    communities["modularity"] = info.get("modularity")
    written = write_outputs(run_id, {"graph_user_metrics": metrics,
                                     "graph_communities": communities}, settings)
    info = {**info, "edge_source": cfg.get("edges", "follows"), "seconds": time.perf_counter() - t0}
    _save_info(run_id, "graph", info, settings)
    return {"outputs": written, "modularity": info.get("modularity"),
            "seconds": round(info["seconds"], 2)}


def run_kol_stage(run_id: str, ds: str, settings: Settings | None = None) -> dict:
    """Influence scores, KOL tiers, audience quality, collaborations, campaigns, seeding."""
    import pandas as pd

    from .analytics.campaigns import CampaignConfig, campaign_performance
    from .analytics.collaboration import CollaborationConfig, recommend_collaborations
    from .analytics.influence import (
        AudienceQualityConfig,
        InfluenceConfig,
        audience_quality,
        score_influence,
    )
    from .analytics.seeding import SeedingConfig, select_seed_kols

    cfg = load_analytics_config(settings)
    t0 = time.perf_counter()
    folder = analytics_dir(run_id, settings)
    as_of = _as_of(ds)
    users = read_sql("select * from core.dim_users", settings=settings)
    items = read_sql("select post_id, author_id, created_at, text, campaign_id "
                     "from core.dim_items", settings=settings)
    icfg = InfluenceConfig.from_dict(cfg.get("influence") or {})
    window_start = as_of - pd.Timedelta(days=max(int(icfg.window_days), 1) + 1)
    interactions = read_sql(
        "select user_id, post_id, author_id, event_type, occurred_at, event_date, watch_time_s, "
        "value from core.fct_interactions where occurred_at >= ? and occurred_at < ?",
        [window_start.to_pydatetime(), as_of.to_pydatetime()], settings=settings)
    follows = read_sql("select follower_id, followee_id, followed_at from core.fct_follow_edges",
                       settings=settings)
    campaigns = read_sql("select campaign_id, brand, campaign_name as name, starts_at, ends_at, "
                         "budget from core.dim_campaigns", settings=settings)
    graph_path = folder / "graph_user_metrics.parquet"
    graph = (pd.read_parquet(graph_path, columns=["user_id", "pagerank", "community_id"])
             if graph_path.exists() else None)
    topics_path = folder / "item_topics.parquet"
    item_topics = pd.read_parquet(topics_path) if topics_path.exists() else None
    if item_topics is not None and "topic_id" not in item_topics.columns:
        item_topics = None

    scores = score_influence(users, items, interactions, follows, graph_metrics=graph,
                             item_topics=item_topics, config=icfg, as_of=as_of)
    kols = scores[scores["is_kol"]]
    quality = audience_quality(
        users, follows, interactions, kols=kols, items=items, as_of=as_of,
        config=AudienceQualityConfig.from_dict(cfg.get("audience_quality") or {}))
    collabs = recommend_collaborations(
        kols, follows, users=users, graph_metrics=graph, items=items, item_topics=item_topics,
        quality=quality, config=CollaborationConfig.from_dict(cfg.get("collaboration") or {}))
    per_campaign, per_kol = campaign_performance(
        items, interactions, campaigns,
        config=CampaignConfig.from_dict(cfg.get("campaigns") or {}))
    seeding_cfg = dict(cfg.get("seeding") or {})
    k = int(seeding_cfg.pop("k", 5))
    seeding = select_seed_kols(follows, kols, k=k, config=SeedingConfig.from_dict(seeding_cfg))
    outputs = {
        "kol_scores": scores,
        "kol_audience_quality": quality,
        "kol_collaborations": collabs,
        "campaign_performance": per_campaign,
        "campaign_kol_performance": per_kol,
        "campaign_seeding": seeding,
    }
    for frame in outputs.values():
        frame.insert(0, "ds", ds) if "ds" not in frame.columns else None
        for col in frame.columns:  # tuples (seed sets, gains) become lists for Parquet
            if frame[col].dtype == object and frame[col].map(type).eq(tuple).any():
                frame[col] = frame[col].map(lambda v: list(v) if isinstance(v, tuple) else v)
    written = write_outputs(run_id, outputs, settings)
    info = {"weights_used": scores.attrs.get("weights_used"), "n_kols": int(len(kols)),
            "used_topics": item_topics is not None, "used_graph": graph is not None,
            "seconds": time.perf_counter() - t0}
    _save_info(run_id, "kol", info, settings)
    return {"outputs": written, "n_kols": info["n_kols"], "seconds": round(info["seconds"], 2)}
