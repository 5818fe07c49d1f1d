"""Campaign seeding: choose k KOLs maximising expected spread under independent cascade.

Model
    Independent cascade on the follow graph, influence flowing from a followee to its
    followers: when ``u`` activates, each follower ``v`` activates with probability
    ``p_uv`` (once). ``edge_probability`` is a constant (default 0.05),
    ``"weighted_cascade"`` (``p_uv = 1 / following_count(v)``) or the name of a column of
    ``follows`` holding per-edge probabilities.

Monte Carlo with common random numbers
    Each simulation ``r`` is a "live-edge world": edge ``e`` is live iff
    ``hash(e, r, seed) < p_e``, a splitmix64 hash, so worlds are reproducible from ``seed``
    and never stored. The spread of a seed set is the mean number of users reachable from
    it over the worlds (seeds included). On a fixed set of worlds the spread is monotone
    and submodular, so CELF (lazy greedy) returns exactly the plain greedy set (ties broken
    by candidate order) at a fraction of the evaluations.

Comparison
    :func:`select_seed_kols` picks with CELF on ``n_simulations`` worlds and also takes the
    top-k candidates by score; both sets are then evaluated on ``eval_simulations``
    *independent* worlds (seed ``seed + 1``) so neither is favoured by the worlds it was
    optimised on.
"""

from __future__ import annotations

import dataclasses
import heapq
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .influence import ConfigMixin, kol_ids_from

__all__ = ["OUTPUT_DTYPES", "SeedingConfig", "CascadeSimulator", "select_seed_kols"]

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)

#: Columns of :func:`select_seed_kols` and their dtypes (``seed_set``/``marginal_gains``
#: hold tuples).
OUTPUT_DTYPES: dict[str, str] = {
    "method": "str",
    "k": "int64",
    "seed_set": "object",
    "expected_spread": "float64",
    "spread_std_error": "float64",
    "selection_spread": "float64",
    "marginal_gains": "object",
    "evaluations": "int64",
    "simulations": "int64",
    "eval_simulations": "int64",
    "seed": "int64",
    "edge_probability": "str",
    "gain_vs_top_k": "float64",
}


def _splitmix64(x: np.ndarray) -> np.ndarray:
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class SeedingConfig(ConfigMixin):
    """Options of :func:`select_seed_kols`.

    Attributes
    ----------
    edge_probability : float or str
        Constant activation probability, ``"weighted_cascade"``, or a ``follows`` column.
        Default 0.05.
    n_simulations : int
        Worlds used for selection. Default 200.
    eval_simulations : int
        Independent worlds used to report each method's expected spread. Default 500.
    methods : tuple of str
        Any of ``celf``, ``top_k``, ``greedy`` (plain greedy, slow; for checks).
        Default ``("celf", "top_k")``.
    seed : int
        Seed of the worlds. Default 0.
    """

    edge_probability: float | str = 0.05
    n_simulations: int = 200
    eval_simulations: int = 500
    methods: tuple[str, ...] = ("celf", "top_k")
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods", tuple(self.methods))
        bad = sorted(set(self.methods) - {"celf", "top_k", "greedy"})
        if bad:
            raise ValueError(f"unknown seeding method(s) {bad}")
        if self.n_simulations < 1 or self.eval_simulations < 1:
            raise ValueError("n_simulations and eval_simulations must be >= 1")
        if isinstance(self.edge_probability, (int, float)) and not 0 <= self.edge_probability <= 1:
            raise ValueError("edge_probability must be in [0, 1]")


