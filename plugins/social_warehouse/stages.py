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
from typing import Any

from .config import Settings, get_settings
from .pipeline import analytics_dir, read_sql, write_outputs

__all__ = [
    "load_analytics_config",
    "run_graph_stage",
    "run_topics_stage",
    "run_kol_stage",
    "run_audience_stage",
]

log = logging.getLogger(__name__)


#: Keys the stages in this module read from their sections of ``config/analytics.yml``
#: (the KOL sections are checked by their config classes, ``analytics._config``).
STAGE_CONFIG_KEYS: dict[str, frozenset[str]] = {
    "graph": frozenset({"edges", "engine", "seed", "community_method"}),
    "topics": frozenset({"method", "criterion", "n_topics", "min_items", "seed"}),
    "audience": frozenset({
        "seed", "segment_k_range", "n_recommendations", "eval_k", "eval_max_users",
        "eval_split", "eval_holdout_days", "eval_holdout_items", "min_eval_users",
        "warm_min_events",
    }),
}


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
    for section, allowed in STAGE_CONFIG_KEYS.items():
        values = data.get(section) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: section {section!r} must be a mapping, "
                             f"got {type(values).__name__}")
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise ValueError(f"{path}: unknown key(s) {unknown} in section {section!r}; "
                             f"allowed: {sorted(allowed)}")
    return data


def _save_info(run_id: str, name: str, info: dict, settings: Settings | None) -> None:
    path = analytics_dir(run_id, settings) / f"{name}_info.json"
    path.write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")


def _read_info(run_id: str, name: str, settings: Settings | None) -> dict:
    path = analytics_dir(run_id, settings) / f"{name}_info.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _as_of(ds: str):
    """The project's ``as_of`` convention: the end of the logical date, exclusive.

    ``ds + 1 day, 00:00`` (naive UTC): data with ``occurred_at < as_of`` is "as of ds",
    the same instant as the dbt macro ``as_of_end()``. Functions that need the last
    day of the data take ``as_of - 1 day``.
    """
    import pandas as pd

    return pd.Timestamp(ds) + pd.Timedelta(days=1)


def score_params(settings: Settings | None = None) -> dict[str, float]:
    """The implicit-score parameters: the dbt vars of ``fct_user_item_scores``.

    Read from ``dbt_project.yml`` so the evaluation's Python score uses the values the
    served dbt score used; vars absent there take the model's defaults.
    """
    import yaml

    from .analytics.evaluation import SCORE_DEFAULTS

    s = settings or get_settings()
    path = Path(s.dbt_project_dir) / "dbt_project.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    found = (data or {}).get("vars") or {}
    return {k: float(found.get(k, v)) for k, v in SCORE_DEFAULTS.items()}


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


# The columns the marts read, for outputs a stage could not compute on this data (e.g. no
# post text, a single day): the stage writes them empty, so every mart still builds and
# says "nothing" rather than showing a previous run's rows.
_EMPTY_OUTPUTS = {
    "topics": {"topic_id": "int64", "rank": "int64", "term": "str", "weight": "float64",
               "label": "str", "coherence_npmi": "float64"},
    "item_topics": {"post_id": "str", "topic_id": "int64", "weight": "float64", "rank": "int64"},
    "user_interests": {"user_id": "str", "topic_id": "int64", "weight": "float64",
                       "rank": "int64"},
    "user_profiles": {"user_id": "str", "kol_share": "float64", "watch_ratio_mean": "float64"},
    "user_segments": {"user_id": "str", "segment_id": "int32"},
    "segment_profiles": {"segment_id": "int32", "n_users": "int64", "share": "float64",
                         "top_topic_labels": "str", "top_kols": "str"},
    "user_recommendations": {"user_id": "str", "rank": "int64", "post_id": "str",
                             "score": "float64", "model": "str"},
    "recommender_eval": {"model": "str", "metric": "str", "value": "float64", "k": "int64",
                         "n_users_evaluated": "int64", "split": "str", "users": "str",
                         "split_reason": "str", "n_test_users": "int64",
                         "min_eval_users": "int64", "eval_warning": "str",
                         "popularity_blend": "float64"},
    "propensity_eval": {"model": "str", "metric": "str", "value": "float64", "split": "str",
                        "date": "datetime64[ms]", "n_pairs": "int64",
                        "positive_rate": "float64", "chosen": "bool"},
}


