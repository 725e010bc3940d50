"""Candidate pairs from LSH bands, as relational group-bys, then clusters by connected components.

Band keys go to Parquet a batch at a time; each band's keys are grouped by DuckDB in a shard of their own
(spilling to disk past its memory limit), so memory does not grow with the corpus beyond the edge list and one
int per clustered document.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

import duckdb
import numba
import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from refinery.runtime.engine import Engine
from refinery.runtime.exchange import output
from refinery.runtime.shards import Where, run_sharded
from refinery.runtime.tuning import duckdb_bytes
from refinery.storage import local_copy

MIX = np.uint64(0x9E3779B97F4A7C15)


@cache
def bands(threshold: float, num_perm: int, weights: tuple[float, float] = (0.5, 0.5)) -> tuple[int, int]:
    """datasketch's optimal (bands, rows) for this threshold and (false positive, false negative) weights."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=weights)
    return lsh.b, lsh.r


@numba.njit(nogil=True, cache=True)
def _band_kernel(signatures, b, r, keys, rank):  # pragma: no cover - compiled
    """keys[d, band]: a 64-bit hash of each band's r values; rank[d]: the same hash over the whole signature."""
    mix, shift = np.uint64(MIX), np.uint64(29)
    for d in range(signatures.shape[0]):
        row = signatures[d]
        whole = np.uint64(0)
        for band in range(b):
            h = np.uint64(0)
            for k in range(band * r, (band + 1) * r):
                h = (h ^ np.uint64(row[k])) * mix
                h ^= h >> shift
            keys[d, band] = h
        for k in range(len(row)):
            whole = (whole ^ np.uint64(row[k])) * mix
            whole ^= whole >> shift
        rank[d] = whole


def band_frame(idx: np.ndarray, signatures: np.ndarray, b: int, r: int) -> pl.DataFrame:
    """(idx, band, key, rank) rows, band by band (written a row group per band, so a reader of one band reads only
    its row groups); `rank` hashes the whole signature, so a bucket's root depends on content only."""
    keys = np.empty((len(idx), b), dtype=np.uint64)
    rank = np.empty(len(idx), dtype=np.uint64)
    _band_kernel(signatures, b, r, keys, rank)
    return pl.DataFrame(
        {
            "idx": np.tile(idx, b),
            "band": np.repeat(np.arange(b, dtype=np.int16), len(idx)),
            "key": keys.T.ravel(),
            "rank": np.tile(rank, b),
        }
    )


