"""Accounting: every record read ends in exactly one place, refined or removed.

`expected` comes from counts made without the readers (`refinery.ingest.count`), so a stage that loses or doubles a
record cannot hide it by miscounting its own input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from refinery.runtime.engine import Engine
from refinery.runtime.keys import Keyed, partitioned


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


def _partition(keyed: Keyed, partition: int) -> tuple[int, int, int, int, int]:
    """(refined, removed, repeated within refined, repeated within removed, in both) over one partition of ids."""
    refined, removed = (keyed.scan(g, partition).select("doc_id") for g in ("refined", "removed"))
    both = refined.unique().join(removed.unique(), on="doc_id")
    count = (refined.select(pl.len()), removed.select(pl.len()), both.select(pl.len()))
    sizes = [frame.item() for frame in pl.collect_all(count, engine="streaming")]
    return sizes[0], sizes[1], _repeats(refined), _repeats(removed), sizes[2]


def account(
    refined: Path, removed: list[Path], expected: int, engine: Engine | None = None, scratch: Path | None = None
) -> Accounting:
    """Counts, repeats and overlap of doc_ids over the staged files (only the id column is read), one hash
    partition of the ids at a time (`refinery.runtime.keys`): no process holds every id of a large corpus."""
    groups = {"refined": [refined], "removed": removed}
    found = partitioned(groups, "doc_id", _partition, engine or Engine(), scratch)
    totals = [sum(column) for column in zip(*found, strict=True)]
    return Accounting(expected, *totals)
