"""Exact then near-duplicate removal across all sources, optionally against the previous published version.

Every duplicate lands in `removed.parquet` with the doc_id it duplicates and its similarity. Documents of the
previous version ("reference" documents) always win a cluster, so a new drop cannot re-admit them, and their
stored signatures are reused rather than recomputed.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from refinery.dedup.lsh import band_frame, bands, candidate_pairs, components, jaccard
from refinery.dedup.minhash import normalize_for_dedup, shingle_hashes, signatures
from refinery.hashing import stable_id
from refinery.recipe import Dedup
from refinery.records import INGESTED_SCHEMA, removed_frame

BATCH = 20_000
WORKERS = 2


@dataclass
class Reference:
    """The previous version: its refined rows and the signatures kept beside them."""

    refined: list[Path]
    signatures: Path | None


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


def _stage_input(inputs: list[Path], reference: Reference | None, path: Path) -> int:
    """One table of all candidates with order (`_idx`), normalized text, its hash and length.

    Documents of the previous version come first (`_prior`), so they are the earliest of every group and keep
    their place across versions; `_ref` marks those that are only there for reference (not in the current ore).
    """
    current = pl.scan_parquet(inputs).with_columns(_ref=pl.lit(False))
    frames = [current]
    prior = pl.LazyFrame(schema={"doc_id": pl.String})
    if reference and reference.refined:
        prior = pl.scan_parquet(reference.refined).select("doc_id")
        old = pl.scan_parquet(reference.refined).select(list(INGESTED_SCHEMA))
        frames.insert(0, old.join(current.select("doc_id"), on="doc_id", how="anti").with_columns(_ref=pl.lit(True)))
    table = (
        pl.concat(frames, how="vertical_relaxed")
        .with_row_index("_ord")  # arrival order: outputs keep it, whatever the dedup priority
        .join(prior.with_columns(_prior=pl.lit(True)), on="doc_id", how="left", maintain_order="left")
        .with_columns(pl.col("_prior").fill_null(False))
        .sort("_prior", descending=True, maintain_order=True)
        .with_row_index("_idx")
        .collect()
    )
    table = table.with_columns(_idx=pl.col("_idx").cast(pl.Int64), _norm=normalize_for_dedup(pl.col("text")))
    table = table.with_columns(_len=pl.col("text").str.len_chars(), _nh=stable_id(table, ["_norm"]))
    table.write_parquet(path)
    return table.filter(~pl.col("_ref")).height


def _exact(staged: pl.LazyFrame) -> pl.LazyFrame:
    """Rows whose normalized text already appeared earlier, with the first one's doc_id."""
    first = (
        staged.sort("_idx").group_by("_nh").agg(_keeper=pl.col("_idx").first(), duplicate_of=pl.col("doc_id").first())
    )
    return staged.join(first, on="_nh").filter(pl.col("_idx") != pl.col("_keeper")).drop("_keeper")


