"""How hard a run works on this machine, and how its stages cut their work. Set per environment (the Dagster
`tuning` resource, from `REFINERY_WORKERS`, `REFINERY_DUCKDB_MEMORY` and `REFINERY_SIZES`), never in a recipe: the
same recipe runs on a laptop and a large box, and gives the same bytes on both."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace

from refinery.errors import TuningError


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class Sizes:
    """How the stages cut their work into shards and batches: speed and memory, never the output's bytes (the
    tests run stages with tiny sizes and compare their bytes with the defaults')."""

    range_bytes: int = 64 * 2**20  # a JSONL file's byte range (an ingest shard): about a second on one core
    sharded_bytes: int = 32 * 2**20  # below this much ore a source is read in this process: workers cost more
    extracted_bytes: int = 2**20  # the same for HTML ore, whose extraction costs ~100x the reading of JSONL
    group_files: int = 64  # one-document files (text, HTML) an ingest shard reads, up to extracted_bytes of them
    dedup_rows: int = 10_000  # rows a dedup shard signs and shingles
    verify_pairs: int = 1 << 20  # candidate pairs a verification shard reads (~100 bytes each while verified)
    verify_hashes: int = 1 << 25  # shingle hashes held at once to verify them (128 MB), shared by the workers
    clean_rows: int = 10_000  # rows per cleaning shard: small enough to keep every worker busy to the end
    count_rows: int = 500_000  # rows a shard of the gate's Polars counts covers
    gx_rows: int = 250_000  # rows per shard of the row-wise GX expectations on `text` (pandas: memory bound)
    isolated_rows: int = 100_000  # below this, a process of its own for dedup costs more than the memory it frees
    component_pairs: int = 1 << 24  # above this many verified pairs, components run as partitioned rounds of shards
    key_rows: int = 1_000_000  # doc_ids a process holds at once to find repeats over a corpus (~100 MB)

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 1:
                raise TuningError(f"sizes: {f.name}={getattr(self, f.name)}: at least 1")

    @classmethod
    def parse(cls, text: str) -> Sizes:
        """`"clean_rows=2000,verify_pairs=65536"` (REFINERY_SIZES): the sizes named, the others by default."""
        names = {f.name for f in fields(cls)}
        given = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, _, value = item.partition("=")
            if name.strip() not in names or not value.strip().isdigit():
                raise TuningError(f"REFINERY_SIZES: {item!r}: expected name=count, names: {', '.join(sorted(names))}")
            given[name.strip()] = int(value)
        return replace(cls(), **given)


@dataclass(frozen=True)
class Tuning:
    workers: int = field(default_factory=_cores)  # parallel shards
    duckdb_memory: str = "512MB"  # DuckDB spills to disk past this
    sizes: Sizes = field(default_factory=Sizes)

    def __post_init__(self) -> None:
        """Checked when made, at the start of a run, not mid-run where the value is first used."""
        if self.workers < 1:
            raise TuningError(f"workers: {self.workers}: at least 1")
        duckdb_bytes(self.duckdb_memory)

    @classmethod
    def from_env(cls) -> Tuning:
        workers = os.environ.get("REFINERY_WORKERS") or str(_cores())
        if not workers.isdigit():
            raise TuningError(f"REFINERY_WORKERS={workers!r}: a whole number of workers")
        memory = os.environ.get("REFINERY_DUCKDB_MEMORY") or cls.duckdb_memory
        return cls(int(workers), memory, Sizes.parse(os.environ.get("REFINERY_SIZES", "")))


def duckdb_bytes(limit: str) -> int:
    """A memory limit ("512M", "2GB", "1.5GiB") in bytes, as DuckDB itself reads it."""
    import duckdb

    try:
        con = duckdb.connect()
        con.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
        number, unit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0].split()
    except duckdb.Error as err:
        raise TuningError(f"duckdb_memory: {limit!r}: {str(err).splitlines()[0]}") from None
    scale = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
    return int(float(number) * scale.get(unit, 1))
