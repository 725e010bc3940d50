"""Deduplicate across all sources: exact (normalized text), then near-duplicate (MinHash LSH).

Pure functions over Parquet; see `deduplicate`.
"""

from refinery.dedup.stage import DedupResult, Reference, deduplicate

__all__ = ["DedupResult", "Reference", "deduplicate"]
