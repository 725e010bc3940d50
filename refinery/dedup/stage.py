"""Exact then near-duplicate removal across all sources, optionally against the previous published version.

Every duplicate lands in `removed.parquet` with the doc_id it duplicates and its similarity. The input is the
whole current ore (snapshot semantics); documents of the previous version that are still in it win their group
or cluster (`_prior`), so a re-run keeps what it kept, and their stored signatures are reused rather than
recomputed when the document's normalized text is unchanged. Documents of the previous version whose ore is gone
play no part; in `publish.mode: append` the caller adds them back as the first input (`carry_forward`).

One pass over the sources, a batch per task on both cores, normalizes, hashes and signs the documents and writes
their bookkeeping (no text), signatures and LSH band keys as scratch parts. Then exact duplicates are grouped,
band buckets are grouped in DuckDB (which spills to disk past its memory limit), a second pass saves the shingle
sets of candidate documents, pairs are verified by exact Jaccard a window of sets at a time, and clusters are
cut. The kept documents are the sources read a third time, less the removed rows.

Memory: what is held whole is per-document bookkeeping (ids and hashes, about 50 bytes a document), the
candidate pairs and their clusters. Text, signatures, band keys and shingle sets stream through in batches of
`dedup_rows` or windows of `verify_hashes` hashes (`Sizes`); DuckDB is held to its memory limit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from refinery.dedup.config import Dedup
from refinery.dedup.lsh import (
    SetPart,
    ShingleSets,
    band_frame,
    bands,
    candidate_pairs,
    components,
    connect,
    windowed_jaccard,
)
from refinery.dedup.minhash import minhash, shingle_hashes
from refinery.dedup.stars import star_components
from refinery.records import INGESTED_SCHEMA, REMOVED_SCHEMA, ROW_GROUP_ROWS, parquet_batches, removed_frame
from refinery.runtime.engine import Engine
from refinery.runtime.exchange import output
from refinery.runtime.shards import Where, run_sharded
from refinery.runtime.tuning import Tuning

ROW_GROUP = 20_000  # rows per row group written: what a Parquet sink buffers (Polars' default holds ~1 GB of text)


@dataclass
class Reference:
    """The previous version: its refined rows and the signatures kept beside them (doc_id, text_hash,
    signature), or None when they were made with other permutations or shingles; its removed rows, and the ore
    files it read (source, path, sha256)."""

    refined: list[Path]
    signatures: Path | None
    version: str | None = None  # its id, which the run's data is then built on
    removed: list[Path] = field(default_factory=list)
    ore: list[dict] = field(default_factory=list)


def carry_forward(reference: Reference, ore: list[dict], out_dir: Path) -> tuple[Path, Path]:
    """The previous version's records, less those of ore files this run reads again with the same bytes (`ore`:
    the run's files, as source, path and sha256), as (ingested rows of its refined documents, its removed rows).
    In append mode they stay in the dataset after their ore was consumed; a file replaced at the same path is new
    ore, whose records come after them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    key = ("source", "path", "sha256")
    again = {tuple(o[k] for k in key) for o in ore} & {tuple(o[k] for k in key) for o in reference.ore}
    reread = pl.DataFrame(
        [(s, p) for s, p, _ in again], schema={"source": pl.String, "source_uri": pl.String}, orient="row"
    )
    refined, removed = out_dir / "carried.parquet", out_dir / "carried-removed.parquet"
    for files, schema, path in (
        (reference.refined, INGESTED_SCHEMA, refined),
        (reference.removed, REMOVED_SCHEMA, removed),
    ):
        prior = pl.concat([pl.LazyFrame(schema=schema), *(pl.scan_parquet(f).select(list(schema)) for f in files)])
        prior = prior.join(reread.lazy(), on=["source", "source_uri"], how="anti", maintain_order="left")
        prior.sink_parquet(path, row_group_size=ROW_GROUP)
    return refined, removed


@dataclass
class DedupResult:
    kept: Path
    removed: Path
    signatures: Path
    rows_in: int
    rows_kept: int
    removed_by_reason: dict[str, int]
    params: dict
    cluster_sizes: dict[int, int] = field(default_factory=dict)
    examples: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class _Plan:
    config: Dedup
    bands: tuple[int, int]
    prior_ids: pl.Series  # doc_ids of the previous version
    stored: pl.DataFrame  # (doc_id, _nh) whose signature the previous version stored: not recomputed


