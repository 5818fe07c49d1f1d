"""Text builders: post captions and hashtags driven by a planted topic, user profile strings.

Post text is assembled per post from pre-drawn uniform numbers (one row of ``u`` per post),
so the result depends only on the random stream, never on Python's hash or ``random``.
User strings are built column-wise with Arrow kernels, which keeps the 1M-user profile
fast.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .vocab import (
    BRANDS,
    COUNTRIES_BY_LANGUAGE,
    EN_CLOSERS,
    EN_FIRST,
    EN_LAST,
    EN_OPENERS,
    HANDLE_WORDS,
    LANGUAGES,
    NOISE_TAGS,
    TOPICS,
    ZH_CLOSERS,
    ZH_GIVEN,
    ZH_OPENERS,
    ZH_SURNAMES,
)

__all__ = ["N_TEXT_UNIFORMS", "post_texts", "user_columns"]

#: Uniform numbers consumed per post by :func:`post_texts`.
N_TEXT_UNIFORMS = 16


def _pick(seq, u: float):
    return seq[min(int(u * len(seq)), len(seq) - 1)]


def _pick_distinct(seq, u1: float, u2: float):
    n = len(seq)
    i = min(int(u1 * n), n - 1)
    j = (i + 1 + min(int(u2 * (n - 1)), n - 2)) % n
    return seq[i], seq[j]


def post_texts(
    topics: np.ndarray,
    languages: np.ndarray,
    campaign_brands: list[str | None],
    u: np.ndarray,
    n_topics: int,
) -> tuple[list[str | None], list[str]]:
    """Build the caption and the hashtag string of each post.

    The topic drives the content words, hashtags and emoji; about one post in eight also
    carries a word of another topic (noise), and a third carry a generic tag such as
    ``#fyp``. Campaign posts are tagged ``#ad`` and with the brand.

    Parameters
    ----------
    topics : numpy.ndarray
        Topic index of each post.
    languages : numpy.ndarray
        Language index of each post into :data:`~.vocab.LANGUAGES` (en, zh, mixed).
    campaign_brands : list of str or None
        Brand of the campaign each post promotes, or None.
    u : numpy.ndarray
        Uniform numbers, shape ``(n_posts, N_TEXT_UNIFORMS)``.
    n_topics : int
        Topics in use (noise words come from these).

    Returns
    -------
    texts : list of str or None
        Captions (None for the ~3% of posts without one).
    hashtags : list of str
        Space-separated ``#tags``.
    """
    texts: list[str | None] = []
    tags_out: list[str] = []
    for i in range(len(topics)):
        r = u[i]
        t = TOPICS[int(topics[i])]
        lang = LANGUAGES[int(languages[i])]
        noise = TOPICS[(int(topics[i]) + 1 + int(r[0] * (n_topics - 1))) % n_topics]
        emoji = _pick(t.emoji, r[1])
        e1, e2 = _pick_distinct(t.en, r[2], r[3])
        z1, z2 = _pick_distinct(t.zh, r[4], r[5])
        if r[6] < 0.125:  # a stray word of another topic
            e2, z2 = _pick(noise.en, r[7]), _pick(noise.zh, r[7])
        if lang == "en":
            body = f"{_pick(EN_OPENERS, r[8])} {e1} and {e2} {emoji} {_pick(EN_CLOSERS, r[9])}"
        elif lang == "zh":
            body = f"{_pick(ZH_OPENERS, r[8])}{z1}，{z2}{emoji}{_pick(ZH_CLOSERS, r[9])}"
        else:
            body = f"{_pick(ZH_OPENERS, r[8])} {e1} {z1} {z2} {emoji} {_pick(EN_CLOSERS, r[9])}"
        n_tags = 1 + int(r[10] * 3)
        first = int(r[11] * len(t.tags)) % len(t.tags)
        tags = [t.tags[(first + k) % len(t.tags)] for k in range(min(n_tags, len(t.tags)))]
        if r[12] < 0.33:
            tags.append(_pick(NOISE_TAGS, r[13]))
        brand = campaign_brands[i]
        if brand is not None:
            tags += ["ad", brand.lower()]
            body = (f"{body} sponsored by {brand}" if lang == "en"
                    else f"{body} 合作 {brand}")
        tag_str = " ".join("#" + x for x in tags)
        if r[14] < 0.03 and brand is None:
            texts.append(None)
        elif r[15] < 0.8:
            texts.append(" ".join(f"{body} {tag_str}".split()))
        else:
            texts.append(" ".join(body.split()))
        tags_out.append(tag_str)
    return texts, tags_out


def _take(values, idx: np.ndarray) -> pa.Array:
    return pa.array(list(values), pa.string()).take(pa.array(idx))


def user_columns(
    index: np.ndarray,
    languages: np.ndarray,
    main_topic: np.ndarray,
    is_kol: np.ndarray,
    has_category: np.ndarray,
    u: np.ndarray,
) -> dict[str, pa.Array]:
    """Build the static string columns of the users export.

    Parameters
    ----------
    index : numpy.ndarray
        Zero-based user index (``user_id`` is ``index + 1``); makes handles unique.
    languages : numpy.ndarray
        Language index of each user.
    main_topic : numpy.ndarray
        The topic the user mostly posts about.
    is_kol : numpy.ndarray
        KOL flag; KOLs always have a bio and a category.
    has_category : numpy.ndarray
        Whether a non-KOL shows a category.
    u : numpy.ndarray
        Uniform numbers, shape ``(n, 10)``.

    Returns
    -------
    dict of str to pyarrow.Array
        ``handle``, ``display_name``, ``bio``, ``country``, ``category``.
    """
    n = len(index)

    def idx(col: int, size: int) -> np.ndarray:
        return np.minimum((u[:, col] * size).astype(np.int64), size - 1)

    lang = np.asarray(languages)
    w1 = _take(HANDLE_WORDS, idx(0, len(HANDLE_WORDS)))
    w2 = _take(HANDLE_WORDS, idx(1, len(HANDLE_WORDS)))
    num = pc.cast(pa.array(index + 1), pa.string())
    at = pa.array(np.where(u[:, 2] < 0.2, "@", ""))
    sep = pa.array(np.where(u[:, 3] < 0.5, "_", "."))
    handle = pc.binary_join_element_wise(at, w1, sep, w2, num, "")

    first = _take(EN_FIRST, idx(4, len(EN_FIRST)))
    last = _take(EN_LAST, idx(5, len(EN_LAST)))
    zh = pc.binary_join_element_wise(_take(ZH_SURNAMES, idx(5, len(ZH_SURNAMES))),
                                     _take(ZH_GIVEN, idx(6, len(ZH_GIVEN))), "")
    en_name = pc.binary_join_element_wise(first, last, " ")
    mixed_name = pc.binary_join_element_wise(first, zh, " ")
    lang_arr = pa.array(lang)
    display = pc.if_else(pc.equal(lang_arr, 0), en_name,
                         pc.if_else(pc.equal(lang_arr, 1), zh, mixed_name))
    display = pc.if_else(pa.array(u[:, 7] < 0.03), pa.scalar(None, pa.string()), display)

    topic_names = [t.name for t in TOPICS]
    kol_bio_by_topic = [
        f"{t.name.capitalize()} creator {t.emoji[0]} | {t.zh_name}博主 | #{t.tags[0]} | "
        "collabs via DM" for t in TOPICS
    ]
    fan_bio_by_topic = [f"{t.emoji[0]} {t.en[0]} & {t.en[1]} | 喜欢{t.zh[0]}" for t in TOPICS]
    kol_bio = _take(kol_bio_by_topic, main_topic)
    fan_bio = _take(fan_bio_by_topic, main_topic)
    kol_mask = pa.array(np.asarray(is_kol, dtype=bool))
    none = pa.scalar(None, pa.string())
    bio = pc.if_else(kol_mask, kol_bio,
                     pc.if_else(pa.array(u[:, 8] < 0.35), fan_bio, none))
    category = pc.if_else(pa.array(np.asarray(is_kol, bool) | np.asarray(has_category, bool)),
                          _take(topic_names, main_topic), none)

    country = np.empty(n, dtype=object)
    for li, name in enumerate(LANGUAGES):
        mask = lang == li
        pool = COUNTRIES_BY_LANGUAGE[name]
        country[mask] = np.asarray(pool, dtype=object)[
            np.minimum((u[mask, 9] * len(pool)).astype(np.int64), len(pool) - 1)]
    return {
        "handle": handle,
        "display_name": display,
        "bio": bio,
        "country": pa.array(country, pa.string()),
        "category": category,
    }


def brand_for(campaign_index: int) -> str:
    """Brand name of a campaign (cycles through :data:`~.vocab.BRANDS`)."""
    return BRANDS[campaign_index % len(BRANDS)]
