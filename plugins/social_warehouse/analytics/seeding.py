"""Campaign seeding: choose k KOLs maximising expected spread under independent cascade.

Model
    Independent cascade on the follow graph, influence flowing from a followee to its
    followers: when ``u`` activates, each follower ``v`` activates with probability
    ``p_uv`` (once). ``edge_probability`` is a constant (default 0.05),
    ``"weighted_cascade"`` (``p_uv = 1 / following_count(v)``) or the name of a column of
    ``follows`` holding per-edge probabilities.

Monte Carlo on live-edge worlds, all worlds at once
    Simulation ``r`` is a "live-edge world": edge ``e`` is live with probability ``p_e``,
    drawn once from ``numpy.random.default_rng(seed)``. The worlds are stored as one bit
    per (edge, world): ``ceil(R / 64)`` 64-bit words per edge. The active users of every
    world are likewise one bit mask per user. A cascade advances all worlds together, one
    breadth-first level at a time, with array operations only: the out-edges of the level's
    users (CSR), ``user mask & edge mask`` per edge, an OR-reduction per follower, minus the
    already active worlds. No Python loop runs per user, edge or world. The spread of a
    seed set is the mean number of users active over the worlds (seeds included). On a
    fixed set of worlds the spread is monotone and submodular, so CELF (lazy greedy) returns
    exactly the plain greedy set (ties broken by candidate order).

Bounded work
    Only the ``max_candidates`` best candidates (by ``score``, default 200) are considered,
    and the selection stops at ``time_budget_s`` seconds (default 30). A selection cut short
    is completed from the lazy upper bounds of the remaining candidates (the order CELF
    would examine them in; candidates never evaluated follow in score order) and recorded
    with ``partial = True`` and ``stop_reason = "time_budget"``; its ``marginal_gains`` are
    NaN for the seeds not verified.

Comparison
    :func:`select_seed_kols` picks with CELF on ``n_simulations`` worlds and also takes the
    top-k candidates by score; both sets are then evaluated on ``eval_simulations``
    *independent* worlds (seed ``seed + 1``) so neither is favoured by the worlds it was
    optimised on.

``k = 0``, no candidates or an empty graph with no candidates give an empty frame with
every output column (no row).
"""

from __future__ import annotations

import dataclasses
import heapq
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._common import kol_ids_from
from ._config import ConfigMixin, check_keys

__all__ = ["OUTPUT_DTYPES", "SeedingConfig", "CascadeSimulator", "select_seed_kols"]

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
    "n_candidates": "int64",
    "partial": "bool",
    "stop_reason": "str",
    "selection_seconds": "float64",
    "gain_vs_top_k": "float64",
}

_METHODS = ("celf", "top_k", "greedy")
# (edge x world) random draws per chunk when building the worlds
_DRAWS_PER_CHUNK = 1 << 24


