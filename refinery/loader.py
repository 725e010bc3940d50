"""Feeding a version to data-parallel training: each rank gets exactly as many rows as every other, in an order
that is shuffled by a seed and changes every epoch, and a loader resumes mid-epoch exactly where it stopped.

The unit of reading is a row group of a refined part (10,000 rows). An epoch's order is a permutation of the
units, each unit's rows permuted, concatenated; rank r takes the r-th of `world_size` equal contiguous ranges
of it (the last `rows % world_size` rows of the epoch are dropped, so no rank waits), so a rank reads only its
units. Within a rank, rows are shuffled again across a window of `window` units, so a batch mixes row groups.
The order is a function of (seed, epoch, rank, world_size) alone: a resumed loader skips the rows already given
without reading their units. Memory: the row positions of the split (8 bytes a row) and up to `AHEAD` + 1
windows of units (five windows of four 10,000-row groups: ~200 MB of 1 KB documents).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from torch.utils.data import IterableDataset


AHEAD = 4  # windows read ahead, one a thread: memory holds up to AHEAD + 1 windows


@dataclass(frozen=True)
class _Unit:
    file: Path
    group: int
    rows: np.ndarray  # positions in the row group of the rows that belong to the split


def _units(files: Sequence[Path], split: str | None, licenses: list[str] | None) -> list[_Unit]:
    """Every row group, with the positions of its rows in the split and under the licences asked for."""
    wanted = [*(["split"] if split is not None else []), *(["license"] if licenses is not None else [])]
    units = []
    for file in files:
        with file.open("rb") as fh:
            parquet = pq.ParquetFile(fh)
            for group in range(parquet.metadata.num_row_groups):
                if not wanted:
                    units.append(_Unit(file, group, np.arange(parquet.metadata.row_group(group).num_rows)))
                    continue
                frame = pl.from_arrow(parquet.read_row_group(group, columns=wanted))
                keep = pl.Series([True] * frame.height)
                if split is not None:
                    keep &= frame.get_column("split") == split
                if licenses is not None:
                    keep &= frame.get_column("license").is_in(licenses).fill_null(False)
                units.append(_Unit(file, group, keep.arg_true().to_numpy()))
    return units


class Loader:
    """Batches (Polars frames) of one rank's rows for one epoch; `state_dict()` and `load_state_dict()` resume."""

    def __init__(
        self,
        files: Sequence[Path],
        split: str | None = None,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        epoch: int = 0,
        batch_size: int = 1024,
        columns: list[str] | None = None,
        window: int = 4,
        licenses: list[str] | None = None,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} of world_size {world_size}: 0 <= rank < world_size")
        if batch_size < 1 or window < 1:
            raise ValueError("batch_size and window are at least 1")
        self.units = _units(files, split, licenses)
        self.split, self.rank, self.world_size, self.seed = split, rank, world_size, seed
        self.epoch, self.batch_size, self.columns, self.window = epoch, batch_size, columns, window
        self.position = 0  # rows of this epoch already given
        self.part = (0, 1)  # (k, n): every n-th unit of the rank's plan from the k-th (a PyTorch worker's share)

    def __len__(self) -> int:
        """The rows every rank gets this epoch."""
        return sum(len(u.rows) for u in self.units) // self.world_size

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "world_size": self.world_size}

    def load_state_dict(self, state: dict) -> None:
        if (state["seed"], state["world_size"]) != (self.seed, self.world_size):
            raise ValueError("a state from another seed or world size gives another order")
        self.epoch, self.position = state["epoch"], state["position"]

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.position = epoch, 0

    def to_hf(self):
        """This rank's rows for this epoch as a Hugging Face `datasets.IterableDataset` (extra: `refinery[hf]`): the
        same rows in the same order, from where the loader stands."""
        from datasets import IterableDataset

        def rows() -> Iterator[dict]:
            for batch in self:
                yield from batch.iter_rows(named=True)

        return IterableDataset.from_generator(rows)

    def to_torch(self) -> IterableDataset:
        """This rank's rows as a PyTorch `IterableDataset` of batches (a dict of column lists each). Under
        `DataLoader(dataset, batch_size=None, num_workers=W, multiprocessing_context="spawn")`, worker k reads
        every W-th unit (row group) of the rank's plan from the k-th, so the workers' batches hold the rank's rows,
        each once, read once. Spawn, not fork: Polars' thread pools do not survive a fork. Exact resume
        (`state_dict`) holds without workers: with them, an epoch restarts."""
        from refinery.torch_dataset import LoaderDataset  # imported here: torch takes seconds to import

        return LoaderDataset(self)

    def _plan(self) -> list[tuple[_Unit, np.ndarray]]:
        """This rank's range of the epoch's order: (unit, its rows in order), unit by unit."""
        rng = np.random.default_rng([self.seed, self.epoch])
        order = [(self.units[i], rng.permutation(self.units[i].rows)) for i in rng.permutation(len(self.units))]
        start, end = self.rank * len(self), (self.rank + 1) * len(self)
        plan, at = [], 0
        for unit, rows in order:
            low, high = max(start - at, 0), min(end - at, len(rows))
            if low < high:
                plan.append((unit, rows[low:high]))
            at += len(rows)
        k, n = self.part
        return plan[k::n]

    def _windows(self) -> Iterator[pl.DataFrame]:
        """The rank's rows, a window of units at a time, shuffled within the window; windows before the position
        are skipped unread. Windows are read and shuffled by threads (Arrow and Polars release the GIL), as many
        ahead as there are cores (at most `AHEAD`), while the one before is given out."""
        plan, at, windows = self._plan(), 0, []
        for w in range(0, len(plan), self.window):
            part = plan[w : w + self.window]
            size = sum(len(rows) for _, rows in part)
            if at + size > self.position:
                windows.append((w, part, at))
            at += size
        ahead = min(os.cpu_count() or 1, AHEAD)
        with ThreadPoolExecutor(ahead) as pool:
            pending = [pool.submit(self._shuffled, w, part) for w, part, _ in windows[:ahead]]
            for n, (_, _, at) in enumerate(windows):
                frame = pending.pop(0).result()
                if n + ahead < len(windows):
                    pending.append(pool.submit(self._shuffled, *windows[n + ahead][:2]))
                yield frame.slice(max(self.position - at, 0))

    def _shuffled(self, w: int, part: list[tuple[_Unit, np.ndarray]]) -> pl.DataFrame:
        frame = pl.concat([self._read(unit, rows) for unit, rows in part])
        return frame[np.random.default_rng([self.seed, self.epoch, self.rank, w]).permutation(frame.height)]

    def _read(self, unit: _Unit, rows: np.ndarray) -> pl.DataFrame:
        """The unit's rows of the rank; a whole unit is taken as it is read (the window's shuffle orders it)."""
        table = pq.ParquetFile(unit.file, memory_map=True).read_row_group(unit.group, columns=self.columns)
        frame = pl.from_arrow(table)
        return frame if len(rows) == frame.height else frame[rows]

    def __iter__(self) -> Iterator[pl.DataFrame]:
        carry = None  # the rows of a window that did not fill a batch, carried into the next
        for frame in self._windows():
            if carry is not None:
                frame = pl.concat([carry, frame])
            full = frame.height // self.batch_size
            for i in range(full):  # slices: no copy
                self.position += self.batch_size
                yield frame.slice(i * self.batch_size, self.batch_size)
            carry = frame.slice(full * self.batch_size)
        if carry is not None and carry.height:
            self.position += carry.height
            yield carry
