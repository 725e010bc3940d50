"""How hard a run works on this machine. Set per environment (the Dagster `tuning` resource, from
`REFINERY_WORKERS` and `REFINERY_DUCKDB_MEMORY`), never in a recipe: the same recipe runs on a laptop and a
large box."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from refinery.errors import TuningError


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class Tuning:
    workers: int = field(default_factory=_cores)  # parallel batches in dedup
    duckdb_memory: str = "512MB"  # DuckDB spills to disk past this

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
        return cls(int(workers), os.environ.get("REFINERY_DUCKDB_MEMORY") or cls.duckdb_memory)


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
