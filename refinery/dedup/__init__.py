"""Deduplicate across all sources: exact (normalized text), then near-duplicate (MinHash LSH).

Pure functions over Parquet; see `deduplicate`.
"""

from typing import TYPE_CHECKING

from refinery.lazy import exports

if TYPE_CHECKING:
    from refinery.dedup.stage import DedupResult, Reference, carry_forward, deduplicate

__all__ = ["DedupResult", "Reference", "carry_forward", "deduplicate"]
__getattr__ = exports(__name__, dict.fromkeys(__all__, "refinery.dedup.stage"))