@dataclass(frozen=True)
class SeedingConfig(ConfigMixin):
    """Options of :func:`select_seed_kols`.

    Attributes
    ----------
    k : int
        Seed-set size (budget of seed KOLs). Default 5. An explicit ``k`` argument of
        :func:`select_seed_kols` wins.
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
    max_candidates : int
        Only the top ``max_candidates`` candidates by score are considered. Default 200.
    time_budget_s : float or None
        Wall-clock budget of each selection method (seconds); ``None``: unbounded.
        Default 30.
    seed : int
        Seed of the worlds. Default 0.
    """

    k: int = 5
    edge_probability: float | str = 0.05
    n_simulations: int = 200
    eval_simulations: int = 500
    methods: tuple[str, ...] = ("celf", "top_k")
    max_candidates: int = 200
    time_budget_s: float | None = 30.0
    seed: int = 0

    SECTION = "seeding"

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods", tuple(self.methods))
        check_keys("seeding.methods", dict.fromkeys(self.methods), _METHODS)
        if self.k < 0:
            raise ValueError(f"seeding.k must be >= 0, got {self.k!r}")
        if self.n_simulations < 1 or self.eval_simulations < 1:
            raise ValueError("n_simulations and eval_simulations must be >= 1")
        if self.max_candidates < 1:
            raise ValueError(f"max_candidates must be >= 1, got {self.max_candidates!r}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ValueError(f"time_budget_s must be > 0 or null, got {self.time_budget_s!r}")
        if isinstance(self.edge_probability, (int, float)) and not 0 <= self.edge_probability <= 1:
            raise ValueError("edge_probability must be in [0, 1]")


def _popcount(a: np.ndarray) -> int:
    return int(np.bitwise_count(a).sum(dtype=np.int64))


class CascadeSimulator:
    """Independent-cascade spread on ``n_worlds`` live-edge worlds, simulated together.

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

    Attributes
    ----------
    live : numpy.ndarray
        ``(n_edges, n_words)`` uint64: bit ``r`` of edge ``e`` is set when ``e`` is live in
        world ``r`` (edges in CSR order of their source).
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
            if edge_probability not in follows.columns:
                raise ValueError(
                    f"edge_probability {edge_probability!r}: no such column in follows; "
                    f"use a number, 'weighted_cascade' or one of {list(follows.columns)}"
                )
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
        p = np.clip(np.asarray(p, dtype="float64"), 0.0, 1.0)
        order = np.argsort(src, kind="stable")
        self.targets = dst[order].astype(np.int64)
        self.indptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=self.n), out=self.indptr[1:])
        self.degree = np.diff(self.indptr)
        self.n_worlds = int(n_worlds)
        self.n_words = (self.n_worlds + 63) // 64
        self.seed = int(seed)
        self.live = self._draw_worlds(p[order], np.random.default_rng(self.seed))
        full = np.zeros(self.n_words * 64, dtype=bool)
        full[: self.n_worlds] = True
        self.all_worlds = np.packbits(full, bitorder="little").view(np.uint64)

    def _draw_worlds(self, p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m = len(p)
        live = np.zeros((m, self.n_words), dtype=np.uint64)
        chunk = max(1, _DRAWS_PER_CHUNK // max(1, self.n_worlds))
        bits = np.zeros((min(chunk, m), self.n_words * 64), dtype=bool)
        for s in range(0, m, chunk):
            e = min(m, s + chunk)
            b = bits[: e - s]
            b[:, : self.n_worlds] = rng.random((e - s, self.n_worlds)) < p[s:e, None]
            packed = np.packbits(b, axis=1, bitorder="little")
            live[s:e] = packed.view(np.uint64).reshape(e - s, self.n_words)
        return live

    def node_codes(self, ids: Any) -> np.ndarray:
        pos = self.index.get_indexer(pd.Index(list(ids), dtype=object))
        if (pos < 0).any():
            raise KeyError("unknown node id(s) in seed set")
        return pos

    def new_state(self) -> np.ndarray:
        """All-inactive state: ``(n, n_words)`` uint64 masks of the worlds a user is active in."""
        return np.zeros((self.n, self.n_words), dtype=np.uint64)

    def propagate(
        self, node: int | np.ndarray, state: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Activate ``node`` (code or codes) in every world and spread; mutate ``state``.

        Returns the changes, a list of ``(users, masks)`` of newly active worlds, to count
        (:meth:`count`) or undo (:meth:`revert`).
        """
        nodes = np.unique(np.atleast_1d(np.asarray(node, dtype=np.int64)))
        masks = self.all_worlds[None, :] & ~state[nodes]
        has = masks.any(axis=1)
        nodes, masks = nodes[has], masks[has]
        state[nodes] |= masks
        changes = [(nodes, masks)]
        while len(nodes):
            deg = self.degree[nodes]
            total = int(deg.sum())
            if total == 0:
                break
            owner = np.repeat(np.arange(len(nodes)), deg)
            starts = np.repeat(self.indptr[nodes] - np.cumsum(deg) + deg, deg)
            eid = starts + np.arange(total, dtype=np.int64)
            contrib = masks[owner] & self.live[eid]
            keep = contrib.any(axis=1)
            if not keep.any():
                break
            tgt = self.targets[eid[keep]]
            contrib = contrib[keep]
            order = np.argsort(tgt, kind="stable")
            tgt = tgt[order]
            first = np.flatnonzero(np.r_[True, tgt[1:] != tgt[:-1]])
            users = tgt[first]
            agg = np.bitwise_or.reduceat(contrib[order], first, axis=0)
            new = agg & ~state[users]
            has = new.any(axis=1)
            nodes, masks = users[has], new[has]
            state[nodes] |= masks
            changes.append((nodes, masks))
        return changes

    @staticmethod
    def count(changes: list[tuple[np.ndarray, np.ndarray]]) -> int:
        """Newly activated (user, world) pairs in ``changes``."""
        return sum(_popcount(m) for _, m in changes)

    @staticmethod
    def revert(changes: list[tuple[np.ndarray, np.ndarray]], state: np.ndarray) -> None:
        """Undo :meth:`propagate` (the masks were inactive before)."""
        for users, masks in changes:
            state[users] &= ~masks

    def gain(self, node: int, state: np.ndarray) -> int:
        """Total newly activated (summed over worlds) if ``node`` were added; no mutation."""
        changes = self.propagate(node, state)
        self.revert(changes, state)
        return self.count(changes)

    def per_world(self, state: np.ndarray) -> np.ndarray:
        """Active users per world (``n_worlds`` int64)."""
        counts = np.zeros(self.n_words * 64, dtype=np.int64)
        step = max(1, (1 << 22) // max(1, self.n_words * 64))
        for s in range(0, self.n, step):
            bits = np.unpackbits(
                np.ascontiguousarray(state[s : s + step]).view(np.uint8), axis=1,
                bitorder="little",
            )
            counts += bits.sum(axis=0, dtype=np.int64)
        return counts[: self.n_worlds]

    def spread(self, nodes: Any) -> tuple[float, float]:
        """Mean and standard error (over worlds) of the spread of the node codes."""
        state = self.new_state()
        if len(np.atleast_1d(nodes)):
            self.propagate(np.asarray(nodes, dtype=np.int64), state)
        per_world = self.per_world(state).astype("float64")
        se = per_world.std(ddof=1) / np.sqrt(self.n_worlds) if self.n_worlds > 1 else np.nan
        return float(per_world.mean()), float(se)


def _out_of_time(t0: float, budget: float | None) -> bool:
    return budget is not None and time.perf_counter() - t0 > budget


def _celf(
    sim: CascadeSimulator, cands: np.ndarray, k: int, budget: float | None
) -> tuple[list[int], list[float], int, bool]:
    """CELF; returns chosen positions, marginal gains (NaN: unverified), evaluations and
    whether the budget cut the selection short."""
    t0 = time.perf_counter()
    state = sim.new_state()
    heap: list[tuple[float, int, int]] = []
    evaluated = 0
    partial = False
    for i, c in enumerate(cands):
        if evaluated and _out_of_time(t0, budget):
            partial = True
            break
        heap.append((-sim.gain(int(c), state), i, 0))
        evaluated += 1
    evaluations = evaluated
    heapq.heapify(heap)
    chosen: list[int] = []
    gains: list[float] = []
    while len(chosen) < k and heap and not partial:
        neg, i, rnd = heapq.heappop(heap)
        if rnd == len(chosen):
            sim.propagate(int(cands[i]), state)
            chosen.append(i)
            gains.append(-neg / sim.n_worlds)
        elif _out_of_time(t0, budget):
            heapq.heappush(heap, (neg, i, rnd))
            partial = True
        else:
            g = sim.gain(int(cands[i]), state)
            evaluations += 1
            heapq.heappush(heap, (-g, i, len(chosen)))
    if partial:
        # complete from the lazy upper bounds, then the candidates never evaluated
        rest = [i for _, i, _ in sorted(heap)] + list(range(evaluated, len(cands)))
        for i in rest[: k - len(chosen)]:
            chosen.append(i)
            gains.append(float("nan"))
    return chosen, gains, evaluations, partial


def _greedy(
    sim: CascadeSimulator, cands: np.ndarray, k: int, budget: float | None
) -> tuple[list[int], list[float], int, bool]:
    t0 = time.perf_counter()
    state = sim.new_state()
    chosen: list[int] = []
    gains: list[float] = []
    evaluations = 0
    remaining = list(range(len(cands)))
    partial = False
    while len(chosen) < k and remaining:
        if chosen and _out_of_time(t0, budget):
            partial = True
            break
        g = [sim.gain(int(cands[i]), state) for i in remaining]
        evaluations += len(g)
        j = int(np.argmax(g))  # first maximum: lowest candidate position
        i = remaining.pop(j)
        sim.propagate(int(cands[i]), state)
        chosen.append(i)
        gains.append(g[j] / sim.n_worlds)
    if partial:
        for i in remaining[: k - len(chosen)]:
            chosen.append(i)
            gains.append(float("nan"))
    return chosen, gains, evaluations, partial


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in OUTPUT_DTYPES.items()})


