"""One reader per ore format. Each yields batches of raw records (text, native id, line, title, url, and the
reason a record cannot be used); one shared step turns a batch into ingested rows and quarantine rows.

Files are read a batch at a time (`BATCH_RECORDS`), so memory is bounded by the batch, not by the corpus.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from pyarrow.lib import ArrowException

from refinery.errors import IngestError
from refinery.hashing import sha256_file, stable_id
from refinery.identity import key_id, usable_id
from refinery.ingest.config import Source
from refinery.ingest.count import count_records
from refinery.ingest.encoding import BROKEN, encoding_problem, open_text, undecodable
from refinery.ingest.html import Page, extract_page
from refinery.ingest.ranges import Span, open_span, spans
from refinery.records import INGESTED_SCHEMA, REMOVED_SCHEMA, RowGroupWriter, join_parts, removed_frame
from refinery.runtime.engine import Engine
from refinery.runtime.exchange import output
from refinery.runtime.shards import Where, run_sharded
from refinery.storage import Ore, is_uri, local_copy, size

BATCH_RECORDS = 50_000
csv.field_size_limit(1 << 30)
Shard = tuple[Ore, Span | None]  # a file, or a byte range of one

RAW_SCHEMA: dict[str, pl.DataType] = {
    "text": pl.String(),
    "native_id": pl.String(),
    "line": pl.Int64(),
    "title": pl.String(),
    "url": pl.String(),
    "reason": pl.String(),  # null for a usable record
    "detail": pl.String(),
}


@dataclass
class IngestResult:
    records: Path
    quarantine: Path
    rows: int
    quarantined: int
    files: list[Ore]
    counted: int  # records in the ore, counted by another parser than the readers (accounting)
    ore: list[dict]  # every file read: path, bytes and sha256 of the bytes read


def _raw(**columns: list) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    return pl.DataFrame({name: columns.get(name, [None] * n) for name in RAW_SCHEMA}, schema=RAW_SCHEMA, strict=False)


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


def _json_path(field: str) -> str:
    return "$['" + field.replace("\\", "\\\\").replace("'", "\\'") + "']"


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
                (pl.col("raw").str.json_path_match(_json_path(f)) if f else pl.lit(None, pl.String)).alias(k)
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


_LINES = {"raw": pl.String, "line": pl.Int64}


def _csv_field(row: list[str], index: dict[str, int], field: str | None) -> str | None:
    return row[index[field]] if field and field in index else None


def _csv_problem(row: list[str], header: list[str], text_field: str, path: Path, source: Source) -> tuple:
    """(reason, detail) of a parsed row, or (None, None) when it is usable."""
    if len(row) != len(header):
        return "unparseable", f"expected {len(header)} fields, found {len(row)}: {','.join(row)[:120]!r}"
    if text_field not in header:
        return "missing_text", f"header has no column {text_field!r} (columns: {header[:20]})"
    if any(undecodable(v) for v in row):
        return "bad_encoding", encoding_problem(path, source.encoding)
    return None, None


def read_csv(path: Path, source: Source) -> Iterator[pl.DataFrame]:
    """The csv module streams records and knows the line each one starts on, which lineage needs."""
    text_field = source.html_field or source.text_field
    with open_text(path, source.encoding, newline="") as fh:
        reader = csv.reader(fh)
        header = next((row for row in reader if row), None)  # blank lines before it are no records either
        if header is None:
            return
        index = {name: i for i, name in reversed(list(enumerate(header)))}  # a repeated name: the first one
        wanted = {
            "text": text_field,
            "native_id": source.id_field,
            "title": source.title_field,
            "url": source.url_field,
        }
        cols: dict[str, list] = {k: [] for k in [*wanted, "line", "reason", "detail"]}
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
                if not row:  # a blank line is no record; a row of empty fields is
                    start = reader.line_num + 1
                    continue
                reason, detail = _csv_problem(row, header, text_field, path, source)
            except csv.Error as err:
                row, reason, detail = [], "unparseable", f"malformed CSV: {err}"
            except StopIteration:
                break
            for key, field in wanted.items():
                cols[key].append(_csv_field(row, index, field) if reason is None else None)
            cols["line"].append(start)
            cols["reason"].append(reason)
            cols["detail"].append(detail)
            start = reader.line_num + 1
            if len(cols["line"]) >= BATCH_RECORDS:
                yield _raw(**cols)
                cols = {k: [] for k in cols}
        if cols["line"]:
            yield _raw(**cols)


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
        return pl.struct(col).struct.json_encode().str.json_path_match(_json_path(name)), None
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


def read_document(path: Path, source: Source) -> Iterator[pl.DataFrame]:
    """`text` and `html` ore: one file is one document."""
    with open_text(path, source.encoding, newline="") as fh:
        text = fh.read()
    reason = detail = None
    if undecodable(text):
        text, reason, detail = None, "bad_encoding", encoding_problem(path, source.encoding)
    yield _raw(text=[text], line=[None], reason=[reason], detail=[detail])


READERS: dict[str, Callable[[Path, Source], Iterator[pl.DataFrame]]] = {
    "jsonl": read_jsonl,
    "csv": read_csv,
    "parquet": read_parquet,
    "text": read_document,
    "html": read_document,
}


def _read_file(path: Path, source: Source, span: Span | None) -> Iterator[pl.DataFrame]:
    """The file's batches (or its range's); a file that cannot be read at all becomes one quarantine row naming it
    and the error, and the run goes on. (A file that fails half-way keeps the rows read before; accounting then
    reports the gap.)"""
    try:
        if span is not None:
            yield from read_jsonl(path, source, span)
        else:
            yield from READERS[source.format](path, source)
    except (OSError, ValueError, csv.Error, pl.exceptions.PolarsError, ArrowException, *BROKEN) as err:
        yield _unreadable(err)


def _unreadable(err: Exception) -> pl.DataFrame:
    message = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
    return _raw(text=[None], line=[None], reason=["unreadable_file"], detail=[f"{type(err).__name__}: {message}"])


def _page(html: str) -> Page | Exception:
    try:
        return extract_page(html)
    except (ValueError, TypeError, LookupError, RecursionError) as err:  # lxml and trafilatura on hostile markup
        return err


def _unusable(page: Page | Exception | None) -> tuple[str, str] | None:
    """(reason, detail) of a page that gives no text, None for one that does (or had no HTML to extract)."""
    if isinstance(page, Exception):
        message = str(page).splitlines()[0][:200] if str(page) else ""
        return "extraction_failed", f"{type(page).__name__}: {message}"
    if page is not None and page.text is None:
        return "no_content", "no main content found in the HTML"
    return None


def _extract_html(frame: pl.DataFrame) -> pl.DataFrame:
    """Replace HTML in `text` by its main content; pages with none are quarantined as `no_content`, pages on which
    the extractor raised as `extraction_failed` with the error (counted: see `ingest_source`)."""
    pages = [_page(h) if h is not None else None for h in frame.get_column("text")]
    good = [p if isinstance(p, Page) else None for p in pages]
    why = [_unusable(p) for p in pages]
    unusable = pl.col("reason").is_null() & pl.Series([w is not None for w in why])
    return frame.with_columns(
        text=pl.Series([p.text if p else None for p in good], dtype=pl.String),
        title=pl.coalesce(pl.col("title"), pl.Series([p.title if p else None for p in good], dtype=pl.String)),
        url=pl.coalesce(pl.col("url"), pl.Series([p.url if p else None for p in good], dtype=pl.String)),
        reason=pl.when(unusable).then(pl.Series([w and w[0] for w in why], dtype=pl.String)).otherwise("reason"),
        detail=pl.when(unusable).then(pl.Series([w and w[1] for w in why], dtype=pl.String)).otherwise("detail"),
    )


MAX_FAILED_EXTRACTIONS = 0.5  # a larger share of a source's pages raising is a broken extractor, not bad pages


def _check_extraction(source: Source, quarantine: Path, records: int) -> None:
    """Refuse a source on most of whose pages the extractor raised: an API change of the library would otherwise
    quarantine every page with accounting green."""
    raised = pl.col("reason") == "extraction_failed"
    failed, quarantined, example = (
        pl.scan_parquet(quarantine)
        .select(raised.sum(), pl.len(), pl.col("detail").filter(raised).first())
        .collect()
        .row(0)
    )
    pages = records + quarantined
    if failed >= 10 and failed > MAX_FAILED_EXTRACTIONS * pages:
        raise IngestError(
            f"source {source.name!r}: HTML extraction raised on {failed} of {pages} pages (e.g. {example}): "
            "is the installed trafilatura one pyproject.toml allows?"
        )


def _split(raw: pl.DataFrame, source: Source, uri: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Ingested rows and quarantine rows of one raw batch."""
    frame = raw.with_columns(
        source=pl.lit(source.name),
        source_uri=pl.lit(uri),
        source_id=pl.coalesce(
            usable_id(pl.col("native_id")),
            pl.lit(uri)
            + pl.when(pl.col("line").is_not_null()).then(":" + pl.col("line").cast(pl.String)).otherwise(pl.lit("")),
        ),
    )
    frame = frame.with_columns(
        reason=pl.when(pl.col("reason").is_null() & (pl.col("text").str.strip_chars() == ""))
        .then(pl.lit("empty_text"))
        .otherwise("reason"),
        detail=pl.when(pl.col("reason").is_null() & (pl.col("text").str.strip_chars() == ""))
        .then(pl.lit("text is empty"))
        .otherwise("detail"),
    )
    good = frame.filter(pl.col("reason").is_null())
    bad = frame.filter(pl.col("reason").is_not_null())
    good = good.with_columns(doc_id=key_id(good))  # base ids: made unique over the run by `identify`
    bad = bad.with_columns(stable_id(bad, ["source", "source_uri", "line", "detail"]))  # not a document: where
    return good.select(list(INGESTED_SCHEMA)), removed_frame(bad.lazy(), stage=pl.lit("ingest")).collect()


