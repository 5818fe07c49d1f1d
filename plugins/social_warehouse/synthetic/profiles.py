"""Size profiles and behavioural parameters of the synthetic generator."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Profile", "PROFILES", "DEFAULT_DAYS"]

#: Number of days the profile totals are calibrated for.
DEFAULT_DAYS = 3


@dataclass(frozen=True)
class Profile:
    """Size and behaviour of one synthetic dataset.

    Totals (``follows``, ``posts``, ``interactions``) are targets over :data:`DEFAULT_DAYS`
    days; a run with more or fewer days keeps the same daily rates.

    Attributes
    ----------
    name : str
        Profile name.
    n_users : int
        Users existing on day 1 (later days add ``new_user_rate * n_users`` per day).
    n_communities : int
        Blocks of the stochastic block model of the follow graph.
    n_topics : int
        Content topics in use (the first ``n_topics`` of :data:`~.vocab.TOPICS`).
    n_taste_groups : int
        Taste groups; each prefers 2-3 topics.
    n_kols : int
        Planted key opinion leaders (drawn from the day-1 users).
    follows : int
        Target number of follow edges over the default days.
    posts : int
        Target number of posts over the default days.
    interactions : int
        Target number of interaction events over the default days.
    n_campaigns : int
        Campaigns, each run by 1-3 KOLs.
    p_in : float
        Probability that a follow edge stays inside the follower's community.
    new_user_rate : float
        New users per later day, as a fraction of ``n_users``.
    kol_follow_share : float
        Share of within-community follow attention the KOLs attract.
    kol_cross_share : float
        Share of cross-community follows that go to KOLs.
    kol_post_share : float
        Share of the day's regular (non-campaign) posts written by KOLs.
    p_taste, p_follow, p_popular : float
        Probabilities of the three channels that pick the post a view lands on: a post of
        one of the viewer's preferred topics, a post of an account the viewer follows, or
        a post drawn by global popularity.
    """

    name: str
    n_users: int
    n_communities: int
    n_topics: int
    n_taste_groups: int
    n_kols: int
    follows: int
    posts: int
    interactions: int
    n_campaigns: int
    p_in: float = 0.90
    new_user_rate: float = 0.015
    kol_follow_share: float = 0.30
    kol_cross_share: float = 0.50
    kol_post_share: float = 0.20
    p_taste: float = 0.67
    p_follow: float = 0.18
    p_popular: float = 0.15

    def to_dict(self) -> dict:
        """Return the profile as a plain dict (for ``truth.json``)."""
        return asdict(self)


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("small", n_users=2_000, n_communities=10, n_topics=12, n_taste_groups=8,
                n_kols=20, follows=25_000, posts=3_000, interactions=80_000, n_campaigns=4),
        Profile("medium", n_users=100_000, n_communities=16, n_topics=16, n_taste_groups=12,
                n_kols=1_000, follows=1_000_000, posts=20_000, interactions=2_000_000,
                n_campaigns=30),
        Profile("large", n_users=1_000_000, n_communities=20, n_topics=20, n_taste_groups=16,
                n_kols=10_000, follows=10_000_000, posts=200_000, interactions=20_000_000,
                n_campaigns=200),
    )
}