@dataclass(frozen=True)
class _Source:
    """A file of documents: rows are numbered from `offset` on, across all sources (`_idx`)."""

    path: Path
    offset: int
    rows: int


def _sources(inputs: list[Path]) -> list[_Source]:
    """The current documents, numbered end to end."""
    sources, offset = [], 0
    for path in inputs:
        rows = pq.ParquetFile(path).metadata.num_rows
        sources.append(_Source(path, offset, rows))
        offset += rows
    return sources


def _batches(sources: list[_Source], columns: list[str], rows: int) -> Iterator[tuple[int, pl.DataFrame, _Source, int]]:
    """(number, batch, its source, the `_idx` of its first row), `rows` rows at a time."""
    number = 0
    for source in sources:
        start = source.offset
        for batch in parquet_batches(source.path, rows, columns):
            yield number, batch, source, start
            number += 1
            start += batch.height


def _prepare(plan: _Plan, where: Where, item: tuple[int, pl.DataFrame, _Source, int]) -> int:
    """One batch, on a worker: its bookkeeping rows (no text: that stays in the sources), and for near dedup its
    signatures and band keys, each to its own Parquet part. Returns the number of rows."""
    number, batch, _, start = item
    batch = batch.with_columns(_idx=pl.int_range(start, start + batch.height, dtype=pl.Int64))
    near = plan.config.near
    text = batch.get_column("text")
    doc, hashes, text_hash = shingle_hashes(text, near.ngram)
    staged = batch.drop("text").with_columns(
        _prior=pl.col("doc_id").is_in(plan.prior_ids.implode()),
        _len=text.str.len_chars(),
        _nh=pl.Series(text_hash, dtype=pl.UInt64),  # equal exactly when the normalized texts are
    )
    staged = staged.join(plan.stored.with_columns(_reuse=pl.lit(True)), on=["doc_id", "_nh"], how="left")
    staged = staged.with_columns(pl.col("_reuse").fill_null(False))
    with output(where.part(f"staged-{number:05d}.parquet")) as path:
        staged.write_parquet(path, compression="lz4")  # scratch: fast beats small
    todo = ~staged.get_column("_reuse").to_numpy()
    if near.enabled and todo.any():
        row = np.cumsum(todo) - 1  # a document's row among those to sign
        keep = todo[doc]
        sig = minhash(row[doc[keep]], hashes[keep], int(todo.sum()), near.num_perm, near.seed)
        _write_signatures(staged.filter(todo).select("_idx", "doc_id", "_nh"), sig, plan, where.parts, f"{number:05d}")
    return staged.height


def _write_signatures(ids: pl.DataFrame, sig: np.ndarray, plan: _Plan, work: str, name: str) -> None:
    """Signatures and their LSH band keys, as scratch parts: random hashes gain nothing from compression."""
    with output(f"{work}/signatures-{name}.parquet") as path:
        ids.with_columns(signature=sig).write_parquet(path, compression="uncompressed", statistics=False)
    with output(f"{work}/bands-{name}.parquet") as path:  # a row group per band, with statistics to find it
        band_frame(ids.get_column("_idx").to_numpy(), sig, *plan.bands).write_parquet(
            path, compression="uncompressed", row_group_size=max(ids.height, 1)
        )


def _stage(sources: list[_Source], reference: Reference | None, config: Dedup, work: Path, engine: Engine) -> int:
    """Write the staged-*, signatures-* and bands-* parts under `work`; return the number of rows."""
    prior_ids = pl.Series("doc_id", [], pl.String)
    stored_keys = pl.DataFrame(schema={"doc_id": pl.String, "_nh": pl.UInt64})
    if reference and reference.refined:  # only needed to tell the previous version's documents from the new ones
        prior_ids = pl.scan_parquet(reference.refined).select("doc_id").collect().get_column("doc_id")
    stored = reference.signatures if reference and reference.signatures and config.near.enabled else None
    if stored is not None:
        stored_keys = pl.read_parquet(stored, columns=["doc_id", "text_hash"]).rename({"text_hash": "_nh"}).unique()
    plan = _Plan(
        config, bands(config.near.threshold, config.near.num_perm, config.near.lsh_weights), prior_ids, stored_keys
    )
    batches = _batches(sources, list(INGESTED_SCHEMA), engine.sizes.dedup_rows)
    rows = sum(run_sharded(partial(_prepare, plan), batches, engine, parts=work, small=False))
    if not list(work.glob("staged-*.parquet")):
        _empty_staged().write_parquet(work / "staged-00000.parquet")
    if stored is not None:  # unchanged documents of the previous version: stored signatures, reused
        index = pl.scan_parquet(work / "staged-*.parquet").filter(pl.col("_reuse")).select("doc_id", "_nh", "_idx")
        index = index.collect()
        for number, batch in enumerate(parquet_batches(stored, engine.sizes.dedup_rows)):
            found = batch.rename({"text_hash": "_nh"}).join(index, on=["doc_id", "_nh"])
            if found.height:
                sig = found.get_column("signature").cast(pl.Array(pl.UInt32, config.near.num_perm)).to_numpy()
                _write_signatures(found.select("_idx", "doc_id", "_nh"), sig, plan, str(work), f"stored-{number:05d}")
    return rows


