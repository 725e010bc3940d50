"""The cleaning stage over Parquet, a batch at a time."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from refinery.clean.config import Clean, Decontaminate
from refinery.clean.decontaminate import reference
from refinery.clean.lines import common_lines
from refinery.clean.steps import Corpus, Tally, clean_batch, internal, run_steps
from refinery.records import REMOVED_SCHEMA, join_parts, removed_frame
from refinery.runtime.engine import Engine
from refinery.runtime.exchange import output
from refinery.runtime.shards import Where, run_sharded

EXAMPLES = 3
REVIEW_LINES = 20  # stripped lines shown in the asset's metadata


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
    lines_stripped: dict[str, int] = field(default_factory=dict)  # per line rule
    line_examples: list[dict] = field(default_factory=list)  # stripped lines, with their documents
    contaminated: dict[str, int] = field(default_factory=dict)  # documents removed per evaluation set


def _clean_shard(config: Clean, ngram: int, where: Where, shard: tuple[int, int, int]) -> Tally:
    """Shard `number`, rows [start, start + length), on a worker (ftfy and the per-document Python steps hold the
    GIL): read from the records, run through the steps, and written as this shard's kept and removed parts."""
    number, start, length = shard
    found = {Path(p).stem: pl.read_parquet(p) for p in where.inputs[1:]}  # what the whole-input passes found
    corpus = Corpus(common_lines=found.get("common_lines"), reference=found.get("reference_ngrams"), ngram=ngram)
    frame = pl.scan_parquet(where.inputs[0]).slice(start, length).collect()
    batch = run_steps(frame, config, REVIEW_LINES, corpus)
    contaminated = pl.format("contaminated: {} {}-gram '{}'", "_contaminated_set", pl.lit(ngram), "_contaminated_ngram")
    bad = removed_frame(
        batch.removed.lazy(),
        stage=pl.lit("clean"),
        detail=pl.when(pl.col("reason") == "contaminated")
        .then(contaminated)
        .otherwise(pl.format("{}: {} = {}", pl.col("reason"), pl.col("signal"), pl.col("value").round(4))),
    ).collect()
    for part, name in ((batch.kept, "cleaned"), (bad, "removed")):
        with output(where.part(f"{name}-{number:06d}.parquet")) as path:
            part.write_parquet(path)
    return batch.tally


def clean(
    records: Path,
    out_dir: Path,
    config: Clean,
    engine: Engine | None = None,
    decontaminate: tuple[Decontaminate, dict[str, list[Path]]] | None = None,
) -> CleanResult:
    """Write `cleaned.parquet` (refined rows with signal columns) and `removed.parquet` (rejected rows). Each
    shard of `clean_rows` rows (`Sizes`) is read, cleaned and written by the engine's processes or tasks; their
    parts are joined in order, so the output does not depend on the engine, and no row travels back to this
    process. A cleaning killed midway resumes from the shards it finished (`run_sharded`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = out_dir / "parts"
    rows = pq.ParquetFile(records).metadata.num_rows
    engine = engine or Engine()
    batch = engine.sizes.clean_rows
    shards = [(number, start, batch) for number, start in enumerate(range(0, rows, batch))]
    inputs = [records]
    if config.lines.common_lines:  # one pass over the whole input first: the lines common across each source
        inputs.append(out_dir / "common_lines.parquet")
        common_lines(pl.scan_parquet(records)).write_parquet(inputs[-1])
    if decontaminate:  # the evaluation sets' n-grams, hashed once (`decontaminate`: the recipe's, and its files)
        how, sets = decontaminate
        inputs.append(out_dir / "reference_ngrams.parquet")
        reference(sets, how.field, how.ngram).write_parquet(inputs[-1])
    step = partial(_clean_shard, config, decontaminate[0].ngram if decontaminate else Corpus.ngram)
    stats = run_sharded(step, shards, engine, inputs=inputs, parts=parts, processes=True, resumable=True)
    cleaned_path, removed_path = out_dir / "cleaned.parquet", out_dir / "removed.parquet"
    empty = clean_batch(pl.scan_parquet(records).head(0).collect(), config)  # the schema, no rows
    join_parts(sorted(parts.glob("cleaned-*.parquet")), cleaned_path, dict(empty.drop(internal(empty)).schema))
    join_parts(sorted(parts.glob("removed-*.parquet")), removed_path, REMOVED_SCHEMA)
    shutil.rmtree(parts)
    total = sum(stats, Tally())
    return CleanResult(
        cleaned_path,
        removed_path,
        total.rows_in,
        total.kept,
        dict(total.rejected),
        dict(total.pii),  # zero counts stay: every kind asked for is reported
        total.changed,
        total.examples[:EXAMPLES],
        dict(total.lines),
        total.line_examples[:REVIEW_LINES],
        dict(total.contaminated),
    )
