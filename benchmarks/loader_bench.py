"""How fast a version feeds training: refinery's loader (one rank of two, a seeded shuffle, `text` only) against
Hugging Face datasets' streaming iterator configured the usual way for data-parallel training (the same Parquet
files, `split_dataset_by_node` for rank 0 of 2, `shuffle(seed, buffer_size=10_000)`), measured in the same run.
Each reads the epoch twice, alternating: a process's first pass pays for its allocator growing to its working
set, and a training job runs in the second pass's state for hours. Both passes are printed.

    python benchmarks/loader_bench.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from corpus import labelled_batches

from refinery.loader import Loader
from refinery.records import ROW_GROUP_ROWS

PART_ROWS = 500_000  # as a version's parts


def write_version(rows: int, folder: Path) -> list[Path]:
    """Parts of ~1 KB documents in the row groups a published version has."""
    frame = pl.concat(batch.select("doc_id", "text") for batch in labelled_batches(rows)).head(rows)
    paths = []
    for n, start in enumerate(range(0, rows, PART_ROWS)):
        paths.append(folder / f"part-{n:05d}.parquet")
        frame.slice(start, PART_ROWS).write_parquet(paths[-1], row_group_size=ROW_GROUP_ROWS)
    return paths


def refinery_rows_per_second(files: list[Path]) -> tuple[float, int]:
    started, rows = time.perf_counter(), 0
    for batch in Loader(files, rank=0, world_size=2, seed=0, batch_size=1024, columns=["text"]):
        rows += batch.height
    return rows / (time.perf_counter() - started), rows


def hf_rows_per_second(files: list[Path]) -> tuple[float, int]:
    from datasets import load_dataset
    from datasets.distributed import split_dataset_by_node

    stream = load_dataset("parquet", data_files=[str(f) for f in files], split="train", streaming=True)
    stream = split_dataset_by_node(stream.select_columns(["text"]), rank=0, world_size=2).shuffle(
        seed=0, buffer_size=10_000
    )
    started, rows = time.perf_counter(), 0
    for batch in stream.iter(batch_size=1024):
        rows += len(batch["text"])
    return rows / (time.perf_counter() - started), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = write_version(args.rows, Path(tmp))
        ours, theirs = [], []
        for _ in range(2):
            ours.append(refinery_rows_per_second(files))
            theirs.append(hf_rows_per_second(files))
    print(f"{args.rows:,} documents in {len(files)} parts, rank 0 of 2, text column, batches of 1,024")
    cores = len(os.sched_getaffinity(0))
    for name, runs, note in (
        ("refinery loader", ours, f"row groups read by threads on {cores} cores"),
        ("HF datasets stream", theirs, "its default threads"),
    ):
        (first, rows), (second, _) = runs
        print(f"{name:<19} {rows:>9,} rows  first pass {first:>10,.0f} rows/s, second {second:>10,.0f} rows/s")
        print(f"{'':<19} ({second / cores:,.0f} rows/s per core in the second pass; {note})")
    print(f"refinery / HF: {ours[0][0] / theirs[0][0]:.1f}x first pass, {ours[1][0] / theirs[1][0]:.1f}x second")


if __name__ == "__main__":
    main()
