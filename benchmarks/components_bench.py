"""Connected components of near-duplicate pairs: the partitioned star rounds (`refinery/dedup/stars.py`, the path
for more than `component_pairs` verified pairs) against the single task (`lsh.components`, scipy) on the same
pairs, in the same run, checked equal. The pairs are clusters as near-duplicates make them: a chain of edits with
a few cross links, cluster sizes drawn from a Zipf law (most pairs, a few large templated families).

The single task holds every pair and node at once in one process; a star round's shard holds its partition's
edges, so the partitioned path trades time for memory that no longer grows on one machine.

    python benchmarks/components_bench.py [--pairs 2000000] [--workers 2]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from refinery.dedup.lsh import components
from refinery.dedup.stars import star_components
from refinery.runtime.engine import Engine


def clustered_pairs(pairs: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.zipf(2.0, pairs), 10_000) + 1
    sizes = sizes[np.cumsum(sizes - 1) <= pairs]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    node = np.arange(sizes.sum())
    first = np.repeat(starts, sizes)
    chain = node[node != first]  # every member but the first linked to the one before it
    links = rng.integers(0, len(chain), len(chain) // 10)  # and a few to their cluster's first member
    a = np.concatenate([chain - 1, first[chain[links]]])
    b = np.concatenate([chain, chain[links]])
    order = rng.permutation(sizes.sum())  # ids in no particular order
    a, b = order[a], order[b]
    frame = pl.DataFrame({"a": np.minimum(a, b), "b": np.maximum(a, b)}).filter(pl.col("a") != pl.col("b"))
    return frame.unique().sort("a", "b")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    pairs = clustered_pairs(args.pairs, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pairs.parquet"
        pairs.write_parquet(path)
        started = time.perf_counter()
        single = components(pairs)
        single_s = time.perf_counter() - started
        engine = Engine(workers=args.workers)
        started = time.perf_counter()
        stars = star_components([path], Path(tmp) / "work", engine, partitions=2 * args.workers)
        stars_s = time.perf_counter() - started
    assert stars.equals(single.sort("idx")), "the partitioned components differ from the single task's"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{pairs.height:,} pairs over {single.height:,} documents in {single['cluster'].n_unique():,} clusters")
    print(f"single task (scipy):          {single_s:6.1f} s")
    print(f"star rounds, {args.workers} workers x 2 partitions: {stars_s:6.1f} s  ({stars_s / single_s:.1f}x the time)")
    print(f"peak memory of this process (the pairs of both, the local engine's threads): {peak:,.0f} MB")


if __name__ == "__main__":
    main()