def connect(spill_dir: Path, memory_limit: str = "512MB") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that spills to `spill_dir` past `memory_limit`."""
    spill_dir.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(spill_dir)})


def candidate_pairs(
    band_files: list[Path],
    spill_dir: Path,
    exclude: pl.Series | None = None,
    memory_limit: str = "512MB",
    batch_rows: int = 1 << 20,
    engine: Engine | None = None,
) -> Path:
    """A Parquet file of the (a, b) pairs, a < b, sorted, that share at least one band bucket.

    A bucket gives star edges, its root (the member of lowest `rank`) with each other member: k - 1 edges for k
    members, as datatrove's sorted signatures give adjacent pairs, so the edges never outnumber the (band,
    document) rows, where all pairs would grow with the square of a bucket. The star joins the bucket as all its
    pairs would, and a true pair missed in one band is usually met in another: on real posts (`dedup_real.py`)
    F1 is unchanged, with half the candidates on the synthetic corpus. Ranking by content, not by position, makes
    the pairs the same whatever order the documents arrive in.

    Buckets never span bands, so each band is a shard of the engine (the shuffle: a band's rows from every band
    file, read by row group). Nothing holds all the pairs: DuckDB groups and sorts a band's rows within its share
    of `memory_limit`, the buckets stream back in batches, each batch's pairs go to a part, and DuckDB merges the
    parts (a pair shared by several bands appears once) into the sorted file, spilling past its limit.
    """
    spill_dir.mkdir(parents=True, exist_ok=True)
    out, parts = spill_dir / "candidate-pairs.parquet", spill_dir / "pair-parts"
    present = pl.scan_parquet(band_files).select(pl.col("band").unique()).collect() if band_files else None
    if present is None or present.height == 0:
        pl.DataFrame(schema={"a": pl.Int64, "b": pl.Int64}).write_parquet(out)
        return out
    engine = engine or Engine()
    share = _share_of(memory_limit, min(engine.workers, present.height))
    group = partial(_band_pairs, exclude, share, batch_rows)
    run_sharded(group, sorted(present.get_column("band")), engine, inputs=band_files, parts=parts)
    with connect(spill_dir, memory_limit) as con:  # closed on the way out: DuckDB's buffers go with it
        con.execute(
            f"""COPY (SELECT (key >> 32)::BIGINT AS a, (key & 4294967295)::BIGINT AS b
                      FROM (SELECT DISTINCT key FROM read_parquet('{parts}/*.parquet')) ORDER BY key)
                TO '{out}' (FORMAT parquet, COMPRESSION zstd)"""
        )
    shutil.rmtree(parts)
    return out


def _share_of(memory_limit: str, tasks: int) -> str:
    """A DuckDB memory limit split between `tasks` connections running at once."""
    return f"{max(duckdb_bytes(memory_limit) // max(tasks, 1), 64 * 10**6)}B"


def _band_pairs(
    exclude: pl.Series | None,
    memory_limit: str,
    batch_rows: int,
    where: Where,
    band: int,
) -> None:
    """One band's pair parts, on a worker: its rows from every band file (only their row groups of this band) to
    a local file, grouped by DuckDB spilling to this node's temporary folder."""
    with tempfile.TemporaryDirectory(prefix="refinery-band-") as folder:
        rows = Path(folder) / "band.parquet"
        pl.scan_parquet(list(where.inputs)).filter(pl.col("band") == band).sink_parquet(rows)
        with connect(Path(folder) / "spill", memory_limit) as con:
            _write_pairs(con, rows, exclude, where.part(f"band{band:04d}"), batch_rows)


def _write_pairs(
    con: duckdb.DuckDBPyConnection,
    rows_file: Path,
    exclude: pl.Series | None,
    parts: str,
    batch_rows: int,
) -> None:
    """Each batch of shared buckets' pairs to a part of its own, named `parts`-NNNNNN.parquet."""
    con.register("excluded", pl.DataFrame({"idx": exclude if exclude is not None else []}, schema={"idx": pl.Int64}))
    shared = con.sql(
        f"""
        WITH rows AS (SELECT idx, band, key, rank FROM read_parquet('{rows_file}') ANTI JOIN excluded USING (idx)),
        shared AS (SELECT band, key FROM rows GROUP BY band, key HAVING count(*) > 1)
        SELECT band, key, idx FROM rows SEMI JOIN shared USING (band, key) ORDER BY band, key, rank, idx
        """
    )
    carried = (np.empty(0, np.int16), np.empty(0, np.uint64), np.empty(0, np.int64))
    number = 0
    with shared.to_arrow_reader(batch_size=batch_rows) as reader:
        for batch in reader:
            band, key, members = (
                np.concatenate((held, batch.column(name).to_numpy()))
                for held, name in zip(carried, ("band", "key", "idx"), strict=True)
            )
            last = (band == band[-1]) & (key == key[-1])  # the last bucket may go on in the next batch
            cut = len(band) - int(np.argmin(last[::-1])) if not last.all() else 0
            _write_keys(_star_edges(band[:cut], key[:cut], members[:cut]), parts, number)
            carried = (band[cut:], key[cut:], members[cut:])
            number += 1
    _write_keys(_star_edges(*carried), parts, number)


def _write_keys(keys: np.ndarray, parts: str, number: int) -> None:
    with output(f"{parts}-{number:06d}.parquet") as path:
        pl.DataFrame({"key": keys}, schema={"key": pl.UInt64}).write_parquet(path)


