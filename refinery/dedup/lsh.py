"""Candidate pairs from LSH bands, as relational group-bys, then clusters by connected components.

Band keys go to Parquet a batch at a time; DuckDB groups them (spilling to disk past its memory limit), so
memory does not grow with the corpus beyond the edge list and one int per clustered document.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

MIX = np.uint64(0x9E3779B97F4A7C15)


@cache
def bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """datasketch's optimal (bands, rows) for this threshold, equal weights on false positives and negatives."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


def band_keys(signatures: np.ndarray, b: int, r: int) -> np.ndarray:
    """(documents x b) 64-bit keys, one per band of r signature values."""
    keys = np.zeros((len(signatures), b), dtype=np.uint64)
    for band in range(b):
        h = np.zeros(len(signatures), dtype=np.uint64)
        for value in signatures[:, band * r : (band + 1) * r].T:
            h = (h ^ value.astype(np.uint64)) * MIX
            h ^= h >> np.uint64(29)
        keys[:, band] = h
    return keys


def band_frame(idx: np.ndarray, signatures: np.ndarray, b: int, r: int) -> pl.DataFrame:
    """(idx, band, key, rank) rows; `rank` hashes the whole signature, so a bucket's root depends on content only."""
    keys = band_keys(signatures, b, r)
    rank = band_keys(signatures, 1, signatures.shape[1])[:, 0]
    return pl.DataFrame(
        {
            "idx": np.repeat(idx, b),
            "band": np.tile(np.arange(b, dtype=np.int16), len(idx)),
            "key": keys.ravel(),
            "rank": np.repeat(rank, b),
        }
    )


def candidate_pairs(band_files: list[Path], spill_dir: Path, memory_limit: str = "2GB") -> pl.DataFrame:
    """(a, b) pairs with a < b sharing at least one band: each bucket's members joined to its root, the member
    of lowest `rank`. Star edges keep the pair count linear in the bucket size; ranking by content (not by position)
    makes the clusters the same whatever order the documents arrive in."""
    if not band_files:
        return pl.DataFrame(schema={"a": pl.Int64, "b": pl.Int64})
    spill_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(spill_dir)})
    files = ", ".join(f"'{f}'" for f in band_files)
    pairs = con.sql(
        f"""
        WITH buckets AS (
            SELECT idx, first_value(idx) OVER (PARTITION BY band, key ORDER BY rank, idx) AS root
            FROM read_parquet([{files}])
        )
        SELECT DISTINCT least(root, idx) AS a, greatest(root, idx) AS b FROM buckets WHERE idx <> root ORDER BY a, b
        """
    ).pl()
    return pairs.cast({"a": pl.Int64, "b": pl.Int64})


def jaccard(pairs: pl.DataFrame, shingles: pl.DataFrame) -> pl.Series:
    """Exact Jaccard similarity of each (a, b) pair, from `shingles` (idx, h) with unique rows per document."""
    sizes = shingles.group_by("idx").len("n")
    common = (
        pairs.join(shingles, left_on="a", right_on="idx")
        .join(shingles, left_on=["b", "h"], right_on=["idx", "h"])
        .group_by("a", "b")
        .len("common")
    )
    scored = (
        pairs.join(common, on=["a", "b"], how="left")
        .join(sizes.rename({"idx": "a", "n": "na"}), on="a", how="left")
        .join(sizes.rename({"idx": "b", "n": "nb"}), on="b", how="left")
        .select(pl.col("common").fill_null(0) / (pl.col("na") + pl.col("nb") - pl.col("common").fill_null(0)))
    )
    return scored.to_series().fill_nan(0.0).fill_null(0.0).alias("similarity")


def components(pairs: pl.DataFrame) -> pl.DataFrame:
    """(idx, cluster) for every document in some pair; cluster is the smallest idx of its component."""
    if pairs.height == 0:
        return pl.DataFrame(schema={"idx": pl.Int64, "cluster": pl.Int64})
    nodes = pl.concat([pairs.get_column("a"), pairs.get_column("b")]).unique().sort()
    position = {"a": nodes.search_sorted(pairs.get_column("a")), "b": nodes.search_sorted(pairs.get_column("b"))}
    n = len(nodes)
    graph = coo_matrix(
        (np.ones(pairs.height, dtype=np.int8), (position["a"].to_numpy(), position["b"].to_numpy())), shape=(n, n)
    )
    _, labels = connected_components(graph, directed=False)
    frame = pl.DataFrame({"idx": nodes, "label": labels})
    return frame.with_columns(cluster=pl.col("idx").min().over("label")).select("idx", "cluster")
