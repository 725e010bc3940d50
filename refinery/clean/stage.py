"""The cleaning stage over Parquet, a batch at a time."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from refinery.clean.config import Clean, Decontaminate, Quality
from refinery.clean.decontaminate import all_texts, reference
from refinery.clean.lines import common_lines
from refinery.clean.quality import Model, labelled_texts, ore_sample, threshold, train
from refinery.clean.steps import Corpus, Tally, clean_batch, internal, run_steps
from refinery.hashing import sha256_file
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
    quality: dict | None = None  # the quality model (path, sha256, what it learned from), cut and score deciles


def _clean_shard(config: Clean, ngram: int, cut: float | None, where: Where, shard: tuple[int, int, int]) -> Tally:
    """Shard `number`, rows [start, start + length), on a worker (ftfy and the per-document Python steps hold the
    GIL): read from the records, run through the steps, and written as this shard's kept and removed parts."""
    number, start, length = shard
    corpus = _corpus(_named(where.inputs), ngram, cut)  # what the passes over the whole input found
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


def _corpus(found: dict[str, Path], ngram: int, cut: float | None) -> Corpus:
    """What the passes over the whole input found, from the files they wrote."""
    frames = {name: pl.read_parquet(found[name]) for name in ("common_lines", "reference_ngrams") if name in found}
    model = Model.load(found["quality_model"]) if "quality_model" in found else None
    return Corpus(frames.get("common_lines"), frames.get("reference_ngrams"), ngram, model, cut)


def _quality_model(records: Path, config: Clean, corpus: Corpus, how: Quality, files: dict[str, list[Path]]) -> tuple:
    """The quality model (trained on the reference and the texts people kept against ore the other steps kept
    and the texts people dropped, or read from the recipe's file), its cut (`min_score`, or the score above which
    `keep_top` of held-out ore lies) and what it learned from. The ore samples are cleaned first: the model
    scores documents as the steps leave them."""
    needed = how.model is None or how.keep_top is not None  # ore to train on, or to set keep_top's cut on
    sample, held_out = ore_sample(records, how.sample, how.seed) if needed else (None, None)
    if how.model:
        model, learned = Model.load(files["model"][0]), {"model": str(files["model"][0])}
    else:
        reference = all_texts(files["reference"], how.field).to_list()
        kept, dropped = labelled_texts(files["labelled"], how.field, how.label_field)
        ore = _passed(clean_batch(sample, config, corpus))
        model = train([*reference, *kept], [*ore, *dropped], how.seed)
        learned = {"reference": len(reference), "labelled": {"keep": len(kept), "drop": len(dropped)}, "ore": len(ore)}
    cut = (
        how.min_score
        if how.keep_top is None
        else threshold(model, _passed(clean_batch(held_out, config, corpus)), how.keep_top)
    )
    return model, cut, learned


def clean(
    records: Path,
    out_dir: Path,
    config: Clean,
    engine: Engine | None = None,
    decontaminate: tuple[Decontaminate, dict[str, list[Path]]] | None = None,
    quality: tuple[Quality, dict[str, list[Path]]] | None = None,
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
    ngram = decontaminate[0].ngram if decontaminate else Corpus.ngram
    corpus, learned = _corpus(_named(inputs), ngram, None), None
    if quality:  # the quality model, trained on a sample of the ore as the steps before it leave it
        model, cut, learned = _quality_model(records, config, corpus, *quality)
        inputs.append(out_dir / "quality_model.parquet")
        model.save(inputs[-1])
        corpus = replace(corpus, quality=model, quality_cut=cut)
    step = partial(_clean_shard, config, ngram, corpus.quality_cut)
    stats = run_sharded(step, shards, engine, inputs=inputs, parts=parts, processes=True, resumable=True)
    cleaned_path, removed_path = out_dir / "cleaned.parquet", out_dir / "removed.parquet"
    empty = clean_batch(pl.scan_parquet(records).head(0).collect(), config, corpus)  # the schema, no rows
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
        learned and scored(cleaned_path, removed_path, inputs[-1], corpus.quality_cut, learned),
    )


def _passed(frame: pl.DataFrame) -> list[str]:
    return frame.filter(pl.col("reason").is_null()).get_column("text").to_list()


def _named(inputs: list) -> dict[str, Path]:
    """The files the passes over the whole input wrote (after the records), by name."""
    return {Path(p).stem: Path(p) for p in inputs[1:]}


def scored(cleaned: Path, removed: Path, model: Path, cut: float | None, learned: dict) -> dict:
    """The quality model (its file and sha256, what it learned from), the cut, and the scores of the documents
    that reached it by decile (range, documents, the median document of each)."""
    scores = (
        pl.concat(
            [
                pl.scan_parquet(cleaned).select("doc_id", score="quality_score"),
                pl.scan_parquet(removed).filter(pl.col("reason") == "quality").select("doc_id", score="value"),
            ]
        )
        .sort("score", "doc_id")
        .with_columns(decile=(pl.int_range(pl.len()) * 10 // pl.len() + 1).cast(pl.Int64))
    )
    deciles = (
        scores.group_by("decile")
        .agg(
            documents=pl.len(),
            low=pl.col("score").min(),
            high=pl.col("score").max(),
            example=pl.col("doc_id").get(pl.len() // 2),
        )
        .sort("decile")
        .collect()
    )
    return {
        "model": str(model),
        "model_sha256": sha256_file(model),
        "learned_from": learned,
        "cut": cut,
        "deciles": deciles.to_dicts(),
    }
