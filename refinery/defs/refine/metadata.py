"""Materialization metadata the Dagster UI shows: row counts, schemas, column lineage, tables as Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import polars as pl

from refinery.publish.datacard import markdown_table
from refinery.records import COLUMN_DOCS, INGESTED_SCHEMA

if TYPE_CHECKING:  # the stages' modules load when their step runs, not when the definitions do
    from refinery.catalog import Version
    from refinery.clean import CleanResult
    from refinery.dedup import DedupResult

SIGNALS = ["n_words", "mean_word_length", "punctuated_lines", "duplicate_5grams", "lang_score"]


def md_table(rows: list[dict]) -> str:
    """Records (dicts with the same keys) as a Markdown table, or "none"."""
    return markdown_table([list(r.values()) for r in rows], list(rows[0])) if rows else "none"


def frame_metadata(path: Path, rows: int | None = None, lineage_from: dg.AssetKey | None = None) -> dict:
    schema = pl.read_parquet_schema(path)
    if rows is None:
        rows = pl.scan_parquet(path).select(pl.len()).collect().item()
    meta = {
        "dagster/row_count": rows,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, str(dtype), COLUMN_DOCS.get(name)) for name, dtype in schema.items()]
        ),
    }
    if lineage_from is not None:
        meta["dagster/column_lineage"] = dg.TableColumnLineage(
            deps_by_column={c: [dg.TableColumnDep(asset_key=lineage_from, column_name=c)] for c in schema}
        )
    return meta


LINEAGE_SAMPLES = 5


def lineage_metadata(version: Version, root: Path) -> dict:
    """What an engineer follows from the UI back to the ore: a few refined records (those that absorbed duplicates
    first) with their ore file and line and the duplicates merged into them, the command that traces any record,
    and where each column comes from."""
    ids = version.scan(check=False).select("doc_id")
    where = pl.format("{}:{}", "source_uri", "line")
    merged = (
        version.removed(check=False)
        .filter(pl.col("duplicate_of").is_not_null())
        .group_by("duplicate_of")
        .agg(duplicates=pl.len(), e_g=pl.format("{} ({})", where, "reason").sort().first())
        .rename({"duplicate_of": "doc_id"})
    )
    # the samples chosen by their ids alone, then read: the text of every refined row would be held by a sort
    first = merged.join(ids, on="doc_id", how="semi").bottom_k(LINEAGE_SAMPLES, by="doc_id").collect(engine="streaming")
    others = ids.join(merged, on="doc_id", how="anti").bottom_k(LINEAGE_SAMPLES - first.height, by="doc_id")
    chosen = pl.concat([first, others.collect(engine="streaming")], how="diagonal")
    rows = version.scan(check=False).filter(pl.col("doc_id").is_in(chosen.get_column("doc_id").implode()))
    sample = (
        chosen.join(rows.select("doc_id", "source_uri", "line", "text").collect(engine="streaming"), on="doc_id")
        .sort(pl.col("duplicates").is_null(), "doc_id")
        .select(
            "doc_id",
            ore=where,
            duplicates=pl.col("duplicates").fill_null(0),
            e_g="e_g",
            text=pl.col("text").str.slice(0, 60),
        )
    )
    columns = [
        {"column": c, "from": "ore, read by ingest" if c in INGESTED_SCHEMA else "cleaned, from text", "means": doc}
        for c in version.scan(check=False).collect_schema().names()
        if (doc := COLUMN_DOCS.get(c))
    ]
    return {
        "column_lineage": dg.MetadataValue.md(md_table(columns)),
        "lineage_samples": dg.MetadataValue.md(md_table(sample.to_dicts())),
        "trace_a_record": dg.MetadataValue.md(
            f"`refinery lineage {version.dataset} <doc_id> --version {version.id} --root {root}`: "
            "its ore file and line, every stage it went through, the duplicates merged into it, or the rule that "
            "removed it and why."
        ),
    }


def dedup_metadata(result: DedupResult) -> dict:
    return {
        "rows_in": result.rows_in,
        "exact_duplicates": result.removed_by_reason.get("exact_duplicate", 0),
        "near_duplicates": result.removed_by_reason.get("near_duplicate", 0),
        "parameters": dg.MetadataValue.json(result.params),
        "cluster_sizes": dg.MetadataValue.md(
            md_table([{"cluster size": k, "clusters": v} for k, v in result.cluster_sizes.items()])
        ),
        "example_pairs": dg.MetadataValue.md(md_table(result.examples)),
    }


REVIEW_EXAMPLES = 20


def removed_examples(records: Path, removed: Path, per_filter: int = REVIEW_EXAMPLES) -> list[dict]:
    """A random sample of removed documents per filter, with their text's start: doc_ids are MD5 hex, so their
    order is random and the same on every machine and library release."""
    removed_ids = pl.read_parquet(removed, columns=["doc_id", "reason", "value"])  # small columns, held whole
    sample = removed_ids.sort("reason", "doc_id").group_by("reason", maintain_order=True).head(per_filter)
    texts = pl.scan_parquet(records).select("doc_id", text=pl.col("text").str.slice(0, 160))
    texts = texts.filter(pl.col("doc_id").is_in(sample.get_column("doc_id").implode())).collect()
    rows = sample.join(texts, on="doc_id", how="left", maintain_order="left")
    return rows.with_columns(pl.col("value").round(3)).select("reason", "value", "text").to_dicts()


def quality_deciles(records: Path, quality: dict) -> list[dict]:
    """The quality score's deciles, each with the start of its median document's text (from the records)."""
    deciles = pl.DataFrame(quality["deciles"])
    texts = pl.scan_parquet(records).select(example="doc_id", text=pl.col("text").str.slice(0, 160))
    texts = texts.filter(pl.col("example").is_in(deciles.get_column("example").implode())).collect()
    rows = deciles.join(texts, on="example", how="left", maintain_order="left")
    return (
        rows.with_columns(pl.col("low", "high").round(3))
        .select("decile", "documents", "low", "high", "text")
        .to_dicts()
    )


def language_by_source(cleaned: Path) -> list[dict]:
    """The language-ID score of refined documents, per source: where language ID is unsure of a source's text."""
    scores = (
        pl.scan_parquet(cleaned)
        .group_by("source")
        .agg(
            documents=pl.len(),
            p10=pl.col("lang_score").quantile(0.1).round(3),
            median=pl.col("lang_score").median().round(3),
            p90=pl.col("lang_score").quantile(0.9).round(3),
            top_language=pl.col("lang").mode().first(),
        )
    )
    return scores.sort("source").collect().to_dicts()