def _empty_staged() -> pl.DataFrame:
    return (
        pl.DataFrame(schema=INGESTED_SCHEMA)
        .drop("text")
        .with_columns(
            _idx=pl.lit(0, pl.Int64),
            _prior=pl.lit(False),
            _len=pl.lit(0, pl.UInt32),
            _nh=pl.lit(0, pl.UInt64),
            _reuse=pl.lit(False),
        )
    )


def _exact(staged: str, spill: Path, tuning: Tuning) -> pl.DataFrame:
    """(_idx, duplicate_of) of rows whose normalized text came earlier (or is in the previous version): a DuckDB
    group-by, which spills past its memory limit, so memory does not grow with the corpus."""
    with connect(spill, tuning.duckdb_memory) as con:  # closed on the way out: DuckDB's buffers go with it
        return con.sql(
            f"""
        WITH staged AS (SELECT _idx, _nh, _prior, doc_id FROM read_parquet('{staged}')),
        keepers AS (
            SELECT _nh, coalesce(min(_idx) FILTER (WHERE _prior), min(_idx)) AS keeper
            FROM staged GROUP BY _nh HAVING count(*) > 1
        ),
        dupes AS (SELECT _idx, keeper FROM staged JOIN keepers USING (_nh) WHERE _idx <> keeper)
        SELECT dupes._idx, staged.doc_id AS duplicate_of FROM dupes JOIN staged ON staged._idx = dupes.keeper
        ORDER BY dupes._idx
        """
        ).pl()


def _candidate_sets(sources: list[_Source], pairs: Path, ngram: int, work: Path, engine: Engine) -> list[SetPart]:
    """Shingle sets of every document in some candidate pair, one more pass over the sources (sharded), saved
    a batch to a part so that verification holds only a window of them."""
    scan = pl.scan_parquet(pairs)
    ids = pl.concat([scan.select(idx="a"), scan.select(idx="b")]).unique().collect(engine="streaming")
    ids = ids.get_column("idx").sort()

    def batch_sets(where: Where, item: tuple[int, pl.DataFrame, _Source, int]) -> SetPart | None:
        number, batch, _, start = item
        docs = batch.with_columns(_idx=pl.int_range(start, start + batch.height, dtype=pl.Int64))
        docs = docs.filter(pl.col("_idx").is_in(ids.implode()))
        if docs.height == 0:
            return None
        doc, hashes, _ = shingle_hashes(docs.get_column("text"), ngram)
        name = f"sets-{number:05d}.npz"
        with output(where.part(name)) as path:
            part = ShingleSets.build(docs.get_column("_idx").to_numpy(), doc, hashes).save(path)
        return replace(part, path=work / name)  # where it is once gathered

    batches = _batches(sources, ["text"], engine.sizes.dedup_rows)
    sets = run_sharded(batch_sets, batches, engine, parts=work, small=False)
    return [part for part in sets if part]


def _similarity(pairs: pl.DataFrame, parts: list[SetPart], budget: int) -> pl.Series:
    """Exact Jaccard of each (a, b) pair, about `budget` shingle hashes held at a time."""
    a, b = pairs.get_column("a").to_numpy(), pairs.get_column("b").to_numpy()
    return pl.Series("similarity", windowed_jaccard(a, b, parts, budget), dtype=pl.Float64)


