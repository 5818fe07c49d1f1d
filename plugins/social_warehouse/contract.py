"""The canonical social-export contract.

Every source, synthetic or mapped from a real platform export, lands files of these
entities under ``landing/<ds>/``. A file is named after its entity, optionally with a
suffix, and its format is detected from the extension::

    users.csv  posts.jsonl.gz  interactions_part-001.parquet  follows.csv.gz  campaigns.jsonl

Types are logical: ``id`` and ``text`` are strings, ``int``/``float`` numbers,
``timestamp`` an ISO-8601 date-time (UTC when no offset is given), ``bool`` one of
true/false/1/0/yes/no/t/f/y/n (case-insensitive).

Columns marked required must be present in the file's header (or record keys); a file
without one of them fails the ingest task. Optional columns may be absent and then load
as null. Key columns must be non-empty on every row; rows without them are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Column",
    "Entity",
    "ENTITIES",
    "EVENT_TYPES",
    "DEFAULT_EVENT_WEIGHTS",
    "FILE_FORMATS",
    "detect_format",
    "entity_for_file",
]


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # id | text | int | float | timestamp | bool
    required: bool = True
    key: bool = False
    nonnegative: bool = False
    description: str = ""


@dataclass(frozen=True)
class Entity:
    name: str
    columns: tuple[Column, ...]
    description: str = ""
    primary_key: tuple[str, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def key_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.key]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


C = Column

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity(
            "users",
            (
                C("user_id", "id", key=True, description="Platform user id"),
                C("handle", "text", description="Public handle, '@' optional"),
                C("display_name", "text", required=False),
                C("bio", "text", required=False),
                C("followers_count", "int", nonnegative=True,
                  description="Self-reported follower count at export time"),
                C("following_count", "int", nonnegative=True),
                C("verified", "bool", required=False),
                C("created_at", "timestamp", description="Account creation time"),
                C("country", "text", required=False, description="ISO 3166-1 alpha-2 or name"),
                C("category", "text", required=False, description="Content category"),
                C("platform", "text", required=False, description="Source platform"),
            ),
            "User profiles: new or changed profiles of the day (latest record per user wins).",
            ("user_id",),
        ),
        Entity(
            "posts",
            (
                C("post_id", "id", key=True),
                C("author_id", "id", key=True, description="user_id of the author"),
                C("created_at", "timestamp"),
                C("text", "text", required=False, description="Caption or body; may be empty"),
                C("media_type", "text", required=False, description="video, image, text, audio"),
                C("duration_s", "float", required=False, nonnegative=True,
                  description="Video/audio length in seconds"),
                C("hashtags", "text", required=False,
                  description="Space- or comma-separated tags, '#' optional"),
                C("campaign_id", "id", required=False,
                  description="Campaign the post promotes, if any"),
            ),
            "Posts, videos or other items created (or changed) that day.",
            ("post_id",),
        ),
        Entity(
            "interactions",
            (
                C("event_id", "id", key=True),
                C("user_id", "id", key=True),
                C("post_id", "id", key=True),
                C("event_type", "text", key=True, description="One of EVENT_TYPES"),
                C("occurred_at", "timestamp"),
                C("watch_time_s", "float", required=False, nonnegative=True),
                C("value", "float", required=False,
                  description="Numeric payload: play count, rating, order value"),
            ),
            "Engagement events of the day.",
            ("event_id",),
        ),
        Entity(
            "follows",
            (
                C("follower_id", "id", key=True),
                C("followee_id", "id", key=True),
                C("followed_at", "timestamp", required=False),
            ),
            "Follow edges created that day (follower -> followee).",
            ("follower_id", "followee_id"),
        ),
        Entity(
            "campaigns",
            (
                C("campaign_id", "id", key=True),
                C("brand", "text", required=False),
                C("name", "text", required=False),
                C("starts_at", "timestamp"),
                C("ends_at", "timestamp"),
                C("budget", "float", required=False, nonnegative=True),
            ),
            "Marketing campaigns; participating KOLs follow from posts.campaign_id.",
            ("campaign_id",),
        ),
    )
}

# Event types of the canonical contract and their default weight in the implicit
# preference score (fct_user_item_scores). A source mapping may declare more types.
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "like": 3.0,
    "comment": 4.0,
    "share": 5.0,
    "save": 4.0,
    "click": 2.0,
    "conversion": 8.0,
}
EVENT_TYPES: tuple[str, ...] = tuple(DEFAULT_EVENT_WEIGHTS)

FILE_FORMATS = ("csv", "jsonl", "parquet")
_EXTENSIONS = {
    ".csv": ("csv", False),
    ".csv.gz": ("csv", True),
    ".tsv": ("csv", False),
    ".tsv.gz": ("csv", True),
    ".jsonl": ("jsonl", False),
    ".jsonl.gz": ("jsonl", True),
    ".ndjson": ("jsonl", False),
    ".ndjson.gz": ("jsonl", True),
    ".parquet": ("parquet", False),
}


def detect_format(filename: str) -> tuple[str, bool] | None:
    """Return ``(format, gzipped)`` for a landing file name, or None if unsupported."""
    lower = filename.lower()
    for ext in sorted(_EXTENSIONS, key=len, reverse=True):
        if lower.endswith(ext):
            return _EXTENSIONS[ext]
    return None


def entity_for_file(filename: str) -> str | None:
    """Entity a landing file belongs to: its name up to the first '.', '_' or '-' suffix."""
    stem = filename.split(".", 1)[0].lower()
    for name in ENTITIES:
        if stem == name or stem.startswith(name + "_") or stem.startswith(name + "-"):
            return name
    return None
