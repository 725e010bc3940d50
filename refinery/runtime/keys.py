"""Questions about a key column over a whole corpus (which doc_ids repeat? which are in both sets of files?) asked
one hash partition of the keys at a time, so that no process holds the keys of the whole corpus.

A key's partition is its hash modulo the partitions, the same in every file, so all copies of a key meet in one
partition, and a partition's answer needs no other partition's. One pass of shards over row ranges of the files
sends each range's keys to their partitions (a file per range and partition, with the key's file and row), then one
shard per partition answers from its files. A corpus of at most `Sizes.key_rows` keys is one partition, read in
place. Memory: a shard holds one row range's keys, or one partition's (about `key_rows` keys); the caller holds
the answers.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import polars as pl
import pyarrow.parquet as pq

from refinery.runtime.engine import Engine
from refinery.runtime.exchange import output
from refinery.runtime.shards import Where, run_sharded

R = TypeVar("R")
FILE, ROW = "_file", "_row"  # where a key was: its file's place in its group, its row in that file


@dataclass(frozen=True)
class Keyed:
    """The keys of named groups of files (`column`, `_file`, `_row`), cut into `partitions`; `files` are the
    groups' files when there is one partition, else the partitions' files."""

    column: str
    partitions: int
    files: dict[str, tuple[str, ...]]

    def scan(self, group: str, partition: int) -> pl.LazyFrame:
        """The keys of `group` in `partition`."""
        empty = pl.LazyFrame(schema={self.column: pl.String, FILE: pl.Int32, ROW: pl.Int64})
        files = self.files[group]
        if self.partitions == 1:
            return pl.concat([empty, *(_keys(f, self.column, i) for i, f in enumerate(files))])
        mine = [f for f in files if f.endswith(f"-to-{partition:05d}.parquet")]
        return pl.concat([empty, *(pl.scan_parquet(f) for f in mine)])


def _keys(path: str, column: str, number: int) -> pl.LazyFrame:
    rows = pl.int_range(pl.len(), dtype=pl.Int64).alias(ROW)
    return pl.scan_parquet(path).select(pl.col(column).cast(pl.String), pl.lit(number, pl.Int32).alias(FILE), rows)


def _grouped(groups: dict[str, Sequence[Path]]) -> tuple[list[Path], dict[str, slice]]:
    """The groups' files in one list, and each group's place in it."""
    files: list[Path] = []
    places = {}
    for group, paths in groups.items():
        places[group] = slice(len(files), len(files) + len(paths))
        files += paths
    return files, places


def partitioned(
    groups: dict[str, Sequence[Path]],
    column: str,
    step: Callable[[Keyed, int], R],
    engine: Engine,
    scratch: Path | None = None,
) -> list[R]:
    """`step(keyed, partition)` for every partition of the groups' keys, results in partition order: in this
    process when there is one partition, else a worker process each. The partitions' files are written under
    `scratch` (the system's temporary folder when None) and removed after."""
    files, places = _grouped(groups)
    sizes = [pq.ParquetFile(p).metadata.num_rows for p in files]
    partitions = max(1, -(-sum(sizes) // engine.sizes.key_rows))
    if partitions == 1:
        return [step(Keyed(column, 1, {g: tuple(map(str, files[at])) for g, at in places.items()}), 0)]
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="keys-") as tmp:
        parts = Path(tmp)
        ranges = [
            (group, number, start)
            for group, at in places.items()
            for number, rows in enumerate(sizes[at])
            for start in range(0, rows, engine.sizes.key_rows)
        ]
        send = partial(_send, column, partitions, engine.sizes.key_rows, places)
        run_sharded(send, ranges, engine, inputs=files, parts=parts, small=False)
        sent, places = _grouped({g: sorted(parts.glob(f"{g}-*.parquet")) for g in groups})
        answer = partial(_answer, step, column, partitions, places)
        return run_sharded(answer, range(partitions), engine, inputs=sent, processes=True, small=False)


def _send(
    column: str, partitions: int, length: int, places: dict[str, slice], where: Where, shard: tuple[str, int, int]
) -> None:
    """One row range's keys, to a file per partition."""
    group, number, start = shard
    keys = _keys(where.inputs[places[group]][number], column, number).slice(start, length).collect()
    keys = keys.with_columns(_partition=pl.col(column).hash(seed=0) % partitions)
    for (partition,), frame in keys.partition_by("_partition", as_dict=True).items():
        name = f"{group}-{number:05d}-{start:012d}-to-{partition:05d}.parquet"
        with output(where.part(name)) as path:
            frame.drop("_partition").write_parquet(path)


def _answer(
    step: Callable[[Keyed, int], R], column: str, partitions: int, places: dict[str, slice], where: Where, part: int
) -> R:
    return step(Keyed(column, partitions, {g: where.inputs[at] for g, at in places.items()}), part)
