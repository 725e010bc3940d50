"""One reader per ore format. Each yields batches of raw records (text, native id, line, title, url, and the
reason a record cannot be used); one shared step turns a batch into ingested rows and quarantine rows.

Files are read a batch at a time (`BATCH_RECORDS`), so memory is bounded by the batch, not by the corpus.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from refinery.errors import IngestError
from refinery.hashing import stable_id
from refinery.ingest.html import extract_page
from refinery.recipe import Source
from refinery.records import INGESTED_SCHEMA, REMOVED_SCHEMA, removed_frame

BATCH_RECORDS = 50_000
csv.field_size_limit(1 << 30)

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
    files: list[Path]


def _raw(**columns: list) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    return pl.DataFrame({name: columns.get(name, [None] * n) for name in RAW_SCHEMA}, schema=RAW_SCHEMA, strict=False)


def _decode(raw: list[bytes]) -> list[str | None]:
    """UTF-8 decode of each line; None where a line is not valid UTF-8."""
    out: list[str | None] = []
    for line in raw:
        try:
            out.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(None)
    return out


def _jsonl_problem(raw: str | None, field: str) -> tuple[str, str]:
    """Why a line gave no text; called only for the (rare) lines that failed the vectorized parse."""
    if raw is None:
        return "bad_encoding", "line is not valid UTF-8"
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as err:
        return "unparseable", f"invalid JSON: {err.msg} (column {err.colno}): {raw.rstrip()[:120]!r}"
    if not isinstance(obj, dict):
        return "unparseable", f"expected a JSON object, got {type(obj).__name__}"
    return "missing_text", f"field {field!r} is missing or null"


def read_jsonl(path: Path, source: Source) -> Iterator[pl.DataFrame]:
    text_field = source.html_field or source.text_field
    fields = {"text": text_field, "native_id": source.id_field, "title": source.title_field, "url": source.url_field}
    with open(path, "rb") as fh:
        first = 1
        while raw := list(islice(fh, BATCH_RECORDS)):
            frame = pl.DataFrame({"raw": _decode(raw), "line": range(first, first + len(raw))})
            first += len(raw)
            frame = frame.filter(pl.col("raw").is_null() | (pl.col("raw").str.strip_chars() != ""))
            frame = frame.with_columns(
                (pl.col("raw").str.json_path_match("$['" + f + "']") if f else pl.lit(None, pl.String)).alias(k)
                for k, f in fields.items()
            )
            failed = frame.filter(pl.col("text").is_null())
            problems = [_jsonl_problem(r, text_field) for r in failed.get_column("raw")]
            explained = pl.DataFrame(
                {
                    "line": failed.get_column("line"),
                    "reason": [p[0] for p in problems],
                    "detail": [p[1] for p in problems],
                },
                schema={"line": pl.Int64, "reason": pl.String, "detail": pl.String},
            )
            yield frame.join(explained, on="line", how="left").select(list(RAW_SCHEMA))


def read_csv(path: Path, source: Source) -> Iterator[pl.DataFrame]:
    """The csv module streams records and knows the line each one starts on, which lineage needs."""
    text_field = source.html_field or source.text_field
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return
        if text_field not in header:
            raise IngestError(f"{path}:1: header has no column {text_field!r} (columns: {header})")
        index = {name: header.index(name) for name in header}
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
                problem = None if len(row) == len(header) else f"expected {len(header)} fields, found {len(row)}"
            except csv.Error as err:
                row, problem = [], f"malformed CSV: {err}"
            except StopIteration:
                break
            if not row and problem is None:  # a blank line is no record; a row of empty fields is
                start = reader.line_num + 1
                continue
            for key, field in wanted.items():
                cols[key].append(row[index[field]] if problem is None and field else None)
            cols["line"].append(start)
            cols["reason"].append("unparseable" if problem else None)
            cols["detail"].append(f"{problem}: {','.join(row)[:120]!r}" if problem else None)
            start = reader.line_num + 1
            if len(cols["line"]) >= BATCH_RECORDS:
                yield _raw(**cols)
                cols = {k: [] for k in cols}
        if cols["line"]:
            yield _raw(**cols)


def read_parquet(path: Path, source: Source) -> Iterator[pl.DataFrame]:
    text_field = source.html_field or source.text_field
    file = pq.ParquetFile(path)
    if text_field not in file.schema_arrow.names:
        raise IngestError(f"{path}: no column {text_field!r} (columns: {file.schema_arrow.names})")
    wanted = {"text": text_field, "native_id": source.id_field, "title": source.title_field, "url": source.url_field}
    first = 1
    for batch in file.iter_batches(batch_size=BATCH_RECORDS):
        frame = pl.from_arrow(batch)
        n = frame.height
        frame = frame.select(
            (pl.col(f).cast(pl.String) if f else pl.lit(None, pl.String)).alias(k) for k, f in wanted.items()
        ).with_columns(line=pl.int_range(first, first + n, dtype=pl.Int64))
        first += n
        yield frame.with_columns(
            reason=pl.when(pl.col("text").is_null()).then(pl.lit("missing_text")),
            detail=pl.when(pl.col("text").is_null()).then(pl.lit(f"column {text_field!r} is null")),
        ).select(list(RAW_SCHEMA))


def read_document(path: Path, source: Source) -> Iterator[pl.DataFrame]:
    """`text` and `html` ore: one file is one document."""
    try:
        text = path.read_bytes().decode("utf-8")
        reason = detail = None
    except UnicodeDecodeError as err:
        text, reason, detail = None, "bad_encoding", f"not valid UTF-8: {err}"
    yield _raw(text=[text], line=[None], reason=[reason], detail=[detail])


READERS: dict[str, Callable[[Path, Source], Iterator[pl.DataFrame]]] = {
    "jsonl": read_jsonl,
    "csv": read_csv,
    "parquet": read_parquet,
    "text": read_document,
    "html": read_document,
}


def _extract_html(frame: pl.DataFrame) -> pl.DataFrame:
    """Replace HTML in `text` by its main content; pages with none are quarantined as `no_content`."""
    pages = [extract_page(h) if h is not None else None for h in frame.get_column("text")]
    found = [p is not None and p.text is not None for p in pages]
    return frame.with_columns(
        text=pl.Series([p.text if p else None for p in pages], dtype=pl.String),
        title=pl.coalesce(pl.col("title"), pl.Series([p.title if p else None for p in pages], dtype=pl.String)),
        url=pl.coalesce(pl.col("url"), pl.Series([p.url if p else None for p in pages], dtype=pl.String)),
        reason=pl.when(pl.col("reason").is_null() & ~pl.Series(found)).then(pl.lit("no_content")).otherwise("reason"),
        detail=pl.when(pl.col("reason").is_null() & ~pl.Series(found))
        .then(pl.lit("no main content found in the HTML"))
        .otherwise("detail"),
    )


def _split(raw: pl.DataFrame, source: Source, uri: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Ingested rows and quarantine rows of one raw batch."""
    frame = raw.with_columns(
        source=pl.lit(source.name),
        source_uri=pl.lit(uri),
        source_id=pl.coalesce(
            pl.col("native_id"),
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
    key = "native_id" if source.id_field else "text"  # identity: what the document is, not where it sits
    good = good.with_columns(stable_id(good.with_columns(_key=pl.lit(key)), ["source", "_key", key]))
    bad = bad.with_columns(stable_id(bad, ["source", "source_uri", "line", "detail"]))  # not a document: where
    return good.select(list(INGESTED_SCHEMA)), removed_frame(bad.lazy(), stage=pl.lit("ingest")).collect()


def _disambiguate(records: Path) -> int:
    """Give repeated ids (the same text, or the same native id, twice in a source) their occurrence number:
    the k-th copy (k >= 1, in ore order) gets md5(id#k). Only the repeated ids are held in memory, and the file
    is rewritten only when there are any. Returns the number of ids changed."""
    repeated = (
        pl.scan_parquet(records).group_by("doc_id").len().filter(pl.col("len") > 1).collect().get_column("doc_id")
    )
    if repeated.is_empty():
        return 0
    seen = pl.DataFrame({"doc_id": repeated, "_seen": 0})
    tmp = records.with_suffix(".tmp")
    with _Writer(tmp, INGESTED_SCHEMA) as out:
        for batch in pl.scan_parquet(records).collect_batches(chunk_size=BATCH_RECORDS):
            batch = batch.join(seen, on="doc_id", how="left", maintain_order="left").with_columns(
                _k=pl.col("_seen") + pl.int_range(pl.len()).over("doc_id")
            )
            salted = pl.format("{}#{}", "doc_id", "_k")
            out.write(
                batch.with_columns(
                    doc_id=pl.when(pl.col("_k") > 0)
                    .then(stable_id(batch.select(_s=salted), ["_s"]))
                    .otherwise("doc_id")
                ).select(list(INGESTED_SCHEMA))
            )
            counts = batch.filter(pl.col("_k").is_not_null()).group_by("doc_id").len("_n")
            seen = seen.join(counts, on="doc_id", how="left").select(
                "doc_id", _seen=pl.col("_seen") + pl.col("_n").fill_null(0)
            )
    tmp.replace(records)
    return repeated.len()


def relative_uri(path: Path, base: Path) -> str:
    """Ore paths relative to the recipe's folder, so ids and content hashes do not depend on the checkout."""
    return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()


def ingest_source(source: Source, base_dir: Path, out_dir: Path) -> IngestResult:
    """Read every file of `source` into `out_dir/records.parquet`; unusable records go to `quarantine.parquet`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = source.files(base_dir)
    if not files:
        raise IngestError(f"source {source.name!r}: no files match {source.path!r}")
    records_path, quarantine_path = out_dir / "records.parquet", out_dir / "quarantine.parquet"
    rows = quarantined = 0
    with _Writer(records_path, INGESTED_SCHEMA) as good_out, _Writer(quarantine_path, REMOVED_SCHEMA) as bad_out:
        for path in files:
            uri = relative_uri(path, base_dir)
            for raw in READERS[source.format](path, source):
                if source.format == "html" or source.html_field:
                    raw = _extract_html(raw)
                good, bad = _split(raw, source, uri)
                good_out.write(good)
                bad_out.write(bad)
                rows += good.height
                quarantined += bad.height
    _disambiguate(records_path)
    return IngestResult(records_path, quarantine_path, rows, quarantined, files)


class _Writer:
    """Appends batches to one Parquet file; writes an empty file with the schema when no batch came."""

    def __init__(self, path: Path, schema: dict[str, pl.DataType]):
        self.path, self.schema, self._writer = path, schema, None

    def __enter__(self) -> _Writer:
        return self

    def write(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        table = frame.to_arrow()
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self._writer.write_table(table)

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
        else:
            pl.DataFrame(schema=self.schema).write_parquet(self.path)