def _verify_batch(parts: list[SetPart], threshold: float, budget: int, where: Where, batch: tuple[int, int]) -> int:
    """Candidate pairs [start, start + length), on a worker: those at or above `threshold`, with their exact
    Jaccard similarity from the saved shingle sets (the inputs after the pairs; about `budget` hashes held at a
    time), written as this batch's part; how many hold."""
    start, length = batch
    pairs, *sets = where.inputs
    parts = [replace(part, path=path) for part, path in zip(parts, sets, strict=True)]
    frame = pl.scan_parquet(pairs).slice(start, length).collect()
    held = frame.with_columns(similarity=_similarity(frame, parts, budget)).filter(pl.col("similarity") >= threshold)
    with output(where.part(f"verified-{start:012d}.parquet")) as path:
        held.write_parquet(path)
    return held.height


def _verified(pairs: Path, parts: list[SetPart], threshold: float, work: Path, engine: Engine) -> list[Path]:
    """The candidate pairs that hold, verified `verify_pairs` at a time, a shard each (sharing the memory budget of
    the shingle sets held), as the shards' parts in order: nothing of them passes through this process."""
    rows = pq.ParquetFile(pairs).metadata.num_rows
    step = engine.sizes.verify_pairs
    batches = [(start, step) for start in range(0, rows, step)]
    budget = engine.sizes.verify_hashes // max(min(engine.workers, len(batches)), 1)
    verify = partial(_verify_batch, parts, threshold, budget)
    found = work / "verified"
    run_sharded(verify, batches, engine, inputs=[pairs, *(Path(part.path) for part in parts)], parts=found)
    if not batches:
        found.mkdir(parents=True, exist_ok=True)
        pl.DataFrame(schema={"a": pl.Int64, "b": pl.Int64, "similarity": pl.Float64}).write_parquet(
            found / "none.parquet"
        )
    return sorted(found.glob("*.parquet"))


def _near(
    staged: str, sources: list[_Source], exact: pl.DataFrame, config: Dedup, work: Path, tuning: Tuning, engine: Engine
) -> tuple[pl.DataFrame, dict]:
    """(removed near-duplicates as _idx/duplicate_of/similarity, parameters used)."""
    near = config.near
    b, r = bands(near.threshold, near.num_perm, near.lsh_weights)
    bands_files = sorted(work.glob("bands-*.parquet"))
    exclude = exact.get_column("_idx")
    candidates = candidate_pairs(bands_files, work / "spill", exclude, tuning.duckdb_memory, engine=engine)
    params = {
        "threshold": near.threshold,
        "num_perm": near.num_perm,
        "ngram": near.ngram,
        "bands": b,
        "rows": r,
        "seed": near.seed,
        "verify": near.verify,
        "lsh_weights": near.lsh_weights,
        "keep": near.keep,
        "candidate_pairs": pq.ParquetFile(candidates).metadata.num_rows,
        "band_bytes_shuffled": sum(f.stat().st_size for f in bands_files),  # each band's task reads its share
    }
    parts = _candidate_sets(sources, candidates, near.ngram, work, engine)
    # unverified, every candidate is an edge; verified, only those that hold. Read from the files where needed.
    pair_files = _verified(candidates, parts, near.threshold, work, engine) if near.verify else [candidates]
    params["verified_pairs"] = sum(pq.ParquetFile(f).metadata.num_rows for f in pair_files)
    clusters = _components(pair_files, params["verified_pairs"], work, engine)
    info = pl.scan_parquet(staged).select("_idx", "doc_id", "_len", "_prior")
    clusters = clusters.join(
        info.filter(pl.col("_idx").is_in(clusters.get_column("idx").implode())).collect(),
        left_on="idx",
        right_on="_idx",
    )
    longest = near.keep == "longest"
    order = [pl.col("_prior"), pl.col("_len")] if longest else [pl.col("_prior")]
    keepers = clusters.sort([*order, "idx"], descending=[True] * len(order) + [False]).group_by("cluster").first()
    members = clusters.join(keepers.select("cluster", keeper="idx", duplicate_of="doc_id"), on="cluster").filter(
        pl.col("idx") != pl.col("keeper")
    )
    # similarity to the keeper: the verified edge's when there is one, computed otherwise (longer chains)
    members = members.with_columns(a=pl.min_horizontal("idx", "keeper"), b=pl.max_horizontal("idx", "keeper"))
    pairs = pl.scan_parquet(pair_files)
    if "similarity" in pairs.collect_schema().names():  # the members' own edges only, not every pair
        edges = pairs.join(members.lazy().select("a", "b"), on=["a", "b"], how="semi").select("a", "b", "similarity")
        members = members.join(edges.collect(engine="streaming"), on=["a", "b"], how="left")
    else:
        members = members.with_columns(similarity=pl.lit(None, pl.Float64))
    missing = members.filter(pl.col("similarity").is_null()).select("a", "b")
    if missing.height:
        missing = missing.with_columns(computed=_similarity(missing, parts, engine.sizes.verify_hashes))
        members = members.join(missing, on=["a", "b"], how="left").with_columns(
            similarity=pl.coalesce("similarity", "computed")
        )
    return members.select(_idx="idx", duplicate_of="duplicate_of", similarity="similarity"), params