def _ordered_candidates(candidates: Any) -> list:
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
            key = pd.to_numeric(frame[by], errors="coerce").fillna(-np.inf)
            frame = frame.assign(_key=key.to_numpy(), _id=frame[idcol].astype(str).to_numpy())
            frame = frame.sort_values(["_key", "_id"], ascending=[False, True], kind="stable")
        return list(pd.unique(frame[idcol].dropna()))
    return kol_ids_from(candidates)


def select_seed_kols(
    follows: pd.DataFrame,
    candidates: Any,
    k: int | None = None,
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
        has one, else by ``reach_followers``; that order defines top-k, the
        ``max_candidates`` cap and ties. A frame with ``is_kol`` is filtered to KOLs.
    k : int, optional
        Seed-set size (capped at the number of candidates); default ``config.k``. 0 or no
        candidates: an empty frame.
    config : SeedingConfig
    seed : int, optional
        Overrides ``config.seed`` (selection worlds use ``seed``, evaluation ``seed + 1``).

    Returns
    -------
    DataFrame
        One row per method: ``method``, ``k``, ``seed_set`` (tuple of ids in selection
        order), ``expected_spread`` and ``spread_std_error`` on the independent evaluation
        worlds, ``selection_spread`` (on the selection worlds), ``marginal_gains`` (tuple,
        selection worlds; NaN for seeds added unverified after the time budget; null for
        top_k), ``evaluations`` (spread evaluations used), ``simulations``,
        ``eval_simulations``, ``seed``, ``edge_probability``, ``n_candidates`` (after the
        cap), ``partial`` and ``stop_reason`` (``complete`` / ``time_budget``),
        ``selection_seconds``, ``gain_vs_top_k`` (expected spread minus top-k's).
    """
    if k is None:
        k = config.k
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if seed is not None:
        config = dataclasses.replace(config, seed=int(seed))
    ids = _ordered_candidates(candidates)[: config.max_candidates]
    k = min(int(k), len(ids))
    if k == 0:
        return _empty()

    sel = CascadeSimulator(
        follows, config.edge_probability, config.n_simulations, config.seed, nodes=ids
    )
    cands = sel.node_codes(ids)
    rows = []
    for method in config.methods:
        t0 = time.perf_counter()
        if method == "top_k":
            chosen, gains, evaluations, partial = list(range(k)), None, 0, False
        elif method == "celf":
            chosen, gains, evaluations, partial = _celf(sel, cands, k, config.time_budget_s)
        else:
            chosen, gains, evaluations, partial = _greedy(sel, cands, k, config.time_budget_s)
        seconds = time.perf_counter() - t0
        seed_ids = tuple(ids[i] for i in chosen)
        sel_spread, _ = sel.spread(cands[chosen])
        rows.append(
            {
                "method": method,
                "k": k,
                "seed_set": seed_ids,
                "selection_spread": sel_spread,
                "marginal_gains": tuple(gains) if gains is not None else None,
                "evaluations": evaluations,
                "simulations": config.n_simulations,
                "eval_simulations": config.eval_simulations,
                "seed": config.seed,
                "edge_probability": str(config.edge_probability),
                "n_candidates": len(ids),
                "partial": partial,
                "stop_reason": "time_budget" if partial else "complete",
                "selection_seconds": seconds,
            }
        )
    del sel
    ev = CascadeSimulator(
        follows, config.edge_probability, config.eval_simulations, config.seed + 1, nodes=ids
    )
    for row in rows:
        mean, se = ev.spread(ev.node_codes(row["seed_set"]))
        row["expected_spread"] = mean
        row["spread_std_error"] = se
    out = pd.DataFrame(rows, columns=list(OUTPUT_DTYPES)[:-1])
    top = out.loc[out["method"] == "top_k", "expected_spread"]
    out["gain_vs_top_k"] = out["expected_spread"] - (float(top.iloc[0]) if len(top) else np.nan)
    return out.astype(OUTPUT_DTYPES)