def _unique_sorted(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted; sorts `values` in place (no copy of what may be the largest array held)."""
    values.sort()
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values


def _star_edges(band: np.ndarray, key: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Distinct star edges of whole buckets (rows sorted by band, key, rank): each member with its bucket's first,
    packed as (low idx << 32 | high idx)."""
    if len(members) == 0:
        return np.empty(0, np.uint64)
    first = np.concatenate(([True], (band[1:] != band[:-1]) | (key[1:] != key[:-1])))
    root = members[np.flatnonzero(first)][np.cumsum(first) - 1]  # each row's bucket root
    a, b = root[~first], members[~first]
    return _unique_sorted((np.minimum(a, b).astype(np.uint64) << np.uint64(32)) | np.maximum(a, b).astype(np.uint64))


@numba.njit(nogil=True, cache=True)
def _dedupe_sorted_segments(doc, hashes, n_docs):  # pragma: no cover - compiled
    """Sort each document's hashes (documents are contiguous and increasing in `doc`) and drop repeats, in place:
    the distinct hashes end up back to back at the front. Returns (starts, counts) of every document's run."""
    starts = np.zeros(n_docs, dtype=np.int64)
    counts = np.zeros(n_docs, dtype=np.int64)
    i, out = 0, 0
    while i < len(doc):
        d, j = doc[i], i
        while j < len(doc) and doc[j] == d:
            j += 1
        run = np.sort(hashes[i:j])
        starts[d] = out
        for k in range(len(run)):
            if k == 0 or run[k] != run[k - 1]:
                hashes[out] = run[k]
                out += 1
        counts[d] = out - starts[d]
        i = j
    return starts, counts


@numba.njit(nogil=True, cache=True)
def _jaccard_kernel(hashes_a, starts_a, counts_a, pa, hashes_b, starts_b, counts_b, pb):  # pragma: no cover
    """Merge-intersect the sorted unique sets of each pair, a's from one group of sets and b's from another."""
    out = np.zeros(len(pa), dtype=np.float64)
    for n in range(len(pa)):
        i, iend = starts_a[pa[n]], starts_a[pa[n]] + counts_a[pa[n]]
        j, jend = starts_b[pb[n]], starts_b[pb[n]] + counts_b[pb[n]]
        common = 0
        while i < iend and j < jend:
            if hashes_a[i] == hashes_b[j]:
                common += 1
                i += 1
                j += 1
            elif hashes_a[i] < hashes_b[j]:
                i += 1
            else:
                j += 1
        union = counts_a[pa[n]] + counts_b[pb[n]] - common
        out[n] = common / union if union > 0 else 0.0
    return out


def _starts(counts: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)


@dataclass(frozen=True)
class ShingleSets:
    """Unique shingle hashes of some documents, sorted and grouped: document `ids[i]` owns
    `hashes[starts[i] : starts[i] + counts[i]]`."""

    ids: np.ndarray
    hashes: np.ndarray
    starts: np.ndarray
    counts: np.ndarray

    @classmethod
    def build(cls, ids: np.ndarray, doc: np.ndarray, hashes: np.ndarray) -> ShingleSets:
        """From `shingle_hashes` output (`doc` indexes `ids`, which must be sorted; a document's rows together)."""
        hashes = hashes.copy()
        starts, counts = _dedupe_sorted_segments(doc, hashes, len(ids))
        return cls(ids, hashes[: counts.sum()].copy(), starts, counts)  # the distinct hashes, back to back

    @staticmethod
    def concat(parts: list[ShingleSets]) -> ShingleSets:
        """Compact sets of disjoint, increasing id ranges, joined."""
        if not parts:
            return ShingleSets(
                np.empty(0, np.int64), np.empty(0, np.uint32), np.empty(0, np.int64), np.empty(0, np.int64)
            )
        counts = np.concatenate([p.counts for p in parts])
        return ShingleSets(
            np.concatenate([p.ids for p in parts]), np.concatenate([p.hashes for p in parts]), _starts(counts), counts
        )

    def save(self, path: Path) -> SetPart:
        """Write these (compact) sets to `path`, to be held again only while they are needed."""
        np.savez(path, ids=self.ids, hashes=self.hashes, counts=self.counts)
        return SetPart(path, int(self.ids[0]) if len(self.ids) else 0, len(self.hashes))

    @classmethod
    def load(cls, path: Path | str) -> ShingleSets:
        """Sets saved by `save`, from a file or (a copy on this node of) an object."""
        with local_copy(path) as local, np.load(local) as saved:
            counts = saved["counts"]
            return cls(saved["ids"], saved["hashes"], _starts(counts), counts)


@dataclass(frozen=True)
class SetPart:
    """Shingle sets saved to disk, of ids from `first` on (up to the next part's), `size` hashes in all."""

    path: Path | str  # a file, or its copy in a stage's exchange
    first: int
    size: int


def jaccard(a: np.ndarray, b: np.ndarray, sets_a: ShingleSets, sets_b: ShingleSets | None = None) -> np.ndarray:
    """Exact Jaccard similarity of each document pair (a[i], b[i]); b's sets may be held apart from a's."""
    sets_b = sets_a if sets_b is None else sets_b
    pa, pb = np.searchsorted(sets_a.ids, a), np.searchsorted(sets_b.ids, b)
    return _jaccard_kernel(
        sets_a.hashes, sets_a.starts, sets_a.counts, pa, sets_b.hashes, sets_b.starts, sets_b.counts, pb
    )


def windowed_jaccard(a: np.ndarray, b: np.ndarray, parts: list[SetPart], budget: int) -> np.ndarray:
    """Exact Jaccard of each pair (a[i] < b[i]) from sets saved in `parts` (increasing id ranges), holding about
    `budget` hashes at a time, however many candidates there are.

    A window of consecutive parts, for the a's, is held while the parts of the b's at or after it are read one by
    one: a part is read once per window at or before its own, so about windows / 2 times in all.
    """
    out = np.zeros(len(a), dtype=np.float64)
    if len(a) == 0:
        return out
    firsts = np.array([p.first for p in parts])
    window = np.cumsum([p.size for p in parts]) // budget  # each part's window
    part_a, part_b = np.searchsorted(firsts, a, side="right") - 1, np.searchsorted(firsts, b, side="right") - 1
    window_a = window[part_a]
    order = np.lexsort((part_b, window_a))  # pairs grouped by (a's window, b's part)
    wa, pb = window_a[order], part_b[order]
    bounds = np.append(np.flatnonzero(np.concatenate(([True], (wa[1:] != wa[:-1]) | (pb[1:] != pb[:-1])))), len(a))
    held_window, held = -1, ShingleSets.concat([])
    for start, end in itertools.pairwise(bounds):
        if wa[start] != held_window:
            held_window, held = wa[start], ShingleSets.concat([])  # let the last window go before the next
            pairs_here = window_a == held_window
            inside = window[part_b] == held_window
            needed = np.union1d(part_a[pairs_here], part_b[pairs_here & inside])  # only parts with a pair here
            held = ShingleSets.concat([ShingleSets.load(parts[i].path) for i in needed])
        other = held if window[pb[start]] == held_window else ShingleSets.load(parts[pb[start]].path)
        chosen = order[start:end]
        out[chosen] = jaccard(a[chosen], b[chosen], held, other)
    return out


def components(pairs: pl.DataFrame) -> pl.DataFrame:
    """(idx, cluster) for every document in some pair; cluster is the smallest idx of its component."""
    if pairs.height == 0:
        return pl.DataFrame(schema={"idx": pl.Int64, "cluster": pl.Int64})
    nodes = pl.concat([pairs.get_column("a"), pairs.get_column("b")]).unique().sort()
    position = {"a": nodes.search_sorted(pairs.get_column("a")), "b": nodes.search_sorted(pairs.get_column("b"))}
    n = len(nodes)
    graph = coo_matrix(
        (np.ones(pairs.height, dtype=np.int8), (position["a"].to_numpy(), position["b"].to_numpy())), shape=(n, n)
    )
    _, labels = connected_components(graph, directed=False)
    frame = pl.DataFrame({"idx": nodes, "label": labels})
    return frame.with_columns(cluster=pl.col("idx").min().over("label")).select("idx", "cluster")
