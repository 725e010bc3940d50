"""JSON Lines: a record per line, numbered by its line in the file; large local files split into line-aligned
byte ranges. Counted apart: lines with content, no JSON parsed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from refinery.ingest.encoding import open_text, undecodable
from refinery.ingest.formats.base import BATCH_RECORDS, RAW_SCHEMA, Format, json_path
from refinery.ingest.ranges import Span, open_span

if TYPE_CHECKING:  # the registry is what the recipe's source model reads: no import back
    from refinery.ingest.config import Source

_LINES = {"raw": pl.String, "line": pl.Int64}


JSON_SPACE = " \t\r\n"  # a line of nothing else is blank, no record (RFC 8259's whitespace: not \x1c or U+00A0)
NOT_STRING = r"(?s)^(-?[0-9][0-9.eE+-]*|true|false|\[.*\]|\{.*\})$"  # what a non-string JSON value prints as


def _jsonl_record(raw: str | None, field: str, coerce: bool) -> tuple[str | None, str | None, str | None]:
    """(text, reason, detail) of one line, by a full parse: only for the few lines the vectorized path cannot
    settle (no text found, or a value that may not be a string)."""
    if raw is None:
        return None, "bad_encoding", "line does not decode"
    try:
        obj = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        return None, "too_deep", "JSON nested too deeply to parse"
    except ValueError as err:
        reason = "invalid_number" if "not JSON" in str(err) else "unparseable"
        where = f" (column {err.colno})" if isinstance(err, json.JSONDecodeError) else ""
        return None, reason, f"invalid JSON: {getattr(err, 'msg', err)}{where}: {raw.rstrip()[:120]!r}"
    if not isinstance(obj, dict):
        return None, "unparseable", f"expected a JSON object, got {type(obj).__name__}"
    value = obj.get(field)
    if value is None:
        return None, "missing_text", f"field {field!r} is missing or null"
    if not isinstance(value, str):
        if coerce:
            return json.dumps(value, ensure_ascii=False), None, None
        return None, "not_text", f"field {field!r} is a {type(value).__name__}, not text (see `coerce_text`)"
    if undecodable(value):
        return None, "bad_encoding", f"field {field!r} holds a lone surrogate"
    return value, None, None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def read_jsonl(path: Path, source: Source, span: Span | None = None) -> Iterator[pl.DataFrame]:
    """The file's records, or those of a byte range of it (`span`), numbered by their line in the file."""
    text_field = source.html_field or source.text_field
    fields = {"text": text_field, "native_id": source.id_field, "title": source.title_field, "url": source.url_field}
    with open_text(path, source.encoding) if span is None else open_span(path, source.encoding, span) as fh:
        first = span.first_line if span else 1
        while lines := list(islice(fh, BATCH_RECORDS)):
            raw = [None if undecodable(line) else line for line in lines]
            frame = pl.DataFrame({"raw": raw, "line": range(first, first + len(lines))}, schema=_LINES)
            first += len(lines)
            frame = frame.filter(pl.col("raw").is_null() | (pl.col("raw").str.strip_chars(JSON_SPACE) != ""))
            frame = frame.with_columns(
                (pl.col("raw").str.json_path_match(json_path(f)) if f else pl.lit(None, pl.String)).alias(k)
                for k, f in fields.items()
            )
            unsure = frame.filter(pl.col("text").is_null() | pl.col("text").str.contains(NOT_STRING))
            settled = [_jsonl_record(r, text_field, source.coerce_text) for r in unsure.get_column("raw")]
            settled_frame = pl.DataFrame(
                {
                    "line": unsure.get_column("line"),
                    "_text": [t for t, _, _ in settled],
                    "reason": [r for _, r, _ in settled],
                    "detail": [d for _, _, d in settled],
                },
                schema={"line": pl.Int64, "_text": pl.String, "reason": pl.String, "detail": pl.String},
            )
            frame = frame.join(settled_frame, on="line", how="left", maintain_order="left")
            frame = frame.with_columns(
                text=pl.when(pl.col("line").is_in(unsure.get_column("line").implode()))
                .then(pl.col("_text"))
                .otherwise(pl.col("text"))
            )
            yield frame.select(list(RAW_SCHEMA))


def count_jsonl(path: Path, source: Source, span: Span | None) -> int:
    """Lines with content (of the range): a line of JSON whitespace alone is no record (nor for the reader)."""
    with open_span(path, source.encoding, span) if span else open_text(path, source.encoding) as fh:
        return sum(1 for line in fh if line.strip(" \t\r\n"))


FORMAT = Format(read_jsonl, count_jsonl, ranges=True)