class CascadeSimulator:
    """Independent-cascade spread on ``n_worlds`` reproducible live-edge worlds.

    Parameters
    ----------
    follows : DataFrame
        ``follower_id``, ``followee_id`` (influence flows followee -> follower).
    edge_probability : float or str
        See :class:`SeedingConfig`.
    n_worlds : int
    seed : int
    nodes : iterable, optional
        Extra node ids (e.g. candidates without edges).
    """

    def __init__(
        self,
        follows: pd.DataFrame,
        edge_probability: float | str = 0.05,
        n_worlds: int = 200,
        seed: int = 0,
        nodes: Any = None,
    ) -> None:
        cols = ["follower_id", "followee_id"]
        if isinstance(edge_probability, str) and edge_probability != "weighted_cascade":
            cols.append(edge_probability)
        e = follows[cols].dropna(subset=["follower_id", "followee_id"])
        e = e[e["follower_id"] != e["followee_id"]].drop_duplicates(["follower_id", "followee_id"])
        extra = pd.Series(list(nodes) if nodes is not None else [], dtype=object)
        codes, uniques = pd.factorize(
            pd.concat(
                [e["followee_id"].astype(object), e["follower_id"].astype(object), extra],
                ignore_index=True,
            )
        )
        self.index = pd.Index(uniques)
        self.n = len(uniques)
        src = codes[: len(e)]
        dst = codes[len(e) : 2 * len(e)]
        if isinstance(edge_probability, str) and edge_probability == "weighted_cascade":
            indeg = np.bincount(dst, minlength=self.n).astype("float64")
            p = 1.0 / indeg[dst]
        elif isinstance(edge_probability, str):
            p = pd.to_numeric(e[edge_probability], errors="coerce").fillna(0.0).to_numpy()
        else:
            p = np.full(len(e), float(edge_probability))
        p = np.clip(p, 0.0, 1.0)
        order = np.argsort(src, kind="stable")
        self.targets = dst[order].astype(np.int64)
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=self.n))]).astype(
            np.int64
        )
        # threshold on a 64-bit hash: live iff hash < p * 2**64 (p = 1 always live)
        thr = np.floor(p[order] * 2.0**64)
        self.threshold = np.where(
            p[order] >= 1.0, _M64, np.minimum(thr, 2.0**64 - 2048).astype(np.uint64)
        )
        self.always = p[order] >= 1.0
        self.n_worlds = int(n_worlds)
        self.seed = int(seed)
        base = np.uint64((int(seed) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF)
        self.world_keys = _splitmix64(np.arange(n_worlds, dtype=np.uint64) + base)
        self.degree = np.diff(self.indptr)

    def node_codes(self, ids: Any) -> np.ndarray:
        pos = self.index.get_indexer(pd.Index(list(ids), dtype=object))
        if (pos < 0).any():
            raise KeyError("unknown node id(s) in seed set")
        return pos

    def new_state(self) -> np.ndarray:
        """All-inactive state: a flat boolean array ``n_worlds * n``."""
        return np.zeros(self.n_worlds * self.n, dtype=bool)

    def propagate(self, node: int | np.ndarray, state: np.ndarray) -> np.ndarray:
        """Activate ``node`` (code or codes) in every world and spread; mutate ``state``.

        Returns the flat indices ``world * n + node`` newly activated (revert with
        ``state[idx] = False``).
        """
        nodes = np.atleast_1d(np.asarray(node, dtype=np.int64))
        w = np.repeat(np.arange(self.n_worlds, dtype=np.int64), len(nodes))
        flat = w * self.n + np.tile(nodes, self.n_worlds)
        flat = np.unique(flat[~state[flat]])
        state[flat] = True
        newly = [flat]
        while len(flat):
            fw, fn = np.divmod(flat, self.n)
            deg = self.degree[fn]
            total = int(deg.sum())
            if total == 0:
                break
            rep_w = np.repeat(fw, deg)
            offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(deg) - deg, deg)
            eid = np.repeat(self.indptr[fn], deg) + offsets
            h = _splitmix64(eid.astype(np.uint64) ^ self.world_keys[rep_w])
            live = (h < self.threshold[eid]) | self.always[eid]
            cand = rep_w[live] * self.n + self.targets[eid[live]]
            cand = np.unique(cand[~state[cand]])
            state[cand] = True
            newly.append(cand)
            flat = cand
        return np.concatenate(newly)

    def gain(self, node: int, state: np.ndarray) -> int:
        """Total newly activated (summed over worlds) if ``node`` were added; no mutation."""
        idx = self.propagate(node, state)
        state[idx] = False
        return int(len(idx))

    def spread(self, nodes: Any) -> tuple[float, float]:
        """Mean and standard error (over worlds) of the spread of the node codes."""
        state = self.new_state()
        if len(np.atleast_1d(nodes)):
            self.propagate(np.asarray(nodes, dtype=np.int64), state)
        per_world = state.reshape(self.n_worlds, self.n).sum(axis=1).astype("float64")
        se = per_world.std(ddof=1) / np.sqrt(self.n_worlds) if self.n_worlds > 1 else np.nan
        return float(per_world.mean()), float(se)


def _celf(sim: CascadeSimulator, cands: np.ndarray, k: int) -> tuple[list[int], list[float], int]:
    state = sim.new_state()
    heap = [(-sim.gain(int(c), state), i, 0) for i, c in enumerate(cands)]
    evaluations = len(heap)
    heapq.heapify(heap)
    chosen: list[int] = []
    gains: list[float] = []
    while len(chosen) < k and heap:
        neg, i, rnd = heapq.heappop(heap)
        if rnd == len(chosen):
            sim.propagate(int(cands[i]), state)
            chosen.append(i)
            gains.append(-neg / sim.n_worlds)
        else:
            g = sim.gain(int(cands[i]), state)
            evaluations += 1
            heapq.heappush(heap, (-g, i, len(chosen)))
    return chosen, gains, evaluations


