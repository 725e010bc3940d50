"""How many records an ore file holds, counted without the reader that parses it.

The accounting check compares these counts with refined + removed, so a reader that loses or doubles a record is
caught. Each count uses another parser or the file's own metadata: lines with content for JSONL (no JSON parse),
Polars' CSV parser for CSV (the reader uses Python's `csv`), Parquet footers, one document per file for text
and HTML. A file that cannot be parsed at all counts as one record: the reader quarantines it as one. The ingest
shard counts the very bytes its reader read (for an object, the same copy: one download).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from pyarrow.lib import ArrowException

from refinery.ingest.encoding import file_encoding, has_lone_cr, open_text
from refinery.ingest.ranges import Span, open_span
from refinery.recipe import Source


def _jsonl_lines(path: Path, source: Source, span: Span | None) -> int:
    """Lines with content (of the range): a blank line is no record (the reader skips it as well)."""
    with open_span(path, source.encoding, span) if span else open_text(path, source.encoding) as fh:
        return sum(1 for line in fh if line.strip())


def _csv_records(path: Path, source: Source) -> int:
    """Polars reads UTF-8 with \\n line ends; other files are first rewritten so (a temporary copy)."""
    encoding = file_encoding(path, source.encoding)
    if encoding in ("utf-8", "utf-8-sig") and not has_lone_cr(path):
        return _polars_csv_rows(path)
    with tempfile.NamedTemporaryFile(suffix=".csv") as utf8:
        with open(path, encoding=encoding, errors="replace", newline=None) as fh:
            while chunk := fh.read(1 << 20):
                utf8.write(chunk.encode())
        utf8.flush()
        return _polars_csv_rows(Path(utf8.name))


def _polars_csv_rows(path: Path) -> int:
    scan = pl.scan_csv(path, infer_schema=False, truncate_ragged_lines=True, encoding="utf8-lossy")
    return scan.select(pl.len()).collect().item()


def count_records(path: Path, source: Source, span: Span | None = None) -> int:
    """The records of a file (an object: of its copy on this node, the one the reader read), or of its range."""
    try:
        if source.format == "jsonl":
            return _jsonl_lines(path, source, span)
        if source.format == "csv":
            return _csv_records(path, source)
        if source.format == "parquet":
            return pq.ParquetFile(path).metadata.num_rows
    except pl.exceptions.NoDataError:
        return 0
    except (OSError, ValueError, pl.exceptions.PolarsError, ArrowException):
        return 1
    return 1  # text and html: one file is one document
