"""Parquet: a record per row, numbered from 1; the text column of any type (with `coerce_text`). Counted apart
from the file's footer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow.parquet as pq

from refinery.ingest.formats.base import BATCH_RECORDS, RAW_SCHEMA, Format, json_path
from refinery.ingest.ranges import Span

if TYPE_CHECKING:  # the registry is what the recipe's source model reads: no import back
    from refinery.ingest.config import Source

Problem = tuple[pl.Expr, str, str]  # (the rows it applies to, reason, detail)


def _parquet_text(name: str | None, schema: pl.Schema, coerce: bool) -> tuple[pl.Expr, Problem | None]:
    """(the column as text, the rows that have none for a reason other than a null) for a column of any type."""
    if not name or name not in schema:
        return pl.lit(None, pl.String), (pl.lit(True), "missing_text", f"no column {name!r}") if name else None
    dtype, col = schema[name], pl.col(name)
    if dtype == pl.String:
        return col, None
    if isinstance(dtype, (pl.Categorical, pl.Enum)):  # dictionary-encoded text (pandas' `category`)
        return col.cast(pl.String), None
    if dtype == pl.Binary:  # Polars refuses a whole column with one invalid value: decoded value by value
        text = col.map_elements(_utf8_or_none, return_dtype=pl.String)
        return text, (col.is_not_null() & text.is_null(), "bad_encoding", "bytes that are not UTF-8")
    if not coerce:
        return pl.lit(None, pl.String), (col.is_not_null(), "not_text", f"column {name!r} is {dtype}, not text")
    if dtype.is_nested():
        return pl.struct(col).struct.json_encode().str.json_path_match(json_path(name)), None
    return col.cast(pl.String), None


def _utf8_or_none(value: bytes) -> str | None:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def read_parquet(path: Path, source: Source) -> Iterator[pl.DataFrame]:
    text_field = source.html_field or source.text_field
    file = pq.ParquetFile(path)
    schema = pl.Schema(pl.from_arrow(file.schema_arrow.empty_table()).schema)
    text, problem = _parquet_text(text_field, schema, source.coerce_text)
    cases = [*([problem] if problem else []), (text.is_null(), "missing_text", f"column {text_field!r} is null")]
    reason = detail = pl.lit(None, pl.String)
    for rows, why, what in reversed(cases):  # the first case that applies names the reason
        reason, detail = (
            pl.when(rows).then(pl.lit(why)).otherwise(reason),
            pl.when(rows).then(pl.lit(what)).otherwise(detail),
        )
    others = {"native_id": source.id_field, "title": source.title_field, "url": source.url_field}
    first = 1
    for batch in file.iter_batches(batch_size=BATCH_RECORDS):
        n = batch.num_rows
        columns = [text.alias("text"), reason.alias("reason"), detail.alias("detail")]
        columns += [_parquet_text(f, schema, True)[0].alias(k) for k, f in others.items()]
        frame = pl.from_arrow(batch).select(columns).with_columns(line=pl.int_range(first, first + n, dtype=pl.Int64))
        first += n
        yield frame.select(list(RAW_SCHEMA))


def count_parquet(path: Path, source: Source, span: Span | None = None) -> int:
    return pq.ParquetFile(path).metadata.num_rows


FORMAT = Format(read_parquet, count_parquet)
