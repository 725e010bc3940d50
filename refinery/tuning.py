"""How hard a run works on this machine. Set per environment (the Dagster `tuning` resource, from
`REFINERY_WORKERS` and `REFINERY_DUCKDB_MEMORY`), never in a recipe: the same recipe runs on a laptop and a
large box."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class Tuning:
    workers: int = field(default_factory=_cores)  # parallel batches in dedup
    duckdb_memory: str = "512MB"  # DuckDB spills to disk past this

    @classmethod
    def from_env(cls) -> Tuning:
        return cls(
            workers=int(os.environ.get("REFINERY_WORKERS") or _cores()),
            duckdb_memory=os.environ.get("REFINERY_DUCKDB_MEMORY") or cls.duckdb_memory,
        )
