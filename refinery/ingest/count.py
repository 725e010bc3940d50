"""How many records an ore file holds, counted without the reader that parses it.

The accounting check compares these counts with refined + removed, so a reader that loses or doubles a record is
caught. Each count uses another parser or the file's own metadata: raw lines for JSONL, Polars' CSV parser for
CSV (the reader uses Python's `csv`), Parquet footers, one document per file for text and HTML.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from refinery.errors import IngestError


def _jsonl_lines(path: Path) -> int:
    """Lines with content: a blank line is no record (the reader skips it as well)."""
    n = 0
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip() and (line.isascii() or line.decode("utf-8", "replace").strip()):
                n += 1
    return n


def _csv_records(path: Path) -> int:
    try:
        return pl.scan_csv(path, infer_schema=False, truncate_ragged_lines=True).select(pl.len()).collect().item()
    except pl.exceptions.NoDataError:
        return 0
    except pl.exceptions.PolarsError as err:
        raise IngestError(f"{path}: records cannot be counted independently: {err}") from None


def count_records(path: Path, fmt: str) -> int:
    if fmt == "jsonl":
        return _jsonl_lines(path)
    if fmt == "csv":
        return _csv_records(path)
    if fmt == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    return 1  # text and html: one file is one document