def _greedy(sim: CascadeSimulator, cands: np.ndarray, k: int) -> tuple[list[int], list[float], int]:
    state = sim.new_state()
    chosen: list[int] = []
    gains: list[float] = []
    evaluations = 0
    remaining = list(range(len(cands)))
    while len(chosen) < k and remaining:
        g = [sim.gain(int(cands[i]), state) for i in remaining]
        evaluations += len(g)
        j = int(np.argmax(g))  # first maximum: lowest candidate position
        i = remaining.pop(j)
        sim.propagate(int(cands[i]), state)
        chosen.append(i)
        gains.append(g[j] / sim.n_worlds)
    return chosen, gains, evaluations


def select_seed_kols(
    follows: pd.DataFrame,
    candidates: Any,
    k: int,
    config: SeedingConfig = SeedingConfig(),
    *,
    seed: int | None = None,
) -> pd.DataFrame:
    """Choose ``k`` seed KOLs by CELF (IC model, Monte Carlo) and compare with top-k.

    Parameters
    ----------
    follows : DataFrame
        ``follower_id``, ``followee_id`` (+ a probability column if configured).
    candidates : DataFrame or ids
        Candidate KOLs. A frame is ordered by ``score`` (descending; ties by id) when it
        has one, else by ``reach_followers``; that order defines top-k and breaks ties.
        A frame with ``is_kol`` is filtered to KOLs.
    k : int
        Seed-set size (capped at the number of candidates).
    config : SeedingConfig
    seed : int, optional
        Overrides ``config.seed`` (selection worlds use ``seed``, evaluation ``seed + 1``).

    Returns
    -------
    DataFrame
        One row per method: ``method``, ``k``, ``seed_set`` (tuple of ids in selection
        order), ``expected_spread`` and ``spread_std_error`` on the independent evaluation
        worlds, ``selection_spread`` (on the selection worlds), ``marginal_gains`` (tuple,
        selection worlds; null for top_k), ``evaluations`` (spread evaluations used),
        ``simulations``, ``eval_simulations``, ``seed``, ``edge_probability``,
        ``gain_vs_top_k`` (expected spread minus top-k's).
    """
    if isinstance(candidates, pd.DataFrame):
        frame = candidates
        if "is_kol" in frame.columns:
            frame = frame[frame["is_kol"].fillna(False).astype(bool)]
        idcol = "user_id" if "user_id" in frame.columns else "kol_id"
        by = (
            "score"
            if "score" in frame.columns
            else ("reach_followers" if "reach_followers" in frame.columns else None)
        )
        if by is not None:
            frame = frame.assign(_key=pd.to_numeric(frame[by], errors="coerce").fillna(-np.inf))
            frame = frame.sort_values(["_key", idcol], ascending=[False, True], kind="stable")
        ids = list(pd.unique(frame[idcol].dropna()))
    else:
        ids = kol_ids_from(candidates)
    if k < 1:
        raise ValueError("k must be >= 1")
    if seed is not None:
        config = dataclasses.replace(config, seed=int(seed))
    k = min(k, len(ids))

    sel = CascadeSimulator(
        follows, config.edge_probability, config.n_simulations, config.seed, nodes=ids
    )
    ev = CascadeSimulator(
        follows, config.edge_probability, config.eval_simulations, config.seed + 1, nodes=ids
    )
    cands = sel.node_codes(ids)
    rows = []
    for method in config.methods:
        if method == "top_k":
            chosen = list(range(k))
            gains = None
            evaluations = 0
        elif method == "celf":
            chosen, gains, evaluations = _celf(sel, cands, k)
        else:
            chosen, gains, evaluations = _greedy(sel, cands, k)
        seed_ids = tuple(ids[i] for i in chosen)
        sel_spread, _ = sel.spread(cands[chosen])
        mean, se = ev.spread(ev.node_codes(seed_ids))
        rows.append(
            {
                "method": method,
                "k": k,
                "seed_set": seed_ids,
                "expected_spread": mean,
                "spread_std_error": se,
                "selection_spread": sel_spread,
                "marginal_gains": tuple(gains) if gains is not None else None,
                "evaluations": evaluations,
                "simulations": config.n_simulations,
                "eval_simulations": config.eval_simulations,
                "seed": config.seed,
                "edge_probability": str(config.edge_probability),
            }
        )
    out = pd.DataFrame(rows, columns=list(OUTPUT_DTYPES)[:-1])
    top = out.loc[out["method"] == "top_k", "expected_spread"]
    out["gain_vs_top_k"] = out["expected_spread"] - (float(top.iloc[0]) if len(top) else np.nan)
    return out.astype(OUTPUT_DTYPES)