def clean_metadata(result: CleanResult, records: Path) -> dict:
    cleaned = pl.scan_parquet(result.cleaned)
    quantiles = cleaned.select(
        pl.struct(
            signal=pl.lit(s), p10=pl.col(s).quantile(0.1), median=pl.col(s).median(), p90=pl.col(s).quantile(0.9)
        ).alias(s)
        for s in SIGNALS
    ).collect()
    distribution = [
        {k: (round(v, 3) if isinstance(v, float) else v) for k, v in quantiles.get_column(s)[0].items()}
        for s in SIGNALS
    ]
    return {
        "rows_in": result.rows_in,
        "rejected": sum(result.rejected_by_filter.values()),
        "rejected_by_filter": dg.MetadataValue.md(
            md_table([{"filter": k, "rejected": v} for k, v in sorted(result.rejected_by_filter.items())])
        ),
        "pii_redacted": dg.MetadataValue.json(result.pii_counts),
        "documents_changed": result.changed,
        "signal_distribution": dg.MetadataValue.md(md_table(distribution)),
        "before_after": dg.MetadataValue.md(md_table(result.examples)),
        "lines_stripped": dg.MetadataValue.json(result.lines_stripped),
        "stripped_line_examples": dg.MetadataValue.md(md_table(result.line_examples)),
        "removed_examples": dg.MetadataValue.md(md_table(removed_examples(records, result.removed))),
        "language_score_by_source": dg.MetadataValue.md(md_table(language_by_source(result.cleaned))),
        **(_quality_metadata(records, result.quality) if result.quality else {}),
    }


def _quality_metadata(records: Path, quality: dict) -> dict:
    return {
        "quality_model": dg.MetadataValue.json({k: quality[k] for k in ("model_sha256", "learned_from", "cut")}),
        "quality_deciles": dg.MetadataValue.md(md_table(quality_deciles(records, quality))),
    }
