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

Real run mode (``--data-dir``): the DAG task's own function, ``run_audience_stage``, on a
run's exported inputs, in a child process::

    .venv/bin/python benchmarks/bench_audience.py \\
        --data-dir /tmp/sw_bench_pipeline/large_parquet_2/data \\
        --run-id sw__2026-01-02__20261203T172710 --label after

The run's ``storage/runs/<run>/`` subtree (exported inputs and the upstream analytics
outputs) is copied once into ``--work`` (the source data dir is never written), the
stage's own outputs are removed before each measurement, and the child runs
``run_audience_stage(run_id, ds, run_settings(run_id))`` with ``SW_DATA_DIR`` pointing at
the copy and ``SW_HOME`` at a snapshot of ``config/analytics.yml`` and
``dbt_project/dbt_project.yml``. ``--src`` runs another source tree (e.g. ``git archive``
of the baseline commit). Recorded: wall time, CPU time (``wait4`` of the child), peak RSS
of the child's process tree (sampled with :func:`social_warehouse.taskmetrics.tree_rss_bytes`
every 0.2 s, plus the kernel's ``ru_maxrss``), each step's wall time and RSS as it ends
(written by the child as it goes, so a run killed at ``--timeout`` still has the steps it
finished), ``audience_info.json``'s step timings, rows in and rows out, and the load
average. Results: ``benchmarks/results/audience_<profile>_<label>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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

# --------------------------------------------------------------------------- real run mode

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
#: the analytics functions the stage calls, timed by the child as each returns
STEP_FUNCS = [
    ("interests", "social_warehouse.analytics.audience", "build_user_interests"),
    ("profiles", "social_warehouse.analytics.audience", "build_user_profiles"),
    ("segments", "social_warehouse.analytics.segments", "segment_users"),
    ("propensity", "social_warehouse.analytics.propensity", "train_propensity"),
    ("evaluate", "social_warehouse.analytics.evaluation", "evaluate_recommenders"),
    ("recommend", "social_warehouse.analytics.recommend", "recommend"),
]
INPUT_TABLES = ["core/fct_interactions", "core/fct_user_item_scores", "core/dim_users",
                "core/dim_items", "core/fct_follow_edges"]


def _child(run_id: str, ds: str, progress: str) -> None:
    """Inside the child: run the stage, one JSON line per finished step to ``progress``."""
    import importlib

    import psutil
    from social_warehouse.pipeline import run_settings
    from social_warehouse.stages import run_audience_stage
    from social_warehouse.taskmetrics import tree_rss_bytes

    me = psutil.Process()
    t_start = time.perf_counter()

    def emit(rec: dict) -> None:
        with open(progress, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, default=str) + "\n")

    def wrap(step_name, func):
        def timed(*args, **kwargs):
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                emit({"step": step_name, "wall_s": round(time.perf_counter() - w0, 3),
                      "cpu_s": round(time.process_time() - c0, 3),
                      "rss_at_end_mb": round(tree_rss_bytes(me) / 2**20, 1),
                      "t_end_s": round(time.perf_counter() - t_start, 3)})
        return timed

    for step_name, module, attr in STEP_FUNCS:
        mod = importlib.import_module(module)
        setattr(mod, attr, wrap(step_name, getattr(mod, attr)))
    emit({"event": "start", "pid": os.getpid(), "source": str(Path(mod.__file__).parents[1])})
    result = run_audience_stage(run_id, ds, run_settings(run_id))
    emit({"event": "done", "result": result})


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def prepare_work(data_dir: Path, run_id: str, work: Path) -> Path:
    """A private copy of the run's storage subtree; returns the copy's data dir."""
    src = data_dir / "storage" / "runs" / run_id
    dst_data = work / "data"
    dst = dst_data / "storage" / "runs" / run_id
    if not (dst / "inputs").is_dir():
        if not (src / "inputs").is_dir():
            raise SystemExit(f"{src}/inputs not found: not an exported run")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, dst)
    home = work / "home"
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "dbt_project").mkdir(parents=True, exist_ok=True)
    for rel in ("config/analytics.yml", "dbt_project/dbt_project.yml"):
        if not (home / rel).exists() and (ROOT / rel).exists():
            shutil.copy2(ROOT / rel, home / rel)
    return dst_data


