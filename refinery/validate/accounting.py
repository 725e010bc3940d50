"""Accounting: every record read ends in exactly one place, refined or removed.

`expected` comes from counts made without the readers (`refinery.ingest.count`), so a stage that loses or doubles a
record cannot hide it by miscounting its own input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl


@dataclass(frozen=True)
class Accounting:
    expected: int  # records in the ore, counted independently (plus documents carried forward)
    refined: int
    removed: int
    repeated_refined: int  # extra copies of a doc_id within refined
    repeated_removed: int  # ... within removed
    in_both: int  # doc_ids both refined and removed

    @property
    def passed(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        out = []
        if self.refined + self.removed != self.expected:
            out.append(
                f"refined {self.refined} + removed {self.removed} = {self.refined + self.removed}, "
                f"but the ore holds {self.expected} records"
            )
        if self.repeated_refined:
            out.append(f"{self.repeated_refined} doc_ids repeated within refined")
        if self.repeated_removed:
            out.append(f"{self.repeated_removed} doc_ids repeated within removed")
        if self.in_both:
            out.append(f"{self.in_both} doc_ids both refined and removed")
        return out

    def as_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def _repeats(ids: pl.LazyFrame) -> int:
    counts = ids.group_by("doc_id").len()
    return counts.select((pl.col("len") - 1).sum()).collect(engine="streaming").item() or 0


def account(refined: Path, removed: list[Path], expected: int) -> Accounting:
    """Counts, repeats and overlap of doc_ids over the staged files (only the id column is read)."""
    refined_ids = pl.scan_parquet(refined).select("doc_id")
    removed_ids = pl.scan_parquet(removed).select("doc_id")
    both = refined_ids.unique().join(removed_ids.unique(), on="doc_id")
    return Accounting(
        expected=expected,
        refined=refined_ids.select(pl.len()).collect().item(),
        removed=removed_ids.select(pl.len()).collect().item(),
        repeated_refined=_repeats(refined_ids),
        repeated_removed=_repeats(removed_ids),
        in_both=both.select(pl.len()).collect(engine="streaming").item(),
    )
