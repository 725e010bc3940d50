"""Connected components of the near-duplicate pairs, partitioned so that no task holds the whole graph: alternating
large-star and small-star rounds (Kiveris et al., "Connected Components in MapReduce and Beyond", 2014), the
algorithm behind Spark's and NeMo Curator's partitioned components.

A round is a group-by over the nodes. Its shards are hash partitions of the nodes: shard p reads the edges with an
end in p, applies the star step to those nodes' neighbourhoods, and sends each edge it emits to the partitions of
both its ends (a file per destination, which the next round's shard there reads: the shuffle). Large-star links
every larger neighbour of a node to the smallest node of its neighbourhood; small-star links the node and its
smaller neighbours to the smallest of them. Neither changes the components; when a large-star and the small-star
after it leave the edges as they were (compared by an order-blind fingerprint each shard adds its share to), every
component is a star around its smallest node, which names the cluster. Rounds: O(log² n) (14 for 2M pairs in
clusters of up to 10,000 chained documents, `benchmarks/components_bench.py`).

Memory: a shard holds its partition's edges; the driver holds nothing but each round's fingerprint.
"""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import polars as pl

from refinery.runtime.engine import Engine
from refinery.runtime.exchange import output
from refinery.runtime.shards import Where, run_sharded

MAX_ROUNDS = 200  # O(log² n): far past a billion nodes


def _neighbourhoods(where: Where, partition: int, partitions: int) -> pl.DataFrame:
    """(node, nbr) of every distinct edge with an end among this partition's nodes, both ways round. After the
    first round, the edges come already sent to this partition (`to-<partition>` files): the read is the shuffle."""
    mine = [f for f in where.inputs if f.endswith(f"to-{partition:05d}.parquet")] or list(where.inputs)
    edges = pl.scan_parquet(mine).select("a", "b")
    ways = pl.concat([edges.select(node="a", nbr="b"), edges.select(node="b", nbr="a")])
    return ways.filter(pl.col("node").hash(seed=0) % partitions == partition).unique().collect()


def _fingerprint(hood: pl.DataFrame) -> int:
    """This partition's share of the round's edge set: each edge counted by its smaller end's partition."""
    smaller = hood.filter(pl.col("node") < pl.col("nbr"))
    return int(smaller.select(pl.struct("node", "nbr").hash(seed=1).cast(pl.UInt64)).to_series().sum() or 0)


def _star(large: bool, partitions: int, where: Where, partition: int) -> int:
    """One star step over one partition's nodes; writes the edges it emits, returns its share of the fingerprint of
    the edges it read."""
    hood = _neighbourhoods(where, partition, partitions)
    if large:  # every larger neighbour to the smallest of the neighbourhood (the node included)
        least = hood.group_by("node").agg(m=pl.col("nbr").min())
        emitted = (
            hood.filter(pl.col("nbr") > pl.col("node"))
            .join(least, on="node")
            .select(x="nbr", y=pl.min_horizontal("m", "node"))
        )
    else:  # the node and its smaller neighbours to the smallest of them
        smaller = hood.filter(pl.col("nbr") < pl.col("node"))
        least = smaller.group_by("node").agg(m=pl.col("nbr").min())
        emitted = (
            pl.concat([smaller.select(x="nbr", m_of="node"), least.select(x="node", m_of="node")])
            .join(least.rename({"node": "m_of"}), on="m_of")
            .select("x", y="m")
        )
    edges = emitted.select(a=pl.min_horizontal("x", "y"), b=pl.max_horizontal("x", "y")).filter(
        pl.col("a") != pl.col("b")
    )
    _send(edges.unique(), where, partition, partitions)
    return _fingerprint(hood)


def _send(edges: pl.DataFrame, where: Where, partition: int, partitions: int) -> None:
    """Each emitted edge to the partitions of both its ends, a file per (this partition, destination)."""
    ends = edges.with_columns(pa=pl.col("a").hash(seed=0) % partitions, pb=pl.col("b").hash(seed=0) % partitions)
    for to in range(partitions):
        with output(where.part(f"edges-{partition:05d}-to-{to:05d}.parquet")) as path:
            ends.filter((pl.col("pa") == to) | (pl.col("pb") == to)).select("a", "b").write_parquet(path)


def _clusters(partitions: int, where: Where, partition: int) -> None:
    """Each node of this partition with the smallest node of its star: its cluster."""
    hood = _neighbourhoods(where, partition, partitions)
    clusters = hood.group_by("node").agg(cluster=pl.min_horizontal(pl.col("nbr").min(), pl.col("node").first()))
    with output(where.part(f"clusters-{partition:05d}.parquet")) as path:
        clusters.select(idx="node", cluster="cluster").write_parquet(path)


def star_components(pairs: list[Path], work: Path, engine: Engine, partitions: int) -> pl.DataFrame:
    """(idx, cluster) for every document in some pair of `pairs` (Parquet files of a, b), cluster the smallest
    idx of its component: the single-task `lsh.components`' answer, by rounds of partitioned shards."""
    work.mkdir(parents=True, exist_ok=True)
    edges, seen, large = list(pairs), [], True
    for round_ in range(MAX_ROUNDS):
        out = work / f"round-{round_:03d}"
        step = partial(_star, large, partitions)
        seen.append(sum(run_sharded(step, range(partitions), engine, inputs=edges, parts=out, small=False)))
        if round_ > 0:
            shutil.rmtree(edges[0].parent)
        edges, large = sorted(out.glob("edges-*.parquet")), not large
        if len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3]:  # a large and a small step changed nothing
            break
    else:
        raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
    found = work / "clusters"
    run_sharded(partial(_clusters, partitions), range(partitions), engine, inputs=edges, parts=found, small=False)
    clusters = pl.read_parquet(sorted(found.glob("clusters-*.parquet"))).sort("idx")
    shutil.rmtree(work)
    return clusters.cast(pl.Int64)