def relative_uri(path: Ore, base: Path) -> str:
    """Ore paths relative to the recipe's folder, so ids and content hashes do not depend on the checkout;
    objects by their URI."""
    if is_uri(path):
        return str(path)
    return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()


@dataclass(frozen=True)
class _ShardCounts:
    rows: int
    quarantined: int
    counted: int  # records in the ore the shard read, counted without its reader (accounting)
    ore: dict | None  # the whole file read: its size and sha256, for the manifest


def _ingest_shard(source: Source, base_dir: Path, where: Where, item: tuple[int, Shard]) -> _ShardCounts:
    """One file or byte range, on a worker: its records and quarantine rows to parts of their own, the records it
    holds counted by another parser, and (a whole file) its size and sha256: an object is fetched once, to a copy
    on this node, for all three. A file or object that cannot be fetched is one quarantined record."""
    number, (path, span) = item
    uri = relative_uri(path, base_dir)
    rows = quarantined = 0
    with ExitStack() as stack:
        try:
            local: Path | None = stack.enter_context(local_copy(path))
            batches = _read_file(local, source, span)
        except OSError as err:
            local, batches = None, iter([_unreadable(err)])
        with (
            output(where.part(f"records-{number:06d}.parquet")) as good_part,
            output(where.part(f"quarantine-{number:06d}.parquet")) as bad_part,
            RowGroupWriter(good_part, INGESTED_SCHEMA) as good_out,
            RowGroupWriter(bad_part, REMOVED_SCHEMA) as bad_out,
        ):
            for raw in batches:
                if source.format == "html" or source.html_field:
                    raw = _extract_html(raw)
                good, bad = _split(raw, source, uri)
                good_out.write(good)
                bad_out.write(bad)
                rows += good.height
                quarantined += bad.height
        counted = count_records(local, source, span) if local else 1
        whole = local is not None and span is None and local.exists()
        ore = _ore_entry(local, uri) if whole else None
    return _ShardCounts(rows, quarantined, counted, ore)


