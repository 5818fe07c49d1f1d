"""KOL tiers: absolute follower bands, or follower percentiles among the KOLs where the
absolute bands do not fit the platform.

Absolute bands (``tiers``, default :data:`DEFAULT_TIERS`) are the marketing convention:
nano from 1k followers, micro 10k, macro 100k, mega 1M. On a platform whose accounts are
small (a sample, a niche community, the demo world whose largest account has a few hundred
followers) they leave every KOL untiered. ``tier_mode`` decides:

``absolute``
    Bands only; below the lowest band the tier is null (every user gets a tier).
``relative``
    Every KOL is tiered by its follower percentile among the KOLs of its group (platform):
    ``p`` = share of the group's KOLs with at most its followers; the highest band of
    ``relative_tiers`` (default nano >= 0, micro >= 0.50, macro >= 0.80, mega >= 0.95)
    whose lower bound is <= ``p`` wins. Non-KOLs get no tier.
``auto`` (default)
    Per group: absolute when the absolute bands tier at least ``min_tiered_share``
    (default 0.5) of the group's KOLs, relative otherwise.

``tier_basis`` records which rule tiered each row's group (``absolute`` / ``relative``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_TIERS",
    "DEFAULT_RELATIVE_TIERS",
    "TIER_MODES",
    "normalise_bands",
    "absolute_tiers",
    "assign_tiers",
]

#: Follower bands ``(tier, lower bound inclusive)``; the highest band reached wins.
DEFAULT_TIERS: tuple[tuple[str, float], ...] = (
    ("nano", 1_000.0),
    ("micro", 10_000.0),
    ("macro", 100_000.0),
    ("mega", 1_000_000.0),
)

#: Follower-percentile bands among a group's KOLs ``(tier, lower bound inclusive)``.
DEFAULT_RELATIVE_TIERS: tuple[tuple[str, float], ...] = (
    ("nano", 0.0),
    ("micro", 0.50),
    ("macro", 0.80),
    ("mega", 0.95),
)

TIER_MODES: tuple[str, ...] = ("auto", "absolute", "relative")


def normalise_bands(tiers: Any, *, name: str = "tiers", fraction: bool = False
                    ) -> tuple[tuple[str, float], ...]:
    """Bands as a tuple of ``(name, lower bound)`` sorted by bound; a mapping is accepted.

    Raises ``ValueError`` on repeated bounds, or (``fraction``) bounds outside [0, 1].
    """
    items = tiers.items() if isinstance(tiers, Mapping) else tiers
    out = tuple(sorted(((str(n), float(b)) for n, b in items), key=lambda t: t[1]))
    if not out:
        raise ValueError(f"{name}: at least one band is needed")
    if len({b for _, b in out}) != len(out):
        raise ValueError(f"{name}: lower bounds must be distinct, got {out}")
    if fraction and any(not 0.0 <= b <= 1.0 for _, b in out):
        raise ValueError(f"{name}: percentile bounds must be in [0, 1], got {out}")
    return out


def absolute_tiers(followers: Any, tiers: tuple[tuple[str, float], ...]) -> np.ndarray:
    """Tier name per value (object array; None below the lowest band or for NaN)."""
    names = np.array([None] + [n for n, _ in tiers], dtype=object)
    bounds = np.array([b for _, b in tiers], dtype="float64")
    f = np.nan_to_num(np.asarray(followers, dtype="float64"), nan=-np.inf)
    return names[np.searchsorted(bounds, f, side="right")]


def assign_tiers(
    followers: Any,
    is_kol: Any,
    groups: Any,
    *,
    mode: str = "auto",
    tiers: tuple[tuple[str, float], ...] = DEFAULT_TIERS,
    relative_tiers: tuple[tuple[str, float], ...] = DEFAULT_RELATIVE_TIERS,
    min_tiered_share: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Tier and tier basis per row (see the module docstring for the rule).

    Parameters
    ----------
    followers : array-like of float
        Follower count per row (NaN: unknown, never tiered).
    is_kol : array-like of bool
    groups : array-like
        Group per row (the platform); relative percentiles and the ``auto`` choice are
        per group.

    Returns
    -------
    tier, basis : numpy.ndarray of object
    """
    f = np.asarray(followers, dtype="float64")
    kol = np.asarray(is_kol, dtype=bool)
    g = pd.Series(np.asarray(groups, dtype=object))
    absolute = absolute_tiers(f, tiers)
    tier = absolute.copy()
    basis = np.full(len(f), "absolute", dtype=object)
    if mode == "absolute" or not len(f):
        return tier, basis
    for _, rows in g.groupby(g, sort=False).groups.items():
        r = np.asarray(rows)
        kr = r[kol[r]]
        if mode == "auto":
            if not len(kr):
                continue
            tiered = np.mean([t is not None for t in absolute[kr]])
            if tiered >= min_tiered_share:
                continue
        basis[r] = "relative"
        tier[r] = None
        known = kr[np.isfinite(f[kr])]
        if not len(known):
            continue
        pct = pd.Series(f[known]).rank(method="max", pct=True).to_numpy()
        tier[known] = absolute_tiers(pct, relative_tiers)
    return tier, basis
