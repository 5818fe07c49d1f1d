"""Campaign effect per campaign and per campaign x KOL.

Definitions (all rates float64; a rate whose denominator is 0 is null, never 0):

* campaign posts: ``items.campaign_id == campaign``; their KOL is the post's author.
* attribution window: interactions on campaign posts with ``occurred_at`` in
  ``[starts_at, ends_at + attribution_days]``.
* ``impressions``: view events; ``reach``: distinct users with any event on the campaign's
  posts (a click or like implies having seen it); ``unique_viewers``: distinct viewers.
* ``engagements``: like + comment + share + save; ``engagement_rate = engagements / views``.
* ``ctr = clicks / views``; ``conversion_rate_click = conversions / clicks``;
  ``conversion_rate_view = conversions / views``; ``conversion_value`` = sum of ``value``
  on conversion events.
* with a budget: ``cost_per_engagement``, ``cost_per_click``, ``cost_per_conversion``,
  ``cpm`` (per 1,000 views) and ``roas = conversion_value / budget``. Per KOL the budget
  is allocated by ``budget_allocation`` (default: share of the campaign's posts).
* lift: the same KOL's *non-campaign* posts (``campaign_id`` null) are the baseline,
  using their interactions in ``[starts_at - baseline_days, ends_at + attribution_days]``.
  Per KOL ``lift = rate_campaign / rate_baseline - 1`` for engagement rate, CTR and
  conversion rate per view, and for views per post. Per campaign the lift compares the
  observed count with the count expected from each KOL's own baseline rate,
  ``sum_k events_k / sum_k views_k * rate_baseline_k - 1``, over KOLs with a usable
  baseline (>= ``min_baseline_views`` baseline views and a non-zero baseline rate);
  otherwise the lift is null and ``baseline_ok`` is False.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._arrays import lookup, str_columns
from ._common import ENGAGEMENT_EVENTS, safe_div, utc_naive
from ._config import ConfigMixin, check_choice

__all__ = ["CampaignConfig", "campaign_performance", "LIFT_METRICS"]

#: Lift metrics: name -> (numerator event, denominator event).
LIFT_METRICS: dict[str, tuple[str, str]] = {
    "engagement_rate": ("engagements", "views"),
    "ctr": ("clicks", "views"),
    "conversion_rate_view": ("conversions", "views"),
}


@dataclass(frozen=True)
class CampaignConfig(ConfigMixin):
    """Options of :func:`campaign_performance`.

    Attributes
    ----------
    attribution_days : int
        Days after ``ends_at`` still attributed to the campaign. Default 7.
    baseline_days : int
        Days before ``starts_at`` included in the baseline window. Default 28.
    engagement_events : tuple of str
        Default like, comment, share, save.
    min_baseline_views : int
        Minimum baseline views for a usable per-KOL baseline. Default 100.
    budget_allocation : {"posts", "views", "none"}
        How a campaign budget is split over its KOLs for per-KOL costs. Default ``posts``.
    """

    attribution_days: int = 7
    baseline_days: int = 28
    engagement_events: tuple[str, ...] = ENGAGEMENT_EVENTS
    min_baseline_views: int = 100
    budget_allocation: str = "posts"

    SECTION = "campaigns"

    def __post_init__(self) -> None:
        object.__setattr__(self, "engagement_events", tuple(self.engagement_events))
        check_choice("budget_allocation", self.budget_allocation, ("posts", "views", "none"))
        if self.attribution_days < 0 or self.baseline_days < 0 or self.min_baseline_views < 0:
            raise ValueError("attribution_days, baseline_days, min_baseline_views must be >= 0")


def _event_counts(ev: pd.DataFrame, keys: list[str], config: CampaignConfig) -> pd.DataFrame:
    t = ev["event_type"]
    flags = pd.DataFrame(
        {
            "views": (t == "view"),
            "likes": (t == "like"),
            "comments": (t == "comment"),
            "shares": (t == "share"),
            "saves": (t == "save"),
            "engagements": t.isin(config.engagement_events),
            "clicks": (t == "click"),
            "conversions": (t == "conversion"),
        }
    ).astype("int64")
    val = pd.to_numeric(ev["value"], errors="coerce") if "value" in ev.columns else None
    flags["conversion_value"] = (
        (val.fillna(0.0) * (t == "conversion")).astype("float64") if val is not None else 0.0
    )
    for k in keys:
        flags[k] = ev[k].to_numpy()
    g = flags.groupby(keys, sort=True)
    agg = g.sum()
    agg["reach"] = ev.groupby(keys, sort=True)["user_id"].nunique()
    viewers = ev[t == "view"].groupby(keys, sort=True)["user_id"].nunique()
    agg["unique_viewers"] = viewers.reindex(agg.index).fillna(0).astype("int64")
    agg["posts_with_events"] = ev.groupby(keys, sort=True)["post_id"].nunique()
    return agg


def _rates(df: pd.DataFrame) -> None:
    df["ctr"] = safe_div(df["clicks"], df["views"])
    df["conversion_rate_click"] = safe_div(df["conversions"], df["clicks"])
    df["conversion_rate_view"] = safe_div(df["conversions"], df["views"])
    df["engagement_rate"] = safe_div(df["engagements"], df["views"])
    df["views_per_post"] = safe_div(df["views"], df["n_posts"])


def _costs(df: pd.DataFrame, budget: pd.Series) -> None:
    b = budget.astype("float64")
    df["cost_per_engagement"] = safe_div(b, df["engagements"])
    df["cost_per_click"] = safe_div(b, df["clicks"])
    df["cost_per_conversion"] = safe_div(b, df["conversions"])
    df["cpm"] = safe_div(b * 1000.0, df["views"])
    df["roas"] = safe_div(df["conversion_value"], b)


def campaign_performance(
    items: pd.DataFrame,
    interactions: pd.DataFrame,
    campaigns: pd.DataFrame,
    *,
    config: CampaignConfig = CampaignConfig(),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Campaign metrics per campaign and per campaign x KOL, with lift over baseline.

    Parameters
    ----------
    items : DataFrame
        ``post_id``, ``author_id``, ``campaign_id`` (nullable).
    interactions : DataFrame
        ``user_id``, ``post_id``, ``event_type``, ``occurred_at``; optional ``value``
        (conversion value) and ``author_id`` (taken from ``items`` anyway).
    campaigns : DataFrame
        ``campaign_id``, ``starts_at``, ``ends_at``; optional ``brand``, ``name``,
        ``budget`` (nullable).
    config : CampaignConfig

    Returns
    -------
    per_campaign : DataFrame
        One row per campaign: ``campaign_id``, ``brand``, ``name``, ``starts_at``,
        ``ends_at``, ``budget``, ``n_posts``, ``n_kols``, ``views`` (impressions),
        ``reach``, ``unique_viewers``, ``likes``, ``comments``, ``shares``, ``saves``,
        ``engagements``, ``clicks``, ``conversions``, ``conversion_value``, ``ctr``,
        ``conversion_rate_click``, ``conversion_rate_view``, ``engagement_rate``,
        ``views_per_post``, cost columns, ``<metric>_lift`` and ``<metric>_expected`` per
        lift metric, ``n_kols_with_baseline``.
    per_campaign_kol : DataFrame
        One row per campaign x KOL with the same metrics, ``allocated_budget``,
        ``baseline_views``, ``baseline_posts``, ``baseline_<metric>``, ``baseline_ok``,
        ``<metric>_lift`` and ``views_per_post_lift``.
    """
    camps = campaigns.drop_duplicates("campaign_id", keep="last").copy()
    camps["starts_at"] = utc_naive(camps["starts_at"])
    camps["ends_at"] = utc_naive(camps["ends_at"])
    camps["budget"] = (
        pd.to_numeric(camps["budget"], errors="coerce").astype("float64")
        if "budget" in camps.columns
        else np.nan
    )
    for col in ("brand", "name"):
        if col not in camps.columns:
            camps[col] = None

    posts = items[["post_id", "author_id", "campaign_id"]].drop_duplicates("post_id")
    ev = interactions.drop(columns=[c for c in ("author_id",) if c in interactions.columns])
    ev = ev.merge(posts, on="post_id", how="inner")
    ev["ts"] = utc_naive(ev["occurred_at"])
    ev = ev.dropna(subset=["ts"])

    # campaign posts and their attributed events
    cposts = posts.dropna(subset=["campaign_id"])
    cposts = cposts[cposts["campaign_id"].isin(camps["campaign_id"])]
    window = camps.set_index("campaign_id")[["starts_at", "ends_at", "budget"]]
    cev = ev.dropna(subset=["campaign_id"])
    cev = cev[cev["campaign_id"].isin(window.index)]
    start = lookup(cev["campaign_id"], window["starts_at"])
    end = lookup(cev["campaign_id"], window["ends_at"]) + pd.Timedelta(
        days=config.attribution_days
    )
    cev = cev[((cev["ts"] >= start) & (cev["ts"] <= end)).to_numpy(dtype=bool)]

    n_posts_ck = cposts.groupby(["campaign_id", "author_id"]).size().rename("n_posts")
    kol = _event_counts(cev, ["campaign_id", "author_id"], config)
    kol = kol.reindex(n_posts_ck.index).fillna(0)
    kol["n_posts"] = n_posts_ck
    int_cols = [c for c in kol.columns if c != "conversion_value"]
    kol[int_cols] = kol[int_cols].astype("int64")
    kol = kol.reset_index().rename(columns={"author_id": "kol_id"})
    _rates(kol)

    # per-KOL baseline: the KOL's non-campaign posts in the extended window
    bev = ev[ev["campaign_id"].isna()]
    base_rows = []
    for cid, w in window.iterrows():
        authors = kol.loc[kol["campaign_id"] == cid, "kol_id"]
        lo = w["starts_at"] - pd.Timedelta(days=config.baseline_days)
        hi = w["ends_at"] + pd.Timedelta(days=config.attribution_days)
        b = bev[bev["author_id"].isin(authors) & (bev["ts"] >= lo) & (bev["ts"] <= hi)]
        if len(b):
            c = _event_counts(b.assign(campaign_id=cid), ["campaign_id", "author_id"], config)
            base_rows.append(c.reset_index())
    base_cols = ["views", "engagements", "clicks", "conversions", "posts_with_events"]
    if base_rows:
        base = pd.concat(base_rows, ignore_index=True).rename(columns={"author_id": "kol_id"})
        base = base[["campaign_id", "kol_id", *base_cols]]
    else:
        base = pd.DataFrame(columns=["campaign_id", "kol_id", *base_cols])
    base = base.rename(columns={c: f"baseline_{c}" for c in base_cols})
    base = base.rename(columns={"baseline_posts_with_events": "baseline_posts"})
    kol = kol.merge(base, on=["campaign_id", "kol_id"], how="left")
    for c in (
        "baseline_views",
        "baseline_engagements",
        "baseline_clicks",
        "baseline_conversions",
        "baseline_posts",
    ):
        kol[c] = kol[c].fillna(0).astype("int64")
    kol["baseline_views_per_post"] = safe_div(kol["baseline_views"], kol["baseline_posts"])
    enough = kol["baseline_views"] >= max(1, config.min_baseline_views)
    kol["baseline_ok"] = enough.astype(bool)
    for metric, (num, den) in LIFT_METRICS.items():
        brate = safe_div(kol[f"baseline_{num}"], kol[f"baseline_{den}"])
        brate = np.where(enough & (brate > 0), brate, np.nan)
        kol[f"baseline_{metric}"] = brate
        kol[f"{metric}_lift"] = safe_div(kol[metric], brate) - 1.0
    kol["views_per_post_lift"] = np.where(
        enough, safe_div(kol["views_per_post"], kol["baseline_views_per_post"]) - 1.0, np.nan
    )

    # budget allocation per KOL
    budget = lookup(kol["campaign_id"], window["budget"]).astype("float64")
    if config.budget_allocation == "posts":
        share = safe_div(kol["n_posts"], kol.groupby("campaign_id")["n_posts"].transform("sum"))
    elif config.budget_allocation == "views":
        share = safe_div(kol["views"], kol.groupby("campaign_id")["views"].transform("sum"))
    else:
        share = np.full(len(kol), np.nan)
    kol["allocated_budget"] = budget.to_numpy() * share
    _costs(kol, kol["allocated_budget"])

    # per campaign (reach deduplicated across KOLs)
    camp = _event_counts(cev, ["campaign_id"], config)
    n_posts_c = cposts.groupby("campaign_id").size()
    camp = camp.reindex(camps["campaign_id"]).fillna(0)
    int_cols = [c for c in camp.columns if c != "conversion_value"]
    camp[int_cols] = camp[int_cols].astype("int64")
    camp["n_posts"] = n_posts_c.reindex(camp.index).fillna(0).astype("int64")
    camp["n_kols"] = (
        cposts.groupby("campaign_id")["author_id"]
        .nunique()
        .reindex(camp.index)
        .fillna(0)
        .astype("int64")
    )
    camp = camp.reset_index()
    camp = camps[["campaign_id", "brand", "name", "starts_at", "ends_at", "budget"]].merge(
        camp, on="campaign_id", how="left"
    )
    _rates(camp)
    _costs(camp, camp["budget"])
    ok = kol[kol["baseline_ok"]]
    camp["n_kols_with_baseline"] = (
        lookup(camp["campaign_id"], ok.groupby("campaign_id").size()).fillna(0).astype("int64")
    )
    for metric, (num, den) in LIFT_METRICS.items():
        valid = ok[np.isfinite(ok[f"baseline_{metric}"])]
        observed = valid.groupby("campaign_id")[num].sum()
        expected = (valid[den] * valid[f"baseline_{metric}"]).groupby(valid["campaign_id"]).sum()
        camp[f"{metric}_expected"] = lookup(camp["campaign_id"], expected).astype("float64")
        camp[f"{metric}_lift"] = (
            safe_div(
                lookup(camp["campaign_id"], observed).astype("float64"),
                camp[f"{metric}_expected"],
            )
            - 1.0
        )
    ids = ["campaign_id", "kol_id", "brand", "name"]
    return (
        str_columns(camp.reset_index(drop=True), ids),
        str_columns(kol.reset_index(drop=True), ids),
    )