def _components(pairs: list[Path], count: int, work: Path, engine: Engine) -> pl.DataFrame:
    """Clusters of the pairs in `pairs` (files of a, b): in one task (scipy) while they are few, else by partitioned
    star rounds on the engine (`stars.py`), two partitions a worker, reading the files where they are. Both give
    every cluster its smallest idx."""
    if count <= engine.sizes.component_pairs:
        return components(pl.read_parquet(pairs, columns=["a", "b"]))
    return star_components(pairs, work / "components", engine, 2 * max(engine.workers, 1))


def deduplicate(
    inputs: list[Path],
    out_dir: Path,
    config: Dedup,
    reference: Reference | None = None,
    tuning: Tuning | None = None,
    engine: Engine | None = None,
) -> DedupResult:
    """Write `kept.parquet`, `removed.parquet` and `signatures.parquet` under `out_dir`. Signing and shingling
    run a batch per shard on the engine (threads by default: the kernels release the GIL)."""
    tuning = tuning or Tuning()
    engine = engine or Engine(tuning.workers, tuning.sizes)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = _sources(inputs)
    rows_in = _stage(sources, reference, config, out_dir, engine)
    staged_path = str(out_dir / "staged-*.parquet")
    staged = pl.scan_parquet(staged_path)
    schema = {"_idx": pl.Int64, "duplicate_of": pl.String, "similarity": pl.Float64, "reason": pl.String}
    removed_idx = pl.DataFrame(schema=schema)
    exact = (
        _exact(staged_path, out_dir / "spill", tuning) if config.exact else removed_idx.select("_idx", "duplicate_of")
    )
    if config.exact:
        exact_rows = exact.with_columns(similarity=pl.lit(1.0), reason=pl.lit("exact_duplicate"))
        removed_idx = pl.concat([removed_idx, exact_rows], how="diagonal_relaxed")
    params: dict = {"exact": config.exact, "near": config.near.enabled}
    if config.near.enabled:
        near_removed, near_params = _near(staged_path, sources, exact, config, out_dir, tuning, engine)
        params |= near_params
        near_removed = near_removed.with_columns(reason=pl.lit("near_duplicate"))
        removed_idx = _repoint(removed_idx, near_removed, staged)
        removed_idx = pl.concat([removed_idx, near_removed], how="diagonal_relaxed")
    gone = removed_idx.select("_idx").lazy()
    kept_path, removed_path, sig_path = (out_dir / n for n in ("kept.parquet", "removed.parquet", "signatures.parquet"))
    # staged parts are in _idx order: joins that keep the left order stream, a sort would hold everything
    removed = staged.join(removed_idx.lazy(), on="_idx", maintain_order="left")
    removed_frame(removed, stage=pl.lit("dedup"), detail=_detail()).sink_parquet(removed_path, row_group_size=ROW_GROUP)
    _write_kept(sources, removed_idx.get_column("_idx"), kept_path)
    kept = staged.join(gone, on="_idx", how="anti").select("_idx")
    num_perm = config.near.num_perm
    parts = sorted(out_dir.glob("signatures-*.parquet"))
    _write_kept_signatures(parts, kept, sig_path, num_perm, out_dir / "spill", tuning.duckdb_memory)
    counts = dict(removed_idx.group_by("reason").len().iter_rows())
    kept_rows = pq.ParquetFile(kept_path).metadata.num_rows
    return DedupResult(
        kept_path,
        removed_path,
        sig_path,
        rows_in,
        kept_rows,
        counts,
        params,
        *_cluster_stats(removed_idx, staged, sources),
    )


