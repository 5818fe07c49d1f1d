"""Engagement propensity: will this user engage with this item today?

Labels and negative sampling (:func:`build_propensity_pairs`)
-------------------------------------------------------------
For a day ``d``:

* **positives**: distinct (user, post) pairs with at least one *engagement* event that
  day (any type not in ``exposure_types``: like, comment, share, save, click,
  conversion, ...);
* **exposed negatives**: pairs with only exposure events that day (``view``, ``play``,
  ``impression``): the user saw the post and did not engage. These come first;
* **sampled negatives**, only when there are fewer exposed negatives than
  ``neg_ratio`` per positive: the day's positive users (each drawn once per positive)
  paired with posts *available* that day (posts with any event that day, or created
  that day), drawn in proportion to the post's number of events that day + 1 (an
  exposure proxy: the feed shows popular posts more); pairs with any event of that
  user that day are rejected.

So a day has ``neg_ratio`` negatives per positive (fewer only if the sampler runs dry)
and the positive rate is about ``1 / (1 + neg_ratio)``; probabilities are calibrated to
that sampled distribution, which is fine for ranking and for comparing with the base
rate on the same pairs. Days with more positives than ``max_pairs_per_day`` allows are
subsampled uniformly (seeded).

Features (:class:`PropensityFeaturizer`, :func:`propensity_features`) use only events
strictly before ``d`` (no leakage), plus profile tables. As-of rules for the snapshot
tables, when ``follows`` has a ``followed_at`` column (the warehouse's does):

* ``r_follows_author`` counts only follows with ``followed_at`` before the day (a follow
  without a time is left out: it cannot be placed before the day);
* ``u_log_followers``, ``u_log_following`` and ``a_log_followers`` are counted from those
  follows, not read from today's ``dim_users``;
* ``a_is_kol``, when no ``kol`` table is given, flags authors whose follower count before
  the day is in the top ``kol_quantile`` share of accounts with followers (the KOL scores
  of the run cover the test day, so the audience stage does not pass them);
* ``r_same_community`` needs ``communities`` computed on data before the test day; the
  audience stage does not pass the run's communities (they cover the test day).

Without ``followed_at`` the follows and profile counts are used as given (a snapshot:
only safe when it predates the test day). Running totals per user, item,
author and (user, author) by event day are built once with sorts of the event columns
and looked up per pair, so scoring many days costs about as much as scoring one:

========================  =============================================================
user                      ``u_log_events``, ``u_eng_rate`` (engagement share, shrunk to
                          the global rate with 10 pseudo-events), ``u_log_active_days``,
                          ``u_log_followers``, ``u_log_following``
item                      ``i_log_age_days``, ``i_is_new`` (posted on ``d``),
                          ``i_log_users`` (user-days: distinct users per past day,
                          summed), ``i_eng_rate``, ``i_log_duration``,
                          ``i_media_<type>``, ``i_has_campaign``
author                    ``a_log_followers``, ``a_is_kol``, ``a_log_users`` (user-days),
                          ``a_eng_rate``
relationship              ``r_follows_author``, ``r_same_community``, ``r_topic_match``
                          (cosine of the user's past topic interests and the item's
                          topics), ``r_log_ua_events`` (past events on the author's
                          posts), ``r_ua_engaged``
========================  =============================================================

Training and evaluation (:func:`train_propensity`)
--------------------------------------------------
The last day is the test day; the ``n_train_days`` days before it (each with features
from its own past) are training days. Candidates: logistic regression on standardised
features (default) and histogram gradient boosting; the boosted model replaces the
logistic one only if it *clearly wins* on the last training day held out as validation
(log loss at least ``clear_win`` relatively lower and ROC AUC not lower). The chosen
model is refitted on all training days and both candidates and the base-rate predictor
(the training positive rate) are reported on the test day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..contract import DEFAULT_EVENT_WEIGHTS
from ._arrays import distinct
from ._common import event_days
from .audience import EXPOSURE_TYPES, kol_set

__all__ = [
    "MEDIA_TYPES",
    "FEATURES",
    "PropensityModel",
    "PropensityFeaturizer",
    "build_propensity_pairs",
    "propensity_features",
    "train_propensity",
]

MEDIA_TYPES = ("video", "image", "text", "audio")
FEATURES: tuple[str, ...] = (
    "u_log_events", "u_eng_rate", "u_log_active_days", "u_log_followers", "u_log_following",
    "i_log_age_days", "i_is_new", "i_log_users", "i_eng_rate", "i_log_duration",
    *(f"i_media_{m}" for m in MEDIA_TYPES), "i_has_campaign",
    "a_log_followers", "a_is_kol", "a_log_users", "a_eng_rate",
    "r_follows_author", "r_same_community", "r_topic_match", "r_log_ua_events", "r_ua_engaged",
)
_PRIOR_EVENTS = 10.0


def _prepare_events(interactions: pd.DataFrame, items: pd.DataFrame | None,
                    exposure_types: Sequence[str]) -> pd.DataFrame:
    cols = {"user_id": interactions["user_id"].to_numpy(),
            "post_id": interactions["post_id"].to_numpy()}
    ev = pd.DataFrame(cols)
    if "author_id" in interactions.columns:
        ev["author_id"] = interactions["author_id"].to_numpy()
    elif items is not None:
        ev["author_id"] = ev["post_id"].map(items.set_index("post_id")["author_id"]).to_numpy()
    else:
        ev["author_id"] = None
    et = interactions["event_type"].astype(str).str.lower()
    ev["eng"] = (~et.isin(list(exposure_types))).to_numpy()
    ev["w"] = et.map(DEFAULT_EVENT_WEIGHTS).fillna(1.0).to_numpy(np.float32)
    src = interactions["event_date"] if "event_date" in interactions else interactions[
        "occurred_at"]
    ev["date"] = event_days(src)
    return ev


def build_propensity_pairs(
    interactions: pd.DataFrame,
    day: Any,
    *,
    items: pd.DataFrame | None = None,
    neg_ratio: int = 4,
    max_pairs_per_day: int | None = 200_000,
    exposure_types: Sequence[str] = EXPOSURE_TYPES,
    random_state: int = 0,
    _events: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Labelled (user, post) pairs of one day (see the module docstring).

    Returns
    -------
    DataFrame
        ``user_id, post_id, label (0/1), source`` with source in ``positive, exposed,
        sampled``.
    """
    ev = _events if _events is not None else _prepare_events(interactions, items,
                                                             exposure_types)
    d = np.datetime64(pd.Timestamp(day).date(), "D")
    rng = np.random.default_rng(random_state)
    E = ev[ev["date"] == d]
    pair = E.groupby(["user_id", "post_id"], sort=True, observed=True)["eng"].any().reset_index()
    pos = pair[pair["eng"]][["user_id", "post_id"]]
    exp = pair[~pair["eng"]][["user_id", "post_id"]]
    max_pos = None if max_pairs_per_day is None else max(1, max_pairs_per_day // (1 + neg_ratio))
    if max_pos is not None and len(pos) > max_pos:
        pos = pos.iloc[np.sort(rng.choice(len(pos), max_pos, replace=False))]
    n_neg = neg_ratio * len(pos)
    if len(exp) > n_neg:
        exp = exp.iloc[np.sort(rng.choice(len(exp), n_neg, replace=False))]
    parts = [pos.assign(label=1, source="positive"), exp.assign(label=0, source="exposed")]
    need = n_neg - len(exp)
    if need > 0 and len(pos):
        avail = E.groupby("post_id", sort=True).size()
        if items is not None and "created_at" in items.columns:
            created = event_days(items["created_at"])
            new = items.loc[created == d, "post_id"]
            avail = avail.reindex(avail.index.union(pd.Index(new)), fill_value=0)
        p = (avail.to_numpy(np.float64) + 1.0)
        p /= p.sum()
        m = int(need * 1.5) + 10
        cand = pd.DataFrame({
            "user_id": pos["user_id"].to_numpy()[rng.integers(0, len(pos), m)],
            "post_id": avail.index.to_numpy()[rng.choice(len(avail), m, p=p)],
        }).drop_duplicates()
        known = pair[["user_id", "post_id"]].assign(_k=1)
        cand = cand.merge(known, on=["user_id", "post_id"], how="left")
        cand = cand[cand["_k"].isna()].drop(columns="_k").head(need)
        parts.append(cand.assign(label=0, source="sampled"))
    out = pd.concat(parts, ignore_index=True)
    out["label"] = out["label"].astype(np.int8)
    return out


def _log1p(x) -> np.ndarray:
    return np.log1p(np.clip(np.asarray(x, dtype=np.float64), 0, None))


class _Cumulative:
    """Per-entity running totals over event days, looked up strictly before a day."""

    def __init__(self, codes: np.ndarray, day_idx: np.ndarray, n_days: int,
                 values: dict[str, np.ndarray | None]) -> None:
        ok = codes >= 0
        key = codes[ok].astype(np.int64) * n_days + day_idx[ok]
        self.keys, inv = np.unique(key, return_inverse=True)
        self.ent = self.keys // n_days
        self.n_days = n_days
        start = np.r_[True, self.ent[1:] != self.ent[:-1]]
        grp = np.cumsum(start) - 1
        self.cum: dict[str, np.ndarray] = {}
        for name, v in values.items():
            per = (np.bincount(inv, minlength=len(self.keys)) if v is None
                   else np.bincount(inv, weights=v[ok], minlength=len(self.keys)))
            c = np.cumsum(per, dtype=np.float64)
            base = np.r_[0.0, c][np.flatnonzero(start)]  # cumsum before each entity
            self.cum[name] = c - base[grp]
        self.cum["days"] = (np.arange(len(self.keys)) - np.flatnonzero(start)[grp] + 1).astype(
            np.float64)

    def lookup(self, codes: np.ndarray, day_idx: np.ndarray) -> dict[str, np.ndarray]:
        q = codes.astype(np.int64) * self.n_days + day_idx
        pos = np.searchsorted(self.keys, q, side="left") - 1
        posc = np.clip(pos, 0, max(len(self.keys) - 1, 0))
        valid = (pos >= 0) & (codes >= 0) & (len(self.keys) > 0)
        if len(self.keys):
            valid &= self.ent[posc] == codes
        return {k: np.where(valid, v[posc] if len(v) else 0.0, 0.0) for k, v in self.cum.items()}


class PropensityFeaturizer:
    """Leakage-free pair features from one pass over the events.

    ``fit`` builds, per user, item, author and (user, author), running totals by event
    day; ``transform`` looks up, for each (user, post, day), the totals of the days
    strictly before ``day`` and joins the profile tables. Cost: a few sorts of the
    event columns, independent of the number of days scored.

    Parameters
    ----------
    items, users, follows, communities, kol, item_topics, exposure_types
        See :func:`propensity_features`.
    """

    def __init__(
        self,
        *,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        follows: pd.DataFrame | None = None,
        communities: pd.DataFrame | None = None,
        kol: pd.DataFrame | Iterable[Any] | None = None,
        item_topics: pd.DataFrame | None = None,
        exposure_types: Sequence[str] = EXPOSURE_TYPES,
        kol_quantile: float = 0.9,
    ) -> None:
        self.kol_quantile = kol_quantile
        self.items = items
        self.users = users
        self.follows = follows
        self.communities = communities
        self.kol = kol
        self.item_topics = item_topics
        self.exposure_types = exposure_types

    def fit(self, interactions: pd.DataFrame | None = None, *,
            _events: pd.DataFrame | None = None) -> PropensityFeaturizer:
        """Index the events (``fct_interactions``)."""
        ev = _events if _events is not None else _prepare_events(
            interactions, self.items, self.exposure_types)
        self.days_ = np.unique(ev["date"])
        D = len(self.days_)
        d_idx = np.searchsorted(self.days_, ev["date"].to_numpy())
        ucodes, self.user_index_ = pd.factorize(ev["user_id"])
        icodes, self.item_index_ = pd.factorize(ev["post_id"])
        authors = ev["author_id"]
        if self.items is not None and "author_id" in self.items.columns:
            authors = pd.concat([authors, self.items["author_id"]], ignore_index=True)
        acodes_all, self.author_index_ = pd.factorize(authors)
        acodes = acodes_all[: len(ev)]
        if self.items is not None and "author_id" in self.items.columns:
            self._item_author = pd.Series(self.items["author_id"].to_numpy(),
                                          index=self.items["post_id"].to_numpy())
        else:
            self._item_author = ev.drop_duplicates("post_id").set_index("post_id")["author_id"]
        eng = ev["eng"].to_numpy().astype(np.float64)
        n_u = max(len(self.user_index_), 1)
        # platform engagement share of the days before each day (prefix sums)
        self._day_n = np.r_[0.0, np.cumsum(np.bincount(d_idx, minlength=D))]
        self._day_eng = np.r_[0.0, np.cumsum(np.bincount(d_idx, weights=eng, minlength=D))]
        self._user = _Cumulative(ucodes, d_idx, D, {"n": None, "eng": eng})
        # distinct users per (item, day) and (author, day): unique triples first
        tri = distinct((icodes.astype(np.int64) * D + d_idx) * n_u + ucodes)
        ic, idd = (tri // n_u) // D, (tri // n_u) % D
        self._item = _Cumulative(icodes, d_idx, D, {"n": None, "eng": eng})
        self._item_users = _Cumulative(ic, idd, D, {"users": None})
        ok = acodes >= 0
        tri = distinct((acodes[ok].astype(np.int64) * D + d_idx[ok]) * n_u + ucodes[ok])
        ac, ad = (tri // n_u) // D, (tri // n_u) % D
        self._author = _Cumulative(acodes, d_idx, D, {"n": None, "eng": eng})
        self._author_users = _Cumulative(ac, ad, D, {"users": None})
        n_a = max(len(self.author_index_), 1)
        ua = np.where(ok, ucodes.astype(np.int64) * n_a + acodes, -1)
        self._ua = _Cumulative(ua, d_idx, D, {"n": None, "eng": eng})
        self._n_authors = n_a
        self._ev = ev[["user_id", "post_id", "w"]].assign(_d=d_idx) if (
            self.item_topics is not None and len(self.item_topics)) else None
        self._fit_follows()
        return self

    def _fit_follows(self) -> None:
        """Index follows by day when they carry ``followed_at`` (see the module doc)."""
        f = self.follows
        self._asof = f is not None and "followed_at" in f.columns
        if f is None or not self._asof:
            return
        t = pd.to_datetime(f["followed_at"], utc=True)
        ok = t.notna().to_numpy()
        day = np.full(len(f), np.iinfo(np.int64).max)
        day[ok] = event_days(t[ok]).astype(np.int64)
        fo = pd.DataFrame({"user_id": f["follower_id"].to_numpy()[ok],
                           "author_id": f["followee_id"].to_numpy()[ok], "fday": day[ok]})
        fo = fo.groupby(["user_id", "author_id"], sort=True, as_index=False)["fday"].min()
        self._follow_day = fo
        ids = pd.Index(pd.unique(np.r_[fo["user_id"].to_numpy(), fo["author_id"].to_numpy()]))
        self._fid = ids
        self._in_keys = self._day_keys(ids.get_indexer(fo["author_id"]), fo["fday"])
        self._out_keys = self._day_keys(ids.get_indexer(fo["user_id"]), fo["fday"])

    @staticmethod
    def _day_keys(codes: np.ndarray, days) -> np.ndarray:
        return np.sort(codes.astype(np.int64) * (1 << 32) + (np.asarray(days, np.int64)
                                                              + (1 << 31)))

    def _count_before(self, keys: np.ndarray, ids: np.ndarray, dd: np.ndarray) -> np.ndarray:
        """Follows (in ``keys``) of each id with a day strictly before ``dd``."""
        c = self._fid.get_indexer(pd.Index(ids)).astype(np.int64)
        lo = np.searchsorted(keys, c * (1 << 32), side="left")
        hi = np.searchsorted(keys, c * (1 << 32) + (dd.astype(np.int64) + (1 << 31)),
                             side="left")
        return np.where(c >= 0, hi - lo, 0).astype(np.float64)

    def _kol_as_of(self, a: np.ndarray, dd: np.ndarray) -> np.ndarray:
        """1 for authors in the top ``kol_quantile`` by followers before the day."""
        out = np.zeros(len(a))
        codes = np.arange(len(self._fid), dtype=np.int64)
        for d in np.unique(dd):
            n = self._count_before(self._in_keys, np.asarray(self._fid), np.full(
                len(codes), d))
            n = n[n > 0]
            if not len(n):
                continue
            thr = np.quantile(n, self.kol_quantile)
            m = dd == d
            out[m] = (self._count_before(self._in_keys, a[m], dd[m]) >= max(thr, 1)).astype(
                float)
        return out

    def _topic_match(self, u: np.ndarray, p: np.ndarray, d_idx: np.ndarray) -> np.ndarray:
        from .topics import item_topic_matrix

        iidx, T = item_topic_matrix(self.item_topics)
        ev = self._ev
        if ev is None:
            raise RuntimeError("topic match needs the events kept by fit() with item_topics")
        sub = ev[ev["user_id"].isin(pd.unique(u))]
        uindex = pd.Index(pd.unique(u))
        uc = uindex.get_indexer(sub["user_id"])
        ic = iidx.get_indexer(sub["post_id"])
        ok = ic >= 0
        D = len(self.days_)
        key = uc[ok].astype(np.int64) * D + sub["_d"].to_numpy()[ok]
        keys, inv = np.unique(key, return_inverse=True)
        M = sp.csr_matrix((sub["w"].to_numpy(np.float64)[ok], (inv, ic[ok])),
                          shape=(len(keys), len(iidx)))
        P = np.asarray(M @ T, dtype=np.float32)
        ent = keys // D
        start = np.r_[True, ent[1:] != ent[:-1]] if len(keys) else np.zeros(0, bool)
        grp_start = np.flatnonzero(start)[np.cumsum(start) - 1] if len(keys) else start
        rank = np.arange(len(keys)) - grp_start
        for r in range(1, int(rank.max()) + 1 if len(rank) else 1):
            idx = np.flatnonzero(rank == r)
            P[idx] += P[idx - 1]  # running sum over the user's days, in day order
        qc = uindex.get_indexer(u)
        pos = np.searchsorted(keys, qc.astype(np.int64) * D + d_idx, side="left") - 1
        posc = np.clip(pos, 0, max(len(keys) - 1, 0))
        valid = (pos >= 0) & (len(keys) > 0)
        if len(keys):
            valid &= ent[posc] == qc
        ir = iidx.get_indexer(p)
        valid &= ir >= 0
        out = np.zeros(len(u), dtype=np.float32)
        if valid.any():
            U = P[posc[valid]]
            V = T[ir[valid]]
            num = np.einsum("ij,ij->i", U, V)
            den = np.linalg.norm(U, axis=1) * np.linalg.norm(V, axis=1)
            out[valid] = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        return out

    def transform(self, pairs: pd.DataFrame, day: Any = None) -> pd.DataFrame:
        """Features for ``pairs`` (``user_id, post_id`` and ``day`` unless given).

        Returns
        -------
        DataFrame
            Columns :data:`FEATURES`, aligned with ``pairs``.
        """
        u = pairs["user_id"].to_numpy()
        p = pairs["post_id"].to_numpy()
        n = len(pairs)
        if day is not None:
            dd = np.full(n, np.datetime64(pd.Timestamp(day).date(), "D"))
        else:
            dd = event_days(pairs["day"])
        d_idx = np.searchsorted(self.days_, dd, side="left")  # event days strictly before
        a = pd.Series(p).map(self._item_author).to_numpy()
        uc = self.user_index_.get_indexer(u)
        ic = self.item_index_.get_indexer(p)
        ac = self.author_index_.get_indexer(pd.Index(a)) if n else np.zeros(0, np.int64)
        past_n = self._day_n[d_idx]
        glob = np.divide(self._day_eng[d_idx], past_n, out=np.zeros(n), where=past_n > 0)
        F: dict[str, np.ndarray] = {}

        def rate(s):
            return (s["eng"] + glob * _PRIOR_EVENTS) / (s["n"] + _PRIOR_EVENTS)

        us = self._user.lookup(uc, d_idx)
        F["u_log_events"] = _log1p(us["n"])
        F["u_eng_rate"] = rate(us)
        F["u_log_active_days"] = _log1p(us["days"])
        prof = self.users.set_index("user_id") if self.users is not None else None

        def prof_col(ids, col):
            if prof is None or col not in prof.columns:
                return np.zeros(len(ids))
            return pd.to_numeric(pd.Series(ids).map(prof[col]), errors="coerce").fillna(
                0).to_numpy()

        dd_int = dd.astype("datetime64[D]").astype(np.int64)
        if self._asof:
            F["u_log_followers"] = _log1p(self._count_before(self._in_keys, u, dd_int))
            F["u_log_following"] = _log1p(self._count_before(self._out_keys, u, dd_int))
        else:
            F["u_log_followers"] = _log1p(prof_col(u, "followers_count"))
            F["u_log_following"] = _log1p(prof_col(u, "following_count"))
        its = self._item.lookup(ic, d_idx)
        F["i_log_users"] = _log1p(self._item_users.lookup(ic, d_idx)["users"])
        F["i_eng_rate"] = rate(its)
        it = self.items.set_index("post_id") if self.items is not None else None
        if it is not None and "created_at" in it.columns:
            created = pd.Series(event_days(it["created_at"]), index=it.index)
            cd = pd.Series(p).map(created).to_numpy("datetime64[D]")
            age = (dd - cd).astype("timedelta64[D]").astype(np.float64)
            age = np.where(np.isnan(age), 0.0, np.clip(age, 0, None))
            F["i_log_age_days"] = np.log1p(age)
            F["i_is_new"] = (cd == dd).astype(np.float64)
        else:
            F["i_log_age_days"] = np.zeros(n)
            F["i_is_new"] = (its["n"] == 0).astype(np.float64)
        dur = (pd.to_numeric(pd.Series(p).map(it["duration_s"]), errors="coerce").fillna(0)
               if it is not None and "duration_s" in it.columns else np.zeros(n))
        F["i_log_duration"] = _log1p(dur)
        media = (pd.Series(p).map(it["media_type"]).astype(str).str.lower().to_numpy()
                 if it is not None and "media_type" in it.columns else np.full(n, ""))
        for m in MEDIA_TYPES:
            F[f"i_media_{m}"] = (media == m).astype(np.float64)
        F["i_has_campaign"] = (pd.Series(p).map(it["campaign_id"]).notna().to_numpy()
                               .astype(float) if it is not None and "campaign_id" in it.columns
                               else np.zeros(n))
        if self._asof:
            F["a_log_followers"] = _log1p(self._count_before(self._in_keys, a, dd_int))
        else:
            F["a_log_followers"] = _log1p(prof_col(a, "followers_count"))
        if self.kol is None and self._asof:
            F["a_is_kol"] = self._kol_as_of(a, dd_int)
        else:
            F["a_is_kol"] = pd.Series(a).isin(kol_set(self.kol)).to_numpy().astype(
                np.float64)
        ast = self._author.lookup(ac, d_idx)
        F["a_log_users"] = _log1p(self._author_users.lookup(ac, d_idx)["users"])
        F["a_eng_rate"] = rate(ast)
        ua_df = pd.DataFrame({"user_id": u, "author_id": a})
        if self._asof:
            fd = ua_df.merge(self._follow_day, how="left", on=["user_id", "author_id"])
            fday = fd["fday"].to_numpy(np.float64)  # NaN: no follow
            F["r_follows_author"] = (fday < dd_int).astype(np.float64)
        elif self.follows is not None and len(self.follows):
            f = self.follows[["follower_id", "followee_id"]].drop_duplicates().rename(
                columns={"follower_id": "user_id", "followee_id": "author_id"}).assign(_f=1.0)
            F["r_follows_author"] = ua_df.merge(f, how="left", on=["user_id", "author_id"])[
                "_f"].fillna(0.0).to_numpy()
        else:
            F["r_follows_author"] = np.zeros(n)
        if self.communities is not None and len(self.communities):
            cm = self.communities.drop_duplicates("user_id").set_index("user_id")["community_id"]
            cu, ca = pd.Series(u).map(cm), pd.Series(a).map(cm)
            F["r_same_community"] = (cu.notna() & (cu == ca)).to_numpy().astype(np.float64)
        else:
            F["r_same_community"] = np.zeros(n)
        F["r_topic_match"] = (self._topic_match(u, p, d_idx) if self._ev is not None
                              else np.zeros(n))
        ua = np.where((uc >= 0) & (ac >= 0), uc.astype(np.int64) * self._n_authors + ac, -1)
        uas = self._ua.lookup(ua, d_idx)
        F["r_log_ua_events"] = _log1p(uas["n"])
        F["r_ua_engaged"] = (uas["eng"] > 0).astype(np.float64)
        return pd.DataFrame({k: np.asarray(F[k], dtype=np.float32) for k in FEATURES})


def propensity_features(
    pairs: pd.DataFrame,
    interactions: pd.DataFrame,
    day: Any,
    *,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    follows: pd.DataFrame | None = None,
    communities: pd.DataFrame | None = None,
    kol: pd.DataFrame | Iterable[Any] | None = None,
    item_topics: pd.DataFrame | None = None,
    exposure_types: Sequence[str] = EXPOSURE_TYPES,
) -> pd.DataFrame:
    """Feature matrix for (user, post) pairs on ``day`` from events before ``day``.

    Parameters
    ----------
    pairs : DataFrame
        ``user_id, post_id``.
    interactions : DataFrame
        ``fct_interactions``.
    day : date-like
    items : DataFrame, optional
        ``dim_items`` (``author_id``, ``created_at``, ``media_type``, ``duration_s``,
        ``campaign_id``).
    users : DataFrame, optional
        ``dim_users`` (``followers_count``, ``following_count``).
    follows : DataFrame, optional
        ``follower_id, followee_id``.
    communities : DataFrame, optional
        ``user_id, community_id``.
    kol : DataFrame or iterable, optional
    item_topics : DataFrame, optional
        ``post_id, topic_id, weight``.

    Returns
    -------
    DataFrame
        Columns :data:`FEATURES`, aligned with ``pairs``.
    """
    fz = PropensityFeaturizer(items=items, users=users, follows=follows,
                              communities=communities, kol=kol, item_topics=item_topics,
                              exposure_types=exposure_types).fit(interactions)
    return fz.transform(pairs, day)


class PropensityModel:
    """A fitted engagement-propensity classifier and how it was chosen.

    Attributes
    ----------
    estimator_ : fitted scikit-learn classifier (pipeline)
    chosen_ : str, ``"logistic"`` or ``"hgb"``
    candidates_ : dict, every fitted candidate by name
    feature_names_ : list of str
    base_rate_ : float, training positive rate
    train_days_ : list of Timestamp
    test_day_ : Timestamp
    validation_ : DataFrame of the model choice
    """

    def __init__(self, estimator, chosen: str, base_rate: float, train_days, test_day,
                 validation: pd.DataFrame | None, candidates: dict | None = None) -> None:
        self.estimator_ = estimator
        self.candidates_ = dict(candidates or {chosen: estimator})
        self.chosen_ = chosen
        self.feature_names_ = list(FEATURES)
        self.base_rate_ = base_rate
        self.train_days_ = train_days
        self.test_day_ = test_day
        self.validation_ = validation

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Engagement probability for rows of :func:`propensity_features`."""
        return self.estimator_.predict_proba(features[self.feature_names_].to_numpy())[:, 1]

    def coefficients(self) -> pd.Series | None:
        """Standardised coefficients of the logistic candidate (None if not fitted).

        Reported for interpretation even when the boosted model was chosen.
        """
        est = self.candidates_.get("logistic")
        if est is None:
            return None
        return pd.Series(est[-1].coef_.ravel(), index=self.feature_names_).sort_values()


def _candidate(name: str, random_state: int):
    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    if name == "hgb":
        return HistGradientBoostingClassifier(
            max_iter=100, learning_rate=0.1, max_leaf_nodes=31, l2_regularization=1.0,
            early_stopping=False, random_state=random_state)
    raise ValueError(f"unknown propensity model {name!r}")


def _scores(y: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    """Log loss always; ROC AUC only where it is defined (both classes present).

    A day whose pairs are all positive or all negative (a sparse last day of a real
    export) has no AUC: the row is left out rather than written as NaN.
    """
    prob = np.clip(prob, 1e-7, 1 - 1e-7)
    scores = {"log_loss": float(log_loss(y, prob, labels=[0, 1]))}
    if len(np.unique(y)) > 1:
        scores["roc_auc"] = float(roc_auc_score(y, prob))
    return scores


def train_propensity(
    interactions: pd.DataFrame,
    *,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    follows: pd.DataFrame | None = None,
    communities: pd.DataFrame | None = None,
    kol: pd.DataFrame | Iterable[Any] | None = None,
    item_topics: pd.DataFrame | None = None,
    n_train_days: int = 7,
    neg_ratio: int = 4,
    max_pairs_per_day: int | None = 200_000,
    max_train_pairs: int | None = 300_000,
    candidates: Sequence[str] = ("logistic", "hgb"),
    clear_win: float = 0.02,
    exposure_types: Sequence[str] = EXPOSURE_TYPES,
    random_state: int = 0,
) -> tuple[PropensityModel, pd.DataFrame]:
    """Train on earlier days, evaluate on the last day against a base-rate predictor.

    Parameters
    ----------
    interactions : DataFrame
        ``fct_interactions`` with at least two distinct days.
    items, users, follows, communities, kol, item_topics
        See :func:`propensity_features`.
    n_train_days : int, default 7
    neg_ratio : int, default 4
        Negatives per positive (see :func:`build_propensity_pairs`).
    max_pairs_per_day : int, default 200000
        Pair cap per day (the test day uses it as is).
    max_train_pairs : int, default 300000
        Pair cap over all training days together (split evenly between them); bounds
        the training cost whatever the data size.
    candidates : sequence of {"logistic", "hgb"}
    clear_win : float, default 0.02
        Relative log-loss gain the boosted model needs on validation to be chosen.
    exposure_types : sequence of str
    random_state : int, default 0

    Returns
    -------
    model : PropensityModel
    metrics : DataFrame
        ``model, metric, value, split, date, n_pairs, positive_rate, chosen`` for every
        candidate and ``base_rate`` on the test day (``split="test"``) and on the
        validation day (``split="validation"``).
    """
    ev = _prepare_events(interactions, items, exposure_types)
    days = np.unique(ev["date"])
    if len(days) < 2:
        raise ValueError("propensity needs at least two days of interactions")
    test_day = days[-1]
    train_days = [d for d in days[:-1] if d > days[0]][-n_train_days:] or [days[0]]
    fz = PropensityFeaturizer(items=items, users=users, follows=follows,
                              communities=communities, kol=kol, item_topics=item_topics,
                              exposure_types=exposure_types).fit(_events=ev)
    rng = np.random.default_rng(random_state)
    per_day = max_pairs_per_day
    if max_train_pairs is not None:
        cap = max(1, max_train_pairs // len(train_days))
        per_day = cap if per_day is None else min(per_day, cap)
    all_pairs = []
    for d in [*train_days, test_day]:
        pairs = build_propensity_pairs(
            interactions, d, items=items, neg_ratio=neg_ratio,
            max_pairs_per_day=per_day if d != test_day else max_pairs_per_day,
            exposure_types=exposure_types, random_state=int(rng.integers(2**31)), _events=ev)
        all_pairs.append(pairs.assign(day=pd.Timestamp(d)))
    pairs = pd.concat(all_pairs, ignore_index=True)
    X_all = fz.transform(pairs).to_numpy()
    y_all = pairs["label"].to_numpy()
    pday = pairs["day"].to_numpy("datetime64[D]")
    data = {d: (X_all[pday == d], y_all[pday == d]) for d in train_days}
    X_test, y_test = X_all[pday == test_day], y_all[pday == test_day]
    rows = []
    chosen = candidates[0]
    validation = None
    if len(train_days) >= 2 and len(candidates) > 1:
        vd = train_days[-1]
        Xtr = np.vstack([data[d][0] for d in train_days[:-1]])
        ytr = np.concatenate([data[d][1] for d in train_days[:-1]])
        Xv, yv = data[vd]
        res = {}
        for name in candidates:
            est = _candidate(name, random_state).fit(Xtr, ytr)
            res[name] = _scores(yv, est.predict_proba(Xv)[:, 1])
        res["base_rate"] = _scores(yv, np.full(len(yv), ytr.mean()))
        if "hgb" in res and "logistic" in res:
            h, lg = res["hgb"], res["logistic"]
            auc_ok = h.get("roc_auc", 0.0) >= lg.get("roc_auc", 0.0)
            if h["log_loss"] <= lg["log_loss"] * (1 - clear_win) and auc_ok:
                chosen = "hgb"
            else:
                chosen = "logistic"
        for name, sc in res.items():
            for metric, val in sc.items():
                rows.append((name, metric, val, "validation", pd.Timestamp(vd), len(yv),
                             float(yv.mean()), name == chosen))
        validation = pd.DataFrame(rows, columns=["model", "metric", "value", "split", "date",
                                                 "n_pairs", "positive_rate", "chosen"])
    Xtr = np.vstack([data[d][0] for d in train_days])
    ytr = np.concatenate([data[d][1] for d in train_days])
    base = float(ytr.mean())
    fitted = {}
    for name in candidates:
        fitted[name] = _candidate(name, random_state).fit(Xtr, ytr)
        sc = _scores(y_test, fitted[name].predict_proba(X_test)[:, 1])
        for metric, val in sc.items():
            rows.append((name, metric, val, "test", pd.Timestamp(test_day), len(y_test),
                         float(y_test.mean()), name == chosen))
    for metric, val in _scores(y_test, np.full(len(y_test), base)).items():
        rows.append(("base_rate", metric, val, "test", pd.Timestamp(test_day), len(y_test),
                     float(y_test.mean()), False))
    metrics = pd.DataFrame(rows, columns=["model", "metric", "value", "split", "date",
                                          "n_pairs", "positive_rate", "chosen"])
    model = PropensityModel(fitted[chosen], chosen, base,
                            [pd.Timestamp(d) for d in train_days], pd.Timestamp(test_day),
                            validation, fitted)
    return model, metrics
