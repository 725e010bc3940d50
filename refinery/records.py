"""Record schemas shared by every stage (what an ingested row and a removed row look like), and how staged rows
are read and written.

Refined rows are ingested rows plus the signal columns added by cleaning. Removed rows account for every input
record that is not refined, so that refined + removed = records read, exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

INGESTED_SCHEMA: dict[str, pl.DataType] = {
    "doc_id": pl.String(),
    "text": pl.String(),
    "source": pl.String(),
    "source_id": pl.String(),
    "source_uri": pl.String(),
    "line": pl.Int64(),
    "title": pl.String(),
    "url": pl.String(),
}

REMOVED_SCHEMA: dict[str, pl.DataType] = {
    "doc_id": pl.String(),
    "source": pl.String(),
    "source_id": pl.String(),
    "source_uri": pl.String(),
    "line": pl.Int64(),
    "stage": pl.String(),  # ingest | dedup | clean
    "reason": pl.String(),  # e.g. unparseable, exact_duplicate, near_duplicate, min_words
    "detail": pl.String(),
    "value": pl.Float64(),  # the signal value that tripped a filter
    "duplicate_of": pl.String(),  # kept doc_id, for duplicates
    "similarity": pl.Float64(),
    "lang": pl.String(),  # the language detected, for rows removed by cleaning (after language ID)
    "lang_score": pl.Float64(),
}


COLUMN_DOCS: dict[str, str] = {
    "doc_id": "the record's id: md5 of source, kind and native id (or text); unique in a version",
    "text": "the document's text: repaired, normalized, PII redacted (refined); as read (ingested)",
    "source": "the recipe source it was read from",
    "source_id": "its native id in the ore (null when it had none)",
    "source_uri": "the ore file (or object) it was read from, relative to the recipe",
    "line": "where in that file: the line (JSONL, text), the record (CSV, Parquet, 1-based)",
    "title": "the page's title (HTML), else null",
    "url": "the page's canonical URL (HTML), else null",
    "stage": "the stage that removed it: ingest, dedup or clean",
    "reason": "why: the quarantine reason, exact_duplicate, near_duplicate, or the filter that rejected it",
    "detail": "what was wrong, in words (quarantine)",
    "value": "the signal's value that tripped the filter",
    "duplicate_of": "the doc_id of the record kept in its place",
    "similarity": "Jaccard similarity of the shingle sets to the record kept (near duplicates)",
    "lang": "language identified by fastText lid.176 (null: none)",
    "lang_score": "lid.176's probability for that language",
    "n_words": "signal: words (whitespace-separated tokens)",
    "mean_word_length": "signal: mean characters per word",
    "symbol_word_ratio": "signal: # and ellipses per word",
    "bullet_lines": "signal: share of lines that start with a bullet and do not end a sentence",
    "ellipsis_lines": "signal: share of lines that end in an ellipsis",
    "punctuated_lines": "signal: share of lines that end in punctuation",
    "sentence_ends": "signal: sentence ends (a letter, then . ! ? …) in prose lines, per word outside code and tables",
    "alpha_words": "signal: share of words with a letter, outside code and data tables",
    "stop_words": "signal: English stop words (the, be, to, of, and, that, have, with)",
    "duplicate_lines": "signal: share of prose lines (5+ words, not table rows or code) that repeat an earlier one",
    "duplicate_paragraphs": "signal: share of paragraphs that repeat an earlier one",
    "top_2gram": "signal: share of 2-grams taken by the most frequent one",
    "duplicate_5grams": "signal: share of the prose lines' 5-grams that repeat an earlier one",
    "javascript_lines": "signal: share of lines that mention javascript",
    "stripped_headers": "lines of e-mail or Usenet headers cleaning removed (clean.structure.headers)",
    "stripped_lines": "boilerplate lines cleaning removed: cookie, policy, newsletter lines... (clean.lines)",
    "license": "the licence of the record's source, as the recipe declares it (null: none declared)",
    "split": "the record's split (recipe splits): from its doc_id and the seed, the same in every version",
    "n_tokens": "tokens of the text with the version's tokenizer (publish.tokens; tokenizer.json in the version)",
    "stripped_quotes": "lines quoting an earlier message cleaning removed (clean.structure.quotes)",
    "stripped_signature": "lines of signature cleaning removed (clean.structure.signature)",
    "pii_email": "e-mail addresses redacted",
    "pii_phone": "phone numbers redacted",
    "pii_ip": "IP addresses redacted",
    "pii_card": "payment card numbers redacted",
    "pii_national_id": "national id numbers redacted",
}
"""What each column of a staged or published file means: shown in the UI's column schema and in data cards."""


def removed_frame(lf: pl.LazyFrame, **columns: pl.Expr) -> pl.LazyFrame:
    """Project `lf` onto the removed schema: `columns` override, columns of `lf` pass through, the rest are null."""
    present = set(lf.collect_schema().names())
    return lf.select(
        columns.get(name, pl.col(name) if name in present else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in REMOVED_SCHEMA.items()
    )


# rows per row group of the staged files. Small: Polars' streaming reader prefetches row groups, and reading a
# 1M-row file of ~1 KB texts peaked at 753 MB with 50k-row groups, 444 MB with 10k-row groups
ROW_GROUP_ROWS = 10_000


def parquet_batches(path: Path, rows: int, columns: list[str] | None = None) -> Iterator[pl.DataFrame]:
    """A Parquet file about `rows` rows at a time, in order, by Polars' streaming reader: memory stays at a few
    batches whatever the file's size (pyarrow's `iter_batches` leaves its allocator holding memory that grows
    with the file: 491 MB after 1M rows, 1,277 MB after 3M)."""
    scan = pl.scan_parquet(path)
    yield from (scan.select(columns) if columns else scan).collect_batches(chunk_size=rows)


def join_parts(parts: list[Path], path: Path, schema: dict[str, pl.DataType]) -> None:
    """The parts' rows, in order, as one file; streamed a batch at a time."""
    with RowGroupWriter(path, schema) as out:
        for part in parts:
            for batch in parquet_batches(part, ROW_GROUP_ROWS):
                out.write(batch)


class RowGroupWriter:
    """Appends batches to one Parquet file in row groups of `ROW_GROUP_ROWS` rows, so its bytes depend on the rows
    alone, not on how they were sharded; writes an empty file with the schema when no batch came."""

    def __init__(self, path: Path, schema: dict[str, pl.DataType]):
        self.path, self.schema, self._writer = path, schema, None
        self._pending: list[pl.DataFrame] = []

    def __enter__(self) -> RowGroupWriter:
        return self

    def write(self, frame: pl.DataFrame) -> None:
        self._pending.append(frame)
        while sum(f.height for f in self._pending) >= ROW_GROUP_ROWS:
            rows = pl.concat(self._pending)
            self._write_group(rows.head(ROW_GROUP_ROWS))
            self._pending = [rows.slice(ROW_GROUP_ROWS)]

    def _write_group(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        table = frame.to_arrow()
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self._writer.write_table(table)

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is not None:  # the rows stopped coming: a valid file of some of them would hide the loss
            if self._writer is not None:
                self._writer.close()
            self.path.unlink(missing_ok=True)
            return
        if self._pending:
            self._write_group(pl.concat(self._pending))
        if self._writer is not None:
            self._writer.close()
        else:
            pl.DataFrame(schema=self.schema).write_parquet(self.path)
