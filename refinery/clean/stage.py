"""The cleaning stage over Parquet, a batch at a time."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from refinery.clean.filters import add_signals, first_failure
from refinery.clean.langid import detect
from refinery.clean.pii import redact
from refinery.clean.structure import strip_structure
from refinery.clean.text import normalize_text, repair_text
from refinery.engine import Engine
from refinery.recipe import Clean
from refinery.records import parquet_batches, removed_frame

BATCH = 10_000  # rows per cleaning task: small enough to keep every worker busy to the end
EXAMPLES = 3
INTERNAL = ("reason", "signal", "value", "_changed")  # per-batch bookkeeping, not refined columns


@dataclass
class CleanResult:
    cleaned: Path
    removed: Path
    rows_in: int
    rows_kept: int
    rejected_by_filter: dict[str, int]
    pii_counts: dict[str, int]
    changed: int  # documents whose text the cleaning changed
    examples: list[dict] = field(default_factory=list)  # before/after, truncated


def clean_batch(frame: pl.DataFrame, config: Clean) -> pl.DataFrame:
    """Ingested rows in, the same rows out with cleaned text, signals, and `reason`/`value` of a failed filter."""
    original = frame.get_column("text")
    frame = strip_structure(frame, config.structure)
    text = repair_text(frame.get_column("text")) if config.normalize.fix_text else frame.get_column("text")
    frame = frame.with_columns(text=normalize_text(text, config.normalize))
    frame = redact(frame, list(config.pii), dict(config.pii_tokens))
    frame = pl.concat([frame, detect(frame.get_column("text"))], how="horizontal")
    frame = add_signals(frame)
    return frame.with_columns(**first_failure(config.filters), _changed=pl.col("text") != original)


def _cleaned_batches(records: Path, config: Clean, engine: Engine) -> Iterator[tuple[pl.Series, pl.DataFrame]]:
    """(text before, cleaned batch), in order. Batches go to the engine's processes or tasks (ftfy and the
    per-document Python steps hold the GIL); a single batch is cleaned here, where starting workers would cost more."""
    texts: deque[pl.Series] = deque()  # each batch's text before cleaning, until its cleaned batch comes back

    def batches() -> Iterator[pl.DataFrame]:
        for frame in parquet_batches(records, BATCH):
            texts.append(frame.get_column("text"))
            yield frame

    small = pq.ParquetFile(records).metadata.num_rows <= BATCH
    for cleaned in engine.map(partial(clean_batch, config=config), batches(), processes=True, small=small):
        yield texts.popleft(), cleaned


def clean(records: Path, out_dir: Path, config: Clean, engine: Engine | None = None) -> CleanResult:
    """Write `cleaned.parquet` (refined rows with signal columns) and `removed.parquet` (rejected rows); the
    output does not depend on the engine or its workers."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cleaned_path, removed_path = out_dir / "cleaned.parquet", out_dir / "removed.parquet"
    rejected: Counter[str] = Counter()
    pii: Counter[str] = Counter()
    rows_in = kept = changed = 0
    examples: list[dict] = []
    kept_writer = removed_writer = None
    for before, frame in _cleaned_batches(records, config, engine or Engine()):
        rows_in += frame.height
        changed += frame.get_column("_changed").sum()
        rejected.update(frame.get_column("reason").drop_nulls().to_list())
        pii.update(
            {c.removeprefix("pii_"): int(frame.get_column(c).sum()) for c in frame.columns if c.startswith("pii_")}
        )
        if len(examples) < EXAMPLES:
            for i in frame.get_column("_changed").arg_true().head(EXAMPLES - len(examples)):
                examples.append(
                    {"doc_id": frame[i, "doc_id"], "before": before[i][:200], "after": frame[i, "text"][:200]}
                )
        good = frame.filter(pl.col("reason").is_null()).drop(*INTERNAL)
        bad = removed_frame(
            frame.lazy().filter(pl.col("reason").is_not_null()),
            stage=pl.lit("clean"),
            detail=pl.format("{}: {} = {}", pl.col("reason"), pl.col("signal"), pl.col("value").round(4)),
        ).collect()
        kept += good.height
        kept_writer = _append(kept_writer, cleaned_path, good)
        removed_writer = _append(removed_writer, removed_path, bad)
    for writer in (kept_writer, removed_writer):
        if writer is not None:
            writer.close()
    if kept_writer is None:  # no batch at all: still leave a readable (empty) file with the right schema
        empty = clean_batch(pl.read_parquet(records).head(0), config)
        empty.drop(*INTERNAL).write_parquet(cleaned_path)
    if removed_writer is None:
        removed_frame(pl.LazyFrame(schema=pl.read_parquet_schema(records))).collect().write_parquet(removed_path)
    return CleanResult(cleaned_path, removed_path, rows_in, kept, dict(rejected), dict(pii), int(changed), examples)


def _append(writer: pq.ParquetWriter | None, path: Path, frame: pl.DataFrame) -> pq.ParquetWriter:
    table = frame.to_arrow()
    if writer is None:
        writer = pq.ParquetWriter(path, table.schema, compression="zstd")
    writer.write_table(table)
    return writer