def _signature_batches(
    survivors: pl.DataFrame, stored: pl.DataFrame | None, config: Dedup
) -> tuple[np.ndarray, np.ndarray]:
    """Signatures for the survivors: stored ones reused, the rest computed in parallel batches."""
    near = config.near
    idx = survivors.get_column("_idx").to_numpy()
    out = np.empty((len(idx), near.num_perm), dtype=np.uint32)
    todo = np.ones(len(idx), dtype=bool)
    if stored is not None and stored.height:
        hit = survivors.select("_idx", "doc_id").with_row_index("_pos").join(stored, on="doc_id")
        if hit.height:
            out[hit.get_column("_pos").to_numpy()] = np.vstack(hit.get_column("signature").to_numpy())
            todo[hit.get_column("_pos").to_numpy()] = False
    positions = np.flatnonzero(todo)
    norms = survivors.get_column("_norm")

    def work(chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return chunk, signatures(norms.gather(chunk), near.num_perm, near.seed, near.ngram)

    with ThreadPoolExecutor(WORKERS) as pool:
        for chunk, sig in pool.map(work, [positions[i : i + BATCH] for i in range(0, len(positions), BATCH)]):
            out[chunk] = sig
    return idx, out


def _shingle_frame(docs: pl.DataFrame, ngram: int) -> pl.DataFrame:
    doc, h = shingle_hashes(docs.get_column("_norm"), ngram)
    return pl.DataFrame({"idx": docs.get_column("_idx").to_numpy()[doc], "h": h}).unique()


def _near(
    survivors: pl.DataFrame, stored: pl.DataFrame | None, config: Dedup, work: Path
) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """(removed near-duplicates, signatures of survivors, parameters used)."""
    near = config.near
    b, r = bands(near.threshold, near.num_perm)
    idx, sig = _signature_batches(survivors, stored, config)
    band_files = []
    for start in range(0, len(idx), BATCH * 5):
        path = work / f"bands-{start // (BATCH * 5):05d}.parquet"
        band_frame(idx[start : start + BATCH * 5], sig[start : start + BATCH * 5], b, r).write_parquet(path)
        band_files.append(path)
    pairs = candidate_pairs(band_files, work / "spill")
    params = {
        "threshold": near.threshold,
        "num_perm": near.num_perm,
        "ngram": near.ngram,
        "bands": b,
        "rows": r,
        "seed": near.seed,
        "verify": near.verify,
        "keep": near.keep,
        "candidate_pairs": pairs.height,
    }
    sig_frame = pl.DataFrame({"_idx": idx, "signature": sig}).join(survivors.select("_idx", "doc_id", "_nh"), on="_idx")
    candidates = pl.concat([pairs.get_column("a"), pairs.get_column("b")]).unique()
    docs = survivors.filter(pl.col("_idx").is_in(candidates.implode()))
    shingles = _shingle_frame(docs, near.ngram)
    if near.verify and pairs.height:
        pairs = pairs.filter(jaccard(pairs, shingles) >= near.threshold)
    params["verified_pairs"] = pairs.height
    clusters = components(pairs).join(
        survivors.select("_idx", "doc_id", "_len", "_prior"), left_on="idx", right_on="_idx"
    )
    order = [pl.col("_prior"), pl.col("_len")] if near.keep == "longest" else [pl.col("_prior")]
    keepers = clusters.sort([*order, "idx"], descending=[True] * len(order) + [False]).group_by("cluster").first()
    members = clusters.join(keepers.select("cluster", keeper="idx", duplicate_of="doc_id"), on="cluster").filter(
        pl.col("idx") != pl.col("keeper")
    )
    members = members.with_columns(
        similarity=jaccard(members.select(a="idx", b="keeper"), shingles)
        if members.height
        else pl.lit(None, pl.Float64)
    )
    removed = members.select(_idx="idx", duplicate_of="duplicate_of", similarity="similarity")
    return removed, sig_frame, params


def deduplicate(inputs: list[Path], out_dir: Path, config: Dedup, reference: Reference | None = None) -> DedupResult:
    """Write `kept.parquet`, `removed.parquet` and `signatures.parquet` under `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staged_path = out_dir / "staged.parquet"
    rows_in = _stage_input(inputs, reference, staged_path)
    staged = pl.scan_parquet(staged_path)
    removed_parts = []
    if config.exact:
        exact = _exact(staged).filter(~pl.col("_ref"))
        removed_parts.append(
            exact.select("_idx", "duplicate_of", similarity=pl.lit(1.0), reason=pl.lit("exact_duplicate"))
        )
    gone = (
        pl.concat([p.select("_idx") for p in removed_parts])
        if removed_parts
        else pl.LazyFrame(schema={"_idx": pl.Int64})
    )
    survivors = staged.join(gone, on="_idx", how="anti").collect()
    params: dict = {"exact": config.exact, "near": config.near.enabled}
    stored = None
    if reference and reference.signatures and reference.signatures.exists():
        stored = pl.read_parquet(reference.signatures, columns=["doc_id", "signature"])
    sig_frame = None
    if config.near.enabled:
        near_removed, sig_frame, near_params = _near(survivors, stored, config, out_dir)
        params |= near_params
        near_removed = near_removed.filter(
            pl.col("_idx").is_in(survivors.filter(~pl.col("_ref")).get_column("_idx").implode())
        )
        removed_parts.append(near_removed.lazy().with_columns(reason=pl.lit("near_duplicate")))
    removed_idx = (
        pl.concat(removed_parts, how="diagonal_relaxed").collect()
        if removed_parts
        else pl.DataFrame(
            schema={"_idx": pl.Int64, "duplicate_of": pl.String, "similarity": pl.Float64, "reason": pl.String}
        )
    )
    removed = staged.join(removed_idx.lazy(), on="_idx").sort("_ord")
    removed_path, kept_path, sig_path = (
        out_dir / "removed.parquet",
        out_dir / "kept.parquet",
        out_dir / "signatures.parquet",
    )
    removed_frame(removed, stage=pl.lit("dedup"), detail=_detail()).sink_parquet(removed_path)
    kept = staged.filter(~pl.col("_ref")).join(removed_idx.lazy().select("_idx"), on="_idx", how="anti").sort("_ord")
    kept.select(list(INGESTED_SCHEMA)).sink_parquet(kept_path)
    _write_signatures(sig_frame, kept, sig_path, config.near.num_perm)
    counts = Counter(removed_idx.get_column("reason").to_list())
    kept_rows = pq.ParquetFile(kept_path).metadata.num_rows
    return DedupResult(
        kept_path,
        removed_path,
        sig_path,
        rows_in,
        kept_rows,
        dict(counts),
        params,
        *_cluster_stats(removed_idx, staged),
    )


def _detail() -> pl.Expr:
    return pl.format("{} of {}", pl.col("reason").str.replace("_", " "), pl.col("duplicate_of"))


def _write_signatures(sig_frame: pl.DataFrame | None, kept: pl.LazyFrame, path: Path, num_perm: int) -> None:
    """Signatures of the kept documents, stored with the version for the next run's incremental dedup."""
    if sig_frame is None:
        pl.DataFrame(schema={"doc_id": pl.String, "signature": pl.Array(pl.UInt32, num_perm)}).write_parquet(path)
        return
    kept_ids = kept.select("_idx", "_ord").collect()
    sig_frame.join(kept_ids, on="_idx").sort("_ord").select("doc_id", "signature").write_parquet(path)


def _cluster_stats(removed: pl.DataFrame, staged: pl.LazyFrame) -> tuple[dict[int, int], list[dict]]:
    """Cluster-size histogram and a few near-duplicate example pairs, truncated, for the UI."""
    if removed.height == 0:
        return {}, []
    sizes = removed.group_by("duplicate_of").len("n").with_columns(size=pl.col("n") + 1).get_column("size")
    histogram = dict(sorted(Counter(sizes.to_list()).items()))
    near = removed.filter(pl.col("reason") == "near_duplicate").sort("similarity").head(3)
    texts = staged.select("_idx", "doc_id", "text").collect()
    examples = []
    for row in near.iter_rows(named=True):
        dup = texts.filter(pl.col("_idx") == row["_idx"]).row(0, named=True)
        kept = texts.filter(pl.col("doc_id") == row["duplicate_of"]).row(0, named=True)
        examples.append(
            {"similarity": round(row["similarity"] or 0, 3), "kept": kept["text"][:160], "removed": dup["text"][:160]}
        )
    return histogram, examples