def run_real(a: argparse.Namespace) -> dict[str, Any]:
    import psutil
    from social_warehouse.stages import _EMPTY_OUTPUTS
    from social_warehouse.taskmetrics import tree_rss_bytes

    work = Path(a.work)
    data = prepare_work(Path(a.data_dir), a.run_id, work)
    ds = a.ds or a.run_id.split("__")[1]
    analytics = data / "storage" / "runs" / a.run_id / "analytics"
    produced = [n for n in _EMPTY_OUTPUTS if n not in ("topics", "item_topics")]
    for name in [*produced, "audience_info"]:
        for f in (analytics / f"{name}.parquet", analytics / f"{name}.json"):
            f.unlink(missing_ok=True)
    inputs = data / "storage" / "runs" / a.run_id / "inputs"
    rows_in = {t.split("/")[1]: _parquet_rows(inputs / f"{t}.parquet") for t in INPUT_TABLES
               if (inputs / f"{t}.parquet").exists()}
    progress = work / f"progress_{a.label}.jsonl"
    progress.unlink(missing_ok=True)
    env = dict(os.environ, SW_DATA_DIR=str(data), SW_HOME=str(work / "home"),
               SW_LINEAGE="off", PYTHONUNBUFFERED="1")
    src = Path(a.src).resolve() if a.src else ROOT / "plugins"
    env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--run-id", a.run_id,
           "--ds", ds, "--progress", str(progress)]
    load0 = [round(x, 2) for x in os.getloadavg()]
    started = datetime.now(UTC).isoformat(timespec="seconds")
    log = work / f"child_{a.label}.log"
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
        ps = psutil.Process(proc.pid)
        peak, killed = 0, False
        while True:  # wait4 (not poll, which would reap the child and lose its rusage)
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, tree_rss_bytes(ps))
            if a.timeout and time.perf_counter() - t0 > a.timeout and not killed:
                killed = True
                proc.kill()
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    load1 = [round(x, 2) for x in os.getloadavg()]
    lines = [json.loads(x) for x in progress.read_text().splitlines()] if progress.exists() else []
    steps = [x for x in lines if "step" in x]
    done = next((x["result"] for x in lines if x.get("event") == "done"), None)
    info_path = analytics / "audience_info.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    rows_out = {n: _parquet_rows(analytics / f"{n}.parquet") for n in produced
                if (analytics / f"{n}.parquet").exists()}
    return {
        "label": a.label, "run_id": a.run_id, "ds": ds, "source": str(src),
        "started_at": started, "command": " ".join(sys.argv),
        "status": "killed at timeout" if killed else (
            "ok" if done is not None and os.waitstatus_to_exitcode(status) == 0
            else f"failed (exit {os.waitstatus_to_exitcode(status)}; see {log})"),
        "timeout_s": a.timeout, "wall_s": round(wall, 1),
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 1),
        "peak_rss_gb_sampled": round(peak / 2**30, 2),
        "peak_rss_gb_maxrss": round(ru.ru_maxrss * 1024 / 2**30, 2),
        "load_average_start": load0, "load_average_end": load1, "cpus": os.cpu_count(),
        "steps": steps, "info_steps": info.get("steps"),
        "eval": {k: info.get(k) for k in ("eval_split", "eval_n_test_users",
                                          "eval_n_users_sampled", "eval_sampled",
                                          "hybrid_popularity_blend")},
        "rows_in": rows_in, "rows_out": rows_out,
    }


def real_markdown(r: dict[str, Any]) -> str:
    out = [f"# Audience stage, run `{r['run_id']}` ({r['label']})", "",
           f"- command: `{r['command']}`", f"- source: `{r['source']}`",
           f"- started {r['started_at']}, status **{r['status']}**",
           f"- load average start {r['load_average_start']}, end {r['load_average_end']} "
           f"({r['cpus']} CPUs)",
           f"- wall **{r['wall_s']} s**, CPU {r['cpu_s']} s, peak RSS "
           f"**{r['peak_rss_gb_sampled']} GB** (tree, sampled; ru_maxrss "
           f"{r['peak_rss_gb_maxrss']} GB)", "",
           "| step | wall s | CPU s | RSS at end MB |", "|---|---:|---:|---:|"]
    out += [f"| {s['step']} | {s['wall_s']} | {s['cpu_s']} | {s['rss_at_end_mb']} |"
            for s in r["steps"]]
    out += ["", f"audience_info.json steps: `{r['info_steps']}`", "",
            f"evaluation: `{r['eval']}`", "", f"rows in: `{r['rows_in']}`", "",
            f"rows out: `{r['rows_out']}`", ""]
    return "\n".join(out)


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
    p.add_argument("--data-dir", help="real run mode: a data dir with storage/runs/<run>")
    p.add_argument("--run-id", help="real run mode: the run whose exported inputs to use")
    p.add_argument("--ds", help="real run mode: logical date (default: from the run id)")
    p.add_argument("--work", default="/tmp/aud_bench", help="real run mode: scratch copy")
    p.add_argument("--src", help="real run mode: plugins folder to run (default: this repo)")
    p.add_argument("--label", default="run", help="real run mode: results file suffix")
    p.add_argument("--profile", default="large", help="real run mode: results file prefix")
    p.add_argument("--timeout", type=float, default=0, help="real run mode: kill after s")
    p.add_argument("--results", default=str(RESULTS_DIR))
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--progress", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        _child(a.run_id, a.ds, a.progress)
        return
    if a.data_dir:
        if not a.run_id:
            p.error("--data-dir needs --run-id")
        r = run_real(a)
        results = Path(a.results)
        results.mkdir(parents=True, exist_ok=True)
        stem = results / f"audience_{a.profile}_{a.label}"
        stem.with_suffix(".json").write_text(json.dumps(r, indent=2, default=str))
        stem.with_suffix(".md").write_text(real_markdown(r))
        print(real_markdown(r))
        print(f"wrote {stem}.json and {stem}.md")
        return
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
