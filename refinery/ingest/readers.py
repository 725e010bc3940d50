"""Ingesting a source: each file (or byte range) is a shard that its format's reader (`formats/`) reads a batch of
raw records at a time (text, native id, line, title, url, and the reason a record cannot be used); one shared
step turns a batch into ingested rows and quarantine rows, and the format's counter counts the same records
without the reader, for accounting."""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from itertools import accumulate
from pathlib import Path

import polars as pl
from pyarrow.lib import ArrowException

from refinery.errors import IngestError
from refinery.hashing import sha256_file, stable_id
from refinery.identity import key_id, usable_id
from refinery.ingest import formats
from refinery.ingest.config import Extraction, Source
from refinery.ingest.count import count_records
from refinery.ingest.encoding import BROKEN
from refinery.ingest.formats.base import raw
from refinery.ingest.formats.jsonl import read_jsonl
from refinery.ingest.html import PAGES_AT_ONCE, Page, extract_pages
from refinery.ingest.ranges import Span, spans
from refinery.records import INGESTED_SCHEMA, REMOVED_SCHEMA, RowGroupWriter, join_parts, removed_frame
from refinery.runtime.engine import Engine
from refinery.runtime.exchange import output
from refinery.runtime.shards import Where, run_sharded
from refinery.runtime.tuning import Sizes
from refinery.storage import Ore, is_uri, local_copy, size

Shard = tuple[tuple[Ore, ...], Span | None]  # files read whole (a group of small ones), or a byte range of one


@dataclass
class IngestResult:
    records: Path
    quarantine: Path
    rows: int
    quarantined: int
    files: list[Ore]
    counted: int  # records in the ore, counted by another parser than the readers (accounting)
    ore: list[dict]  # every file read: path, bytes and sha256 of the bytes read


def _read_file(path: Path, source: Source, span: Span | None) -> Iterator[pl.DataFrame]:
    """The file's batches (or its range's); a file that cannot be read at all becomes one quarantine row naming it
    and the error, and the run goes on. (A file that fails half-way keeps the rows read before; accounting then
    reports the gap.)"""
    try:
        if span is not None:
            yield from read_jsonl(path, source, span)
        else:
            yield from formats.get(source.format).read(path, source)
    except (OSError, ValueError, csv.Error, pl.exceptions.PolarsError, ArrowException, *BROKEN) as err:
        yield _unreadable(err)


def _unreadable(err: Exception) -> pl.DataFrame:
    message = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
    return raw(text=[None], line=[None], reason=["unreadable_file"], detail=[f"{type(err).__name__}: {message}"])


def _unusable(page: Page | Exception | None) -> tuple[str, str] | None:
    """(reason, detail) of a page that gives no text, None for one that does (or had no HTML to extract)."""
    if isinstance(page, Exception):
        message = str(page).splitlines()[0][:200] if str(page) else ""
        return "extraction_failed", f"{type(page).__name__}: {message}"
    if page is not None and page.text is None:
        return "no_content", "no main content found in the HTML"
    return None


def _extract_html(frame: pl.DataFrame, how: Extraction) -> pl.DataFrame:
    """Replace HTML in `text` by its main content; pages with none are quarantined as `no_content`, pages on which
    the extractor raised as `extraction_failed` with the error (counted: see `ingest_source`)."""
    htmls = frame.get_column("text")
    extracted = iter(extract_pages([h for h in htmls if h is not None], how))
    pages = [next(extracted) if h is not None else None for h in htmls]
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


def _extracts_html(source: Source) -> bool:
    return formats.get(source.format).html or source.html_field is not None


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


@dataclass
class _ShardCounts:
    rows: int
    quarantined: int
    counted: int  # records in the ore the shard read, counted without its reader (accounting)
    ore: list[dict]  # the whole files read: their sizes and sha256, for the manifest