def _empty(name: str):
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _EMPTY_OUTPUTS[name].items()})


def _lists_to_python(frame):
    """Tuples and numpy arrays in object columns become lists (Parquet-friendly)."""
    import numpy as np

    for col in frame.columns:
        if frame[col].dtype == object:
            sample = frame[col].dropna().head(50)
            if sample.map(lambda v: isinstance(v, (tuple, np.ndarray))).any():
                frame[col] = frame[col].map(
                    lambda v: list(v) if isinstance(v, (tuple, np.ndarray)) else v)
    return frame


def run_topics_stage(run_id: str, ds: str, settings: Settings | None = None) -> dict:
    """Topics of the post texts (TF-IDF + NMF, multilingual) and each item's topic weights."""
    from .analytics.topics import TopicsSkipped, fit_topics

    cfg = load_analytics_config(settings).get("topics") or {}
    t0 = time.perf_counter()

    def skip(reason: str) -> dict:
        info = {"skipped": reason, "seconds": time.perf_counter() - t0}
        empty = {name: _empty(name) for name in ("topics", "item_topics")}
        empty["topics"].insert(0, "ds", ds)
        write_outputs(run_id, empty, settings)
        _save_info(run_id, "topics", info, settings)
        log.warning("topics skipped: %s", reason)
        return info

    # ordered: NMF's initialisation and the stability subsamples follow the row order, and
    # dim_items' physical order varies between builds of the same data (the chosen number
    # of topics did too: 4 vs 8 on one dataset), so the same data gives the same topics
    items = read_sql("select post_id, text, hashtags from core.dim_items "
                     "where text is not null or len(hashtags) > 0 order by post_id",
                     settings=settings)
    if len(items) < int(cfg.get("min_items", 20)):
        return skip(f"only {len(items)} items with text (min_items "
                    f"{cfg.get('min_items', 20)})")
    items["hashtags"] = items["hashtags"].map(lambda v: " ".join(v) if v is not None else "")
    try:
        topics, item_topics, info = fit_topics(
            items, n_topics=cfg.get("n_topics"), method=cfg.get("method", "nmf"),
            criterion=cfg.get("criterion", "stability"), random_state=int(cfg.get("seed", 0)))
    except TopicsSkipped as exc:
        return skip(str(exc))
    topics.insert(0, "ds", ds)
    written = write_outputs(run_id, {"topics": topics, "item_topics": item_topics}, settings)
    info = {k: v for k, v in info.items() if k != "model"}
    info["seconds"] = time.perf_counter() - t0
    _save_info(run_id, "topics", info, settings)
    return {"outputs": written, "n_topics": info.get("n_topics"),
            "seconds": round(info["seconds"], 2)}


