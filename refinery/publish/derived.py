"""Columns a version derives for trainers. Each row's licence: its source's, as the recipe declares it. Splits
by identity: a document's split is a function of its `doc_id` and the recipe's seed (xxHash64 of the id, cut at
the cumulative shares), so a document keeps its split in every later version, on every machine. A near-duplicate
cluster never spans two splits: refined data holds one document of each cluster."""

from __future__ import annotations

import numpy as np
import polars as pl
import xxhash

from refinery.recipe.model import Splits


def with_license(licenses: dict[str, str | None], frame: pl.DataFrame) -> pl.DataFrame:
    """Each row's licence: its source's, as the recipe declares it (null: none declared)."""
    return frame.with_columns(license=pl.col("source").replace_strict(licenses, default=None, return_dtype=pl.String))


def with_split(splits: Splits, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(split_of(frame.get_column("doc_id"), splits))


def split_of(doc_ids: pl.Series, splits: Splits) -> pl.Series:
    names = np.array(list(splits.shares), dtype=object)
    shares = np.cumsum(list(splits.shares.values()))[:-1]  # the last split takes the rest
    cuts = np.array([min(int(c * 2**64), 2**64 - 1) for c in shares], dtype=np.uint64)
    hashes = np.fromiter((xxhash.xxh64_intdigest(d.encode(), splits.seed) for d in doc_ids), np.uint64, len(doc_ids))
    return pl.Series("split", names[np.searchsorted(cuts, hashes, side="right")], dtype=pl.String)
