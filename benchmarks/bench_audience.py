"""Audience analytics at scale: wall time, CPU time and peak RSS per step.

    .venv/bin/python benchmarks/bench_audience.py --users 100000 --items 20000 \\
        --interactions 2000000

Generates a random-with-structure world in memory (users in taste groups preferring a
few of the topics, posts with topical English/Chinese text, lognormal item popularity,
a week of view and engagement events), then runs every step of the audience stage:
scores, topics, user profiles, segments, propensity, hybrid recommendations for every
user and the offline evaluation of all models (on a seeded sample of test users).

Peak RSS per step is sampled from /proc/self/statm every 20 ms (the whole process,
including the generated input). Target at 1M users / 200k items / 20M interactions:
the whole stage under 5 minutes and 10 GB.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import warnings
from contextlib import contextmanager

import numpy as np
import pandas as pd
from social_warehouse.analytics.audience import build_user_profiles
from social_warehouse.analytics.evaluation import evaluate_recommenders, interaction_scores
from social_warehouse.analytics.propensity import train_propensity
from social_warehouse.analytics.recommend import recommend
from social_warehouse.analytics.segments import segment_users
from social_warehouse.analytics.topics import fit_topics

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class _PeakSampler:
    def __init__(self) -> None:
        self.peak = _rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss())

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss())


RESULTS: list[dict] = []


@contextmanager
def step(name: str):
    w0, c0 = time.perf_counter(), time.process_time()
    with _PeakSampler() as s:
        yield
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    RESULTS.append(dict(step=name, wall_s=wall, cpu_s=cpu, peak_rss_gb=s.peak / 2**30))
    print(f"{name:<28} wall {wall:8.1f} s   cpu {cpu:8.1f} s   peak RSS {s.peak / 2**30:6.2f} GB",
          flush=True)


def generate(n_users: int, n_items: int, n_interactions: int, *, n_days: int = 8,
             n_topics: int = 16, n_groups: int = 8, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Random world with planted taste groups; integer ids; vectorised."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-03-01")
    # vocabulary: per topic English pseudo-words and Chinese two-character words
    en = [[f"w{t}x{j}" for j in range(30)] for t in range(n_topics)]
    cjk = np.arange(0x4E00, 0x9FA5)
    zh = [["".join(map(chr, rng.choice(cjk, 2))) for _ in range(10)] for _ in range(n_topics)]
    filler = "today new love check video best amazing share happy weekend".split()
    item_topic = rng.integers(0, n_topics, n_items)
    lang = rng.random(n_items)
    n_words = rng.integers(4, 9, n_items)
    texts = []
    for i in range(n_items):
        t = item_topic[i]
        k = n_words[i]
        if lang[i] < 0.6:
            words = [en[t][j] for j in rng.integers(0, 30, k)] + [filler[rng.integers(0, 10)]]
            texts.append(" ".join(words) + f" #tag{t}")
        elif lang[i] < 0.85:
            texts.append("".join(zh[t][j] for j in rng.integers(0, 10, k)) + f" #tag{t}")
        else:
            texts.append(" ".join(en[t][j] for j in rng.integers(0, 30, k // 2)) + " "
                         + "".join(zh[t][j] for j in rng.integers(0, 10, k // 2)))
    n_creators = max(n_items // 20, 10)
    creators = rng.choice(n_users, n_creators, replace=False)
    created_day = rng.integers(0, n_days, n_items)
    items = pd.DataFrame({
        "post_id": np.arange(n_items, dtype=np.int64),
        "author_id": creators[rng.integers(0, n_creators, n_items)],
        "created_at": pd.to_datetime(start + created_day.astype("timedelta64[D]")),
        "text": texts,
        "media_type": rng.choice(np.array(["video", "image", "text"]), n_items, p=[.6, .3, .1]),
        "duration_s": rng.uniform(5, 120, n_items),
        "hashtags": None,
        "campaign_id": None,
    })
    group = rng.integers(0, n_groups, n_users)
    group_topics = np.stack([rng.choice(n_topics, 3, replace=False) for _ in range(n_groups)])
    users = pd.DataFrame({
        "user_id": np.arange(n_users, dtype=np.int64),
        "followers_count": rng.lognormal(4, 2, n_users).astype(np.int64),
        "following_count": rng.lognormal(4, 1, n_users).astype(np.int64),
    })
    # events: 70% views, the rest engagements of viewed pairs
    n_views = int(n_interactions * 0.7)
    activity = rng.lognormal(0, 1, n_users)
    u = rng.choice(n_users, n_views, p=activity / activity.sum())
    pref = rng.random(n_views) < 0.75
    t = np.where(pref, group_topics[group[u], rng.integers(0, 3, n_views)],
                 rng.integers(0, n_topics, n_views))
    pop = rng.lognormal(0, 1, n_items)
    order = np.argsort(item_topic, kind="stable")
    bounds = np.searchsorted(item_topic[order], np.arange(n_topics + 1))
    cdf = np.zeros(n_items)
    for tt in range(n_topics):
        seg = order[bounds[tt]:bounds[tt + 1]]
        c = np.cumsum(pop[seg])
        cdf[bounds[tt]:bounds[tt + 1]] = c / c[-1]
    r = rng.random(n_views)
    pos = np.empty(n_views, dtype=np.int64)
    for tt in range(n_topics):
        m = t == tt
        lo, hi = bounds[tt], bounds[tt + 1]
        pos[m] = lo + np.minimum(np.searchsorted(cdf[lo:hi], r[m]), hi - lo - 1)
    it = order[pos]
    day = created_day[it] + (rng.random(n_views) * (n_days - created_day[it])).astype(np.int64)
    n_eng = n_interactions - n_views
    e_idx = rng.choice(np.flatnonzero(pref), min(n_eng, int(pref.sum())), replace=False)
    etypes = np.array(["like", "comment", "share", "save", "click", "conversion"])
    ev_user = np.r_[u, u[e_idx]]
    ev_item = np.r_[it, it[e_idx]]
    ev_day = np.r_[day, day[e_idx]]
    ev_type = np.r_[np.full(n_views, "view"),
                    etypes[rng.choice(6, len(e_idx), p=[.5, .12, .12, .12, .1, .04])]]
    secs = rng.integers(0, 86400, len(ev_user)).astype("timedelta64[s]")
    occurred = start + ev_day.astype("timedelta64[D]") + secs
    wt = np.where(ev_type == "view", rng.uniform(0, 1, len(ev_user)) * items["duration_s"]
                  .to_numpy()[ev_item], np.nan)
    inter = pd.DataFrame({
        "event_id": np.arange(len(ev_user), dtype=np.int64),
        "user_id": ev_user,
        "post_id": ev_item,
        "author_id": items["author_id"].to_numpy()[ev_item],
        "event_type": pd.Categorical(ev_type),
        "occurred_at": occurred,
        "event_date": (start + ev_day.astype("timedelta64[D]")).astype("datetime64[s]"),
        "watch_time_s": wt,
        "value": np.where(ev_type == "conversion", 20.0, np.nan),
    })
    inter["watch_ratio"] = np.minimum(wt / items["duration_s"].to_numpy()[ev_item], 1.0)
    follows = pd.DataFrame({"follower_id": rng.integers(0, n_users, n_users * 5),
                            "followee_id": creators[rng.integers(0, n_creators, n_users * 5)]}
                           ).drop_duplicates()
    kol = pd.DataFrame({"user_id": creators, "is_kol": rng.random(n_creators) < 0.1})
    return dict(items=items, users=users, interactions=inter, follows=follows, kol=kol,
                group=pd.Series(group))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--interactions", type=int, default=2_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-users", type=int, default=20_000,
                   help="test users sampled for the offline evaluation")
    p.add_argument("--n-jobs", type=int, default=1, help="threads for item-item similarity")
    p.add_argument("--skip", default="", help="comma-separated steps to skip")
    a = p.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    warnings.filterwarnings("ignore")

    t0 = time.perf_counter()
    w = generate(a.users, a.items, a.interactions, seed=a.seed)
    inter = w["interactions"]
    print(f"generated {len(w['users']):,} users, {len(w['items']):,} items, "
          f"{len(inter):,} interactions in {time.perf_counter() - t0:.1f} s; "
          f"RSS {_rss() / 2**30:.2f} GB", flush=True)

    stage0 = time.perf_counter()
    with step("scores (dbt does this)"):
        scores = interaction_scores(inter, by_date=False)
    with step("topics"):
        topics, item_topics, tinfo = fit_topics(w["items"], hashtags_col=None, random_state=0)
    print(f"  topics chosen: {tinfo['n_topics']} (planted 16)", flush=True)
    with step("user profiles"):
        prof = build_user_profiles(inter, item_topics, scores=scores, kol=w["kol"])
    if "segments" not in skip:
        with step("segments"):
            assign, segs, sinfo = segment_users(prof, k_range=(4, 12), follows=w["follows"],
                                                kol=w["kol"], random_state=0)
        from sklearn.metrics import adjusted_rand_score
        truth = w["group"].loc[assign["user_id"].to_numpy()].to_numpy()
        print(f"  segments: k={sinfo['k']} ({sinfo['algorithm']}), ARI vs planted groups "
              f"{adjusted_rand_score(truth, assign['segment_id']):.3f}", flush=True)
    if "propensity" not in skip:
        with step("propensity"):
            model, pm = train_propensity(inter, items=w["items"], users=w["users"],
                                         follows=w["follows"], kol=w["kol"],
                                         item_topics=item_topics, n_train_days=3,
                                         max_pairs_per_day=100_000, random_state=0)
        t = pm[pm["split"] == "test"].set_index(["model", "metric"])["value"]
        print(f"  propensity ({model.chosen_}): AUC {t[(model.chosen_, 'roc_auc')]:.3f}, "
              f"log loss {t[(model.chosen_, 'log_loss')]:.4f} vs base "
              f"{t[('base_rate', 'log_loss')]:.4f}", flush=True)
    if "recommend" not in skip:
        with step("recommend hybrid (all)"):
            recs = recommend(scores, items=w["items"], item_topics=item_topics, model="hybrid",
                             n=10, cf_params={"n_jobs": a.n_jobs})
        print(f"  {len(recs):,} rows for {recs['user_id'].nunique():,} users; by model "
              f"{recs['model'].value_counts().to_dict()}", flush=True)
    stage = time.perf_counter() - stage0
    if "evaluate" not in skip:
        models = [m for m in ("item_knn", "user_knn", "content", "popularity", "hybrid")
                  if m not in skip]
        with step("evaluate (time split)"):
            m = evaluate_recommenders(inter, items=w["items"], item_topics=item_topics, k=10,
                                      models=models, user_groups=("all",),
                                      max_users=a.eval_users, random_state=0,
                                      model_params={"item_knn": {"n_jobs": a.n_jobs}})
        piv = m.pivot_table(index="model", columns="metric", values="value")
        print(piv.round(4).to_string())
    total = sum(r["wall_s"] for r in RESULTS)
    print(f"\nstage without evaluation: {stage:.1f} s wall; all steps {total:.1f} s; "
          f"max peak RSS {max(r['peak_rss_gb'] for r in RESULTS):.2f} GB")
    print(pd.DataFrame(RESULTS).round(2).to_string(index=False))


if __name__ == "__main__":
    main()