def run_audience_stage(run_id: str, ds: str, settings: Settings | None = None) -> dict:
    """Interest profiles, segments, propensity model, recommendations and their evaluation."""
    import pandas as pd

    cfg = load_analytics_config(settings).get("audience") or {}
    t0 = time.perf_counter()
    folder = analytics_dir(run_id, settings)
    seed = int(cfg.get("seed", 0))
    n_recs = int(cfg.get("n_recommendations", 10))
    k_eval = int(cfg.get("eval_k", 10))

    def parquet(name, columns=None):
        path = folder / f"{name}.parquet"
        return pd.read_parquet(path, columns=columns) if path.exists() else None

    item_topics = parquet("item_topics")
    if item_topics is not None and item_topics.empty:
        item_topics = None
    topics = parquet("topics")
    kol = parquet("kol_scores", ["user_id", "is_kol"])
    graph = parquet("graph_user_metrics", ["user_id", "community_id"])
    # gate_core tolerates a small share of orphan events (unknown user or post); profiles,
    # segments and recommendations are only for known users and known posts
    known = ("where user_id in (select user_id from core.dim_users) "
             "and post_id in (select post_id from core.dim_items)")
    scores = read_sql("select user_id, post_id, score, n_events, last_at "
                      f"from core.fct_user_item_scores {known}", settings=settings)
    # no event_id: nothing downstream reads it (13.9M strings at the large profile)
    interactions = read_sql(
        "select user_id, post_id, author_id, event_type, occurred_at, event_date, "
        f"watch_time_s, value, watch_ratio from core.fct_interactions {known}",
        settings=settings)
    items = read_sql("select post_id, author_id, created_at, media_type, duration_s, "
                     "campaign_id from core.dim_items", settings=settings)
    users = read_sql("select user_id, category, country, followers_count, following_count "
                     "from core.dim_users", settings=settings)
    follows = read_sql("select follower_id, followee_id, followed_at "
                       "from core.fct_follow_edges", settings=settings)
    event_types = read_sql("select event_type, weight, scale_by_value "
                           "from staging.stg_event_types order by event_type",
                           settings=settings)
    outputs: dict[str, pd.DataFrame] = {}
    info: dict[str, Any] = {"steps": {}}

    def step(name, func):
        s0 = time.perf_counter()
        try:
            return func()
        finally:
            info["steps"][name] = round(time.perf_counter() - s0, 3)

    if len(scores) == 0:
        info["skipped"] = "no interactions: no interests, segments or recommendations"
    else:
        _audience_outputs(outputs, info, step, cfg, ds, seed, n_recs, k_eval, item_topics,
                          topics, kol, graph, scores, interactions, items, users, follows,
                          event_types, score_params(settings))
    for name in _EMPTY_OUTPUTS:
        if name not in ("topics", "item_topics") and name not in outputs:
            outputs[name] = _empty(name)
    for frame in outputs.values():
        if "ds" not in frame.columns:
            frame.insert(0, "ds", ds)
        _lists_to_python(frame)
    written = write_outputs(run_id, outputs, settings)
    info["seconds"] = time.perf_counter() - t0
    _save_info(run_id, "audience", info, settings)
    return {"outputs": written, "eval_split": info.get("eval_split"),
            "eval_warning": info.get("eval_warning") or None,
            "seconds": round(info["seconds"], 2)}


def _time_split_ok(interactions) -> tuple[bool, str]:
    """Whether a time split (train before the last day, test on it) is meaningful for
    the propensity model.

    It needs two days, and the last day's kinds of behaviour must also occur earlier:
    Last.fm's plays carry no dates (all land on the load day) while its tag assignments
    are dated years back, so a time split would train on tags and test on plays. Then
    the evaluation falls back to a random split per user.
    """
    days = interactions["event_date"]
    if days.nunique() < 2:
        return False, f"needs two days of interactions, found {days.nunique()}"
    last = days == days.max()
    unseen = (set(interactions.loc[last, "event_type"])
              - set(interactions.loc[~last, "event_type"]))
    if unseen:
        return False, (f"event types {sorted(unseen)} occur only on the last day "
                       f"({days.max()}): nothing earlier to train on")
    return True, ""


