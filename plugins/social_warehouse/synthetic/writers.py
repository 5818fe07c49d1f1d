"""Streaming, deterministic writers for the landing formats (CSV, JSON lines, Parquet).

Every writer takes :class:`pyarrow.Table` chunks whose schema is :func:`entity_schema` and
writes them as they come, so memory stays bounded by the chunk size. Files are written
under a hidden temporary name and renamed into place on :meth:`EntityWriter.close`, so a
reader never sees a half-written export. Output is byte-for-byte reproducible (gzip
headers carry no time stamp, Parquet metadata no creation time).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from ..contract import ENTITIES

__all__ = ["EXTENSIONS", "FORMATS", "MIXED_FORMATS", "entity_schema", "EntityWriter",
           "jsonl_bytes", "format_for"]

#: File extension of each output format.
EXTENSIONS: dict[str, str] = {
    "csv": ".csv",
    "csv.gz": ".csv.gz",
    "jsonl": ".jsonl",
    "jsonl.gz": ".jsonl.gz",
    "parquet": ".parquet",
}
#: Accepted values of ``fmt`` (``mixed`` picks one format per entity).
FORMATS: tuple[str, ...] = (*EXTENSIONS, "mixed")
#: Entity -> format used by ``fmt="mixed"``: every reader of the ingest gets exercised.
MIXED_FORMATS: dict[str, str] = {
    "users": "csv",
    "posts": "jsonl",
    "interactions": "csv.gz",
    "follows": "parquet",
    "campaigns": "jsonl",
}

#: zlib level of ``.gz`` exports: fast, about 20% larger than level 6.
GZIP_LEVEL = 3

_ARROW_TYPES = {
    "id": pa.string(),
    "text": pa.string(),
    "timestamp": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
}


def format_for(entity: str, fmt: str) -> str:
    """Return the concrete file format of ``entity`` under the requested ``fmt``.

    Parameters
    ----------
    entity : str
        Contract entity name.
    fmt : str
        One of :data:`FORMATS`.

    Returns
    -------
    str
        A key of :data:`EXTENSIONS`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    return MIXED_FORMATS[entity] if fmt == "mixed" else fmt


def entity_schema(entity: str) -> pa.Schema:
    """Arrow schema of an entity's export: all contract columns, in contract order.

    Timestamps are ISO-8601 UTC strings (``2026-01-01T13:05:00Z``) in every format.

    Parameters
    ----------
    entity : str
        Contract entity name.

    Returns
    -------
    pyarrow.Schema
    """
    cols = ENTITIES[entity].columns
    return pa.schema([pa.field(c.name, _ARROW_TYPES[c.type]) for c in cols])


def _json_literal(arr: pa.Array) -> pa.Array:
    """JSON literal text of every value of ``arr`` (``null`` for nulls)."""
    t = arr.type
    if pa.types.is_string(t):
        s = arr
        for old, new in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"),
                         ("\t", "\\t")):
            s = pc.replace_substring(s, old, new)
        s = pc.binary_join_element_wise('"', s, '"', "")
    elif pa.types.is_boolean(t):
        s = pc.if_else(arr, "true", "false")
    else:
        s = pc.cast(arr, pa.string())
    return pc.fill_null(s, "null")


def jsonl_bytes(table: pa.Table) -> bytes:
    """Serialise a table as JSON lines (one object per row, keys in column order).

    Vectorised with Arrow compute kernels: no per-row Python work. Non-ASCII text is
    written as UTF-8, not escaped.

    Parameters
    ----------
    table : pyarrow.Table

    Returns
    -------
    bytes
        The encoded lines, each terminated by ``\\n``; empty for an empty table.
    """
    if table.num_rows == 0:
        return b""
    parts: list = []
    for i, name in enumerate(table.column_names):
        col = table.column(i).combine_chunks()
        parts.append(("{" if i == 0 else ",") + f'"{name}":')
        parts.append(_json_literal(col))
    parts.append("}\n")
    lines = pc.binary_join_element_wise(*parts, "")
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    offsets = lines.buffers()[1]
    data = lines.buffers()[2]
    off = np.frombuffer(offsets, dtype=np.int32, count=len(lines) + 1 + lines.offset)
    start, end = int(off[lines.offset]), int(off[lines.offset + len(lines)])
    return data.slice(start, end - start).to_pybytes()


class EntityWriter:
    """Stream one entity's export file in a given format.

    Parameters
    ----------
    path : pathlib.Path
        Final file path (its extension should match ``fmt``).
    entity : str
        Contract entity name; fixes the schema.
    fmt : str
        A key of :data:`EXTENSIONS`.

    Attributes
    ----------
    rows : int
        Rows written so far.
    """

    def __init__(self, path: Path, entity: str, fmt: str) -> None:
        if fmt not in EXTENSIONS:
            raise ValueError(f"unknown file format {fmt!r}")
        self.path = Path(path)
        self.entity = entity
        self.fmt = fmt
        self.schema = entity_schema(entity)
        self.rows = 0
        self._tmp = self.path.with_name(f".{self.path.name}.tmp")
        self._tmp.parent.mkdir(parents=True, exist_ok=True)
        self._raw = None
        # a gzip.GzipFile or a pyarrow output stream (untyped); None for Parquet
        self._sink: Any = None
        if fmt == "parquet":
            self._pq = pq.ParquetWriter(str(self._tmp), self.schema, compression="zstd")
        elif fmt.endswith(".gz"):
            # Python's gzip: a fast level (Arrow's gzip stream uses level 9, ~20x slower)
            # and no name or time stamp in the header, so output is reproducible.
            self._raw = open(self._tmp, "wb")  # noqa: SIM115 - closed in close()
            self._sink = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw,
                                       compresslevel=GZIP_LEVEL, mtime=0)
            self._pq = None
        else:
            self._sink = pa.output_stream(str(self._tmp))
            self._pq = None
        self._csv = (pcsv.CSVWriter(self._sink, self.schema)
                     if fmt.startswith("csv") else None)

    def write(self, table: pa.Table) -> None:
        """Append a chunk of rows.

        Parameters
        ----------
        table : pyarrow.Table
            Rows with exactly the entity's columns (cast to the entity schema).
        """
        if table.column_names != self.schema.names:
            raise ValueError(f"{self.entity}: columns {table.column_names} differ from "
                             f"the contract {self.schema.names}")
        table = table.cast(self.schema)
        self.rows += table.num_rows
        if self._pq is not None:
            if table.num_rows:
                self._pq.write_table(table, row_group_size=1 << 20)
        elif self._csv is not None:
            self._csv.write_table(table)
        else:
            self._sink.write(jsonl_bytes(table))

    def close(self) -> Path:
        """Finish the file and move it into place.

        Returns
        -------
        pathlib.Path
            The final path.
        """
        if self._pq is not None:
            self._pq.close()
        else:
            if self._csv is not None:
                self._csv.close()
            self._sink.close()
            if self._raw is not None:
                self._raw.close()
        os.replace(self._tmp, self.path)
        return self.path

    def __enter__(self) -> EntityWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            try:
                if self._pq is not None:
                    self._pq.close()
                elif self._sink is not None:
                    self._sink.close()
                if self._raw is not None:
                    self._raw.close()
            finally:
                self._tmp.unlink(missing_ok=True)
