"""Deduplicate across all sources: exact (normalized text), then near-duplicate (MinHash LSH).

Pure functions over Parquet; see `deduplicate`.
"""

from refinery.dedup.stage import DedupResult, Reference, carry_forward, deduplicate

__all__ = ["DedupResult", "Reference", "carry_forward", "deduplicate"]