def _audience_outputs(outputs, info, step, cfg, ds, seed, n_recs, k_eval, item_topics, topics,
                      kol, graph, scores, interactions, items, users, follows, event_types,
                      params) -> None:
    from .analytics.audience import build_user_interests, build_user_profiles
    from .analytics.evaluation import evaluate_recommenders
    from .analytics.propensity import train_propensity
    from .analytics.recommend import recommend
    from .analytics.segments import segment_users

    as_of = _as_of(ds)
    if item_topics is not None:
        outputs["user_interests"] = step(
            "interests", lambda: build_user_interests(scores, item_topics))
    profiles = step("profiles", lambda: build_user_profiles(
        interactions, item_topics, scores=scores, items=items, kol=kol, as_of=as_of))
    if "kol_share" not in profiles.columns:  # no KOL scores this run: unknown, not 0
        profiles["kol_share"] = float("nan")
    outputs["user_profiles"] = profiles
    topic_labels = None
    if topics is not None and "label" in topics.columns:
        topic_labels = dict(topics.drop_duplicates("topic_id")[["topic_id", "label"]]
                            .itertuples(index=False, name=None))
    k_range = tuple(cfg.get("segment_k_range", (2, 10)))
    if len(profiles) >= max(3, k_range[0] + 1):
        assignments, segments, seg_info = step("segments", lambda: segment_users(
            profiles, k_range=k_range, follows=follows, kol=kol, topic_labels=topic_labels,
            random_state=seed))
        outputs["user_segments"] = assignments
        outputs["segment_profiles"] = segments
        info["segments"] = {k: v for k, v in seg_info.items() if k != "model"}
    time_split, why = _time_split_ok(interactions)
    if time_split:
        # as of the test day: follows by followed_at, follower counts and KOL flags
        # recomputed from them; the run's KOL scores and communities cover the test day
        # and are not used (propensity module docstring)
        try:
            _, prop_metrics = step("propensity", lambda: train_propensity(
                interactions, items=items, users=users, follows=follows, communities=None,
                kol=None, item_topics=item_topics, random_state=seed))
            outputs["propensity_eval"] = prop_metrics
            info["propensity_as_of"] = ("follows before the test day; KOL flag = top 10% by "
                                        "followers before the day; communities not used")
        except ValueError as exc:  # e.g. no negatives or positives on the test day
            info["propensity_skipped"] = str(exc)
    else:
        info["propensity_skipped"] = why
    # evaluation first: it tunes the hybrid's popularity blend on a validation split of
    # its training events, and the served hybrid uses the tuned blend
    evaluation = step("evaluate", lambda: evaluate_recommenders(
        interactions, split=cfg.get("eval_split", "time"), k=k_eval, items=items,
        item_topics=item_topics, max_users=cfg.get("eval_max_users", 20000),
        holdout_days=int(cfg.get("eval_holdout_days", 1)),
        holdout_items=int(cfg.get("eval_holdout_items", 1)),
        min_eval_users=int(cfg.get("min_eval_users", 50)),
        warm_min_events=int(cfg.get("warm_min_events", 3)),
        event_types=event_types, score_params=params, as_of_end=as_of,
        random_state=seed))
    outputs["recommender_eval"] = evaluation
    eval_info = evaluation.attrs.get("info") or {}
    blend = evaluation.loc[evaluation["model"] == "hybrid", "popularity_blend"].dropna()
    blend_value = float(blend.iloc[0]) if len(blend) else 0.0
    info.update(eval_split=eval_info.get("kind"), eval_split_label=eval_info.get("split"),
                eval_split_reason=eval_info.get("reason"),
                eval_n_test_users=eval_info.get("n_test_users"),
                eval_n_users_sampled=eval_info.get("n_users_sampled"),
                eval_sampled=bool((eval_info.get("sample") or {}).get("sampled")),
                eval_sample=eval_info.get("sample"),
                eval_warning=eval_info.get("warning") or "",
                hybrid_popularity_blend=blend_value)
    table = evaluation.attrs.get("blend_table")
    if table is not None and len(table):
        info["blend_validation"] = table.to_dict(orient="records")
    outputs["user_recommendations"] = step("recommend", lambda: recommend(
        scores, items=items, item_topics=item_topics, model="hybrid", n=n_recs,
        popularity_blend=blend_value))