def _ore_entry(local: Path, uri: str) -> dict | None:
    """The file's size and sha256 for the manifest; None for a file that cannot be read (quarantined as
    `unreadable_file`: no bytes of it were refined)."""
    try:
        return {"path": uri, "bytes": local.stat().st_size, "sha256": sha256_file(local)}
    except OSError:
        return None


def ingest_source(
    source: Source, base_dir: Path, out_dir: Path, files: list[Ore], engine: Engine | None = None
) -> IngestResult:
    """Read `files` of `source` (`refinery.recipe.places` finds them) into `out_dir/records.parquet`; unusable
    records go to `quarantine.parquet`. Ore is named relative to `base_dir`. Each file, or byte range of a large
    JSONL file, is a shard: the engine reads them in parallel, and their parts are joined in order, so the output
    does not depend on it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    engine = engine or Engine()
    shards = _shards(source, files, engine.sizes.range_bytes) if engine.workers > 1 else [(p, None) for p in files]
    small = len(shards) < 2 or sum(map(size, files)) < engine.sizes.sharded_bytes
    parts = out_dir / "parts"
    read = partial(_ingest_shard, source, base_dir)
    local = not any(map(is_uri, files))  # objects may change under the same name: never resumed
    counts = run_sharded(
        read, list(enumerate(shards)), engine, reads=files, parts=parts, processes=True, small=small, resumable=local
    )
    records_path, quarantine_path = out_dir / "records.parquet", out_dir / "quarantine.parquet"
    join_parts(sorted(parts.glob("records-*.parquet")), records_path, INGESTED_SCHEMA)
    join_parts(sorted(parts.glob("quarantine-*.parquet")), quarantine_path, REMOVED_SCHEMA)
    shutil.rmtree(parts)
    if source.format == "html" or source.html_field:
        _check_extraction(source, quarantine_path, sum(c.rows for c in counts))
    ore = {c.ore["path"]: c.ore for c in counts if c.ore}
    for path in {path for path, span in shards if span}:  # a file read by byte ranges: hashed here (it is local)
        uri = relative_uri(path, base_dir)
        ore[uri] = {"path": uri, "bytes": size(path), "sha256": sha256_file(Path(path))}
    return IngestResult(
        records_path,
        quarantine_path,
        sum(c.rows for c in counts),
        sum(c.quarantined for c in counts),
        files,
        sum(c.counted for c in counts),
        [ore[uri] for uri in dict.fromkeys(relative_uri(path, base_dir) for path in files) if uri in ore],
    )


def _shards(source: Source, files: list[Ore], range_bytes: int) -> list[Shard]:
    """Each file, or each byte range of a large local JSONL file, in order (finding the ranges costs a pass over
    the file, so one worker reads files whole: the output is the same)."""
    shards: list[Shard] = []
    for path in files:
        jsonl = source.format == "jsonl" and not is_uri(path)
        ranges = spans(path, source.encoding, range_bytes) if jsonl else None
        shards += [(path, span) for span in ranges] if ranges else [(path, None)]
    return shards
