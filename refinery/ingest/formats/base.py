"""What every ore format shares: the raw batch its reader yields, and its entry in the registry (`__init__.py`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from refinery.ingest.config import Source
    from refinery.ingest.ranges import Span

BATCH_RECORDS = 50_000  # records a reader yields at a time: memory is bounded by the batch, not by the corpus
BATCH_BYTES = 64 * 2**20  # or fewer, for records as large as web pages (characters of text a batch holds)

RAW_SCHEMA: dict[str, pl.DataType] = {
    "text": pl.String(),
    "native_id": pl.String(),
    "line": pl.Int64(),
    "title": pl.String(),
    "url": pl.String(),
    "reason": pl.String(),  # null for a usable record
    "detail": pl.String(),
}


@dataclass(frozen=True)
class Format:
    """A reader and, beside it, a counter of the same file's records that does not use the reader: accounting
    compares the two, so a reader that loses or doubles a record is caught."""

    read: Callable[[Path, Source], Iterator[pl.DataFrame]]  # raw batches (RAW_SCHEMA), a record's line kept
    count: Callable[[Path, Source, Span | None], int]  # the records of the file (or of its byte range)
    ranges: bool = False  # large local files are read in line-aligned byte ranges, a shard each (`ranges.py`)
    html: bool = False  # its text is HTML: the main content is extracted (`html.py`)
    grouped: bool = False  # one file is one record: small files are read a group at a time, a shard each


def raw(**columns: list) -> pl.DataFrame:
    """A raw batch from columns of equal length; the columns not given are nulls."""
    n = len(next(iter(columns.values())))
    return pl.DataFrame({name: columns.get(name, [None] * n) for name in RAW_SCHEMA}, schema=RAW_SCHEMA, strict=False)


def json_path(field: str) -> str:
    """The JSONPath of a top-level field, quoted."""
    return "$['" + field.replace("\\", "\\\\").replace("'", "\\'") + "']"