def _write_kept(sources: list[_Source], removed: pl.Series, path: Path) -> None:
    """The current documents, in order, less the removed ones: the sources read once more (text is never staged).
    pyarrow's writer, fed a batch at a time, holds one row group; Polars' sink held ~1 GB of text at 3M documents."""
    keep = np.ones(sum(s.rows for s in sources), dtype=bool)
    keep[removed.to_numpy()] = False
    writer = None
    for _, batch, _, start in _batches(sources, list(INGESTED_SCHEMA), ROW_GROUP_ROWS):  # its row groups
        table = batch.filter(pl.Series(keep[start : start + batch.height])).to_arrow()
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="lz4", use_dictionary=["source", "source_uri"])
        writer.write_table(table)
    if writer is None:
        pl.DataFrame(schema=INGESTED_SCHEMA).write_parquet(path)
    else:
        writer.close()


def _text(sources: list[_Source], idx: int) -> str:
    """One document's text, read by position: a slice that Parquet answers from one row group."""
    source = next(s for s in reversed(sources) if s.offset <= idx)
    return pl.scan_parquet(source.path).slice(idx - source.offset, 1).select("text").collect().item()


def _repoint(exact: pl.DataFrame, near: pl.DataFrame, staged: pl.LazyFrame) -> pl.DataFrame:
    """Exact duplicates of a document that near dedup then removed point on to the document that was kept, with
    that document's similarity (their normalized texts are the same)."""
    ids = staged.select("_idx", "doc_id").filter(pl.col("_idx").is_in(near.get_column("_idx").implode())).collect()
    moved = near.join(ids, on="_idx").select(
        pl.col("doc_id").alias("duplicate_of"), pl.col("duplicate_of").alias("to"), pl.col("similarity").alias("sim")
    )
    return (
        exact.join(moved, on="duplicate_of", how="left")
        .with_columns(duplicate_of=pl.coalesce("to", "duplicate_of"), similarity=pl.coalesce("sim", "similarity"))
        .drop("to", "sim")
    )


def _write_kept_signatures(
    parts: list[Path], kept: pl.LazyFrame, path: Path, num_perm: int, spill: Path, memory: str
) -> None:
    """Signatures of the kept documents in document order, whether computed or reused: the same ore gives the
    same file. Computed parts are already in order; reused ones are sorted in first (by DuckDB, which spills)."""
    schema = {"doc_id": pl.String, "text_hash": pl.UInt64, "signature": pl.Array(pl.UInt32, num_perm)}
    if not parts:
        pl.DataFrame(schema=schema).write_parquet(path)
        return
    kept_idx = kept.collect().get_column("_idx")
    ordered: list[Path] | Path = sorted(parts)  # batch number order, which is _idx order
    if any(p.name.startswith("signatures-stored-") for p in parts):
        ordered = spill / "signatures-ordered.parquet"
        con = connect(spill, memory)
        files = ", ".join(f"'{p}'" for p in parts)
        con.execute(
            f"""COPY (SELECT _idx, doc_id, _nh, signature FROM read_parquet([{files}]) ORDER BY _idx)
            TO '{ordered}' (FORMAT parquet, COMPRESSION uncompressed)"""
        )
    scan = pl.scan_parquet(ordered).filter(pl.col("_idx").is_in(kept_idx.implode()))
    scan = scan.rename({"_nh": "text_hash"})
    scan.select(pl.col(name).cast(dtype) for name, dtype in schema.items()).sink_parquet(
        path, compression="lz4", row_group_size=ROW_GROUP
    )


def _detail() -> pl.Expr:
    return pl.format("{} of {}", pl.col("reason").str.replace("_", " "), pl.col("duplicate_of"))


def _cluster_stats(
    removed: pl.DataFrame, staged: pl.LazyFrame, sources: list[_Source]
) -> tuple[dict[int, int], list[dict]]:
    """Cluster-size histogram and a few near-duplicate example pairs, truncated, for the UI."""
    if removed.height == 0:
        return {}, []
    sizes = removed.group_by("duplicate_of").len("n").with_columns(size=pl.col("n") + 1).get_column("size")
    histogram = dict(sorted(Counter(sizes.to_list()).items()))
    near = removed.filter(pl.col("reason") == "near_duplicate").sort("similarity", "_idx").head(3)
    keepers = staged.filter(pl.col("doc_id").is_in(near.get_column("duplicate_of").implode()))
    keeper_idx = dict(keepers.select("doc_id", "_idx").collect().iter_rows())
    examples = []
    for row in near.iter_rows(named=True):
        examples.append(
            {
                "similarity": round(row["similarity"] or 0, 3),
                "kept": _text(sources, keeper_idx[row["duplicate_of"]])[:160],
                "removed": _text(sources, row["_idx"])[:160],
            }
        )
    return histogram, examples