def _ingest_shard(source: Source, base_dir: Path, where: Where, item: tuple[int, Shard]) -> _ShardCounts:
    """A group of files or one byte range, on a worker: its records and quarantine rows to parts of their own, the
    records it holds counted by another parser, and (whole files) their sizes and sha256: an object is fetched
    once, to a copy on this node, for all three. A file or object that cannot be fetched is one quarantined
    record. HTML is extracted PAGES_AT_ONCE pages at a time, across the group's files."""
    number, (paths, span) = item
    counts = _ShardCounts(0, 0, 0, [])
    with (
        output(where.part(f"records-{number:06d}.parquet")) as good_part,
        output(where.part(f"quarantine-{number:06d}.parquet")) as bad_part,
        RowGroupWriter(good_part, INGESTED_SCHEMA) as good_out,
        RowGroupWriter(bad_part, REMOVED_SCHEMA) as bad_out,
    ):
        pending: list[tuple[str, pl.DataFrame]] = []  # raw batches waiting for extraction, with their file's URI

        def flush() -> None:
            for uri, raw in _extracted(pending, source):
                good, bad = _split(raw, source, uri)
                good_out.write(good)
                bad_out.write(bad)
                counts.rows += good.height
                counts.quarantined += bad.height
            pending.clear()

        for path in paths:
            uri = relative_uri(path, base_dir)
            with ExitStack() as stack:
                try:
                    local: Path | None = stack.enter_context(local_copy(path))
                    batches = _read_file(local, source, span)
                except OSError as err:
                    local, batches = None, iter([_unreadable(err)])
                for raw in batches:
                    pending.append((uri, raw))
                    if sum(r.height for _, r in pending) >= PAGES_AT_ONCE or not _extracts_html(source):
                        flush()
                counts.counted += count_records(local, source, span) if local else 1
                if local is not None and span is None and local.exists() and (ore := _ore_entry(local, uri)):
                    counts.ore.append(ore)
        flush()
    return counts


def _extracted(pending: list[tuple[str, pl.DataFrame]], source: Source) -> list[tuple[str, pl.DataFrame]]:
    """The batches with their HTML replaced by its main content, extracted in one call (the block classifier
    classifies a batch's blocks at once)."""
    if not pending or not _extracts_html(source):
        return pending
    extracted = _extract_html(pl.concat([raw for _, raw in pending]), source.extraction)
    starts = [0, *accumulate(raw.height for _, raw in pending)]
    return [(uri, extracted.slice(start, raw.height)) for (uri, raw), start in zip(pending, starts, strict=False)]


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
    file_bytes = [_size_or_zero(f) for f in files]  # once: an object's size is a request
    shards = _shards(source, files, file_bytes, engine.sizes, ranges=engine.workers > 1)
    html = _extracts_html(source)
    enough = engine.sizes.extracted_bytes if html else engine.sizes.sharded_bytes
    small = len(shards) < 2 or sum(file_bytes) < enough
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
    if html:
        _check_extraction(source, quarantine_path, sum(c.rows for c in counts))
    ore = {entry["path"]: entry for c in counts for entry in c.ore}
    for path in {paths[0] for paths, span in shards if span}:  # a file read by byte ranges: hashed here (local)
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


def _shards(source: Source, files: list[Ore], file_bytes: list[int], sizes: Sizes, ranges: bool) -> list[Shard]:
    """In order: each file, or each byte range of a large local JSONL file (with `ranges`: finding them costs a pass
    over the file, so one worker reads files whole: the output is the same); small one-document files in groups of
    up to `group_files` files and `extracted_bytes` bytes."""
    form = formats.get(source.format)
    if form.grouped:
        return [(tuple(g), None) for g in _groups(files, file_bytes, sizes.group_files, sizes.extracted_bytes)]
    shards: list[Shard] = []
    for path in files:
        splittable = ranges and form.ranges and not is_uri(path)
        found = spans(path, source.encoding, sizes.range_bytes) if splittable else None
        shards += [((path,), span) for span in found] if found else [((path,), None)]
    return shards


def _size_or_zero(path: Ore) -> int:
    """The file's size; 0 for one that is gone (its shard quarantines it as `unreadable_file`)."""
    try:
        return size(path)
    except OSError:
        return 0


def _groups(files: list[Ore], file_bytes: list[int], most: int, enough: int) -> Iterator[list[Ore]]:
    group: list[Ore] = []
    held = 0
    for path, bytes_ in zip(files, file_bytes, strict=True):
        if group and (len(group) >= most or held + bytes_ > enough):
            yield group
            group, held = [], 0
        group.append(path)
        held += bytes_
    if group:
        yield group
