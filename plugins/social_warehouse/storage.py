"""The storage root: where Parquet moves between the writer host and analytics workers.

The DuckDB build file stays on the writer host. What the analytics tasks read (the core
tables the writer exports after ``gate_core``) and what they write (one Parquet file per
output) lives under one *storage root*, addressed by logical paths relative to it:

    runs/<safe run_id>/inputs/<schema>/<table>.parquet    exported by the writer
    runs/<safe run_id>/analytics/<output>.parquet         written by the analytics tasks

=========================  =============================================================
variable                   meaning
=========================  =============================================================
``SW_STORAGE_ROOT``        ``s3://bucket/prefix`` or a local folder
                           (default ``<SW_DATA_DIR>/storage``)
``SW_S3_ENDPOINT_URL``     S3 API endpoint (MinIO, moto, ...); ``AWS_ENDPOINT_URL`` also read
``AWS_ACCESS_KEY_ID``      credentials (else pyarrow's default AWS credential chain)
``AWS_SECRET_ACCESS_KEY``
``AWS_SESSION_TOKEN``
``AWS_REGION``             region (``AWS_DEFAULT_REGION`` also read; default ``us-east-1``)
=========================  =============================================================

Access goes through ``pyarrow.fs`` (``S3FileSystem`` / ``LocalFileSystem``): DuckDB's
``httpfs`` extension is not needed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from .config import Settings, get_settings

if TYPE_CHECKING:
    from pyarrow.fs import FileSystem

__all__ = ["Storage", "StorageError", "get_storage", "safe_name"]


class StorageError(Exception):
    """The storage root is misconfigured, or a file expected in it is missing."""


def safe_name(value: str) -> str:
    """``value`` with characters other than letters, digits and ``-_.+`` replaced by ``_``."""
    return "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in value)


def _check_relative(rel: str) -> str:
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise StorageError(f"storage path {rel!r} must be relative to the storage root, "
                           "without '..'")
    return str(path)


@dataclass(frozen=True)
class Storage:
    """A storage root: a pyarrow filesystem and the base path inside it."""

    root: str  # as configured: "s3://bucket/prefix" or a local folder
    fs: FileSystem
    base: str  # path inside ``fs`` ("bucket/prefix" or an absolute local path)

    @property
    def is_local(self) -> bool:
        return not self.root.startswith("s3://")

    def path(self, rel: str) -> str:
        """The ``fs`` path of a logical path."""
        return f"{self.base.rstrip('/')}/{_check_relative(rel)}"

    def uri(self, rel: str) -> str:
        """A printable address of a logical path (for messages)."""
        return f"{self.root.rstrip('/')}/{_check_relative(rel)}"

    def exists(self, rel: str) -> bool:
        import pyarrow.fs as pafs

        return self.fs.get_file_info(self.path(rel)).type == pafs.FileType.File

    def list_files(self, rel_dir: str, suffix: str = "") -> list[str]:
        """Logical paths of the files directly in ``rel_dir`` (sorted); [] if it is absent."""
        import pyarrow.fs as pafs

        base = self.path(rel_dir)
        infos = self.fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
        prefix = self.base.rstrip("/") + "/"
        return sorted(i.path[len(prefix):] for i in infos
                      if i.type == pafs.FileType.File and i.path.endswith(suffix))

    def delete_dir(self, rel_dir: str) -> None:
        """Remove ``rel_dir`` and everything under it (no error if it is absent)."""
        import pyarrow.fs as pafs

        target = self.path(rel_dir)
        if self.fs.get_file_info(target).type != pafs.FileType.NotFound:
            self.fs.delete_dir(target)  # on S3, pyarrow may leave an empty parent marker

    def write_parquet(self, rel: str, data) -> int:
        """Write an Arrow table or RecordBatchReader (streamed); return the rows written.

        Readers never see a partial file. Local: temp file + fsync + rename. S3: one
        upload, which S3 makes visible only when complete.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        target = self.path(rel)
        parent = target.rsplit("/", 1)[0]
        if self.is_local:  # S3 has no folders (create_dir would add marker objects)
            self.fs.create_dir(parent, recursive=True)
        dest = f"{parent}/.{target.rsplit('/', 1)[1]}.{os.getpid()}.tmp" if self.is_local \
            else target
        if isinstance(data, pa.RecordBatchReader):
            rows = 0
            with pq.ParquetWriter(dest, data.schema, filesystem=self.fs) as writer:
                for batch in data:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        else:
            pq.write_table(data, dest, filesystem=self.fs)
            rows = data.num_rows
        if self.is_local:
            fd = os.open(dest, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(dest, target)
        return rows

    def read_parquet(self, rel: str):
        """The Arrow table at ``rel``; :class:`StorageError` naming it when it is missing."""
        import pyarrow.parquet as pq

        if not self.exists(rel):
            raise StorageError(f"{self.uri(rel)} does not exist")
        return pq.read_table(self.path(rel), filesystem=self.fs)

    def dataset(self, rel: str):
        """A lazy ``pyarrow.dataset`` over the Parquet file at ``rel`` (must exist)."""
        import pyarrow.dataset as pads

        if not self.exists(rel):
            raise StorageError(f"{self.uri(rel)} does not exist")
        return pads.dataset(self.path(rel), filesystem=self.fs, format="parquet")


def _s3_filesystem(env: Mapping[str, str]):
    import pyarrow.fs as pafs

    kwargs: dict = {"region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
                    or "us-east-1"}
    endpoint = env.get("SW_S3_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        parsed = urlparse(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise StorageError(f"SW_S3_ENDPOINT_URL {endpoint!r} must be http(s)://host[:port]")
        kwargs["endpoint_override"] = parsed.netloc
        kwargs["scheme"] = parsed.scheme
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if bool(key) != bool(secret):
        raise StorageError("set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither")
    if key:
        kwargs.update(access_key=key, secret_key=secret,
                      session_token=env.get("AWS_SESSION_TOKEN") or None)
    return pafs.S3FileSystem(**kwargs)


def get_storage(settings: Settings | None = None,
                env: Mapping[str, str] | None = None) -> Storage:
    """The configured storage root (see the module docstring)."""
    import pyarrow.fs as pafs

    env = os.environ if env is None else env
    s = settings or get_settings()
    root = (env.get("SW_STORAGE_ROOT") or "").strip() or str(s.data_dir / "storage")
    if root.startswith("s3://"):
        parsed = urlparse(root)
        if not parsed.netloc:
            raise StorageError(f"SW_STORAGE_ROOT {root!r} names no bucket (s3://bucket/prefix)")
        base = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
        return Storage(root=root.rstrip("/"), fs=_s3_filesystem(env), base=base)
    if "://" in root:
        raise StorageError(f"SW_STORAGE_ROOT {root!r}: only s3://bucket/prefix or a local "
                           "folder are supported")
    local = Path(root).expanduser().resolve()
    return Storage(root=str(local), fs=pafs.LocalFileSystem(), base=str(local))
