"""Synthetic social-media exports with planted ground truth.

    from social_warehouse.synthetic import generate, PROFILES
    result = generate(profile="small", days=3, seed=42, out=Path("data/demo"), fmt="csv")

writes ``out/landing/<ds>/<entity>.<ext>`` following :mod:`social_warehouse.contract` and
``out/truth/`` (``truth.json``, ``users.parquet``, ``posts.parquet``,
``campaigns.parquet``): the planted communities, taste groups, KOLs and campaign lifts that
the analytics must recover.
"""

from __future__ import annotations

from .generator import GENERATOR_VERSION, GenerateResult, generate
from .profiles import DEFAULT_DAYS, PROFILES, Profile
from .writers import FORMATS

__all__ = ["generate", "GenerateResult", "PROFILES", "Profile", "DEFAULT_DAYS", "FORMATS",
           "GENERATOR_VERSION"]
